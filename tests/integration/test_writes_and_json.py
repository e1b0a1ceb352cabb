"""Query results as JSON keep every number exact (CLI and REST alike); writes into PostgreSQL
that break a key are refused whole with a readable error; a files product is written in its
own format (the CSV of ``meshfabric init`` stays CSV)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pytest
from fastapi.testclient import TestClient

from helpers import MESH_YAML, cli, default_store, my_exec, pg_database, pg_exec, write
from meshfabric import Mesh, SourceError
from meshfabric.api.app import create_app
from meshfabric.query.result import json_dumps

BIG = 2**62  # three of them sum beyond 2^63, far beyond the 2^53 a double holds exactly
RATIO = "12345678901234567890.123456789012345678"  # 38 digits

PLACES_YAML = """\
kind: DataProduct
domain: geo
name: places
owner: geo-team@example.com
status: published
version: 1.0.0
output:
  source: warehouse
  table: public.places
schema:
  - name: id
    type: bigint
    nullable: false
  - name: name
    type: string
  - name: pop
    type: bigint
  - name: ratio
    type: decimal(38,18)
"""

JSON_SQL = (
    "SELECT sum(pop) AS pop, max(ratio) AS ratio, CAST('NaN' AS DOUBLE) AS nan, "
    "CAST('-Infinity' AS DOUBLE) AS neg_inf, DATE '2024-02-29' AS day FROM geo.places"
)


@pytest.fixture
def pg_ws(tmp_path: Path, pg_url: str) -> Iterator[tuple[Path, str]]:
    """A workspace with a product on a PostgreSQL table that has a primary key (its own database)."""
    with pg_database() as url:
        pg_exec(
            url,
            "CREATE TABLE places (id bigint PRIMARY KEY, name text, pop bigint, ratio numeric(38,18))",
            f"INSERT INTO places VALUES (1, 'a', {BIG}, {RATIO}), (2, 'b', {BIG}, 1.5), (3, 'c', {BIG}, NULL)",
        )
        mesh_yaml = MESH_YAML.replace(
            "sources:\n", f"sources:\n  warehouse:\n    kind: postgres\n    url: {url}\n"
        ).replace("domains:\n", "domains:\n  geo:\n    owners: [geo-team@example.com]\n")
        write(tmp_path / "mesh.yaml", mesh_yaml)
        write(tmp_path / "products/geo/places.yaml", PLACES_YAML)
        with default_store():
            with Mesh.open(tmp_path) as mesh:
                mesh.apply()
            yield tmp_path, url


def _exact(text: str) -> object:
    return json.loads(text, parse_float=Decimal)


def test_json_numbers_are_exact_and_cli_and_rest_agree(pg_ws: tuple[Path, str],
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    root, _ = pg_ws
    code, out, err = cli(capsys, "-w", root, "query", JSON_SQL, "--format", "json")
    assert code == 0, err
    assert f'"pop": {3 * BIG},' in out and f'"ratio": {RATIO},' in out  # numbers, not strings
    rows = _exact(out)
    expected = {"pop": 3 * BIG, "ratio": Decimal(RATIO), "nan": None, "neg_inf": None, "day": "2024-02-29"}
    assert rows == [expected]
    with Mesh.open(root) as mesh, TestClient(create_app(mesh, auth=False)) as client:
        r = client.post("/api/v1/query", json={"sql": JSON_SQL})
    assert r.status_code == 200, r.text
    body = _exact(r.text)
    assert body["columns"] == list(expected)
    assert body["rows"] == [list(expected.values())]  # the same values as the CLI's


def test_json_dumps_writes_valid_json_for_every_kind_of_value() -> None:
    import datetime as dt

    values = [2**70, -(2**64), Decimal("-0.000000000000000001"), Decimal("1E+70"), float("inf"), Decimal("NaN"),
              1.5, True, None, "é\"", dt.datetime(2024, 1, 2, 3, 4, 5), dt.timedelta(hours=-1), b"\x00\xff",
              {"nested": [Decimal("1.10")]}]
    text = json_dumps(values)
    assert _exact(text) == [2**70, -(2**64), Decimal("-0.000000000000000001"), Decimal("1E+70"), None, None,
                            Decimal("1.5"), True, None, "é\"", "2024-01-02T03:04:05", "PT-3600S", "AP8=",
                            {"nested": [Decimal("1.10")]}]
    assert json.loads(json_dumps(values, indent=2)) == json.loads(text)


def test_duplicate_key_is_refused_whole_with_a_clear_error(pg_ws: tuple[Path, str],
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    root, url = pg_ws
    before = pg_exec(url, "SELECT id, name, pop FROM places ORDER BY id")
    batch = root / "batch.csv"
    batch.write_text("id,name,pop\n4,d,10\n1,again,20\n", encoding="utf-8")  # row 1 is new, row 2 is not
    code, out, err = cli(capsys, "-w", root, "products", "write", "geo.places", batch)
    text = " ".join(err.split())
    assert code == 2, out + err
    assert "product 'geo.places'" in text and "unique constraint 'places_pkey'" in text
    assert "Key (id)=(1) already exists" in text and "row 2 of the batch" in text
    assert "nothing was written" in text and "hint:" in text
    assert "COPY" not in text and "libpq" not in text
    assert pg_exec(url, "SELECT id, name, pop FROM places ORDER BY id") == before  # id 4 did not land either
    with Mesh.open(root) as mesh:
        with pytest.raises(SourceError, match="places_pkey"):
            mesh.write("geo.places", pa.table({"id": [2], "name": ["b"]}))
        assert mesh.events.list(event_type="product.data_written") == []


def test_init_workspace_writes_its_csv_product_as_csv(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = tmp_path / "ws"
    with default_store():
        assert cli(capsys, "init", root)[0] == 0
        assert cli(capsys, "-w", root, "apply")[0] == 0
        new = tmp_path / "new.csv"
        new.write_text("population,city,country\n293642,Vigo,ES\n", encoding="utf-8")  # other column order
        code, out, err = cli(capsys, "-w", root, "products", "write", "geo.cities", new)
        assert code == 0, err
        assert "wrote 1 rows to geo.cities" in out
        lines = (root / "data/cities.csv").read_text(encoding="utf-8").splitlines()
        assert lines[0] == "city,country,population" and len(lines) == 10  # header, 8 old rows, 1 new
        assert lines[1] == "Lisbon,PT,545923"  # old rows kept byte for byte
        assert lines[-1].replace('"', "") == "Vigo,ES,293642"
        assert sorted(p.name for p in (root / "data").iterdir()) == ["cities.csv"]  # no Parquet beside it
        code, out, _ = cli(capsys, "-w", root, "query",
                           "SELECT count(*) AS n, sum(population) AS pop FROM geo.cities", "--format", "json")
        assert code == 0 and json.loads(out) == [{"n": 9, "pop": 14269389}]


def test_json_lines_and_csv_glob_products_are_written_in_their_format(tmp_path: Path) -> None:
    mesh_yaml = "name: t\nsources:\n  lake:\n    kind: files\n    path: data\ndomains:\n  ev:\n    owners: [a@b.c]\n"
    product = ("kind: DataProduct\ndomain: ev\nname: {name}\nowner: a@b.c\noutput:\n  source: lake\n  path: {path}\n"
               "schema:\n  - name: id\n    type: bigint\n  - name: amount\n    type: double\n")
    write(tmp_path / "mesh.yaml", mesh_yaml)
    write(tmp_path / "data/events.jsonl", '{"id": 1, "amount": 1.5}\n')
    write(tmp_path / "data/parts/a.csv", "id,amount\n1,2.25\n")
    write(tmp_path / "products/events.yaml", product.format(name="events", path="events.jsonl"))
    write(tmp_path / "products/parts.yaml", product.format(name="parts", path="parts/*.csv"))
    batch = pa.table({"id": [2], "amount": [12.25]})
    with default_store(), Mesh.open(tmp_path) as mesh:
        mesh.apply()
        mesh.write("ev.events", batch)
        mesh.write("ev.parts", batch)
        lines = (tmp_path / "data/events.jsonl").read_text(encoding="utf-8").splitlines()
        assert lines[0] == '{"id": 1, "amount": 1.5}' and _exact(lines[1]) == {
            "id": 2, "amount": Decimal("12.25")}
        parts = sorted((tmp_path / "data/parts").iterdir())
        assert len(parts) == 2 and all(p.suffix == ".csv" for p in parts)
        assert mesh.query("SELECT count(*) AS n FROM ev.parts").rows == [(2,)]
        with pytest.raises(SourceError, match=r"product 'ev\.events'.*JSON array"):
            (tmp_path / "data/events.jsonl").write_text('[{"id": 1, "amount": 1.5}]', encoding="utf-8")
            mesh.write("ev.events", batch)


def test_mysql_duplicate_key_is_refused_whole_with_a_clear_error(tmp_path: Path, mysql_url: str,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    import uuid

    table = f"places_{uuid.uuid4().hex[:8]}"

    def rows() -> list[tuple[object, ...]]:
        return [tuple(r) for r in my_exec(mysql_url, f"SELECT id, name FROM `{table}` ORDER BY id")]

    my_exec(mysql_url, f"CREATE TABLE `{table}` (id BIGINT PRIMARY KEY, name VARCHAR(20))",
            f"INSERT INTO `{table}` VALUES (1, 'a'), (2, 'b')")
    try:
        spec = (f"kind: DataProduct\ndomain: geo\nname: spots\nowner: geo-team@example.com\nstatus: published\n"
                f"output:\n  source: shop\n  table: {table}\nschema:\n  - {{name: id, type: bigint, nullable: false}}\n"
                f"  - {{name: name, type: string}}\n")
        mesh_yaml = MESH_YAML.replace("sources:\n", f"sources:\n  shop:\n    kind: mysql\n    url: {mysql_url}\n"
                                      ).replace("domains:\n", "domains:\n  geo:\n    owners: [geo-team@example.com]\n")
        write(tmp_path / "mesh.yaml", mesh_yaml)
        write(tmp_path / "products/geo/spots.yaml", spec)
        batch = tmp_path / "batch.csv"
        batch.write_text("id,name\n3,c\n1,again\n", encoding="utf-8")  # row 1 is new, row 2 is not
        with default_store():
            assert cli(capsys, "-w", tmp_path, "apply")[0] == 0
            code, out, err = cli(capsys, "-w", tmp_path, "products", "write", "geo.spots", batch)
        text = " ".join(err.split())
        assert code == 2, out + err
        assert "product 'geo.spots'" in text and "a unique key" in text and "Duplicate entry '1'" in text
        assert "no row of the batch was written" in text and "hint:" in text and "IntegrityError" not in text
        assert rows() == [(1, "a"), (2, "b")]  # id 3 did not land either
    finally:
        my_exec(mysql_url, f"DROP TABLE IF EXISTS `{table}`")
