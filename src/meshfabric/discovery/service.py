"""Discovery as a service: scan sources for the acting principal, classify, cluster, remember.

1. **Decide** — ``source.discover`` for every named source (a workspace admin, or a discover
   grant on the source) and ``source.samples`` when sampled values are asked for, all before
   anything is read.
2. **Sample** — every dataset of the source (a table or view; for a files source each file or
   each group of files sharing a schema), or those ``--tables`` selects: the columns, up to
   ``sample`` rows through the connector's scan (the rows stay in this process), the row count
   from the source's statistics. A dataset that cannot be read is reported with its error; the
   others go on.
3. **Classify and profile** — :mod:`.semantic` on each column's values and name, and the
   quality profiler's statistics over the sample (null share, distinct count, lengths: only
   aggregates reach the report).
4. **Cluster** — :mod:`.cluster` over every dataset of the run, with the registered products
   the principal may discover as known members of their domains and the workspace's domains as
   profiles; the description is written from what was found.
5. **Remember** — the run's findings (names, types and classifications, never values) are
   compared with the source's previous scan and recorded as domain events in one transaction:
   ``discovery.dataset_appeared`` / ``_disappeared`` / ``_changed``,
   ``discovery.unclassified_pii`` for a registered product whose source holds a PII column the
   product's spec does not classify, and ``discovery.scanned`` (the new state).
"""

from __future__ import annotations

import fnmatch
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from meshfabric.discovery.model import ClusterAssignment, ColumnFinding, ColumnSample, DatasetSample, DomainProfile
from meshfabric.errors import ConfigError, MeshfabricError

if TYPE_CHECKING:
    import pyarrow as pa

    from meshfabric.access.service import AccessService
    from meshfabric.catalog import ProductInfo
    from meshfabric.catalog.connections import Connections
    from meshfabric.config import Settings
    from meshfabric.connectors.base import ColumnInfo, Connector, TableInfo
    from meshfabric.store import Store

DEFAULT_SAMPLE = 1000
#: datasets examined at once (reading, classifying, profiling)
WORKERS = 4
MAX_SAMPLE = 100_000
#: sampled values shown per column with ``show_samples`` (an admin's debugging aid)
SHOWN_SAMPLES = 5
#: profile statistics that are aggregates and may appear in a report
_STATS = ("count", "nulls", "null_pct", "distinct", "min_length", "max_length", "mean_length")

Progress = Callable[[str, int, int], None]


@dataclass
class DatasetReport:
    """One discovered dataset. :meth:`to_dict` is the ``discover --json`` interface: the keys
    ``name, columns, cluster, suggested_domain, description`` (columns: ``name, semantic_type,
    classifications, confidence, evidence``) are kept; others may be added."""

    source: str
    name: str
    kind: str
    rows_sampled: int = 0
    total_rows: int | None = None
    columns: list[ColumnFinding] = field(default_factory=list)
    logical_types: dict[str, str] = field(default_factory=dict)
    nullable: dict[str, bool] = field(default_factory=dict)
    cluster: str = ""
    cluster_terms: list[str] = field(default_factory=list)
    suggested_domain: str = ""
    domain_similarity: float = 0.0
    suggested_owner: str = ""
    description: str = ""
    #: the registered product reading this dataset (one the principal may discover), if any
    product: str | None = None
    #: new | changed | unchanged, against the source's previous scan
    change: str = "new"
    #: what needs attention, e.g. a PII column the registered product does not classify
    flags: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None
    #: a few sampled values per column, only for an admin who asked (never stored)
    samples: dict[str, list[Any]] | None = None

    @property
    def pii_columns(self) -> list[ColumnFinding]:
        return [c for c in self.columns if c.pii]

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "name": self.name, "columns": [c.to_dict() for c in self.columns], "cluster": self.cluster,
            "suggested_domain": self.suggested_domain, "description": self.description,
            "source": self.source, "kind": self.kind, "rows_sampled": self.rows_sampled,
            "total_rows": self.total_rows, "cluster_terms": self.cluster_terms,
            "domain_similarity": round(self.domain_similarity, 3), "suggested_owner": self.suggested_owner,
            "product": self.product, "change": self.change, "flags": self.flags,
        }
        for col in out["columns"]:
            col["logical_type"] = self.logical_types.get(col["name"], "")
        if self.error is not None:
            out["error"] = self.error
        if self.samples is not None:
            out["samples"] = self.samples
        return out

    def state(self) -> dict[str, Any]:
        """What the next scan compares against: names, types and classifications only."""
        return {"kind": self.kind, "columns": {
            c.name: {"type": self.logical_types.get(c.name, ""), "semantic_type": c.semantic_type,
                     "classifications": list(c.classifications)} for c in self.columns}}


