"""When a query's catalog has aged statistics refreshed behind it, and the maximum age setting."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from meshfabric.catalog.read import ProductInfo
from meshfabric.catalog.statistics import RETRY_AFTER, due_in_background, max_age
from meshfabric.connectors.statistics import port_fingerprint
from meshfabric.errors import ConfigError

NOW = datetime(2026, 1, 2, 12, tzinfo=UTC)
DAY = timedelta(days=1)


def _info() -> ProductInfo:
    return ProductInfo("sales", "orders", "o", "", [], "published", "1", 1, "db", {"source": "db", "table": "orders"},
                       [{"name": "id", "type": "bigint"}], "", NOW, NOW)


def test_only_aged_current_statistics_not_tried_lately_are_due() -> None:
    info = _info()
    fp = port_fingerprint(info.output, info.columns)
    old = NOW - 2 * DAY
    assert due_in_background(info, fp, old, old, now=NOW, limit=DAY)
    assert not due_in_background(info, fp, NOW - DAY / 2, old, now=NOW, limit=DAY)  # young enough
    assert not due_in_background(info, fp, old, NOW - RETRY_AFTER / 2, now=NOW, limit=DAY)  # tried lately
    assert not due_in_background(info, "another port", old, old, now=NOW, limit=DAY)  # an apply refreshes those
    assert not due_in_background(info, fp, None, None, now=NOW, limit=DAY)
    naive = (NOW - 2 * DAY).replace(tzinfo=None)  # as SQLite gives stored times back
    assert due_in_background(info, fp, naive, naive, now=NOW, limit=DAY)


def test_max_age_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MESHFABRIC_STATS_MAX_AGE", raising=False)
    assert max_age() == DAY
    monkeypatch.setenv("MESHFABRIC_STATS_MAX_AGE", "3600")
    assert max_age() == timedelta(hours=1)
    monkeypatch.setenv("MESHFABRIC_STATS_MAX_AGE", "-5")
    with pytest.raises(ConfigError, match="not a number of seconds greater than 0"):
        max_age()
    assert max_age(strict=False) == DAY  # the query path never fails on it
