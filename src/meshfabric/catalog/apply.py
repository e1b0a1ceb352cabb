"""Make the store match the spec files: plan (create / update / unchanged / delete), then apply.

Everything that can be checked is checked before the write transaction opens: spec validity
(the loader), the real schema of every product's output port (drift), lifecycle transitions.
The write itself is one transaction that also appends the events describing it, so the store
never holds half an apply and an event exists exactly when its change does.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from meshfabric.connectors.base import ColumnInfo, Connector
from meshfabric.errors import (
    ContractBroken,
    IncompatibleSchema,
    SchemaDrift,
    SchemaDriftError,
    SpecError,
    SpecProblem,
    StoreChanged,
)
from meshfabric.events import DomainEvent, append
from meshfabric.spec.loader import LoadedProduct, WorkspaceSpecs
from meshfabric.spec.models import LIFECYCLE, ProductSpec
from meshfabric.store import Store
from meshfabric.store.models import ContractRow, DomainRow, EventRow, ProductRow, SourceRow
from meshfabric.store.models_access import PolicyRow
from meshfabric.types import parse_type

Action = Literal["create", "update", "unchanged", "delete"]


@dataclass
class Change:
    action: Action
    kind: Literal["source", "domain", "product", "contract", "policy"]
    name: str
    changed: list[str] = field(default_factory=list)
    detail: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"action": self.action, "kind": self.kind, "name": self.name, "changed": self.changed, **self.detail}


@dataclass
class ApplyResult:
    changes: list[Change]
    warnings: list[str]
    applied: bool
    correlation_id: str
    events: int = 0

    def count(self, action: Action) -> int:
        return sum(1 for c in self.changes if c.action == action)

    def to_dict(self) -> dict[str, Any]:
        return {
            "applied": self.applied,
            "correlation_id": self.correlation_id,
            "summary": {a: self.count(a) for a in ("create", "update", "unchanged", "delete")},
            "changes": [c.to_dict() for c in self.changes],
            "warnings": self.warnings,
            "events": self.events,
        }


def _hash(doc: Any) -> str:
    return hashlib.sha256(json.dumps(doc, sort_keys=True, default=str).encode()).hexdigest()


def _in_scope(file: str, scope: str | None) -> bool:
    if scope is None:
        return True
    return file == scope or file.startswith(scope.rstrip("/") + "/")


def effective_columns(
    spec: ProductSpec, real: list[ColumnInfo] | None
) -> tuple[list[dict[str, Any]], list[str]]:
    """The product's schema (declared, or the source's when none is declared) and drift problems."""
    if not spec.columns:
        if real is None:
            return [], []
        return [
            {"name": c.name, "type": str(c.type), "nullable": c.nullable, "description": "", "classification": []}
            for c in real
        ], []
    problems: list[str] = []
    if real is not None:
        by_name = {c.name.lower(): c for c in real}
        for col in spec.columns:
            found = by_name.get(col.name.lower())
            if found is None:
                problems.append(
                    f"column '{col.name}' is declared ({col.type}) but the source has no such column"
                    + (f"; it has: {', '.join(c.name for c in real)}" if len(real) <= 20 else "")
                )
                continue
            declared = parse_type(col.type)
            if not declared.matches(found.type):
                problems.append(
                    f"column '{col.name}' is declared {declared} but the source has {found.type} "
                    f"(native {found.native_type})"
                )
    cols = [c.model_dump(mode="json") for c in spec.columns]
    return cols, problems


def _check_quality_literals(products: list[Any], columns: dict[str, list[dict[str, Any]]]) -> None:
    """Quality rule literals against the effective column types (declared, or the source's when
    none are declared), before anything is written: ``accepted_values: [10001]`` on a text
    column is refused here instead of failing every run in the source."""
    from meshfabric.spec.quality_rules import literal_problems

    problems: list[SpecProblem] = []
    for lp in products:
        types = {str(c["name"]).lower(): str(c["type"]) for c in columns.get(lp.spec.fqn, [])}
        for i, rule in enumerate(lp.spec.quality or []):
            for where, message in literal_problems(rule, types):
                loc = ("quality", i, *(int(p) if p.isdigit() else p for p in where.split(".")))
                line = next((lp.lines[loc[:n]] for n in range(len(loc), 0, -1) if loc[:n] in lp.lines), lp.line)
                problems.append(SpecProblem(lp.file, line, ".".join(str(p) for p in loc), message))
    if problems:
        raise SpecError(problems)


def check_transition(old: str, new: str) -> str | None:
    """Lifecycle moves forward only: draft → published → deprecated → retired."""
    if LIFECYCLE.index(new) < LIFECYCLE.index(old):
        return f"status cannot go back from '{old}' to '{new}' (lifecycle: {' → '.join(LIFECYCLE)})"
    return None


def apply_workspace(
    specs: WorkspaceSpecs,
    store: Store,
    connector: Callable[[str], Connector],
    *,
    scope: Path | None = None,
    dry_run: bool = False,
    allow_drift: bool = False,
    progress: Callable[[str, int, int], None] | None = None,
) -> ApplyResult:
    """Plan and (unless ``dry_run``) apply a loaded workspace. Raises before writing anything.

    ``progress(what, done, total)`` is told of each product's source read and of the store write."""
    report = progress or (lambda what, done, total: None)
    rel_scope: str | None = None
    if scope is not None:
        scope = scope.resolve()
        if scope != specs.root:
            rel_scope = str(scope.relative_to(specs.root))
    products = [p for p in specs.products if _in_scope(p.file, rel_scope)]
    # what the store held when this apply started planning (an optimistic lock, checked at commit)
    planned_from = None if dry_run else _store_state(store)

    # 1. the real schema of every product in scope (raises SourceError naming the source)
    warnings: list[str] = []
    drifts: list[SchemaDrift] = []
    columns: dict[str, list[dict[str, Any]]] = {}
    for i, lp in enumerate(products):
        report(f"reading the schema of {lp.spec.fqn} from source '{lp.spec.output.source}'", i, len(products))
        real = connector(lp.spec.output.source).columns(lp.spec.output)
        cols, problems = effective_columns(lp.spec, real)
        columns[lp.spec.fqn] = cols
        if problems:
            if allow_drift:
                warnings.extend(f"{lp.spec.fqn}: {p}" for p in problems)
            else:
                drifts.append(SchemaDrift(lp.spec.fqn, problems))
    report("read source schemas", len(products), len(products))
    if drifts:
        raise SchemaDriftError(drifts)
    _check_quality_literals(products, columns)

    correlation_id = uuid.uuid4().hex
    if dry_run:
        with store.read() as session:
            changes, _ = _reconcile(session, specs, products, columns, rel_scope, correlation_id, warnings,
                                    write=False)
        return ApplyResult(changes, warnings, False, correlation_id)
    report("writing to the metadata store", 0, 1)
    with store.write() as session:
        moved = _moved_since(session, planned_from)
        changes, events = _reconcile(session, specs, products, columns, rel_scope, correlation_id, warnings,
                                     write=True)
        _refuse_reverts(changes, moved)  # raising rolls the whole transaction back
    return ApplyResult(changes, warnings, True, correlation_id, events)


