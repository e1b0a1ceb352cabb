"""``meshfabric stats refresh|show``: exit codes, JSON, and what a restricted principal sees."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from access_support import build, setup_principals
from helpers import build_workspace, cli, default_store, flat


@pytest.fixture
def ws(tmp_path: Path) -> Iterator[Path]:
    with default_store():
        root = build_workspace(tmp_path / "ws")
        yield root


def _json(capsys: pytest.CaptureFixture[str], *args: object) -> Any:
    code, out, err = cli(capsys, *args)
    assert code == 0, err
    return json.loads(out)


def test_refresh_and_show(ws: Path, capsys: pytest.CaptureFixture[str]) -> None:
    w = ["-w", ws]
    assert cli(capsys, *w, "apply")[0] == 0
    report = _json(capsys, *w, "stats", "refresh", "--json")
    assert report["analyze"] == "missing" and report["refreshed"] == 3 and report["failed"] == 0
    assert {p["product"] for p in report["products"]} == {"sales.orders", "crm.customers", "logistics.shipments"}
    one = _json(capsys, *w, "stats", "refresh", "logistics.shipments", "--analyze", "--json")
    assert one["analyze"] == "always" and [p["product"] for p in one["products"]] == ["logistics.shipments"]
    shown = _json(capsys, *w, "stats", "show", "logistics.shipments", "--json")
    assert shown["row_count"] == 15 and shown["exact"] is True and shown["current"] is True
    assert shown["origin"] == "parquet footer" and shown["stale"] is False
    cost = next(c for c in shown["columns"] if c["name"] == "cost")
    assert cost["min"] == 3.5 and cost["max"] == 7.5 and cost["null_fraction"] == 0 and cost["withheld"] is None
    code, out, err = cli(capsys, *w, "stats", "show", "sales.orders")
    assert code == 0, err
    text = flat(out)
    assert "rows: 20 (counted" in text and "│ order_id │ bigint │ 20 │ 0.00% │ 1 │ 20 │" in text


def test_a_refresh_whose_source_fails_exits_1_and_says_why(ws: Path, capsys: pytest.CaptureFixture[str],
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    from meshfabric.connectors.sqlite import SQLiteConnector
    from meshfabric.errors import SourceError

    assert cli(capsys, "-w", ws, "apply")[0] == 0

    def down(self: Any, port: Any, *, analyze: str = "never") -> Any:
        raise SourceError(self.name, "database file is gone")

    monkeypatch.setattr(SQLiteConnector, "statistics", down)
    code, out, err = cli(capsys, "-w", ws, "stats", "refresh", "--json")
    assert code == 1, err
    report = json.loads(out)
    assert report["failed"] == 1 and report["refreshed"] == 2
    failed = next(p for p in report["products"] if p["status"] == "error")
    assert failed["product"] == "sales.orders" and "database file is gone" in failed["error"]
    shown = _json(capsys, "-w", ws, "stats", "show", "sales.orders", "--json")
    assert shown["row_count"] == 20 and "database file is gone" in shown["error"]  # the last good ones stay


@pytest.mark.parametrize("args", [["stats", "show", "sales.order"], ["stats", "refresh", "sales.order"],
                                  ["stats", "show", "sales.order", "--json"]])
def test_an_unknown_product_exits_2_with_the_closest_name(ws: Path, capsys: pytest.CaptureFixture[str],
                                                           args: list[str]) -> None:
    assert cli(capsys, "-w", ws, "apply")[0] == 0
    code, out, err = cli(capsys, "-w", ws, *args)
    assert code == 2, (out, err)
    assert "product 'sales.order' not found" in err and "did you mean 'sales.orders'" in err
    assert "Traceback" not in err


def test_show_before_apply_exits_2(ws: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = cli(capsys, "-w", ws, "stats", "show", "sales.orders")
    assert code == 2 and "has not been applied yet" in flat(err)


@pytest.fixture
def secured(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    from meshfabric import Mesh

    monkeypatch.setenv("MESHFABRIC_MASK_SALT", "salt-for-tests")
    with default_store():
        root = build(tmp_path / "secure")
        with Mesh.open(root) as mesh:
            mesh.apply()
            setup_principals(mesh)
        yield root


def test_a_masked_principal_sees_no_min_max_of_masked_columns(secured: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    w = ["-w", secured]
    admin = _json(capsys, *w, "stats", "show", "crm.customers", "--json")
    email = next(c for c in admin["columns"] if c["name"] == "email")
    assert email["min"] == "ann@secret.com" and admin["row_count"] == 2
    # alice queries crm.customers with email masked (pii): no numbers of it, the rest as they are
    alice = _json(capsys, *w, "--as", "alice", "stats", "show", "crm.customers", "--json")
    assert alice["row_count"] == 2
    by_name = {c["name"]: c for c in alice["columns"]}
    assert by_name["email"]["withheld"] == "masked"
    assert by_name["email"]["min"] is None and by_name["email"]["max"] is None
    assert by_name["email"]["histogram_size"] is None and by_name["email"]["distinct"] is None
    assert by_name["name"]["min"] == "Ann" and by_name["name"]["withheld"] is None
    code, out, _ = cli(capsys, *w, "--as", "alice", "stats", "show", "crm.customers")
    assert code == 0 and "secret.com" not in out and "withheld (masked)" in flat(out)
    # sales.orders filters her rows: nothing measured over all of them
    filtered = _json(capsys, *w, "--as", "alice", "stats", "show", "sales.orders", "--json")
    assert filtered["row_count"] is None and "row filter" in filtered["withheld"]
    assert all(c["min"] is None and c["withheld"] == "row filter" for c in filtered["columns"])
    assert "999" not in json.dumps(filtered) and "hidden@us.com" not in json.dumps(filtered)


def test_discover_only_and_refresh_need_more(secured: Path, capsys: pytest.CaptureFixture[str]) -> None:
    w = ["-w", secured]
    code, _, err = cli(capsys, *w, "--as", "carol", "stats", "show", "sales.orders")
    assert code == 2 and "Traceback" not in err and "carol" in err
    code, _, err = cli(capsys, *w, "--as", "mallory", "stats", "show", "sales.orders")
    assert code == 2 and "not found" in err  # not even discoverable: as if missing
    code, _, err = cli(capsys, *w, "--as", "alice", "stats", "refresh", "crm.customers")
    assert code == 2 and "admin" in flat(err)
    report = _json(capsys, *w, "--as", "alice", "stats", "refresh", "--json")
    assert report["refreshed"] == 0 and report["skipped"] >= 2
    owner = _json(capsys, *w, "--as", "admin", "stats", "refresh", "crm.customers", "--json")
    assert owner["refreshed"] == 1


def test_refresh_stale_only(ws: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    assert cli(capsys, "-w", ws, "apply")[0] == 0
    assert _json(capsys, "-w", ws, "stats", "refresh", "--stale", "--json")["products"] == []
    monkeypatch.setenv("MESHFABRIC_STATS_MAX_AGE", "0.000001")
    assert _json(capsys, "-w", ws, "stats", "refresh", "--stale", "--json")["refreshed"] == 3
    monkeypatch.setenv("MESHFABRIC_STATS_MAX_AGE", "a day")
    code, _, err = cli(capsys, "-w", ws, "stats", "refresh", "--stale")
    assert code == 2 and "MESHFABRIC_STATS_MAX_AGE='a day' is not a number of seconds" in flat(err)
