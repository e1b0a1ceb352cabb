"""Hostile YAML, JSON and SQL: every class ends in a clear error (file, line, what, a hint), exit
2 from the CLI, and nothing written — never a traceback, a RecursionError or a MemoryError."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from helpers import build_workspace, cli, default_store, default_store_url, store_snapshot, write
from meshfabric.contracts.odcs import load_contract
from meshfabric.errors import ConfigError, QueryError, SpecError
from meshfabric.query.guard import MAX_ROWS, check_sql
from meshfabric.safe_yaml import MAX_ALIAS_NODES, MAX_BYTES, MAX_DEPTH, load_documents, looks_like_spec

ORDERS = "products/sales/orders.yaml"
FAST = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def _problem(text: str) -> str:
    with pytest.raises(SpecError) as info:
        load_documents(text, "spec.yaml")
    assert len(info.value.problems) == 1
    return info.value.problems[0].render()


def _laughs(fan_out: int, levels: int) -> str:
    lines = ["a0: &a0 [" + ", ".join(["lol"] * fan_out) + "]"]
    for i in range(1, levels):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * fan_out) + "]")
    return "kind: DataProduct\n" + "\n".join(lines) + "\n"


# ------------------------------------------------------------------------------------------
# the loader


@given(depth=st.integers(MAX_DEPTH + 1, 20_000), flow=st.booleans())
@FAST
def test_nesting_beyond_the_bound_is_a_spec_error(depth: int, flow: bool) -> None:
    if flow:
        text = "kind: DataProduct\ntags: " + "[" * depth + "]" * depth + "\n"
    else:
        depth = min(depth, 2_000)
        text = "kind: DataProduct\nx:\n" + "".join("  " * (i + 1) + f"k{i}:\n" for i in range(depth)) + \
            "  " * (depth + 1) + "v\n"
    message = _problem(text)
    assert message.startswith("spec.yaml:")
    assert f"nests deeper than {MAX_DEPTH} levels" in message


@given(depth=st.integers(1, MAX_DEPTH - 1))
@FAST
def test_nesting_within_the_bound_loads(depth: int) -> None:
    assert load_documents("tags: " + "[" * depth + "]" * depth, "spec.yaml")


@given(fan_out=st.integers(2, 12), levels=st.integers(2, 12))
@FAST
def test_alias_expansion_is_bounded(fan_out: int, levels: int) -> None:
    text = _laughs(fan_out, levels)
    sizes = [1 + fan_out]  # values in a0, a1, … with every alias copied out
    for _ in range(1, levels):
        sizes.append(1 + fan_out * sizes[-1])
    brought_in = sum(fan_out * size for size in sizes[:-1])
    if brought_in <= MAX_ALIAS_NODES:
        load_documents(text, "spec.yaml")  # a few aliases are fine
        return
    message = _problem(text)
    assert "aliases expand to more than" in message and "spec.yaml:" in message


def test_the_661_byte_billion_laughs_is_refused_at_once() -> None:
    text = _laughs(9, 9)
    assert len(text.encode()) < 700
    assert "aliases expand to more than 100,000 values" in _problem(text)


def test_an_alias_inside_its_own_anchor_is_refused() -> None:
    assert "refers to a collection that contains it" in _problem("a: &a [1, *a]\n")


def test_merge_keys_and_small_aliases_still_work() -> None:
    [doc] = load_documents("base: &b {type: int, nullable: false}\ncol: {<<: *b, name: id}\n", "x.yaml")
    assert doc["col"] == {"type": "int", "nullable": False, "name": "id"}


@given(keys=st.lists(st.from_regex(r"[a-z][a-z_]{0,8}", fullmatch=True), min_size=2, max_size=8),
       data=st.data())
@FAST
def test_a_duplicate_key_names_both_lines(keys: list[str], data: st.DataObject) -> None:
    keys = list(dict.fromkeys(keys))
    dup = data.draw(st.sampled_from(keys))
    order = [*keys, dup]
    text = "".join(f"{k}: {i}\n" for i, k in enumerate(order))
    message = _problem(text)
    first, second = keys.index(dup) + 1, len(order)
    assert message.startswith(f"spec.yaml:{second}: duplicate key '{dup}' (first on line {first}")


def test_oversized_and_non_spec_files_are_not_parsed(tmp_path: Path) -> None:
    data = write(tmp_path / "data.yaml", "rows:\n" + "  - {id: 1, kind: x}\n" * 1000)
    assert not looks_like_spec(data, {"DataProduct"}, "data.yaml")
    spec = write(tmp_path / "spec.yaml", "# a product\nkind: DataProduct\n")
    assert looks_like_spec(spec, {"DataProduct"}, "spec.yaml")
    huge = tmp_path / "huge.yaml"
    huge.write_bytes(b"rows:\n" + b"  - 1\n" * (MAX_BYTES // 6 + 10))
    assert not looks_like_spec(huge, {"DataProduct"}, "huge.yaml")
    huge.write_bytes(b"kind: DataProduct\n" + b"# pad\n" * (MAX_BYTES // 6 + 10))
    with pytest.raises(SpecError, match="MB; at most 10 MB"):
        looks_like_spec(huge, {"DataProduct"}, "huge.yaml")


def test_contracts_use_the_same_bounds(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="nests deeper than"):
        load_contract("apiVersion: v3.1.0\nx: " + "[" * 5000 + "]" * 5000 + "\n")
    with pytest.raises(SpecError, match="aliases expand"):
        load_contract(_laughs(9, 9))
    with pytest.raises(SpecError, match="duplicate key 'status'"):
        load_contract("status: active\nid: x\nstatus: retired\n")
    big = tmp_path / "big.yaml"
    big.write_bytes(b"# pad\n" * (MAX_BYTES // 6 + 10))
    with pytest.raises(SpecError, match="at most 10 MB"):
        load_contract(big)


# ------------------------------------------------------------------------------------------
# apply: exit 2, a clear message, and an unchanged store


@pytest.fixture(scope="module")
def applied(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = build_workspace(tmp_path_factory.mktemp("untrusted") / "ws")
    with default_store():
        from meshfabric.cli import run

        assert run(["-w", str(root), "apply"]) == 0
    return root


HOSTILE = {
    "deep": ("tags: " + "[" * 5000 + "]" * 5000 + "\n", "nests deeper than 100 levels"),
    "laughs": (_laughs(9, 9).removeprefix("kind: DataProduct\n"), "aliases expand to more than"),
    "duplicate": ("status: retired\n", "duplicate key 'status' (first on line"),
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_apply_refuses_hostile_yaml_and_writes_nothing(applied: Path, capsys: pytest.CaptureFixture[str],
                                                       case: str) -> None:
    extra, expected = HOSTILE[case]
    path = applied / ORDERS
    original = path.read_text(encoding="utf-8")
    before = store_snapshot(default_store_url(applied))
    path.write_text(original + extra, encoding="utf-8")
    try:
        code, _, err = cli(capsys, "-w", applied, "apply")
    finally:
        path.write_text(original, encoding="utf-8")
    assert code == 2, err
    assert f"{ORDERS}:" in err and expected in err
    assert "Traceback" not in err and "RecursionError" not in err and "MemoryError" not in err
    assert store_snapshot(default_store_url(applied)) == before


def test_apply_skips_large_non_spec_yaml_unparsed(applied: Path, capsys: pytest.CaptureFixture[str],
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    from meshfabric import safe_yaml

    data = applied / "data" / "big.yaml"
    # ~9 MB of rows with nested kind: keys; a full parse used to take minutes and gigabytes
    data.write_text("rows:\n" + "".join(f"  - {{id: {i}, kind: row, v: {i * 0.5}}}\n" for i in range(240_000)))
    assert data.stat().st_size < MAX_BYTES
    parsed: list[str] = []
    real = safe_yaml.compose_documents

    def recording(text: str, origin: str, **kwargs: object) -> object:
        parsed.append(origin)
        return real(text, origin, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(safe_yaml, "compose_documents", recording)
    try:
        code, out, err = cli(capsys, "-w", applied, "apply")
    finally:
        data.unlink()
    assert code == 0, err
    assert ORDERS in parsed and "data/big.yaml" not in parsed
    assert "big.yaml" not in out + err


# ------------------------------------------------------------------------------------------
# JSON (OpenLineage event files)


@given(depth=st.integers(MAX_DEPTH + 1, 50_000), array=st.booleans())
@FAST
def test_deep_json_events_are_a_config_error(depth: int, array: bool) -> None:
    from meshfabric.cli.lineage_ingest_cmd import read_events

    text = '{"a":' * depth + "1" + "}" * depth
    if array:
        text = f"[{text}]"
    with pytest.raises(ConfigError, match=f"nests deeper than {MAX_DEPTH} levels") as info:
        read_events(text, "events.json")
    assert info.value.message.startswith("events.json")


def test_deep_json_lines_name_the_line() -> None:
    from meshfabric.cli.lineage_ingest_cmd import read_events

    text = '{"eventType": "START"}\n' + '{"a":' * 500 + "1" + "}" * 500 + "\n"
    with pytest.raises(ConfigError, match=r"events\.jsonl:2: the JSON nests deeper"):
        read_events(text, "events.jsonl")


def test_lineage_ingest_cli_exits_2_on_deep_json(applied: Path, tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    events = write(tmp_path / "deep.json", '{"a":' * 5000 + "1" + "}" * 5000)
    before = store_snapshot(default_store_url(applied))
    code, _, err = cli(capsys, "-w", applied, "lineage", "ingest", events)
    assert code == 2 and "nests deeper than 100 levels" in err and "Traceback" not in err
    assert store_snapshot(default_store_url(applied)) == before


# ------------------------------------------------------------------------------------------
# SQL


@given(position=st.integers(0, 20), code_point=st.integers(0xD800, 0xDFFF))
@FAST
def test_a_lone_surrogate_is_a_query_error_with_its_position(position: int, code_point: int) -> None:
    head = "SELECT 'abc' AS x FROM sales.orders"[:position]
    sql = head + chr(code_point) + "SELECT 1 FROM sales.orders"[position:]
    with pytest.raises(QueryError, match=f"lone surrogate \\(U\\+{code_point:04X}\\) at character {position + 1}"):
        check_sql(sql)


@given(value=st.integers(MAX_ROWS + 1, 10**40), clause=st.sampled_from(["LIMIT", "OFFSET"]),
       nested=st.booleans())
@FAST
def test_out_of_range_limits_are_query_errors(value: int, clause: str, nested: bool) -> None:
    sql = f"SELECT * FROM sales.orders {clause} {value}"
    if nested:
        sql = f"SELECT * FROM ({sql}) AS t"
    with pytest.raises(QueryError, match=f"{clause} {value} is out of range"):
        check_sql(sql)


@given(limit=st.integers(1, MAX_ROWS), offset=st.integers(1, MAX_ROWS))
@FAST
def test_limit_plus_offset_is_bounded(limit: int, offset: int) -> None:
    sql = f"SELECT * FROM sales.orders LIMIT {limit} OFFSET {offset}"
    if limit + offset <= MAX_ROWS:
        check_sql(sql)
    else:
        with pytest.raises(QueryError, match="together they may be at most"):
            check_sql(sql)


def test_query_cli_refuses_huge_limits_before_any_source(applied: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for sql in ("SELECT * FROM sales.orders LIMIT 9223372036854775808",
                "SELECT * FROM sales.orders OFFSET 99999999999999999999"):
        code, _, err = cli(capsys, "-w", applied, "query", sql)
        assert code == 2, err
        assert "out of range" in err and "source" not in err.split("hint")[0]


def test_query_cli_surrogate(applied: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = cli(capsys, "-w", applied, "query", "SELECT '\ud800' FROM sales.orders")
    assert code == 2 and "lone surrogate" in err and "Traceback" not in err


def test_json_helper_bounds_size() -> None:
    from meshfabric.safe_yaml import load_json

    with pytest.raises(ConfigError, match="at most 1 MB"):
        load_json(json.dumps(["x" * 2_000_000]), "body", max_bytes=1024 * 1024)


@pytest.mark.parametrize("command", [
    lambda f: ["lineage", "sql", str(f.with_name("q.sql")), "--schema", str(f)],
    lambda f: ["schema", "check", str(f), str(f)],
])
def test_every_json_file_a_command_reads_is_bounded_in_depth(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                            command: object) -> None:
    """Not only specs: a schema file for SQL lineage or for a compatibility check nested past the
    bound is refused by name, exit 2, instead of a RecursionError traceback."""
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 5000 + "]" * 5000)
    (tmp_path / "q.sql").write_text("SELECT a FROM t")
    code, out, err = cli(capsys, *command(deep))  # type: ignore[operator]
    assert code == 2 and "deep.json" in err and "nests deeper" in err and "Traceback" not in out + err