@dataclass
class DiscoveryReport:
    sources: list[str]
    datasets: list[DatasetReport]
    #: datasets of the previous scan that are gone: {"source", "name"}
    disappeared: list[dict[str, str]] = field(default_factory=list)
    #: the types of the domain events this run recorded, with counts
    events: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    def to_dict(self) -> list[dict[str, Any]]:
        """The ``--json`` output: one object per dataset."""
        return [d.to_dict() for d in self.datasets]


class DiscoveryService:
    """``mesh.discover``: see the module docstring for the steps."""

    def __init__(self, store: Store, connections: Connections, access: AccessService, settings: Settings,
                 products: Callable[..., list[ProductInfo]]) -> None:
        self.store = store
        self.connections = connections
        self.access = access
        self.settings = settings
        self._products = products

    def discover(self, sources: Sequence[str], *, tables: str | None = None, sample: int = DEFAULT_SAMPLE,
                 show_samples: bool = False, user: str | None = None, record: bool = True,
                 progress: Progress | None = None) -> DiscoveryReport:
        """Scan ``sources`` (declared in mesh.yaml) as ``user``; ``tables`` is a glob over dataset
        names (``sales.*``, ``landing/*``), ``sample`` the rows read per dataset. With
        ``record`` (the default) the run is compared with the previous scan of each source and
        the differences are recorded as ``discovery.*`` events."""
        started = time.perf_counter()
        names = list(dict.fromkeys(sources))
        if not names:
            raise ConfigError("name at least one source to discover", hint="`meshfabric sources list` shows them")
        if isinstance(sample, bool) or not isinstance(sample, int) or not 1 <= sample <= MAX_SAMPLE:
            raise ConfigError(f"sample must be a whole number of rows from 1 to {MAX_SAMPLE:,} (got {sample!r})",
                              hint=f"the default is {DEFAULT_SAMPLE}")
        decision = None
        for name in names:
            decision = self.access.decide(user, "source.discover", source=name)
        if show_samples:
            self.access.decide(user, "source.samples")
        assert decision is not None
        acting = decision.principal.name
        visible = self._products(user=user)

        from meshfabric.discovery.semantic import classify_columns

        listed: list[tuple[str, Connector, TableInfo]] = []
        for name in names:
            connector = self.connections(name)
            for t in connector.list_tables():
                if tables is None or fnmatch.fnmatch(t.qualified.lower(), tables.lower()):
                    listed.append((name, connector, t))
        def examine(item: tuple[str, Connector, TableInfo]) -> tuple[DatasetReport, DatasetSample | None]:
            name, connector, t = item
            report, ds, read = _scan(connector, name, t, sample, show_samples)
            if ds is not None and read is not None:
                report.columns = classify_columns(ds.columns, table=t.qualified)
                _add_stats(report, *read)
            return report, ds

        reports: list[DatasetReport] = []
        samples: list[DatasetSample] = []
        # a few datasets at once: one waits on its source while another is classified or profiled
        with ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="mf-discover") as pool:
            for i, (report, ds) in enumerate(pool.map(examine, listed)):
                if progress is not None:
                    progress(f"{report.source}: {report.name}", i + 1, len(listed))
                if ds is not None:
                    samples.append(ds)
                reports.append(report)
        if progress is not None:
            progress("clustering", len(listed), len(listed))
        readable = [r for r in reports if r.error is None]
        for r in readable:
            r.product = _registered(r, visible)
        self._cluster(readable, samples, visible, acting)
        for r in reports:
            r.description = _describe(r)
            r.flags = _flags(r, visible)
        report = DiscoveryReport(names, reports, seconds=0.0)
        if record:
            self._remember(report, tables)
        report.seconds = time.perf_counter() - started
        return report

    # -- clustering -------------------------------------------------------------------------
    def _cluster(self, reports: list[DatasetReport], samples: list[DatasetSample], visible: list[ProductInfo],
                 acting: str) -> None:
        if not reports:
            return
        from meshfabric.discovery.cluster import cluster_datasets

        keyed = _unique_names(reports)
        renamed = [DatasetSample(keyed[i], s.columns, s.rows, s.total_rows) for i, s in enumerate(samples)]
        known = {keyed[i]: r.product.split(".")[0] for i, r in enumerate(reports) if r.product}
        assignments: list[ClusterAssignment] = cluster_datasets(
            renamed, [r.columns for r in reports], domains=self._domain_profiles(visible), known=known)
        domains = self.settings.spec.domains if self.settings.spec else {}
        for r, a in zip(reports, assignments, strict=True):
            r.cluster, r.cluster_terms = a.cluster, list(a.terms)
            r.suggested_domain, r.domain_similarity = a.suggested_domain, a.domain_similarity
            owners = domains[a.suggested_domain].owners if a.suggested_domain in domains else []
            r.suggested_owner = owners[0] if owners else acting

    def _domain_profiles(self, visible: list[ProductInfo]) -> list[DomainProfile]:
        spec = self.settings.spec
        if spec is None:
            return []
        texts: dict[str, list[str]] = {d: [d, s.description] for d, s in spec.domains.items()}
        types: dict[str, list[str]] = {d: [] for d in spec.domains}
        for p in visible:
            if p.domain not in texts:
                continue
            texts[p.domain] += [p.name, p.description, *p.tags, *(str(c.get("name", "")) for c in p.columns)]
            for c in p.columns:
                types[p.domain] += [str(x) for x in c.get("classification") or []]
        return [DomainProfile(d, [t for t in texts[d] if t], types[d]) for d in sorted(texts)]

    # -- memory -----------------------------------------------------------------------------
    def previous(self, source: str) -> dict[str, Any] | None:
        """The state the source's last recorded scan left: ``{"datasets": {name: state}}``."""
        from meshfabric.store.models import EventRow

        with self.store.read() as s:
            rows = s.execute(select(EventRow.data).where(EventRow.event_type == "discovery.scanned")
                             .order_by(EventRow.seq.desc()))
            for (data,) in rows:
                if isinstance(data, dict) and data.get("source") == source:
                    return data
        return None

    def _remember(self, report: DiscoveryReport, tables: str | None) -> None:
        from meshfabric.events import DomainEvent, append

        events: list[DomainEvent] = []
        for source in report.sources:
            before = (self.previous(source) or {}).get("datasets", {})
            now = {r.name: r for r in report.datasets if r.source == source and r.error is None}
            in_scope = {n for n in before if tables is None or fnmatch.fnmatch(n.lower(), tables.lower())}
            for name, r in now.items():
                old = before.get(name)
                if old is None:
                    r.change = "new"
                    events.append(DomainEvent("discovery.dataset_appeared", _domain_of(r), {
                        "source": source, "dataset": name, "columns": len(r.columns),
                        "pii_columns": [c.name for c in r.pii_columns]}))
                    continue
                diff = _diff(old, r.state())
                r.change = "changed" if diff else "unchanged"
                if diff:
                    events.append(DomainEvent("discovery.dataset_changed", _domain_of(r),
                                              {"source": source, "dataset": name, **diff}))
            errored = {r.name for r in report.datasets if r.source == source and r.error is not None}
            for name in sorted(in_scope - set(now) - errored):
                report.disappeared.append({"source": source, "name": name})
                events.append(DomainEvent("discovery.dataset_disappeared", None, {"source": source, "dataset": name}))
            for r in now.values():
                for flag in r.flags:
                    old_flags = (before.get(r.name) or {}).get("flagged", [])
                    if flag["kind"] == "unclassified_pii" and flag["column"] not in old_flags:
                        events.append(DomainEvent("discovery.unclassified_pii", _domain_of(r), {
                            "source": source, "dataset": r.name, "product": r.product, "column": flag["column"],
                            "semantic_type": flag["semantic_type"], "confidence": flag["confidence"]}))
            state = {n: d for n, d in before.items() if n not in in_scope}
            for name, r in now.items():
                state[name] = {**r.state(), "flagged": [f["column"] for f in r.flags
                                                         if f["kind"] == "unclassified_pii"]}
            for name in errored & set(before):
                state[name] = before[name]
            events.append(DomainEvent("discovery.scanned", None, {
                "source": source, "at": datetime.now(UTC).isoformat(), "datasets": state}))
        with self.store.write() as s:
            for e in events:
                append(s, e)
        for e in events:
            report.events[e.event_type] = report.events.get(e.event_type, 0) + 1