_Key = tuple[str, str]


def _newest_seq(session: Session) -> int:
    return int(session.scalar(select(func.max(EventRow.seq))) or 0)


def _fingerprints(session: Session) -> dict[_Key, str]:
    """A digest of every catalog object an apply writes, by (kind, name)."""
    out: dict[_Key, str] = {}
    for s in session.scalars(select(SourceRow)):
        out["source", s.name] = _hash([s.kind, s.spec])
    for d in session.scalars(select(DomainRow)):
        out["domain", d.name] = _hash([d.description, d.owners])
    for p in session.scalars(select(ProductRow)):
        out["product", f"{p.domain}.{p.name}"] = _hash([p.spec_hash, p.file, p.revision])
    for c in session.scalars(select(ContractRow)):
        out["contract", c.id] = _hash([c.document, c.file])
    for r in session.scalars(select(PolicyRow)):
        out["policy", r.name] = _hash([r.digest, r.file])
    return out


def _store_state(store: Store) -> tuple[int, dict[_Key, str]]:
    """The newest event and the catalog's fingerprints, read when an apply starts planning."""
    with store.read() as session:
        return _newest_seq(session), _fingerprints(session)


def _moved_since(session: Session, planned_from: tuple[int, dict[_Key, str]] | None) -> set[_Key]:
    """Inside the write transaction: the catalog objects another writer changed (created,
    updated, deleted) since ``planned_from``. Every catalog change appends an event, so an
    unchanged newest event means nothing moved and the fingerprints need no second read."""
    if planned_from is None:
        return set()
    seq, before = planned_from
    if _newest_seq(session) == seq:
        return set()
    after = _fingerprints(session)
    return {key for key in before.keys() | after.keys() if before.get(key) != after.get(key)}


