"""Several processes applying specs at the same time lose no update and never see "database is locked".

Four processes each own one product file and apply it 50 times (a scoped apply of that file),
rewriting its description and version every time. They start together on a store that does not
exist yet, so the migration itself is raced too.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import pg_database, write
from meshfabric.store import open_store
from meshfabric.store.models import EventRow, ProductRow

PROCESSES = 4
APPLIES = 50

MESH = """\
name: race
sources:
  lake:
    kind: files
    path: data
domains:
  team:
    description: Everybody
    owners: [team@example.com]
"""

PRODUCT = """\
kind: DataProduct
domain: team
name: p{k}
owner: team@example.com
description: process {k} apply {i}
status: published
version: 1.0.{i}
output:
  source: lake
  path: items.csv
schema:
  - name: item_id
    type: bigint
  - name: label
    type: string
"""

WORKER = """\
import os
import sys
from pathlib import Path

from meshfabric.cli import run

ws, k, n = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
template = (ws.parent / "product.tmpl").read_text()
rel = f"products/p{k}.yaml"
for i in range(n):
    tmp = ws / "products" / f".p{k}.tmp"  # not a .yaml file: never loaded half-written
    tmp.write_text(template.format(k=k, i=i))
    os.replace(tmp, ws / rel)  # atomic, as editors and git write files
    code = run(["-w", str(ws), "apply", rel])
    if code != 0:
        print(f"worker {k}: apply {i} exited {code}", flush=True)
        sys.exit(code)
print(f"worker {k}: done", flush=True)
"""


def _race(tmp_path: Path, store_url: str | None) -> str:
    ws = tmp_path / "ws"
    write(ws / "mesh.yaml", MESH)
    write(ws / "data" / "items.csv", "item_id,label\n1,one\n2,two\n")
    (ws / "products").mkdir()
    write(tmp_path / "product.tmpl", PRODUCT)
    script = write(tmp_path / "worker.py", WORKER)
    env = {k: v for k, v in os.environ.items() if k != "MESHFABRIC_STORE_URL"}
    if store_url:
        env["MESHFABRIC_STORE_URL"] = store_url
    procs = [
        subprocess.Popen([sys.executable, str(script), str(ws), str(k), str(APPLIES)], env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        for k in range(PROCESSES)
    ]
    outputs = []
    for k, proc in enumerate(procs):
        try:
            out, _ = proc.communicate(timeout=600)
        except subprocess.TimeoutExpired:
            for p in procs:
                p.kill()
            raise
        outputs.append(out)
        assert proc.returncode == 0, f"worker {k} exited {proc.returncode}:\n{out[-3000:]}"
        assert f"worker {k}: done" in out
    for out in outputs:
        assert "database is locked" not in out.lower()
        assert "Traceback" not in out
    return store_url or f"sqlite:///{ws / '.meshfabric' / 'store.db'}"


def _check_final_state(url: str) -> None:
    store = open_store(url)
    try:
        with store.read() as s:
            products = {p.name: p for p in s.query(ProductRow).all()}
            events = [e.event_type for e in s.query(EventRow).order_by(EventRow.seq)]
    finally:
        store.close()
    assert sorted(products) == [f"p{k}" for k in range(PROCESSES)]
    last = APPLIES - 1
    for k in range(PROCESSES):
        p = products[f"p{k}"]
        assert p.version == f"1.0.{last}"
        assert p.description == f"process {k} apply {last}"
        assert p.spec["description"] == f"process {k} apply {last}"
        assert p.revision == APPLIES
        assert p.file == f"products/p{k}.yaml"
    assert events.count("product.created") == PROCESSES
    assert events.count("product.updated") == PROCESSES * (APPLIES - 1)
    # the source and the domain were created exactly once, by whichever process came first
    assert events.count("source.registered") == 1
    assert events.count("domain.created") == 1
    # the schema never changes after the first apply: one registered version per product
    assert events.count("schema.version_added") == PROCESSES
    assert len(events) == PROCESSES * APPLIES + 2 + PROCESSES


@pytest.mark.slow
def test_four_processes_apply_against_one_sqlite_store(tmp_path: Path) -> None:
    _check_final_state(_race(tmp_path, None))


@pytest.mark.slow
@pytest.mark.postgres
def test_four_processes_apply_against_postgresql(pg_url: str, tmp_path: Path) -> None:
    with pg_database("mf_race") as url:
        _check_final_state(_race(tmp_path, url))