# -- scanning ---------------------------------------------------------------------------------
def _scan(connector: Connector, source: str, t: TableInfo, sample: int,
          show_samples: bool) -> tuple[DatasetReport, DatasetSample | None, tuple[pa.Table, list[ColumnInfo]] | None]:
    """Read one dataset's columns and up to ``sample`` rows; a dataset that cannot be read comes
    back with its error (and no sample)."""
    from meshfabric.connectors.base import ScanRequest
    from meshfabric.spec.models import OutputPort

    report = DatasetReport(source, t.qualified, t.kind)
    port = OutputPort(source=source, path=t.name) if t.kind == "file" else OutputPort(source=source,
                                                                                       table=t.qualified)
    try:
        infos = connector.columns(port)
        table = connector.scan(ScanRequest(port, limit=sample)).table
    except MeshfabricError as exc:
        report.error = str(exc)
        return report, None, None
    try:
        report.total_rows = connector.stats(port).row_count
    except MeshfabricError:
        report.total_rows = None
    cols = []
    for info in infos:
        values = table.column(info.name).to_pylist() if info.name in table.column_names else []
        cols.append(ColumnSample(info.name, str(info.type), values))
        report.logical_types[info.name] = str(info.type)
        report.nullable[info.name] = info.nullable
    report.rows_sampled = table.num_rows
    if show_samples:
        report.samples = {c.name: [_shown(v) for v in c.values if v is not None][:SHOWN_SAMPLES] for c in cols}
    present = [c for c in infos if c.name in table.column_names]
    ds = DatasetSample(t.qualified, cols, table.num_rows, report.total_rows)
    return report, ds, (table.select([c.name for c in present]), present)