def _refuse_reverts(changes: list[Change], moved: set[_Key]) -> None:
    """Refuse an apply that would change again what another apply changed while this one was
    planning: two checkouts applying at once would otherwise revert each other. Changes that
    do not touch those objects (or agree with them: "unchanged") go through."""
    clash = [c for c in changes if c.action != "unchanged" and (c.kind, c.name) in moved]
    if not clash:
        return
    names = ", ".join(f"{c.kind} {c.name}" for c in clash[:10]) + (" ..." if len(clash) > 10 else "")
    raise StoreChanged(
        f"another apply changed {names} while this apply was planning; applying now would "
        "change it back (nothing was written)",
        hint="your spec files may be stale: pull the latest ones (e.g. `git pull`) and run apply again; "
        "`meshfabric events list` shows what the other apply did",
    )


def _reconcile(
    session: Session,
    specs: WorkspaceSpecs,
    products: list[LoadedProduct],
    columns: dict[str, list[dict[str, Any]]],
    rel_scope: str | None,
    correlation_id: str,
    warnings: list[str],
    *,
    write: bool,
) -> tuple[list[Change], int]:
    now = datetime.now(UTC)
    changes: list[Change] = []
    events: list[DomainEvent] = []

    def emit(event_type: str, domain: str | None, data: dict[str, Any]) -> None:
        events.append(DomainEvent(event_type, domain, data, correlation_id=correlation_id))

    full = rel_scope is None

    # sources
    stored_sources = {r.name: r for r in session.scalars(select(SourceRow))}
    for name, src in specs.mesh.sources.items():
        doc = src.model_dump(mode="json", exclude_none=True)
        row = stored_sources.get(name)
        if row is None:
            changes.append(Change("create", "source", name, detail={"source_kind": src.kind}))
            emit("source.registered", None, {"source": name, "kind": src.kind})
            if write:
                session.add(SourceRow(name=name, kind=src.kind, description=src.description, spec=doc))
        elif row.spec != doc:
            changed = sorted(k for k in set(doc) | set(row.spec) if doc.get(k) != row.spec.get(k))
            changes.append(Change("update", "source", name, changed))
            emit("source.updated", None, {"source": name, "changed": changed})
            if write:
                row.kind, row.description, row.spec, row.updated_at = src.kind, src.description, doc, now
        else:
            changes.append(Change("unchanged", "source", name))

    # domains
    stored_domains = {r.name: r for r in session.scalars(select(DomainRow))}
    for name, dom in specs.mesh.domains.items():
        row = stored_domains.get(name)
        if row is None:
            changes.append(Change("create", "domain", name))
            emit("domain.created", name, {"domain": name, "owners": dom.owners})
            if write:
                session.add(DomainRow(name=name, description=dom.description, owners=dom.owners))
        elif (row.description, row.owners) != (dom.description, dom.owners):
            changed = [k for k, a, b in (("description", row.description, dom.description),
                                         ("owners", row.owners, dom.owners)) if a != b]
            changes.append(Change("update", "domain", name, changed))
            emit("domain.updated", name, {"domain": name, "changed": changed})
            if write:
                row.description, row.owners, row.updated_at = dom.description, dom.owners, now
        else:
            changes.append(Change("unchanged", "domain", name))
    if write:
        session.flush()

    # products
    stored = {f"{r.domain}.{r.name}": r for r in session.scalars(select(ProductRow))}
    previous: dict[str, list[dict[str, Any]]] = {}
    problems: list[SpecProblem] = []
    wanted: set[str] = set()
    for lp in products:
        spec, fqn = lp.spec, lp.spec.fqn
        wanted.add(fqn)
        doc = spec.to_doc()
        digest = _hash({"spec": doc, "columns": columns[fqn]})
        row = stored.get(fqn)
        if row is None:
            changes.append(Change("create", "product", fqn, detail={"status": spec.status, "version": spec.version}))
            emit("product.created", spec.domain, {
                "product": fqn, "version": spec.version, "status": spec.status,
                "owner": spec.owner, "source": spec.output.source,
            })
            if write:
                session.add(ProductRow(
                    domain=spec.domain, name=spec.name, owner=spec.owner, description=spec.description,
                    tags=spec.tags, status=spec.status, version=spec.version, source=spec.output.source,
                    spec=doc, spec_hash=digest, columns=columns[fqn], file=lp.file, revision=1,
                ))
            continue
        if row.spec_hash == digest and row.file == lp.file:
            changes.append(Change("unchanged", "product", fqn))
            continue
        bad = check_transition(row.status, spec.status)
        if bad:
            problems.append(SpecProblem(lp.file, lp.lines.get(("status",), lp.line), "status", bad,
                                        f"keep status '{row.status}' or move forward"))
            continue
        changed = sorted(k for k in set(doc) | set(row.spec) if doc.get(k) != row.spec.get(k))
        previous[fqn] = list(row.columns)
        if columns[fqn] != row.columns and "schema" not in changed:
            changed.append("schema")
        changes.append(Change("update", "product", fqn, changed,
                              detail={"version": spec.version, "revision": row.revision + 1}))
        emit("product.updated", spec.domain, {
            "product": fqn, "changed": changed, "version": spec.version, "revision": row.revision + 1,
        })
        if row.status != spec.status:
            emit("product.status_changed", spec.domain, {"product": fqn, "from": row.status, "to": spec.status})
        if "schema" in changed:
            emit("product.schema_changed", spec.domain, {
                "product": fqn, "old": row.columns, "new": columns[fqn],
            })
        if write:
            row.owner, row.description, row.tags = spec.owner, spec.description, spec.tags
            row.status, row.version, row.source = spec.status, spec.version, spec.output.source
            row.spec, row.spec_hash, row.columns, row.file = doc, digest, columns[fqn], lp.file
            row.revision += 1
            row.updated_at = now
    if problems:
        raise SpecError(problems)
    _register_schemas(session, products, columns, changes, emit, write=write)
    workspace_contracts = {lc.contract.id: lc.contract for lc in specs.contracts}
    _check_consumer_contracts(session, columns, previous, warnings, workspace_contracts)
    _apply_contracts(session, [lc for lc in specs.contracts if _in_scope(lc.file, rel_scope)], rel_scope,
                     changes, emit, write=write)
    _apply_policies(session, specs, columns, rel_scope, changes, emit, correlation_id, write=write)

    for fqn, row in stored.items():
        if fqn not in wanted and (full or _in_scope(row.file, rel_scope)):
            changes.append(Change("delete", "product", fqn, detail={"status": row.status, "file": row.file}))
            emit("product.deleted", row.domain, {"product": fqn, "version": row.version})
            if write:
                session.delete(row)
    if write:
        session.flush()

    if full:
        for name, src_row in stored_sources.items():
            if name not in specs.mesh.sources:
                changes.append(Change("delete", "source", name))
                emit("source.removed", None, {"source": name})
                if write:
                    session.delete(src_row)
        for name, dom_row in stored_domains.items():
            if name not in specs.mesh.domains:
                changes.append(Change("delete", "domain", name))
                emit("domain.deleted", name, {"domain": name})
                if write:
                    session.delete(dom_row)

    if write:
        for event in events:
            append(session, event)
    order = {"source": 0, "domain": 1, "product": 2, "contract": 3, "policy": 4}
    changes.sort(key=lambda c: (order[c.kind], c.name))
    return changes, len(events)


