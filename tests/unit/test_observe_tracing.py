"""Tracing helpers: literals never reach ``db.query.text``, attribute values are what
OpenTelemetry accepts, ``exporter: none`` installs nothing, and the console exporter prints the
spans of ``create_trace`` with their events."""

from __future__ import annotations

import io

import pytest
from hypothesis import given
from hypothesis import strategies as st

from meshfabric.observe import tracing
from meshfabric.query.engine import sanitized_sql
from meshfabric.spec.observe_models import TracingSpec


@pytest.mark.parametrize(("system", "sql", "expected"), [
    ("sqlite", "SELECT \"a\" FROM \"t\" WHERE \"r\" = 'EU' AND \"n\" > 10.5",
     "SELECT \"a\" FROM \"t\" WHERE \"r\" = ? AND \"n\" > ?"),
    ("mysql", "SELECT `a b` FROM `t` WHERE s = 'it''s' AND x IN (1, 2, -3)",
     "SELECT `a b` FROM `t` WHERE s = ? AND x IN (?, ?, -?)"),
    ("postgresql", "SELECT a FROM t WHERE d >= DATE '2024-01-01' AND e = 'x' LIMIT 5",
     "SELECT a FROM t WHERE d >= DATE ? AND e = ? LIMIT ?"),
    ("duckdb", "SELECT count(*) FROM read_parquet(['lake/a.parquet']) WHERE c = 'secret'",
     "SELECT count(*) FROM read_parquet([?]) WHERE c = ?"),
    # a backslash escapes nothing outside MySQL: the second literal must not survive
    ("postgresql", "SELECT a FROM t WHERE e = 'a\\' AND x = 'secret'", "SELECT a FROM t WHERE e = ? AND x = ?"),
    ("mysql", "SELECT a FROM t WHERE e = 'a\\'' AND x = \"dq\"", "SELECT a FROM t WHERE e = ? AND x = ?"),
    ("duckdb", "SELECT t1.c2, __mf_scan_0.x FROM t1 WHERE v = 1e5 AND w = .5 AND q = 'open",
     "SELECT t1.c2, __mf_scan_0.x FROM t1 WHERE v = ? AND w = ? AND q = ?"),
    ("sqlite", "SELECT \"we'ird\" FROM x WHERE y = -3", "SELECT \"we'ird\" FROM x WHERE y = -?"),
])
def test_source_sql_loses_every_literal(system: str, sql: str, expected: str) -> None:
    assert sanitized_sql(sql, system) == expected


@given(st.text(alphabet="ab\"`\\ 1.x()", max_size=30))
def test_no_quoted_secret_survives(noise: str) -> None:
    """Whatever precedes it (short of a quote, which would make it no literal), a literal
    'SECRET42' is never in the sanitized text."""
    for system in ("duckdb", "mysql"):
        assert "SECRET42" not in sanitized_sql(f"SELECT a FROM t WHERE {noise} = 'SECRET42'", system)


def test_attribute_values() -> None:
    assert tracing.attributes({"a": 1, "b": None, "c": ["x", "y"], "d": {"k": 1}, "e": True}) == {
        "a": 1, "c": ["x", "y"], "d": "{'k': 1}", "e": True}


def test_exporter_none_installs_nothing() -> None:
    before = dict(tracing._installed)
    tracing.configure(TracingSpec())
    tracing.configure(None)
    assert tracing._installed == before


def test_console_exporter_prints_spans_and_events() -> None:
    stream = io.StringIO()
    assert tracing.configure(TracingSpec(exporter="console", service_name="mf-test"), stream=stream)
    assert tracing.configure(TracingSpec(exporter="console"), stream=stream)  # the same one: not added twice
    with tracing.create_trace("unit.trace", product="a.b", rows=2) as span:
        assert span is not None
        assert tracing.add_trace_event("unit.event", note="hi")
    tracing.flush()
    text = stream.getvalue()
    assert text.count('"name": "unit.trace"') == 1
    assert '"unit.event"' in text and '"product": "a.b"' in text
    for key in [k for k in tracing._installed if k[0] == "console"]:  # later tests of this worker print nothing
        tracing._installed.pop(key).shutdown()


def test_traced_keeps_the_function() -> None:
    def add(a: int, b: int = 1) -> int:
        return a + b

    wrapped = tracing.traced(add, "add", lambda a, b=1: {"a": a}, lambda r: {"r": r})
    assert wrapped(2, b=3) == 5 and wrapped.__name__ == "add"