def _add_stats(report: DatasetReport, table: pa.Table, infos: list[ColumnInfo]) -> None:
    """The quality profiler's aggregates over the sample, into each column's evidence."""
    from meshfabric.quality.profile import profile_sample

    if table.num_columns == 0:
        return
    _, profiles = profile_sample(table, infos)
    by_name = {p.name: p for p in profiles}
    for finding in report.columns:
        prof = by_name.get(finding.name)
        if prof is None:
            continue
        stats = {k: getattr(prof, k) for k in _STATS if getattr(prof, k) is not None}
        if "null_pct" in stats:
            stats["null_pct"] = round(float(stats["null_pct"]), 4)
        if "mean_length" in stats:
            stats["mean_length"] = round(float(stats["mean_length"]), 2)
        finding.evidence = {**finding.evidence, "profile": stats}


def _shown(value: Any) -> Any:
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value if not isinstance(value, str) else value[:200]
    return str(value)[:200]


# -- interpretation ---------------------------------------------------------------------------
def _norm(name: str) -> str:
    return name.strip().strip('"`').lower()


def _registered(report: DatasetReport, visible: list[ProductInfo]) -> str | None:
    """The visible product whose output port reads this dataset."""
    name = _norm(report.name)
    short = name.rsplit(".", 1)[-1]
    for p in visible:
        if p.source != report.source:
            continue
        target = _norm(str(p.output.get("table") or p.output.get("path") or ""))
        if not target:
            continue
        if report.kind == "file":
            if target == name or fnmatch.fnmatch(target, name):
                return p.fqn
        elif target in (name, short) or target.rsplit(".", 1)[-1] == name:
            return p.fqn
    return None