def product_schema(spec: ProductSpec, columns: list[dict[str, Any]]) -> Any:
    """What the schema registry versions for a product: its JSON Schema, else its columns."""
    return spec.json_schema if spec.json_schema is not None else columns


def _register_schemas(
    session: Session,
    products: list[LoadedProduct],
    columns: dict[str, list[dict[str, Any]]],
    changes: list[Change],
    emit: Callable[[str, str | None, dict[str, Any]], None],
    *,
    write: bool,
) -> None:
    """Check every created/updated product's schema against its history; register the new ones.

    All products are checked before anything is registered, and every reason is reported.
    """
    from meshfabric.contracts import registry

    touched = {c.name for c in changes if c.kind == "product" and c.action in ("create", "update")}
    refused: list[str] = []
    accepted: list[tuple[LoadedProduct, Any]] = []
    for lp in products:
        fqn = lp.spec.fqn
        schema = product_schema(lp.spec, columns[fqn])
        if fqn not in touched or schema in ([], None):
            continue
        result = registry.check(session, fqn, schema, lp.spec.compatibility)
        if result is None:
            continue
        if not result.compatible:
            refused.extend(f"{fqn} ({lp.file}, mode {result.mode}): {r}" for r in result.reasons)
        else:
            accepted.append((lp, schema))
    if refused:
        raise IncompatibleSchema(
            "the new schema breaks its product's compatibility mode (nothing was written):", refused
        )
    for lp, schema in accepted:
        change = next(c for c in changes if c.kind == "product" and c.name == lp.spec.fqn)
        change.detail["schema_version"] = "new"
        if write:
            version = registry.register(session, lp.spec.fqn, schema, lp.spec.compatibility, lp.spec.version)
            change.detail["schema_version"] = version.version
            emit("schema.version_added", lp.spec.domain, {
                "product": lp.spec.fqn, "version": version.version, "kind": version.kind,
                "mode": lp.spec.compatibility, "fingerprint": version.fingerprint,
            })


