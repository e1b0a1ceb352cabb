"""The progress bar: drawn on a terminal, silent when output is captured, with --json and under CI."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from rich.console import Console
from typer.testing import CliRunner

from helpers import build_workspace, default_store
from meshfabric.cli._progress import progress, shows_progress


def _terminal() -> tuple[Console, io.StringIO]:
    out = io.StringIO()
    return Console(file=out, force_terminal=True, width=100), out


def test_renders_on_a_forced_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.delenv("MESHFABRIC_NO_PROGRESS", raising=False)
    console, out = _terminal()
    with progress(console=console) as report:
        report("reading the schema of sales.orders", 0, 2)
        report("reading the schema of crm.customers", 1, 2)
    text = out.getvalue()
    assert "reading the schema of crm.customers" in text and "1/2" in text


@pytest.mark.parametrize("quiet", ["json", "ci"])
def test_silent_with_json_and_under_ci(quiet: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    if quiet == "ci":
        monkeypatch.setenv("CI", "true")
    console, out = _terminal()
    assert not shows_progress(console, enabled=quiet != "json")
    with progress(console=console, enabled=quiet != "json") as report:
        report("working", 0, 1)
    assert out.getvalue() == ""


def test_silent_when_stdout_is_not_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    assert not shows_progress()  # pytest captures stdout


def test_apply_under_clirunner_prints_its_result_and_no_progress(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    from meshfabric.cli.app import app

    monkeypatch.delenv("CI", raising=False)
    root = build_workspace(tmp_path / "ws")
    seen: list[tuple[str, int, int]] = []
    with default_store():
        from meshfabric.mesh import Mesh

        with Mesh.open(root) as mesh:  # the service reports to the callback it is given
            mesh.apply(dry_run=True, progress=lambda what, done, total: seen.append((what, done, total)))
        result = CliRunner().invoke(app, ["-w", str(root), "apply"])
    assert result.exit_code == 0, result.output
    assert "applied:" in result.output
    assert "reading the schema" not in result.output and "\x1b[?25l" not in result.output
    assert seen[0] == ("validating spec files", 0, 1)
    assert ("read source schemas", 3, 3) in seen