def _unique_names(reports: list[DatasetReport]) -> list[str]:
    counts: dict[str, int] = {}
    for r in reports:
        counts[r.name] = counts.get(r.name, 0) + 1
    return [r.name if counts[r.name] == 1 else f"{r.source}.{r.name}" for r in reports]


def _flags(report: DatasetReport, visible: list[ProductInfo]) -> list[dict[str, Any]]:
    """A registered product's columns that discovery finds to be PII but its spec does not
    classify as pii."""
    if report.product is None or report.error is not None:
        return []
    product = next((p for p in visible if p.fqn == report.product), None)
    if product is None:
        return []
    declared = {str(c.get("name", "")).lower(): [str(x).lower() for x in c.get("classification") or []]
                for c in product.columns}
    out = []
    for c in report.pii_columns:
        if "pii" not in declared.get(c.name.lower(), []):
            out.append({"kind": "unclassified_pii", "column": c.name, "semantic_type": c.semantic_type,
                        "confidence": round(c.confidence, 3), "product": report.product,
                        "declared": c.name.lower() in declared,
                        "fix": f"classify it in the spec of {report.product}: classification: [pii]"})
    return out


def _describe(r: DatasetReport) -> str:
    if r.error is not None:
        return f"could not be read: {r.error}"
    what = {"file": "Files", "view": "View", "table": "Table"}.get(r.kind, "Dataset")
    size = f"{r.total_rows:,} rows" if r.total_rows is not None else f"{r.rows_sampled:,} rows sampled"
    text = f"{what} in {r.source} with {len(r.columns)} columns ({size})"
    pii = sorted({c.semantic_type for c in r.pii_columns if c.semantic_type})
    if pii:
        text += f"; personal data: {', '.join(pii)}"
    others = sorted({c.semantic_type for c in r.columns if c.semantic_type and not c.pii}
                    - {"identifier", "numeric", "category", "free_text"})
    if others:
        text += f"; also {', '.join(others)}"
    if r.cluster_terms:
        text += f". About: {', '.join(r.cluster_terms[:4])}"
    return text + "."