def _check_consumer_contracts(
    session: Session,
    columns: dict[str, list[dict[str, Any]]],
    previous: dict[str, list[dict[str, Any]]],
    warnings: list[str],
    workspace_contracts: dict[str, Any],
) -> None:
    """Refuse a schema change that breaks a consumer's contract; warn about softer effects.

    The contracts that bind are those stored, as replaced or added by the workspace's own
    contract files in this apply.
    """
    from meshfabric.contracts.changelog import breaking_for_consumers
    from meshfabric.contracts.service import contracts_of

    errors: list[str] = []
    for fqn, old in previous.items():
        if old == columns[fqn]:
            continue
        binding = {c.id: c for c in contracts_of(session, fqn)}
        binding.update({i: c for i, c in workspace_contracts.items() if c.product_fqn == fqn})
        contracts = list(binding.values())
        if not contracts:
            continue
        for b in breaking_for_consumers(old, columns[fqn], contracts, product=fqn):
            line = f"{fqn}: contract {b.contract_id[:8]} with '{b.consumer}': {b.reason}"
            if b.breaking:
                errors.append(line)
            elif b.severity == "warning":
                warnings.append(line)
    if errors:
        raise ContractBroken(errors)


def _apply_contracts(
    session: Session,
    loaded: list[Any],
    rel_scope: str | None,
    changes: list[Change],
    emit: Callable[[str, str | None, dict[str, Any]], None],
    *,
    write: bool,
) -> None:
    """Upsert the workspace's contract files; delete those whose file left the scope."""
    from meshfabric.store.models import ContractRow

    stored = {r.id: r for r in session.scalars(select(ContractRow))}
    wanted = set()
    now = datetime.now(UTC)
    for lc in loaded:
        c = lc.contract
        wanted.add(c.id)
        domain = (c.product_fqn or "").split(".")[0] or None
        data = {"contract": c.id, "product": c.product_fqn, "consumer": c.consumer_domain, "version": c.version}
        row = stored.get(c.id)
        doc = c.to_dict()
        if row is not None and row.document == doc and row.file == lc.file:
            changes.append(Change("unchanged", "contract", c.id))
            continue
        action: Action = "create" if row is None else "update"
        changes.append(Change(action, "contract", c.id, detail={"product": c.product_fqn,
                                                                 "consumer": c.consumer_domain}))
        emit("contract.created" if row is None else "contract.updated", domain, data)
        if write:
            if row is None:
                row = ContractRow(id=c.id, created_at=now)
                session.add(row)
            row.product, row.consumer = c.product_fqn or "", c.consumer_domain or ""
            row.version, row.status, row.document, row.file = c.version, c.status, doc, lc.file
            row.valid_from, row.valid_until, row.updated_at = c.valid_from, c.valid_until, now
    for cid, row in stored.items():
        if cid not in wanted and row.file and _in_scope(row.file, rel_scope):
            changes.append(Change("delete", "contract", cid, detail={"file": row.file}))
            emit("contract.deleted", (row.product or "").split(".")[0] or None, {"contract": cid})
            if write:
                session.delete(row)


