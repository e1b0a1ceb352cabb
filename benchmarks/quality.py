"""Data quality checks: meshfabric against Great Expectations, Soda Core and a hand-written query.

What it measures
    A table of ``--rows`` orders (default 10M) with defects of exactly known counts — nulls,
    duplicate keys, out-of-range amounts, malformed emails and UUIDs, statuses outside the
    accepted set, too-long and lower-case SKUs, stale timestamps, orphan customer ids — is
    generated deterministically by DuckDB (``_quality_data.py`` says how) and written as Parquet,
    optionally loaded into PostgreSQL. A suite of 20 checks that all three tools can express
    (not-null and completeness thresholds, uniqueness, formats and regexes, accepted values,
    ranges, length, row count, mean / stddev / distinct-count bounds, freshness, referential
    integrity) runs in one invocation on:

    1. ``floor``              — one hand-written statement computing every metric (DuckDB over
                                the Parquet files, or the same SQL in PostgreSQL), in-process;
    2. ``meshfabric``         — the public API: a workspace (mesh.yaml and two product specs, the
                                20 checks as ``quality:`` rules), ``Mesh.open(ws)``,
                                ``mesh.apply()``, ``mesh.quality.run("sales.orders")``;
    3. ``great_expectations`` — GE 1.x in its own virtual environment (``_ge_runner.py``: pandas
                                over the Parquet file, or its PostgreSQL data source);
    4. ``soda_core``          — Soda Core 3.5 in its own virtual environment
                                (``_soda_runner.py``: soda-core-duckdb over the Parquet file, or
                                soda-core-postgres).

    Tools 2-4 each run in a subprocess; the floor runs in-process, alternating with meshfabric's
    runs so that both see the same load, and once more in a subprocess for its memory. Reported
    per tool: ``check s`` (the tool's own run of the suite, reading the
    data included, after imports and setup), ``setup s`` (context / workspace apply / parsing),
    ``process s`` (the whole subprocess), peak RSS (``os.wait4`` of that subprocess, started
    from a forkserver worker so that it does not inherit this process's size), statements
    sent where the tool says, how many checks it could express, and whether each verdict and
    each observed value equals the ground truth computed from the defect counts alone
    (``_quality_data.ground_truth``). Ratios: meshfabric/floor, GE/meshfabric, Soda/meshfabric.
    Nothing about time is asserted; a verdict or value that differs from the truth is printed
    with ``!!!``. A peer that cannot be installed or fails is reported unavailable, with the
    reason, and the benchmark still completes.

How to run (from the repository root; ``--source postgres`` needs PostgreSQL on 127.0.0.1:5432
as ``postgres`` with trust auth)::

    .venv/bin/python benchmarks/quality.py                    # 10M rows, Parquet
    .venv/bin/python benchmarks/quality.py --rows 1000000     # a quick run
    .venv/bin/python benchmarks/quality.py --source postgres --json quality-pg.json

The first run generates the data into ``benchmarks/.data/quality/`` and creates the peers'
virtual environments under ``benchmarks/.venvs/`` with pip (a few minutes); later runs reuse
both. PostgreSQL data goes to database ``mf_bench_quality``, reloaded only when the data changes.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

import _quality_data as qd  # noqa: E402 - needs this folder on sys.path first

from meshfabric.cli._progress import progress  # noqa: E402

VENVS = HERE / ".venvs"
WORK = qd.DATA_ROOT / "runs"
TOOLS = ("floor", "meshfabric", "great_expectations", "soda_core")
SHORT = {"floor": "floor", "meshfabric": "meshfabric", "great_expectations": "GE", "soda_core": "Soda"}

Log = Callable[[str], None]


@dataclass(frozen=True)
class Peer:
    """A tool run from its own virtual environment by a runner script of this folder."""

    name: str
    venv: str
    requirements: tuple[str, ...]
    runner: str
    probe: str  # a module whose import proves the environment works

    @property
    def python(self) -> Path:
        return VENVS / self.venv / "bin" / "python"


PEERS = {
    "great_expectations": Peer(
        "great_expectations",
        "ge",
        ("great-expectations[postgresql]==1.24.*", "pyarrow"),
        "_ge_runner.py",
        "great_expectations",
    ),
    "soda_core": Peer(
        "soda_core",
        "soda",
        ("soda-core-duckdb==3.5.*", "soda-core-postgres==3.5.*"),
        "_soda_runner.py",
        "soda.scan",
    ),
}


# -- virtual environments ---------------------------------------------------------------------------
def _base_python() -> str:
    """The interpreter the repository's venv was made from: the peers' venvs are made from it too."""
    base = Path(sys.base_prefix) / "bin" / f"python{sys.version_info.major}.{sys.version_info.minor}"
    return str(base) if base.exists() else sys.executable


def ensure_venv(peer: Peer, log: Log) -> str | None:
    """Create (or reuse) the peer's virtual environment; None when ready, else why not."""
    folder = VENVS / peer.venv
    stamp = folder / "meshfabric-bench-requirements.txt"
    wanted = "\n".join(peer.requirements) + "\n"
    if stamp.exists() and stamp.read_text() == wanted and _probe(peer, quick=True) is None:
        return None
    log(f"{peer.name}: creating {folder} with pip ({' '.join(peer.requirements)}) ...")
    started = time.perf_counter()
    if folder.exists():
        shutil.rmtree(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    install_log = folder.parent / f"{peer.venv}-install.log"
    with open(install_log, "w", encoding="utf-8") as out:
        steps = [
            [_base_python(), "-m", "venv", str(folder)],
            [str(peer.python), "-m", "pip", "install", "--disable-pip-version-check", "--quiet", *peer.requirements],
        ]
        for step in steps:
            done = subprocess.run(step, stdout=out, stderr=subprocess.STDOUT, check=False)
            if done.returncode != 0:
                return f"'{' '.join(step[:4])} …' exited {done.returncode}: {_tail(install_log)} (see {install_log})"
    problem = _probe(peer)
    if problem is not None:
        return f"installed, but {problem}"
    stamp.write_text(wanted)
    log(f"{peer.name}: ready in {time.perf_counter() - started:.0f} s")
    return None


def _probe(peer: Peer, *, quick: bool = False) -> str | None:
    """None when the peer's module imports (``quick``: can be found, without the import's cost)."""
    if not peer.python.exists():
        return "no interpreter"
    code = f"import {peer.probe}"
    if quick:
        code = f"import importlib.util, sys; sys.exit(importlib.util.find_spec({peer.probe!r}) is None)"
    done = subprocess.run([str(peer.python), "-c", code], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        return f"import {peer.probe} fails: {_last_line(done.stderr)}"
    return None


def _tail(path: Path, lines: int = 3) -> str:
    text = [
        ln.strip()
        for ln in path.read_text(errors="replace").splitlines()
        if ln.strip() and "is ignored: it is neither a file nor a directory" not in ln
    ]
    return " | ".join(text[-lines:]) or "no output"


def _last_line(text: str) -> str:
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    return lines[-1] if lines else text.strip()


# -- subprocesses -----------------------------------------------------------------------------------
@dataclass
class ChildRun:
    """One subprocess: its JSON answer, wall time and peak RSS, or what went wrong."""

    payload: dict[str, Any] | None
    process_seconds: float
    peak_rss_bytes: int | None
    error: str | None = None


def run_child(command: Sequence[str], log_path: Path, timeout: float) -> ChildRun:
    """Run ``command`` and measure it (see :func:`_spawn_and_wait`).

    The command is started from a worker of a multiprocessing *forkserver*, not from this
    process: Linux gives a newly exec'd program the RSS high-water mark of the process it was
    forked from (``exec`` folds the old address space's peak into ``ru_maxrss``), so a child of
    this process — which holds gigabytes after generating the data and running the floor —
    would report at least this process's size. The forkserver's workers are small."""
    import multiprocessing

    with multiprocessing.get_context("forkserver").Pool(1) as pool:
        answer = pool.apply(_spawn_and_wait, (list(command), str(log_path), timeout))
    return ChildRun(**answer)


def _spawn_and_wait(command: list[str], log_path: str, timeout: float) -> dict[str, Any]:
    """Run ``command`` in a session of its own and wait for it with ``os.wait4``: its peak RSS
    is the child's own ``ru_maxrss`` (native memory included), its answer its last stdout line
    that is a JSON object. Killed (its whole session) after ``timeout`` seconds."""
    env = dict(os.environ)
    env.pop("VIRTUAL_ENV", None)
    env.pop("PYTHONPATH", None)
    env.update({"PYTHONNOUSERSITE": "1", "GX_ANALYTICS_ENABLED": "false", "TQDM_DISABLE": "1", "PYTHONUNBUFFERED": "1"})
    timed_out = threading.Event()
    with open(log_path, "wb") as err, tempfile.TemporaryFile() as out:
        started = time.perf_counter()
        proc = subprocess.Popen(command, stdout=out, stderr=err, env=env, start_new_session=True)

        def kill() -> None:
            timed_out.set()
            with contextlib.suppress(ProcessLookupError):  # the child's own session: it and what it started
                os.killpg(proc.pid, signal.SIGKILL)

        timer = threading.Timer(timeout, kill)
        timer.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        finally:
            timer.cancel()
        proc.returncode = os.waitstatus_to_exitcode(status)
        seconds = time.perf_counter() - started
        out.seek(0)
        stdout = out.read().decode("utf-8", errors="replace")
    measured: dict[str, Any] = {"payload": None, "process_seconds": seconds, "peak_rss_bytes": usage.ru_maxrss * 1024}
    if timed_out.is_set():
        return {**measured, "error": f"timed out after {timeout:.0f} s"}
    answer = next((ln for ln in reversed(stdout.splitlines()) if ln.startswith("{")), None)
    if proc.returncode != 0 or answer is None:
        return {**measured, "error": f"exited {proc.returncode}: {_tail(Path(log_path))} (see {log_path})"}
    try:
        return {**measured, "payload": json.loads(answer)}
    except json.JSONDecodeError as exc:
        return {**measured, "error": f"unreadable answer: {exc}"}


# -- the job every runner reads ---------------------------------------------------------------------
def make_job(lay: qd.Layout, source: str, checks: list[qd.Check], workspace: Path) -> dict[str, Any]:
    return {
        "source": source,
        "rows": lay.rows,
        "directory": str(lay.directory),
        "orders": str(lay.orders_path),
        "customers": str(lay.customers_path),
        "pg": {"host": qd.PG_HOST, "port": qd.PG_PORT, "user": qd.PG_USER, "database": qd.PG_DATABASE},
        "sqlalchemy_url": f"postgresql+psycopg2://{qd.PG_USER}@{qd.PG_HOST}:{qd.PG_PORT}/{qd.PG_DATABASE}",
        "workspace": str(workspace),
        "checks": [c.as_dict() for c in checks],
    }


# -- meshfabric: a workspace and the public API -----------------------------------------------------
def meshfabric_rule(check: qd.Check) -> dict[str, Any]:
    """The ``quality:`` rule for one neutral check, named by the check's id."""
    kind, column, prm = check.kind, check.column, check.params
    rule: dict[str, Any] = {"name": check.id}
    if kind == "row_count":
        rule.update(type="row_count", min=prm["min"], max=prm["max"])
    elif kind == "not_null":
        rule.update(type="not_null", column=column)
    elif kind == "completeness":
        rule.update(type="completeness", column=column, threshold=prm["threshold"])
    elif kind == "unique":
        rule.update(type="uniqueness", column=column)
    elif kind == "regex" and prm.get("format"):
        rule.update(type="format", column=column, format=prm["format"])
    elif kind == "regex":
        rule.update(type="regex", column=column, pattern=prm["pattern"])
    elif kind == "accepted_values":
        rule.update(type="accepted_values", column=column, values=list(prm["values"]))
    elif kind in ("range", "length"):
        rule.update(type=kind, column=column)
        rule.update({k: prm[k] for k in ("min", "max") if prm.get(k) is not None})
    elif kind == "statistic":
        rule.update(type="statistic", column=column, statistic=prm["statistic"])
        rule.update({k: prm[k] for k in ("min", "max") if prm.get(k) is not None})
    elif kind == "freshness":
        rule.update(type="freshness", column=column, max_age=prm["max_age"])
    elif kind == "referential":
        rule.update(type="referential", column=column, reference=f"crm.{prm['table']}", reference_column=prm["key"])
    else:
        raise ValueError(f"no meshfabric rule for {kind}")
    return rule


def write_workspace(folder: Path, lay: qd.Layout, source: str, checks: list[qd.Check]) -> None:
    """mesh.yaml and the two product specs; the store is made fresh by each run's apply."""
    import yaml

    if folder.exists():
        shutil.rmtree(folder)
    (folder / "products").mkdir(parents=True)
    if source == "parquet":
        src: dict[str, Any] = {"kind": "files", "path": str(lay.directory)}
        orders_port: dict[str, Any] = {"source": "bench", "path": lay.orders_path.name}
        customers_port: dict[str, Any] = {"source": "bench", "path": lay.customers_path.name}
    else:
        src = {"kind": "postgres", "url": qd.pg_url()}
        orders_port = {"source": "bench", "table": "orders"}
        customers_port = {"source": "bench", "table": "customers"}
    mesh = {"name": "quality-bench", "sources": {"bench": src}, "domains": {"sales": {}, "crm": {}}}
    orders = {
        "kind": "DataProduct",
        "domain": "sales",
        "name": "orders",
        "owner": "bench@example.com",
        "output": orders_port,
        "quality": [meshfabric_rule(c) for c in checks],
    }
    customers = {
        "kind": "DataProduct",
        "domain": "crm",
        "name": "customers",
        "owner": "bench@example.com",
        "output": customers_port,
    }
    (folder / "mesh.yaml").write_text(yaml.safe_dump(mesh, sort_keys=False))
    (folder / "products" / "orders.yaml").write_text(yaml.safe_dump(orders, sort_keys=False, width=200))
    (folder / "products" / "customers.yaml").write_text(yaml.safe_dump(customers, sort_keys=False))


def meshfabric_observed(check: dict[str, Any], result: Any) -> dict[str, float]:
    kind = check["kind"]
    if kind == "row_count":
        return {"rows": int(result.observed)} if result.observed is not None else {}
    if kind == "freshness":
        return {"age_seconds": float(result.observed)} if result.observed is not None else {}
    if kind == "statistic":
        return {"value": float(result.observed)} if result.observed is not None else {}
    out: dict[str, float] = {}
    if result.failing_rows is not None:
        out["failing_rows"] = int(result.failing_rows)
    if "duplicate_values" in result.extra:
        out["duplicate_values"] = int(result.extra["duplicate_values"])
    return out


def meshfabric_runner(job: dict[str, Any]) -> dict[str, Any]:
    """Runs in a subprocess of the main venv: open the workspace, apply it, run the rules."""
    import resource

    started = time.perf_counter()
    import meshfabric
    from meshfabric import Mesh

    import_seconds = time.perf_counter() - started
    clock = time.perf_counter()
    with Mesh.open(job["workspace"]) as mesh:
        mesh.apply()
        statements = _time_statements(mesh.connector("bench"))
        setup_seconds = time.perf_counter() - clock
        clock = time.perf_counter()
        run = mesh.quality.run("sales.orders")
        check_seconds = time.perf_counter() - clock
    results: dict[str, Any] = {}
    by_name = {r.rule: r for r in run.results}
    for check in job["checks"]:
        r = by_name.get(check["id"])
        if r is None:
            results[check["id"]] = {"error": run.error or "no result"}
            continue
        results[check["id"]] = {
            "passed": bool(r.passed),
            "observed": meshfabric_observed(check, r),
            "raw": {"observed": r.observed, "failing_rows": r.failing_rows, "total_rows": r.total_rows, **r.extra},
        }
    return {
        "tool": "meshfabric",
        "versions": {"meshfabric": meshfabric.__version__},
        "import_seconds": import_seconds,
        "setup_seconds": setup_seconds,
        "check_seconds": check_seconds,
        "now": run.started_at.timestamp(),
        "queries": run.queries,
        "status": run.status,
        "run_error": run.error,
        "score": run.score,
        "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
        "statements": statements,
        "results": results,
    }


def _time_statements(connector: Any) -> list[dict[str, Any]]:
    """Time each statement the quality run sends, the way the project's tests count them: the
    connector's ``run_on_port`` is wrapped on this instance, and each session's ``fetch`` timed.
    Returns the list the run fills in (seconds, what the statement is, its first characters)."""
    from dataclasses import replace

    sent: list[dict[str, Any]] = []
    original = connector.run_on_port

    def run_on_port(port: Any, fn: Callable[[Any], Any]) -> Any:
        def timed(session: Any) -> Any:
            fetch = session.fetch

            def timed_fetch(sql: str) -> Any:
                clock = time.perf_counter()
                rows = fetch(sql)
                sent.append({"seconds": time.perf_counter() - clock, "kind": _statement_kind(sql), "sql": sql})
                return rows

            return fn(replace(session, fetch=timed_fetch))

        return original(port, timed)

    connector.run_on_port = run_on_port
    return sent


def _statement_kind(sql: str) -> str:
    if 'AS "n",' in sql[:40]:
        return "aggregate scan"
    if '"_mf_dup_values"' in sql:
        return "duplicates (totals + sample)"
    if '"failing"' in sql[:40]:
        return "orphans"
    if "NOT EXISTS" in sql.upper():
        return "orphans sample"
    return "failing-row samples"


# -- the floor --------------------------------------------------------------------------------------
def floor_run(job: dict[str, Any]) -> dict[str, Any]:
    """The hand-written statement over the same data (in DuckDB, or sent to PostgreSQL)."""
    import resource

    checks = [qd.Check(**c) for c in job["checks"]]
    now = datetime.now(UTC).timestamp()
    clock = time.perf_counter()
    if job["source"] == "parquet":
        import duckdb

        con = duckdb.connect(":memory:")
        try:
            sql = qd.floor_sql(f"read_parquet('{job['orders']}')", f"read_parquet('{job['customers']}')")
            result = con.execute(sql)
            names = [d[0] for d in result.description or []]
            values = result.fetchone()
        finally:
            con.close()
    else:
        import psycopg

        pg = job["pg"]
        dsn = f"host={pg['host']} port={pg['port']} user={pg['user']} dbname={pg['database']}"
        with psycopg.connect(dsn) as conn, conn.cursor() as pg_cursor:
            pg_cursor.execute(qd.floor_sql("orders", "customers", "postgres"))
            names = [d.name for d in pg_cursor.description or []]
            values = pg_cursor.fetchone()
    check_seconds = time.perf_counter() - clock
    row = dict(zip(names, values or (), strict=False))
    return {
        "tool": "floor",
        "setup_seconds": 0.0,
        "check_seconds": check_seconds,
        "now": now,
        "queries": 1,
        "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
        "results": qd.floor_results(row, checks, now),
    }


# -- judging ----------------------------------------------------------------------------------------
@dataclass
class Judged:
    """One tool's result for one check, against the ground truth."""

    state: str  # ok | verdict | value | unsupported | error
    detail: str = ""


def _close(quantity: str, got: float, want: float) -> bool:
    how, tol = qd.TOLERANCE.get(quantity, ("rel", 1e-9))
    if how == "abs":
        return abs(got - want) <= tol
    return abs(got - want) <= tol * max(abs(want), 1e-300)


def judge(truth: qd.Truth, result: dict[str, Any], now: float | None) -> Judged:
    if "unsupported" in result:
        return Judged("unsupported", str(result["unsupported"]))
    if "error" in result or "passed" not in result:
        return Judged("error", str(result.get("error", "no verdict")))
    problems = []
    for quantity, got in (result.get("observed") or {}).items():
        want = truth.expected(quantity, now)
        if want is None or got is None:
            continue
        if not _close(quantity, float(got), float(want)):
            problems.append(f"{quantity} {_num(got)} ≠ {_num(want)}")
    if bool(result["passed"]) != truth.passed:
        verdict = "pass" if result["passed"] else "fail"
        return Judged(
            "verdict",
            f"said {verdict}, truth {'pass' if truth.passed else 'fail'}"
            + (f"; {'; '.join(problems)}" if problems else ""),
        )
    if problems:
        return Judged("value", "; ".join(problems))
    return Judged("ok")


@dataclass
class ToolOutcome:
    """Everything measured for one tool."""

    name: str
    available: bool = True
    reason: str = ""
    check_seconds: list[float] = field(default_factory=list)
    setup_seconds: float | None = None
    process_seconds: float | None = None
    peak_rss_bytes: int | None = None
    queries: int | None = None
    versions: dict[str, str] = field(default_factory=dict)
    judged: dict[str, Judged] = field(default_factory=dict)
    payload: dict[str, Any] | None = None

    @property
    def seconds(self) -> float | None:
        return statistics.median(self.check_seconds) if self.available and self.check_seconds else None

    def count(self, *states: str) -> int:
        return sum(1 for j in self.judged.values() if j.state in states)

    @property
    def expressed(self) -> int:
        return sum(1 for j in self.judged.values() if j.state != "unsupported")

    def as_dict(self) -> dict[str, Any]:
        payload = dict(self.payload or {})
        payload.pop("results", None)
        return {
            "available": self.available,
            "reason": self.reason,
            "check_seconds": self.check_seconds,
            "check_seconds_median": self.seconds,
            "setup_seconds": self.setup_seconds,
            "process_seconds": self.process_seconds,
            "peak_rss_bytes": self.peak_rss_bytes,
            "queries": self.queries,
            "versions": self.versions,
            "checks_expressed": self.expressed if self.available else None,
            "verdicts_correct": self.count("ok", "value") if self.available else None,
            "all_correct": self.count("ok") if self.available else None,
            "judged": {k: {"state": v.state, "detail": v.detail} for k, v in self.judged.items()},
            "results": (self.payload or {}).get("results"),
            "runner": payload,
        }


def absorb(
    outcome: ToolOutcome, child: ChildRun | None, payload: dict[str, Any] | None, truth: dict[str, qd.Truth]
) -> None:
    """Fold one run of a tool into its outcome (the last run's results are the ones judged)."""
    if child is not None:
        outcome.process_seconds = child.process_seconds
        outcome.peak_rss_bytes = max(outcome.peak_rss_bytes or 0, child.peak_rss_bytes or 0) or None
    if payload is None:
        return
    outcome.payload = payload
    outcome.check_seconds.append(float(payload["check_seconds"]))
    outcome.setup_seconds = float(payload.get("setup_seconds") or 0.0)
    outcome.queries = payload.get("queries")
    outcome.versions.update(payload.get("versions") or {})
    now = payload.get("now")
    for check_id, t in truth.items():
        result = (payload.get("results") or {}).get(check_id, {"error": "no result"})
        outcome.judged[check_id] = judge(t, result, now)


# -- reporting --------------------------------------------------------------------------------------
def _num(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return str(value)
    number = float(value)
    if number.is_integer() and abs(number) < 1e15:
        return f"{int(number):,}"
    return f"{number:,.6g}" if abs(number) < 1e6 else f"{number:,.0f}"


def _seconds(value: float | None) -> str:
    return f"{value:.3f}" if value is not None else "-"


def _mib(value: int | None) -> str:
    return f"{value / 2**20:,.0f} MiB" if value else "-"


def _ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b is not None and b > 0 else None


def format_table(headers: Sequence[str], rows: Sequence[Sequence[str]], left: int = 1) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(
            c.ljust(w) if i < left else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ).rstrip()

    return "\n".join([line(headers), "  ".join("-" * w for w in widths), *(line(r) for r in rows)])


def tools_report(outcomes: dict[str, ToolOutcome], total: int) -> str:
    headers = [
        "tool",
        "check s",
        "setup s",
        "process s",
        "peak RSS",
        "statements",
        "expressed",
        "verdicts",
        "values",
        "versions",
    ]
    rows = []
    for name in TOOLS:
        o = outcomes.get(name)
        if o is None:
            continue
        if not o.available:
            rows.append([name, "-", "-", "-", "-", "-", "-", "-", "-", f"unavailable: {o.reason}"[:120]])
            continue
        rows.append(
            [
                name,
                _seconds(o.seconds),
                _seconds(o.setup_seconds),
                _seconds(o.process_seconds),
                _mib(o.peak_rss_bytes),
                str(o.queries) if o.queries is not None else "-",
                f"{o.expressed}/{total}",
                f"{o.count('ok', 'value')}/{total}",
                f"{o.count('ok')}/{total}",
                ", ".join(f"{k} {v}" for k, v in o.versions.items()),
            ]
        )
    return format_table(headers, rows)


def _truth_text(check: qd.Check, truth: qd.Truth) -> str:
    obs = truth.observed
    if check.kind == "freshness" and truth.newest is not None:
        return f"newest {truth.newest:%Y-%m-%d %H:%M:%S}"
    if check.kind == "unique":
        return f"{_num(obs['failing_rows'])} rows, {_num(obs['duplicate_values'])} values"
    if "failing_rows" in obs:
        return f"{_num(obs['failing_rows'])} failing"
    return _num(obs.get("value", obs.get("rows")))


_STATE_TEXT = {"ok": "ok", "verdict": "VERDICT!", "value": "value≠", "unsupported": "n/a", "error": "error"}


def checks_report(checks: list[qd.Check], truth: dict[str, qd.Truth], outcomes: dict[str, ToolOutcome]) -> str:
    shown = [n for n in TOOLS if n in outcomes and outcomes[n].available]
    headers = ["check", "what", "truth", "observed (truth)", *[SHORT[n] for n in shown]]
    rows = []
    for c in checks:
        t = truth[c.id]
        cells = [_STATE_TEXT[outcomes[n].judged[c.id].state] if c.id in outcomes[n].judged else "-" for n in shown]
        rows.append([c.id, c.text, "pass" if t.passed else "FAIL", _truth_text(c, t), *cells])
    return format_table(headers, rows, left=4)


def split_report(outcome: ToolOutcome) -> str | None:
    """Where meshfabric's last run spent its time, by kind of statement."""
    payload = outcome.payload or {}
    sent = payload.get("statements")
    if not sent or not outcome.check_seconds:
        return None
    kinds: dict[str, list[float]] = {}
    for statement in sent:
        kinds.setdefault(statement["kind"], []).append(float(statement["seconds"]))
    parts = [f"{kind} {sum(times):.3f} s ({len(times)})" for kind, times in kinds.items()]
    rest = outcome.check_seconds[-1] - sum(sum(times) for times in kinds.values())
    parts.append(f"rest (compile, judge, store) {rest:.3f} s")
    return "meshfabric's last run: " + ", ".join(parts)


def environment(source: str) -> dict[str, Any]:
    import duckdb

    import meshfabric

    env: dict[str, Any] = {
        "python": platform.python_version(),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        "duckdb": duckdb.__version__,
        "meshfabric": meshfabric.__version__,
        "load_average_1m": _load_average(),
    }
    if source == "postgres":
        import psycopg

        with psycopg.connect(f"host={qd.PG_HOST} port={qd.PG_PORT} user={qd.PG_USER} dbname=postgres") as c:
            row = c.execute("SHOW server_version").fetchone()
            env["postgres"] = str(row[0]) if row else "?"
    return env


def _load_average() -> float | None:
    """The 1-minute load average: above the core count, other work was competing for the CPU."""
    try:
        return round(os.getloadavg()[0], 2)
    except (AttributeError, OSError):
        return None


def _warm(lay: qd.Layout, source: str) -> None:
    """Read the data once so every tool starts from the same (warm) page cache."""
    if source == "parquet":
        for path in (lay.orders_path, lay.customers_path):
            with open(path, "rb") as handle:
                while handle.read(1 << 24):
                    pass
    else:
        import psycopg

        dsn = f"host={qd.PG_HOST} port={qd.PG_PORT} user={qd.PG_USER} dbname={qd.PG_DATABASE}"
        with psycopg.connect(dsn) as conn:
            conn.execute("SELECT count(*), max(length(email)), max(length(sku)) FROM orders").fetchone()


def run_tool(
    outcome: ToolOutcome,
    command: list[str],
    attempt: int,
    runs: int,
    timeout: float,
    truth: dict[str, qd.Truth],
    log: Log,
) -> None:
    """One run of a tool in a subprocess; a failure makes the tool unavailable, with the reason."""
    if not outcome.available:
        return
    child = run_child(command, WORK / f"{outcome.name}.log", timeout)
    if child.error is not None:
        outcome.available, outcome.reason = False, f"run failed: {child.error}"
        log(f"!!! {outcome.name} failed: {child.error}")
        return
    absorb(outcome, child, child.payload, truth)
    log(
        f"  {outcome.name:<19} {_seconds(outcome.check_seconds[-1])} s (run {attempt + 1}/{runs}, "
        f"process {child.process_seconds:.1f} s, peak {_mib(child.peak_rss_bytes)})"
    )


# -- main -------------------------------------------------------------------------------------------
def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--rows", type=int, default=10_000_000, help="orders rows (default 10,000,000)")
    parser.add_argument(
        "--source",
        choices=("parquet", "postgres"),
        default="parquet",
        help="where every tool reads the data (default parquet)",
    )
    parser.add_argument(
        "--runs", type=int, default=3, help="timed runs of the floor and of meshfabric; the median is shown (default 3)"
    )
    parser.add_argument(
        "--peer-runs", type=int, default=1, help="timed runs of Great Expectations and Soda Core (default 1)"
    )
    parser.add_argument(
        "--tools",
        default="meshfabric,great_expectations,soda_core",
        help="comma-separated tools besides the floor (default all three)",
    )
    parser.add_argument("--timeout", type=float, default=3600.0, help="seconds before a tool's run is killed")
    parser.add_argument("--json", type=Path, default=None, metavar="FILE", help="write every number to FILE")
    parser.add_argument("--runner", choices=("meshfabric", "floor"), help=argparse.SUPPRESS)
    parser.add_argument("job", nargs="?", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.runner is None:
        args.tools = [t.strip() for t in args.tools.split(",") if t.strip()]
        unknown = [t for t in args.tools if t not in TOOLS[1:]]
        if unknown:
            parser.error(f"unknown tool(s) {', '.join(unknown)}; choose from {', '.join(TOOLS[1:])}")
        if args.runs < 1 or args.peer_runs < 1:
            parser.error("--runs and --peer-runs must be at least 1")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.runner is not None:  # a subprocess of this benchmark
        job = json.loads(Path(args.job).read_text(encoding="utf-8"))
        answer = meshfabric_runner(job) if args.runner == "meshfabric" else floor_run(job)
        print(json.dumps(answer, default=str))
        return 0

    def log(text: str) -> None:
        print(text, flush=True)

    lay = qd.layout(args.rows)
    log(f"== data quality checks: {lay.rows:,} rows, 20 checks, source {args.source} ==")
    env = environment(args.source)
    log("environment: " + ", ".join(f"{k} {v}" for k, v in env.items()))
    cores = os.cpu_count() or 1
    if (env["load_average_1m"] or 0) > cores:
        log(f"warning: load average {env['load_average_1m']} > {cores} cores: other work is running, timings are noisy")

    with progress() as report:  # a bar on a terminal only: piped output stays plain lines
        steps = 2 if args.source == "postgres" else 1
        report(f"parquet: {lay.rows:,} orders", 0, steps)
        prepared = qd.generate(lay, log)
        if args.source == "postgres":
            report(f"postgres: {lay.rows:,} orders", 1, steps)
            qd.prepare_postgres(lay, prepared, log)
    checks = qd.suite(lay)
    truth = qd.ground_truth(lay, checks)
    WORK.mkdir(parents=True, exist_ok=True)
    workspace = WORK / f"workspace-{args.source}"
    write_workspace(workspace, lay, args.source, checks)
    job_path = WORK / f"job-{args.source}.json"
    job_path.write_text(json.dumps(make_job(lay, args.source, checks, workspace), indent=1))

    outcomes: dict[str, ToolOutcome] = {name: ToolOutcome(name) for name in ("floor", *args.tools)}
    for name in args.tools:
        if name in PEERS:
            try:
                problem = ensure_venv(PEERS[name], log)
            except Exception as exc:  # an environment that cannot be built is a result too
                problem = f"{type(exc).__name__}: {exc}"
            if problem is not None:
                outcomes[name].available, outcomes[name].reason = False, problem
                log(f"!!! {name} unavailable: {problem}")

    _warm(lay, args.source)
    me = [sys.executable, str(Path(__file__).resolve())]

    # the floor runs in-process; it and meshfabric alternate, so both see the same load
    floor = outcomes["floor"]
    commands = {"meshfabric": [*me, "--runner", "meshfabric", str(job_path)]}
    for name, peer in PEERS.items():
        commands[name] = [str(peer.python), str(HERE / peer.runner), str(job_path)]
    for attempt in range(args.runs):
        absorb(floor, None, floor_run(json.loads(job_path.read_text())), truth)
        log(f"  floor               {_seconds(floor.check_seconds[-1])} s (run {attempt + 1}/{args.runs}, in-process)")
        if "meshfabric" in args.tools:
            run_tool(outcomes["meshfabric"], commands["meshfabric"], attempt, args.runs, args.timeout, truth, log)
    # once more in a subprocess, for the floor's peak memory
    child = run_child([*me, "--runner", "floor", str(job_path)], WORK / "floor.log", args.timeout)
    floor.process_seconds, floor.peak_rss_bytes = child.process_seconds, child.peak_rss_bytes
    if floor.payload is not None and child.payload is not None:
        floor.payload["subprocess_check_seconds"] = child.payload.get("check_seconds")
    floor.versions = {"duckdb": env["duckdb"]} if args.source == "parquet" else {"postgres": env.get("postgres", "?")}
    for name in args.tools:
        if name != "meshfabric":
            for attempt in range(args.peer_runs):
                run_tool(outcomes[name], commands[name], attempt, args.peer_runs, args.timeout, truth, log)

    load_end = _load_average()
    mf, ge, soda = (outcomes.get(n) for n in ("meshfabric", "great_expectations", "soda_core"))
    ratios = {
        "meshfabric/floor": _ratio(mf.seconds if mf else None, floor.seconds),
        "great_expectations/meshfabric": _ratio(ge.seconds if ge else None, mf.seconds if mf else None),
        "soda_core/meshfabric": _ratio(soda.seconds if soda else None, mf.seconds if mf else None),
    }
    targets = {"meshfabric/floor": "≤ 1.5", "great_expectations/meshfabric": "≥ 10", "soda_core/meshfabric": "≥ 3"}
    # floor and meshfabric ran alternately: the ratio of each pair saw (nearly) the same load
    paired = [m / f for m, f in zip(mf.check_seconds, floor.check_seconds, strict=False) if f > 0] if mf else []

    log("")
    log(
        f"{lay.rows:,} rows from {args.source}; check s = median of {args.runs} (floor, meshfabric) / "
        f"{args.peer_runs} (GE, Soda) runs; peak RSS of each tool's own process"
    )
    log(tools_report(outcomes, len(checks)))
    split = split_report(mf) if mf is not None and mf.available else None
    if split:
        log(split)
    log("")
    for key, value in ratios.items():
        text = f"{key:<30} {value:6.2f}x   (target {targets[key]})" if value is not None else f"{key:<30}      -"
        if key == "meshfabric/floor" and len(paired) > 1:
            text += f"   run by run: {', '.join(f'{r:.2f}x' for r in paired)}"
        log(text)
    log("")
    log(
        "verdict and observed value per check against the ground truth (ok, VERDICT! wrong verdict, value≠ right "
        "verdict but another value, n/a cannot express, error):"
    )
    log(checks_report(checks, truth, outcomes))
    mismatches = []
    for name, o in outcomes.items():
        for check_id, j in o.judged.items():
            if j.state in ("verdict", "value", "error", "unsupported"):
                mismatches.append({"tool": name, "check": check_id, "state": j.state, "detail": j.detail})
    if mismatches:
        log("")
        for m in mismatches:
            mark = "!!!" if m["state"] in ("verdict", "value", "error") else "   "
            log(f"{mark} {m['tool']} {m['check']}: {m['state']} — {m['detail']}")
    for name, o in outcomes.items():
        if not o.available:
            log(f"!!! {name} unavailable: {o.reason}")
    if load_end is not None and load_end > cores:
        log(f"note: load average {load_end} > {cores} cores at the end: timings are noisy")

    if args.json is not None:
        payload = {
            "benchmark": "quality",
            "rows": lay.rows,
            "source": args.source,
            "runs": args.runs,
            "peer_runs": args.peer_runs,
            "environment": env,
            "load_average_1m_at_end": load_end,
            "defects": lay.counts,
            "prepare": {
                "generated_seconds": prepared.generated_seconds,
                "postgres_seconds": prepared.postgres_seconds,
                "postgres_reused": prepared.postgres_reused,
            },
            "checks": [c.as_dict() for c in checks],
            "truth": {
                k: {"passed": t.passed, "observed": t.observed, "newest": t.newest.isoformat() if t.newest else None}
                for k, t in truth.items()
            },
            "tools": {name: o.as_dict() for name, o in outcomes.items()},
            "ratios": ratios,
            "ratios_meshfabric_floor_by_run": paired,
            "mismatches": mismatches,
        }
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(payload, indent=2, default=str) + "\n")
        log(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
