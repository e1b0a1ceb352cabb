"""``meshfabric lineage sql``: files and stdin, JSON and Rich output, --detail, --schema, and the exit
code 2 with a located message for bad SQL and unreadable files."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from meshfabric.cli.app import app

runner = CliRunner()

SCRIPT = """
-- stage the paid orders, then load the mart
CREATE TEMP TABLE stage AS
SELECT o.id, o.amount * 1.2 AS gross, c.region
FROM sales.orders o JOIN sales.customers c ON o.cid = c.id
WHERE o.paid;

INSERT INTO mart.revenue (region, total)
SELECT region, sum(gross) FROM stage GROUP BY region;
"""

EXPECTED = {
    "sources": ["sales.customers", "sales.orders", "stage"],
    "targets": ["mart.revenue", "stage"],
    "columns": [
        ["sales.customers.region", "stage.region"],
        ["sales.orders.amount", "stage.gross"],
        ["sales.orders.id", "stage.id"],
        ["stage.gross", "mart.revenue.total"],
        ["stage.region", "mart.revenue.region"],
    ],
}


def test_json_from_a_file(tmp_path: Path) -> None:
    f = tmp_path / "load.sql"
    f.write_text(SCRIPT, encoding="utf-8")
    res = runner.invoke(app, ["lineage", "sql", str(f), "--dialect", "postgres", "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout) == EXPECTED


def test_byte_order_mark_and_crlf_are_read(tmp_path: Path) -> None:
    f = tmp_path / "win.sql"
    f.write_bytes(b"\xef\xbb\xbfINSERT INTO u\r\nSELECT a\r\nFROM t;\r\n")
    res = runner.invoke(app, ["lineage", "sql", str(f), "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout) == {"sources": ["t"], "targets": ["u"], "columns": [["t.a", "u.a"]]}


def test_json_from_stdin() -> None:
    res = runner.invoke(app, ["lineage", "sql", "-", "--json"], input=SCRIPT)
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout) == EXPECTED


def test_dialect_specific_sql_from_stdin() -> None:
    sql = "SELECT TOP 3 [Id], o.[Total] INTO #top FROM [dbo].[Orders] AS o ORDER BY o.[Total] DESC"
    res = runner.invoke(app, ["lineage", "sql", "-", "-d", "tsql", "--json"], input=sql)
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout) == {
        "sources": ["dbo.orders"], "targets": ["#top"],
        "columns": [["dbo.orders.id", "#top.id"], ["dbo.orders.total", "#top.total"]],
    }


def test_detail_json_has_typed_edges_and_indirect_dependencies() -> None:
    res = runner.invoke(app, ["lineage", "sql", "-", "--json", "--detail"], input=SCRIPT)
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert {k: data[k] for k in ("sources", "targets", "columns")} == EXPECTED
    first, second = data["statements"]
    assert first["kind"] == "create_table_as" and second["kind"] == "insert"
    gross = next(c for c in first["columns"] if c["target"] == "stage.gross")
    assert gross["inputs"] == [{"source": "sales.orders.amount", "type": "DIRECT", "subtype": "TRANSFORMATION",
                                "masking": False}]
    total = next(c for c in second["columns"] if c["target"] == "mart.revenue.total")
    assert total["inputs"][0]["subtype"] == "AGGREGATION"
    assert {(d["source"], d["subtype"]) for d in first["dataset"]} == {
        ("sales.orders.cid", "JOIN"), ("sales.customers.id", "JOIN"), ("sales.orders.paid", "FILTER")}
    assert {(d["source"], d["subtype"]) for d in second["dataset"]} == {("stage.region", "GROUP_BY")}


def test_rich_rendering_lists_tables_and_edges(tmp_path: Path) -> None:
    f = tmp_path / "q.sql"
    f.write_text("INSERT INTO u (x) SELECT count(a) FROM t WHERE b > 0", encoding="utf-8")
    res = runner.invoke(app, ["lineage", "sql", str(f)])
    assert res.exit_code == 0, res.output
    assert "Column lineage" in res.stdout and "t.a" in res.stdout and "u.x" in res.stdout
    res = runner.invoke(app, ["lineage", "sql", str(f), "--detail"])
    assert res.exit_code == 0, res.output
    for word in ("AGGREGATION", "yes", "FILTER", "t.b"):  # count() masks; WHERE b is a filter
        assert word in res.stdout


def test_schema_file_expands_star(tmp_path: Path) -> None:
    schema = tmp_path / "schema.yaml"
    schema.write_text("t:\n  a: int\n  b: text\n", encoding="utf-8")
    res = runner.invoke(app, ["lineage", "sql", "-", "--json", "--schema", str(schema)],
                        input="INSERT INTO u SELECT * FROM t")
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["columns"] == [["t.a", "u.a"], ["t.b", "u.b"]]
    bad = tmp_path / "schema.json"
    bad.write_text("[1, 2]", encoding="utf-8")
    res = runner.invoke(app, ["lineage", "sql", "-", "--schema", str(bad)], input="SELECT 1")
    assert res.exit_code == 2
    assert "must hold a mapping" in res.output


def test_bad_sql_names_statement_and_position() -> None:
    res = runner.invoke(app, ["lineage", "sql", "-", "--json"], input="SELECT a FROM t;\nSELECT a FROM WHERE x")
    assert res.exit_code == 2
    assert res.stdout == ""
    assert "statement 2, line 2, column" in res.output
    assert "Traceback" not in res.output


def test_unreadable_inputs_exit_2(tmp_path: Path) -> None:
    res = runner.invoke(app, ["lineage", "sql", str(tmp_path / "missing.sql")])
    assert res.exit_code == 2
    assert "SQL file not found" in res.output
    res = runner.invoke(app, ["lineage", "sql", str(tmp_path)])
    assert res.exit_code == 2
    assert "is a folder" in res.output
    binary = tmp_path / "blob.sql"
    binary.write_bytes(b"\xff\xfe\x00SELECT")
    res = runner.invoke(app, ["lineage", "sql", str(binary)])
    assert res.exit_code == 2
    assert "not UTF-8" in res.output
    res = runner.invoke(app, ["lineage", "sql", "-", "--dialect", "cobol"], input="SELECT 1")
    assert res.exit_code == 2
    assert "unknown SQL dialect 'cobol'" in res.output


def test_warnings_go_to_stderr_and_keep_json_clean() -> None:
    res = runner.invoke(app, ["lineage", "sql", "-", "--json"], input="SELECT a FROM t JOIN s ON t.id = s.id")
    assert res.exit_code == 0
    assert json.loads(res.stdout)["columns"] == [["a", "a"]]  # unresolved: either table may hold it
    assert "could belong to any of s, t" in res.stderr


CLI = [sys.executable, "-c", "from meshfabric.cli import main; main()"]


def test_the_real_command_reads_stdin() -> None:
    proc = subprocess.run([*CLI, "lineage", "sql", "-", "--json"],
                          input="CREATE VIEW v AS SELECT a FROM t", capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == {"sources": ["t"], "targets": ["v"], "columns": [["t.a", "v.a"]]}
    proc = subprocess.run([*CLI, "lineage", "sql", "-"],
                          input="SELECT (", capture_output=True, text=True, check=False)
    assert proc.returncode == 2
    assert "statement 1" in proc.stderr and "Traceback" not in proc.stderr