def _apply_policies(
    session: Session,
    specs: WorkspaceSpecs,
    columns: dict[str, list[dict[str, Any]]],
    rel_scope: str | None,
    changes: list[Change],
    emit: Callable[[str, str | None, dict[str, Any]], None],
    correlation_id: str,
    *,
    write: bool,
) -> None:
    """Upsert the workspace's access policy files; delete those whose file left the scope. An
    apply that changes any policy records the next policy version (audit entries carry it).

    Rules naming columns of a product whose schema comes from the source (none declared) are
    checked here, against the effective columns, before anything is written.
    """
    from meshfabric.store.models_access import PolicyRow, PolicyVersionRow

    problems: list[SpecProblem] = []
    for lp in specs.policies:
        for i, rule in enumerate(lp.policy.rules):
            cols = columns.get(rule.product or "")
            if not cols:
                continue
            known = {c["name"].lower() for c in cols}
            for col in rule.columns:
                if col.lower() not in known:
                    problems.append(SpecProblem(lp.file, lp.lines.get(("rules", i, "columns", col)),
                                                f"rules.{i}.columns.{col}",
                                                f"product '{rule.product}' has no column '{col}'"))
    if problems:
        raise SpecError(problems)
    stored = {r.name: r for r in session.scalars(select(PolicyRow))}
    wanted: set[str] = set()
    changed = False
    now = datetime.now(UTC)
    for lp in specs.policies:
        if not _in_scope(lp.file, rel_scope):
            if lp.policy.name in stored:
                wanted.add(lp.policy.name)
            continue
        name, doc = lp.policy.name, lp.policy.to_doc()
        wanted.add(name)
        digest = _hash(doc)
        row = stored.get(name)
        if row is not None and row.digest == digest and row.file == lp.file:
            changes.append(Change("unchanged", "policy", name))
            continue
        changed = True
        changes.append(Change("create" if row is None else "update", "policy", name, detail={"file": lp.file}))
        emit("access.policy_changed", None, {"policy": name, "action": "create" if row is None else "update"})
        if write:
            if row is None:
                row = PolicyRow(name=name)
                session.add(row)
            row.file, row.document, row.digest, row.updated_at = lp.file, doc, digest, now
    for name, row in stored.items():
        if name not in wanted and _in_scope(row.file, rel_scope):
            changed = True
            changes.append(Change("delete", "policy", name, detail={"file": row.file}))
            emit("access.policy_changed", None, {"policy": name, "action": "delete"})
            if write:
                session.delete(row)
    if changed and write:
        session.flush()
        current = session.scalar(select(PolicyVersionRow.version).order_by(PolicyVersionRow.version.desc()).limit(1))
        names = sorted(session.scalars(select(PolicyRow.name)))
        digests = sorted(session.scalars(select(PolicyRow.digest)))
        version = (current or 0) + 1
        session.add(PolicyVersionRow(version=version, digest=_hash(digests), policies=names,
                                     correlation_id=correlation_id, created_at=now))
        emit("access.policy_version", None, {"version": version, "policies": names})
