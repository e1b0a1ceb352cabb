"""The first hour of a new user: the README's own commands, in a fresh folder, with the exit codes
it documents; every hint names a command that exists; --version; --help without `<bool>`."""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

import pytest

from helpers import cli, flat

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def readme_block(after: str) -> list[list[str]]:
    """The commands of the first ```bash block after the heading or sentence ``after``: comments
    dropped, continuation lines joined, `a && b` split, `meshfabric` removed from the front."""
    start = README.index(after)
    body = README[README.index("```bash\n", start) + len("```bash\n"):]
    body = body[:body.index("```")].replace("\\\n", " ")
    commands = []
    for line in body.splitlines():
        line = line.split("  #", 1)[0].strip()
        for part in filter(None, (p.strip() for p in line.split("&&"))):
            commands.append(shlex.split(part))
    return commands


@pytest.fixture(autouse=True)
def _no_store_override(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MESHFABRIC_STORE_URL", raising=False)


def test_the_workspace_tour_runs_as_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    commands = readme_block("### A workspace")
    assert [c[:2] for c in commands] == [["meshfabric", "init"], ["cd", "acme"], ["meshfabric", "apply"],
                                         ["meshfabric", "apply"], ["meshfabric", "query"]]
    for argv in commands:
        if argv[0] == "cd":
            monkeypatch.chdir(argv[1])
            continue
        code, out, err = cli(capsys, *argv[1:])
        assert code == 0, (argv, err)
    assert "PT" in out and "sum(population)" in out
    # the README's folder in -o does not exist yet: it is created
    code, out, err = cli(capsys, "query", "SELECT * FROM geo.cities", "-o", "exports/2026/cities.csv")
    assert code == 0, err
    assert (Path("exports/2026/cities.csv").read_text().splitlines()[0].startswith("city")
            or "population" in Path("exports/2026/cities.csv").read_text())
    code, _, err = cli(capsys, "audit", "--export", "logs/audit/all.jsonl")
    assert code == 0 and Path("logs/audit/all.jsonl").is_file(), err
    code, _, err = cli(capsys, "query", "SELECT 1 AS x FROM geo.cities", "-o", "mesh.yaml/x.csv")
    assert code == 2 and "mesh.yaml" in err and "Traceback" not in err


def test_apply_of_a_missing_path_exits_2(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    assert cli(capsys, "init", "acme")[0] == 0
    code, _, err = cli(capsys, "-w", "acme", "apply", "products/nonexistent")
    assert code == 2 and "products/nonexistent does not exist" in flat(err)


def test_reading_an_unapplied_workspace_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    assert cli(capsys, "init", "acme")[0] == 0
    monkeypatch.chdir(tmp_path / "acme")
    for argv in (["products", "list"], ["products"], ["domains"], ["query", "SELECT * FROM geo.cities"]):
        code, _, err = cli(capsys, *argv)
        assert code == 2 and "has not been applied yet" in flat(err) and "`meshfabric apply`" in err, argv
    assert not (tmp_path / "acme" / ".meshfabric" / "store.db").exists()
    assert cli(capsys, "apply")[0] == 0
    code, out, _ = cli(capsys, "products")
    assert code == 0 and "geo.cities" in out


@pytest.mark.slow
def test_the_contract_tour_runs_as_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    assert cli(capsys, "demo", "meshfabric-demo", "--orders", "2000")[0] == 0
    commands = readme_block("### Schemas and contracts")
    monkeypatch.chdir(tmp_path / commands[0][1])
    ran = []
    for argv in commands[1:]:
        sub = argv[1:3]
        if sub in (["schema", "check"], ["contract", "changelog"]):
            continue  # they compare files of the reader's own
        code, out, err = cli(capsys, *argv[1:])
        ran.append(sub)
        expected = 1 if sub == ["contract", "test"] and "availability=0.9995" not in argv else 0
        assert code == expected, (argv, out, err)
        if sub == ["contract", "test"]:
            assert "✓ completeness: 0.97 meets the contract" in flat(out)
            if expected:
                assert "no measurement for availability" in flat(out)
    assert ["contract", "generate"] in ran and ran.count(["contract", "test"]) == 2
    # -o into a folder that does not exist yet
    code, _, err = cli(capsys, "contract", "generate", "sales.orders", "--consumer", "logistics",
                       "-o", "drafts/2026/orders.odcs.yaml")
    assert code == 0 and Path("drafts/2026/orders.odcs.yaml").is_file(), err
    code, _, err = cli(capsys, "contract", "export", "06f794c4", "-o", "exports/contracts/o.odcs.yaml")
    assert code == 0 and Path("exports/contracts/o.odcs.yaml").is_file(), err


# -- hints, --version, --help ------------------------------------------------------------------

ROOT_VALUE_OPTIONS = {"-w", "--workspace", "--as"}


def _click_root() -> Any:
    import typer.main

    from meshfabric.cli.app import app

    return typer.main.get_command(app)


def _options(command: Any) -> set[str]:
    return {o for p in command.params for o in (*p.opts, *p.secondary_opts) if o.startswith("-")}


def _check_hint(root: Any, hint: str) -> str | None:
    """None if ``meshfabric <hint>`` names a command (and options) that exist, else why not."""
    tokens = [t.strip("[](),.'\"") for t in hint.split()]
    tokens = [t for t in tokens if t]
    command, i = root, 0
    while i < len(tokens):
        t = tokens[i]
        if command is root and t in ROOT_VALUE_OPTIONS:
            i += 2
            continue
        if command is root and t.startswith("-"):
            if t.split("=")[0] not in _options(root):
                return f"no root option {t}"
            i += 1
            continue
        if not hasattr(command, "commands"):
            break
        if t in command.commands:
            command, i = command.commands[t], i + 1
            continue
        if command is root:
            return f"no command '{t}'"
        if not command.invoke_without_command:
            return f"'{t}' is not a subcommand of a group that needs one"
        break
    if command is root and any(t.startswith("-") for t in tokens):
        return None  # a root option described on its own (`meshfabric --as NAME`)
    if hasattr(command, "commands") and not command.invoke_without_command:
        return "names a group that only prints its help"
    for t in tokens[i:]:
        if t.startswith("--") and t.split("=")[0] not in _options(command) | _options(root):
            return f"option {t} does not exist"
    return None


def _hints() -> list[tuple[str, str]]:
    found = []
    for path in sorted((ROOT / "src" / "meshfabric").rglob("*.py")):
        for m in re.finditer(r"`meshfabric ([^`\n]+)`", path.read_text(encoding="utf-8")):
            found.append((f"{path.relative_to(ROOT)}: {m.group(0)}", m.group(1)))
    return found


def test_every_hint_names_a_command_that_exists() -> None:
    root = _click_root()
    hints = _hints()
    assert len(hints) > 20
    wrong = [f"{where} — {why}" for where, hint in hints if (why := _check_hint(root, hint))]
    assert not wrong, "\n".join(wrong)


def test_the_hint_checker_catches_wrong_hints() -> None:
    root = _click_root()
    assert _check_hint(root, "products list") is None and _check_hint(root, "products") is None
    assert _check_hint(root, "apikey create --service") == "option --service does not exist"
    assert _check_hint(root, "grants") == "names a group that only prints its help"
    assert _check_hint(root, "nothing here") == "no command 'nothing'"


def test_users_add_takes_the_service_option_its_hint_names(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    from meshfabric.auth import service

    assert "(or --service for a service account)" in Path(service.__file__).read_text()
    assert _check_hint(_click_root(), "users add etl-bot --service") is None
    monkeypatch.chdir(tmp_path)
    assert cli(capsys, "init", "acme")[0] == 0
    monkeypatch.chdir(tmp_path / "acme")
    assert cli(capsys, "apply")[0] == 0
    code, out, err = cli(capsys, "users", "add", "etl-bot", "--service")
    assert code == 0 and "added service etl-bot" in out, err


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    from meshfabric import __version__

    code, out, _ = cli(capsys, "--version")
    assert code == 0 and out.strip() == f"meshfabric {__version__}"
    assert cli(capsys, "version")[1].strip() == __version__


def _all_commands(command: Any, path: list[str]) -> list[list[str]]:
    out = [path]
    for name, sub in getattr(command, "commands", {}).items():
        out += _all_commands(sub, [*path, name])
    return out


def test_help_shows_no_bool_placeholder(capsys: pytest.CaptureFixture[str]) -> None:
    for path in _all_commands(_click_root(), []):
        code, out, _ = cli(capsys, *path, "--help")
        assert code == 0 and "<bool>" not in out, path
    code, out, _ = cli(capsys, "apply", "--help")
    assert "--dry-run" in out


def test_every_command_is_in_the_readme_table() -> None:
    table = README[README.index("### Commands"):README.index("### Python")]
    missing = [name for name in _click_root().commands if f"`{name}" not in table and f"|{name}" not in table
               and f"`{name}`" not in table]
    assert not missing, f"README command table lacks {missing}"


@pytest.mark.parametrize("kind", ["DataProduct", "DataContract", "AccessPolicy", "Mesh"])
def test_spec_schema_knows_every_kind(kind: str, capsys: pytest.CaptureFixture[str]) -> None:
    import json

    code, out, _ = cli(capsys, "spec", "schema", kind)
    assert code == 0 and isinstance(json.loads(out), dict)


def test_spec_schema_unknown_kind(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = cli(capsys, "spec", "schema", "Nope")
    assert code == 2 and "DataContract" in err


def test_to_pandas_without_pandas_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    import pyarrow as pa

    from meshfabric.errors import ConfigError
    from meshfabric.query.result import QueryResult

    result = QueryResult.__new__(QueryResult)
    result._table = pa.table({"a": [1]})
    monkeypatch.setitem(sys.modules, "pandas", None)
    with pytest.raises(ConfigError) as info:
        result.to_pandas()
    assert "meshfabric[pandas]" in (info.value.hint or "")
