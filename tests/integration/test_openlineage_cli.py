"""``meshfabric lineage ingest``: OpenLineage events from JSON, JSON arrays and JSON Lines files
(what the OpenLineage file transport writes) into the store, with exit code 2 for invalid ones."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest

from conftest import CONFORMANCE
from helpers import build_workspace, cli, flat
from meshfabric import Mesh

EXAMPLES = CONFORMANCE / "openlineage" / "examples"


@pytest.fixture
def root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv("MESHFABRIC_STORE_URL", raising=False)
    return build_workspace(tmp_path / "ws")


def _event(job: str, state: str = "COMPLETE") -> dict[str, Any]:
    return {"eventType": state, "eventTime": "2024-06-01T02:00:00Z", "producer": "https://example.com/p",
            "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent",
            "run": {"runId": str(uuid.uuid4())}, "job": {"namespace": "files", "name": job},
            "inputs": [{"namespace": "files", "name": f"{job}_in"}],
            "outputs": [{"namespace": "files", "name": f"{job}_out"}]}


def test_ingest_examples_json_lines_and_repeats(root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # the serde run example gives nominalTime as dates, which the spec's date-time refuses
    files = sorted(p for p in EXAMPLES.glob("*.json") if p.name != "serde_example_run_event.json")
    code, out, err = cli(capsys, "-w", root, "lineage", "ingest", *files)
    assert code == 0, err
    assert f"{len(files)} stored, 0 already stored, 0 invalid" in flat(out)
    lines = root / "events.jsonl"
    lines.write_text("\n".join(json.dumps(_event(f"job{i}")) for i in range(3)) + "\n\n")
    code, out, _ = cli(capsys, "-w", root, "lineage", "ingest", "--json", lines, files[0])
    assert code == 0
    outcomes = json.loads(out)
    assert [o["source"] for o in outcomes] == [f"{lines}:1", f"{lines}:2", f"{lines}:3", str(files[0])]
    assert [o["status"] for o in outcomes] == ["stored", "stored", "stored", "duplicate"]
    mesh = Mesh.open(root)
    try:
        up = mesh.lineage.upstream("files/job1_out")
        assert [n.key for n in up.nodes] == ["files/job1_in"]
    finally:
        mesh.close()


def test_invalid_events_exit_2_and_the_valid_ones_are_kept(root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = _event("broken")
    bad["run"]["runId"] = "nope"
    array = root / "batch.json"
    array.write_text(json.dumps([_event("good"), bad]))
    code, out, _ = cli(capsys, "-w", root, "lineage", "ingest", array)
    assert code == 2
    text = flat(out)
    assert "1 stored, 0 already stored, 1 invalid" in text
    assert f"{array}[1]" in text and "$.run.runId" in text and "uuid" in text
    not_json = root / "x.jsonl"
    not_json.write_text('{"a": 1}\n{oops\n')
    code, _, err = cli(capsys, "-w", root, "lineage", "ingest", not_json)
    assert code == 2 and f"{not_json}:2" in flat(err) and "Traceback" not in err
    code, _, err = cli(capsys, "-w", root, "lineage", "ingest", root / "missing.json")
    assert code == 2 and "no file" in err
