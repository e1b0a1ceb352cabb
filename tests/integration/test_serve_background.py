"""``meshfabric serve`` runs the observability scheduler in the background: within seconds of
starting, every product has been probed (its probe series and lease are in the store)."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from helpers import build_workspace, cli, start_serve


def _serve(ws: Path, *extra: str) -> tuple[subprocess.Popen[bytes], str]:
    return start_serve(ws, "--no-auth", *extra)  # type: ignore[no-any-return]


def _probed(ws: Path) -> set[str]:
    from meshfabric import Mesh
    from meshfabric.store.models_observe import ObserveLeaseRow

    with Mesh.open(ws) as mesh, mesh.store.read() as s:
        return {f"{p}/{t}" for p, t in s.execute(select(ObserveLeaseRow.product, ObserveLeaseRow.task))}


@pytest.mark.slow
def test_serve_runs_the_scheduler(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ws = build_workspace(tmp_path / "ws")
    assert cli(capsys, "-w", ws, "apply")[0] == 0
    proc, _ = _serve(ws)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not {"sales.orders/probe", "crm.customers/probe"} <= _probed(ws):
            time.sleep(0.5)
        assert {"sales.orders/probe", "crm.customers/probe", "sales.orders/slo"} <= _probed(ws)
    finally:
        proc.terminate()
        proc.wait(timeout=30)


@pytest.mark.slow
def test_serve_without_the_scheduler(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ws = build_workspace(tmp_path / "ws")
    assert cli(capsys, "-w", ws, "apply")[0] == 0
    proc, base = _serve(ws, "--no-observe")
    try:
        assert httpx.get(base + "/api/v1/products", timeout=5).status_code == 200
        time.sleep(2)
        assert _probed(ws) == set()
    finally:
        proc.terminate()
        proc.wait(timeout=30)


@pytest.mark.slow
def test_serve_without_auth_answers_only_to_loopback_names(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """DNS rebinding: a page on evil.example resolving its name to 127.0.0.1 must not reach the
    local principal's API or UI."""
    ws = build_workspace(tmp_path / "ws")
    assert cli(capsys, "-w", ws, "apply")[0] == 0
    proc, base = _serve(ws, "--no-observe")
    try:
        assert httpx.get(base + "/api/v1/products", timeout=5).status_code == 200
        assert httpx.get(base + "/api/v1/products", headers={"Host": "localhost"}, timeout=5).status_code == 200
        refused = httpx.get(base + "/api/v1/products", headers={"Host": "evil.example"}, timeout=5)
        assert refused.status_code == 400 and "sales.orders" not in refused.text
        assert httpx.get(base + "/", headers={"Host": "evil.example"}, timeout=5).status_code == 400
    finally:
        proc.terminate()
        proc.wait(timeout=30)
