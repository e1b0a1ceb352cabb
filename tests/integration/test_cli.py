"""The command line from a user's seat: init, apply, listings, sources, events, query, spec schema."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from helpers import cli, copy_workspace, default_store, flat, write
from meshfabric import __version__

CITIES = {
    "Lisbon": ("PT", 545923), "Porto": ("PT", 231800), "Madrid": ("ES", 3305408), "Barcelona": ("ES", 1620343),
    "Lyon": ("FR", 522250), "Paris": ("FR", 2102650), "Berlin": ("DE", 3755251), "Hamburg": ("DE", 1892122),
}


@pytest.fixture(autouse=True)
def _default_store(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MESHFABRIC_STORE_URL", raising=False)


@pytest.fixture(scope="module")
def applied_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from meshfabric import Mesh
    from meshfabric.cli.workspace_init import scaffold

    root = tmp_path_factory.mktemp("template") / "geo-mesh"
    scaffold(root)
    with default_store(), Mesh.open(root) as mesh:
        assert mesh.apply().count("create") == 3
    return root


@pytest.fixture
def ws(applied_template: Path, tmp_path: Path) -> Path:
    """A workspace made by `meshfabric init` and applied (copied from one applied template)."""
    return copy_workspace(applied_template, tmp_path / "geo-mesh")


def _json(capsys: pytest.CaptureFixture[str], *args: object) -> object:
    code, out, err = cli(capsys, *args)
    assert code == 0, err
    return json.loads(out)


# -- init and apply -----------------------------------------------------------------------------


def test_init_scaffolds_a_workspace_that_applies(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = tmp_path / "fresh"
    code, out, _ = cli(capsys, "init", root)
    assert code == 0
    for rel in ("mesh.yaml", "products/geo/cities.yaml", "data/cities.csv", ".gitignore"):
        assert (root / rel).is_file()
        assert str(root / rel) in out
    assert "name: fresh" in (root / "mesh.yaml").read_text()
    assert "meshfabric apply" in out
    code, out, err = cli(capsys, "-w", root, "apply")
    assert code == 0, err
    assert "+ product geo.cities" in out
    assert "applied: 3 create, 0 update, 0 delete, 0 unchanged" in out  # one source, one domain, one product


def test_init_with_a_name(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, _ = cli(capsys, "init", tmp_path / "x", "--name", "acme")
    assert code == 0
    assert "name: acme" in (tmp_path / "x" / "mesh.yaml").read_text()


def test_init_refuses_to_overwrite_a_workspace(ws: Path, capsys: pytest.CaptureFixture[str]) -> None:
    before = (ws / "mesh.yaml").read_text()
    code, _, err = cli(capsys, "init", ws)
    assert code == 2
    assert "already holds a mesh.yaml" in err
    assert (ws / "mesh.yaml").read_text() == before


def test_commands_outside_a_workspace_explain_what_to_do(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    for args in (["apply"], ["products", "list"], ["domains"]):
        code, _, err = cli(capsys, "-w", empty, *args)
        assert code == 2, args
        assert "no mesh.yaml" in err and "meshfabric init" in err
        assert "Traceback" not in err


def test_apply_from_inside_the_workspace_folder(ws: Path, capsys: pytest.CaptureFixture[str],
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ws / "products" / "geo")
    code, out, _ = cli(capsys, "apply", "cities.yaml")
    assert code == 0
    assert "product geo.cities" in out and "applied: 0 create, 0 update, 0 delete, 3 unchanged" in out


def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli(capsys, "no-such-command")[0] == 2
    assert cli(capsys, "products", "show")[0] == 2  # missing argument


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = cli(capsys, "version")
    assert code == 0 and out.strip() == __version__


# -- listings -----------------------------------------------------------------------------------


def test_products_list_json_and_table(ws: Path, capsys: pytest.CaptureFixture[str]) -> None:
    items = _json(capsys, "-w", ws, "products", "list", "--json")
    assert isinstance(items, list) and len(items) == 1
    p = items[0]
    assert p["fqn"] == "geo.cities"
    assert p["owner"] == "platform-team@example.com"
    assert p["status"] == "published" and p["version"] == "1.0.0" and p["revision"] == 1
    assert p["tags"] == ["reference", "geo"]
    assert p["output"] == {"source": "files", "path": "cities.csv", "options": {}}
    assert [(c["name"], c["type"], c["nullable"]) for c in p["columns"]] == [
        ("city", "string", False), ("country", "string", True), ("population", "bigint", True)]
    assert p["file"] == "products/geo/cities.yaml"
    code, out, _ = cli(capsys, "-w", ws, "products", "list")
    assert code == 0 and "geo.cities" in out and "published" in out


@pytest.mark.parametrize(
    ("args", "found"),
    [
        (["--domain", "geo"], ["geo.cities"]),
        (["--domain", "sales"], []),
        (["--status", "published"], ["geo.cities"]),
        (["--status", "draft"], []),
        (["--tag", "reference"], ["geo.cities"]),
        (["--tag", "finance"], []),
    ],
)
def test_products_list_filters(ws: Path, capsys: pytest.CaptureFixture[str], args: list[str],
                               found: list[str]) -> None:
    items = _json(capsys, "-w", ws, "products", "list", "--json", *args)
    assert [p["fqn"] for p in items] == found


def test_products_show(ws: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = cli(capsys, "-w", ws, "products", "show", "geo.cities")
    assert code == 0
    assert "geo.cities" in out and "published" in out and "v1.0.0" in out
    assert "platform-team@example.com" in out
    assert "files → cities.csv" in out
    for column in ("city", "country", "population"):
        assert column in out
    shown = _json(capsys, "-w", ws, "products", "show", "geo.cities", "--json")
    assert shown["fqn"] == "geo.cities" and shown["description"] == "Cities with their country and population."


def test_products_show_unknown_suggests_a_name(ws: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = cli(capsys, "-w", ws, "products", "show", "geo.citys")
    assert code == 2
    assert "product 'geo.citys' not found" in err
    assert "did you mean 'geo.cities'?" in err


def test_domains(ws: Path, capsys: pytest.CaptureFixture[str]) -> None:
    items = _json(capsys, "-w", ws, "domains", "--json")
    assert [(d["name"], d["owners"], d["products"]) for d in items] == [
        ("geo", ["platform-team@example.com"], 1)]
    assert items[0]["description"] == "Reference data about places"
    code, out, _ = cli(capsys, "-w", ws, "domains")
    assert code == 0 and "geo" in out and "platform-team@example.com" in out


# -- sources ------------------------------------------------------------------------------------


def test_sources_list_and_tables(ws: Path, capsys: pytest.CaptureFixture[str]) -> None:
    items = _json(capsys, "-w", ws, "sources", "list", "--json")
    assert [(s["name"], s["kind"], s["spec"]["path"]) for s in items] == [("files", "files", "data")]
    code, out, _ = cli(capsys, "-w", ws, "sources", "list")
    assert code == 0 and "files" in out
    tables = _json(capsys, "-w", ws, "sources", "tables", "files", "--json")
    assert "cities.csv" in [t["name"] for t in tables]


def _add_broken_source(ws: Path) -> None:
    mesh = (ws / "mesh.yaml").read_text()
    mesh = mesh.replace("sources:\n", "sources:\n  broken:\n    kind: postgres\n"
                        "    url: postgresql://nobody@127.0.0.1:1/nothing\n", 1)
    (ws / "mesh.yaml").write_text(mesh)


def test_sources_test_exits_1_when_a_source_fails(ws: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = cli(capsys, "-w", ws, "sources", "test")
    assert code == 0 and "ok" in out and "files" in out
    _add_broken_source(ws)
    code, out, _ = cli(capsys, "-w", ws, "sources", "test")
    assert code == 1
    assert "FAIL  broken" in out and "source 'broken'" in out
    assert "ok    files" in out  # the other source still works
    results = {r["source"]: r for r in json.loads(cli(capsys, "-w", ws, "sources", "test", "--json")[1])}
    assert results["files"]["ok"] is True and results["broken"]["ok"] is False
    assert cli(capsys, "-w", ws, "sources", "test", "files")[0] == 0


def test_sources_test_unknown_source(ws: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = cli(capsys, "-w", ws, "sources", "test", "filez")
    assert code == 2
    assert "source 'filez' is not configured" in err and "did you mean 'files'?" in err


# -- events -------------------------------------------------------------------------------------


def test_events_list(ws: Path, capsys: pytest.CaptureFixture[str]) -> None:
    events = _json(capsys, "-w", ws, "events", "list", "--json")
    assert [e["event_type"] for e in events] == [
        "source.registered", "domain.created", "product.created", "schema.version_added"
    ]
    assert len({e["correlation_id"] for e in events}) == 1
    assert [e["seq"] for e in events] == sorted(e["seq"] for e in events)
    product = _json(capsys, "-w", ws, "events", "list", "--json", "--type", "product.*")
    assert [e["data"]["product"] for e in product] == ["geo.cities"]
    assert _json(capsys, "-w", ws, "events", "list", "--json", "--domain", "geo", "--type", "domain.created")
    assert _json(capsys, "-w", ws, "events", "list", "--json", "--since", "2999-01-01") == []
    assert len(_json(capsys, "-w", ws, "events", "list", "--json", "--until", "2999-01-01T00:00+02:00")) == 4
    assert len(_json(capsys, "-w", ws, "events", "list", "--json", "--limit", "2")) == 2
    code, out, _ = cli(capsys, "-w", ws, "events", "list")
    assert code == 0 and "product.created" in out
    assert _json(capsys, "-w", ws, "events", "dead", "--json") == []


def test_events_list_with_a_bad_date(ws: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = cli(capsys, "-w", ws, "events", "list", "--since", "yesterday")
    assert code == 2
    assert "--since 'yesterday' is not an ISO date/time" in err


# -- query --------------------------------------------------------------------------------------

PT_SQL = "SELECT city, population FROM geo.cities WHERE country = 'PT' ORDER BY city"


def test_query_prints_a_table(ws: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = cli(capsys, "-w", ws, "query", PT_SQL)
    assert code == 0, err
    assert "Lisbon" in out and "Porto" in out and "Madrid" not in out
    assert "2 rows" in out


def test_query_aggregates(ws: Path, capsys: pytest.CaptureFixture[str]) -> None:
    sql = "SELECT country, sum(population) AS people FROM geo.cities GROUP BY country ORDER BY country"
    rows = _json(capsys, "-w", ws, "query", sql, "--format", "json")
    expected: dict[str, int] = {}
    for country, population in CITIES.values():
        expected[country] = expected.get(country, 0) + population
    assert [(r["country"], int(r["people"])) for r in rows] == sorted(expected.items())


def test_query_output_files_round_trip(ws: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    expected = [{"city": c, "population": CITIES[c][1]} for c in sorted(CITIES) if CITIES[c][0] == "PT"]
    out_csv, out_json, out_parquet = tmp_path / "r.csv", tmp_path / "r.json", tmp_path / "r.parquet"
    for target in (out_csv, out_json, out_parquet):
        code, _, err = cli(capsys, "-w", ws, "query", PT_SQL, "--output", target)
        assert code == 0, err
        assert f"wrote 2 rows to {target}" in flat(err)
    with out_csv.open(newline="") as f:
        assert [{"city": r["city"], "population": int(r["population"])} for r in csv.DictReader(f)] == expected
    assert json.loads(out_json.read_text()) == expected
    assert pq.read_table(out_parquet).to_pylist() == expected


def test_query_csv_to_stdout(ws: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = cli(capsys, "-w", ws, "query", PT_SQL, "--format", "csv")
    assert code == 0
    assert list(csv.reader(io.StringIO(out))) == [["city", "population"], ["Lisbon", "545923"],
                                                  ["Porto", "231800"]]


def test_query_from_a_file_and_with_a_limit(ws: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    sql_file = write(tmp_path / "q.sql", "SELECT city FROM geo.cities ORDER BY population DESC")
    rows = _json(capsys, "-w", ws, "query", f"@{sql_file}", "--format", "json", "--limit", "2")
    assert rows == [{"city": "Berlin"}, {"city": "Madrid"}]


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT * FROM read_csv_auto('/etc/passwd')",
        "SELECT * FROM read_text('/etc/passwd')",
        "SELECT * FROM '/etc/passwd'",
        "SELECT * FROM glob('/etc/*')",
        "SELECT * FROM geo.cities; SELECT 1",
        "ATTACH '/tmp/x.duckdb' AS x",
        "COPY (SELECT 1) TO '/tmp/meshfabric-leak.csv'",
        "PRAGMA database_list",
        "SET enable_external_access = true",
        "INSERT INTO geo.cities VALUES ('X', 'XX', 1)",
        "SELECT * FROM cities",
    ],
)
def test_query_refuses_sql_that_reaches_beyond_products(ws: Path, capsys: pytest.CaptureFixture[str], sql: str) -> None:
    code, out, err = cli(capsys, "-w", ws, "query", sql)
    assert code == 2, out
    assert err.startswith("error: ")
    assert "Traceback" not in err
    assert "root:" not in out + err
    assert not Path("/tmp/meshfabric-leak.csv").exists()


def test_query_refusal_says_what_was_refused(ws: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = cli(capsys, "-w", ws, "query", "SELECT * FROM read_csv_auto('/etc/passwd')")
    assert code == 2
    assert "read_csv_auto" in err.lower()


def test_query_of_an_unknown_product_suggests_one(ws: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = cli(capsys, "-w", ws, "query", "SELECT * FROM geo.citys")
    assert code == 2
    assert "geo.citys" in err and "geo.cities" in err


def test_query_output_options_are_checked(ws: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = cli(capsys, "-w", ws, "query", PT_SQL, "--format", "parquet")
    assert code == 2 and "parquet output needs --output FILE" in err
    code, _, err = cli(capsys, "-w", ws, "query", PT_SQL, "--output", tmp_path / "r.xlsx")
    assert code == 2 and "unknown output format 'xlsx'" in err


def test_explain(ws: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = cli(capsys, "-w", ws, "explain", PT_SQL)
    assert code == 0, err
    assert "files" in out


# -- spec schema and serve ----------------------------------------------------------------------


def test_spec_schema(capsys: pytest.CaptureFixture[str]) -> None:
    schema = _json(capsys, "spec", "schema")
    assert {"domain", "name", "owner", "output", "schema", "status", "version"} <= set(schema["properties"])
    assert {"domain", "name", "owner", "output"} <= set(schema["required"])
    status = json.dumps(schema["properties"]["status"])
    assert all(s in status for s in ("draft", "published", "deprecated", "retired"))
    mesh = _json(capsys, "spec", "schema", "Mesh")
    assert {"name", "store", "sources", "domains"} <= set(mesh["properties"])
    code, _, err = cli(capsys, "spec", "schema", "Pipeline")
    assert code == 2 and "unknown spec kind 'Pipeline'" in err


def test_spec_schema_validates_the_scaffolded_product(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import yaml

    from meshfabric.spec.models import ProductSpec

    cli(capsys, "init", tmp_path / "w")
    doc = yaml.safe_load((tmp_path / "w" / "products/geo/cities.yaml").read_text())
    schema = _json(capsys, "spec", "schema")
    assert set(doc) <= set(schema["properties"])
    assert ProductSpec.model_validate(doc).fqn == "geo.cities"


def test_serve_refuses_to_bind_beyond_loopback(ws: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = cli(capsys, "-w", ws, "serve", "--host", "0.0.0.0", "--no-auth")
    assert code == 2
    assert "refusing to bind 0.0.0.0" in err


@pytest.mark.slow
def test_console_script_exit_codes(ws: Path) -> None:
    """The installed `meshfabric` command exits with the codes the in-process runner returns."""
    import subprocess
    import sys

    exe = Path(sys.executable).parent / "meshfabric"
    if not exe.exists():
        pytest.skip("the meshfabric console script is not installed next to this Python")
    _add_broken_source(ws)

    def code(*args: str) -> int:
        return subprocess.run([str(exe), "-w", str(ws), *args], capture_output=True, timeout=120).returncode

    assert code("products", "list") == 0
    assert code("sources", "test") == 1
    assert code("products", "show", "geo.nope") == 2
    assert code("no-such-command") == 2