def _diff(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    before, after = old.get("columns", {}), new.get("columns", {})
    added = sorted(set(after) - set(before))
    removed = sorted(set(before) - set(after))
    changed = []
    for name in sorted(set(before) & set(after)):
        a, b = before[name], after[name]
        for key in ("type", "semantic_type", "classifications"):
            if a.get(key) != b.get(key):
                changed.append({"column": name, "field": key, "from": a.get(key), "to": b.get(key)})
    if not (added or removed or changed):
        return {}
    return {"added_columns": added, "removed_columns": removed, "changed": changed}


def _domain_of(r: DatasetReport) -> str | None:
    return r.product.split(".")[0] if r.product else None


# -- drafts -----------------------------------------------------------------------------------
def draft_specs(report: DiscoveryReport, directory: Path, *, force: bool = False,
                existing: Sequence[str] = ()) -> list[Path]:
    """Write a ``kind: DataProduct`` draft for every readable dataset no product reads yet,
    under ``directory/<domain>/<name>.yaml``. Every draft is validated and every target path
    checked before the first file is written; then all are written (each atomically)."""
    import yaml

    from meshfabric.spec.models import ProductSpec

    taken = {e.lower() for e in existing}
    planned: list[tuple[Path, dict[str, Any]]] = []
    problems: list[str] = []
    for r in report.datasets:
        if r.error is not None or r.product is not None or not r.columns:
            continue
        domain = _identifier(r.suggested_domain) or "discovered"
        name = _identifier(_base_name(r))
        while f"{domain}.{name}".lower() in taken:
            name = _identifier(f"{name}_{r.source}") if not name.endswith(r.source) else _identifier(name + "_2")
        taken.add(f"{domain}.{name}".lower())
        doc: dict[str, Any] = {
            "kind": "DataProduct", "domain": domain, "name": name, "owner": r.suggested_owner or "unknown",
            "description": r.description, "tags": ["discovered", *r.cluster_terms[:3]], "status": "draft",
            "version": "0.1.0",
            "output": {"source": r.source, **({"path": r.name} if r.kind == "file" else {"table": r.name})},
            "schema": [_column_doc(r, c) for c in r.columns],
        }
        try:
            ProductSpec.model_validate(doc)
        except Exception as exc:  # pydantic's ValidationError: say which dataset and why
            problems.append(f"{r.source}:{r.name}: {str(exc).splitlines()[0]}")
            continue
        path = directory / domain / f"{name}.yaml"
        if path.exists() and not force:
            problems.append(f"{path} exists (pass --force to overwrite it)")
        planned.append((path, doc))
    if planned and directory.exists() and not directory.is_dir():
        problems.append(f"{directory} is a file, not a folder")
    if problems:
        raise ConfigError("no draft was written: " + "; ".join(problems[:10]),
                          hint="fix what is named, or narrow the run with --tables")
    header = "# drafted by `meshfabric discover`: review the domain, owner, names and classifications\n"
    staged: list[tuple[Path, Path]] = []
    try:  # every draft is written beside its target first; only then are they all moved in place
        for path, doc in planned:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".yaml.tmp")
            tmp.write_text(header + yaml.safe_dump(doc, sort_keys=False, allow_unicode=True), encoding="utf-8")
            staged.append((tmp, path))
    except OSError as exc:
        for tmp, _ in staged:
            tmp.unlink(missing_ok=True)
        raise ConfigError(f"no draft was written: cannot write under {directory}: {exc.strerror or exc}",
                          hint="choose a folder you may write to") from None
    for tmp, path in staged:
        tmp.replace(path)
    return [path for _, path in staged]


def _column_doc(r: DatasetReport, c: ColumnFinding) -> dict[str, Any]:
    from meshfabric.types import parse_type

    logical = r.logical_types.get(c.name, "string")
    try:
        logical = str(parse_type(logical))
    except Exception:  # a source type meshfabric has no logical type for is read as text
        logical = "string"
    out: dict[str, Any] = {"name": c.name, "type": logical}
    if not r.nullable.get(c.name, True):
        out["nullable"] = False
    if c.semantic_type:
        out["description"] = f"discovered: {c.semantic_type} (confidence {c.confidence:.2f})"
    if c.classifications:
        out["classification"] = list(c.classifications)
    return out


def _base_name(r: DatasetReport) -> str:
    if r.kind != "file":
        return r.name.rsplit(".", 1)[-1]
    path = r.name.replace("/**", "").replace("*", "")
    parts = [p for p in Path(path).parts if p not in ("", ".")]
    stem = Path(parts[-1]).name.split(".")[0] if parts else ""
    return stem or (parts[-2] if len(parts) > 1 else "dataset")


def _identifier(text: str) -> str:
    import re

    out = re.sub(r"[^a-z0-9_]+", "_", text.lower()).strip("_")
    if not out:
        return ""
    if not out[0].isalpha():
        out = "d_" + out
    return out[:60]
