"""Contracts in the catalog: generate, import, export, list, test against metrics.

The ODCS document is the stored form (``contracts.document``), so export returns exactly what
was imported. Compliance results are persisted as violations and emitted as
``contract.violated`` events; each test also records the share of the contract's checks that
passed as a product metric (``<fqn>/contract.compliance/<contract id>``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from meshfabric.contracts.odcs import Contract, dump_contract, load_contract
from meshfabric.errors import ConfigError, NotFound
from meshfabric.events import DomainEvent, append
from meshfabric.store.models import ContractRow, ContractViolationRow, DomainRow, MetricPointRow

if TYPE_CHECKING:
    from collections.abc import Callable

    from meshfabric.access.decision import Decision
    from meshfabric.access.service import AccessService
    from meshfabric.catalog import ProductInfo
    from meshfabric.contracts.compliance import Evaluation
    from meshfabric.store import Store


@dataclass(frozen=True)
class ContractInfo:
    id: str
    product: str
    consumer: str
    version: str
    status: str
    valid_from: datetime | None
    valid_until: datetime | None
    updated_at: datetime

    def to_dict(self) -> dict[str, Any]:
        return {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in self.__dict__.items()}


def _info(row: ContractRow) -> ContractInfo:
    return ContractInfo(row.id, row.product, row.consumer, row.version, row.status, row.valid_from,
                        row.valid_until, row.updated_at)


def contracts_of(session: Session, product: str) -> list[Contract]:
    """Every stored contract bound to a product (for checks inside an apply transaction)."""
    rows = session.scalars(select(ContractRow).where(ContractRow.product == product))
    return [Contract(dict(r.document)) for r in rows]


class ContractService:
    """``mesh.contracts``, each call as the acting principal: contracts of a product exist for a
    principal that may discover it; creating, importing and testing need ``write`` on it
    (``contract.write``); the measured values of recorded violations only for one that may read
    the product unmasked and unfiltered."""

    def __init__(self, store: Store, access: AccessService, product: Callable[[str], ProductInfo]) -> None:
        self.store = store
        self.access = access
        self._product = product

    # -- creating ---------------------------------------------------------------------------
    def generate(self, product: str, consumer: str, requirements: dict[str, float] | None = None,
                 *, save: bool = False, user: str | None = None) -> Contract:
        """A contract for ``consumer`` built from the product's current schema and SLA defaults
        (saved with ``save``; both need ``contract.write``)."""
        from meshfabric.contracts.generate import generate_contract

        decision = self.access.decide(user, "contract.write" if save else "discover", product)
        info = self._product(decision.product or product)
        self._require_domain(consumer)
        contract = generate_contract(info, consumer, requirements)
        if save:
            self._save(contract, event="contract.created")
        return contract

    def import_(self, source: str | Path, *, user: str | None = None) -> Contract:
        """Validate an ODCS document and store it (replacing a stored contract with the same id)."""
        contract = load_contract(source)
        if not contract.product_fqn:
            raise ConfigError("the contract names no product", hint="set customProperties meshfabric.product")
        self.access.decide(user, "contract.write", contract.product_fqn)
        if contract.consumer_domain:
            self._require_domain(contract.consumer_domain)
        with self.store.read() as s:
            stored = s.get(ContractRow, contract.id)
            if stored is not None and stored.product and stored.product != contract.product_fqn:
                self.access.decide(user, "contract.write", stored.product)  # it replaces another product's
        self._save(contract, event="contract.imported")
        return contract

    def _save(self, contract: Contract, *, event: str = "contract.updated") -> None:
        now = datetime.now(UTC)
        with self.store.write() as s:
            row = s.get(ContractRow, contract.id)
            if row is None:
                row = ContractRow(id=contract.id, created_at=now)
                s.add(row)
            row.product = contract.product_fqn or ""
            row.consumer = contract.consumer_domain or ""
            row.version, row.status = contract.version, contract.status
            row.document = contract.to_dict()
            row.valid_from, row.valid_until, row.updated_at = contract.valid_from, contract.valid_until, now
            domain = (contract.product_fqn or "").split(".")[0] or None
            append(s, DomainEvent(event, domain, {
                "contract": contract.id, "product": contract.product_fqn, "consumer": contract.consumer_domain,
                "version": contract.version, "status": contract.status,
            }))

    def _require_domain(self, name: str) -> None:
        with self.store.read() as s:
            known = [d for (d,) in s.execute(select(DomainRow.name))]
        if name not in known:
            import difflib

            close = difflib.get_close_matches(name, known, n=1)
            raise NotFound(f"domain '{name}' is not in the catalog",
                           hint=f"did you mean '{close[0]}'?" if close else f"domains: {', '.join(known)}")

    # -- reading ----------------------------------------------------------------------------
    def list(self, *, product: str | None = None, consumer: str | None = None,
             user: str | None = None) -> list[ContractInfo]:
        """Contracts of the products ``user`` may discover."""
        if product:
            product = self.access.decide(user, "discover", product).product
        visible = self.access.visible_products(user)
        stmt = select(ContractRow).order_by(ContractRow.product, ContractRow.consumer, ContractRow.id)
        if product:
            stmt = stmt.where(ContractRow.product == product)
        if consumer:
            stmt = stmt.where(ContractRow.consumer == consumer)
        with self.store.read() as s:
            return [_info(r) for r in s.scalars(stmt) if visible is None or r.product in visible]

    def _row(self, contract_id: str, user: str | None, action: str = "discover") -> tuple[ContractRow, Decision]:
        """The contract named by its id or an unambiguous prefix of it, among those of products
        ``user`` may discover: another product's contract does not exist for it."""
        visible = self.access.visible_products(user)
        with self.store.read() as s:
            row = s.get(ContractRow, contract_id)
            if row is not None and visible is not None and row.product not in visible:
                row = None
            if row is None and contract_id:
                ids = [i for i, p in s.execute(select(ContractRow.id, ContractRow.product))
                       if visible is None or p in visible]
                matches = [i for i in ids if i.startswith(contract_id)]
                if len(matches) == 1:
                    row = s.get(ContractRow, matches[0])
            if row is None:
                raise NotFound(f"contract '{contract_id}' not found",
                               hint="list contracts with `meshfabric contract list`")
            s.expunge(row)
        try:
            decision = self.access.decide(user, action, row.product)
        except NotFound:
            raise NotFound(f"contract '{contract_id}' not found",
                           hint="list contracts with `meshfabric contract list`") from None
        return row, decision

    def get(self, contract_id: str, *, user: str | None = None) -> Contract:
        return Contract(dict(self._row(contract_id, user)[0].document))

    def export(self, contract_id: str, *, user: str | None = None) -> str:
        return dump_contract(self.get(contract_id, user=user))

    # -- compliance -------------------------------------------------------------------------
    def test(self, contract_id: str, metrics: dict[str, float], *, measured_at: datetime | None = None,
             user: str | None = None) -> Evaluation:
        """Evaluate a contract against measured metrics; persist and emit every violation
        (``contract.write``), and record the share of its checks that passed as the point
        ``<fqn>/contract.compliance/<contract id>`` in ``metric_points`` (in the same transaction;
        none when the contract holds nothing to judge numerically)."""
        from meshfabric.contracts.compliance import COMPLIANCE_METRIC, compliance_series, evaluate

        if not metrics:
            raise ConfigError("no metrics given", hint="pass --metric name=value or --metrics FILE.json")
        row, _ = self._row(contract_id, user, "contract.write")
        contract = Contract(dict(row.document))
        at = measured_at or datetime.now(UTC)
        result = evaluate(contract, metrics, measured_at=at)
        domain = (contract.product_fqn or "").split(".")[0] or None
        share = result.share
        with self.store.write() as s:
            if share is not None and row.product:
                # the verdict share as a product metric, committed with the violations it summarises
                s.add(MetricPointRow(series=compliance_series(row.product, contract.id), product=row.product,
                                     metric=COMPLIANCE_METRIC, value=share, ts=result.measured_at))
            for v in result:
                s.add(ContractViolationRow(contract_id=contract.id, metric=v.metric, actual=_number(v.actual),
                                           threshold=str(v.threshold)[:256], operator=v.operator, measured_at=at))
                append(s, DomainEvent("contract.violated", domain, {
                    "contract": contract.id, "product": contract.product_fqn,
                    "consumer": contract.consumer_domain, **v.to_dict(),
                }))
        return result

    def violations(self, contract_id: str | None = None, *, user: str | None = None) -> list[dict[str, Any]]:
        """Recorded violations (of one contract), with the measured value only for a principal
        that may read the product unmasked and unfiltered."""
        stmt = select(ContractViolationRow, ContractRow.product).join(
            ContractRow, ContractRow.id == ContractViolationRow.contract_id).order_by(ContractViolationRow.id)
        if contract_id:
            stmt = stmt.where(ContractViolationRow.contract_id == self._row(contract_id, user)[0].id)
        visible = self.access.visible_products(user)
        decisions: dict[str, Decision] = {}
        out = []
        with self.store.read() as s:
            rows = [(r, p) for r, p in s.execute(stmt) if visible is None or p in visible]
        for r, product in rows:
            if visible is not None and product not in decisions:
                decisions[product] = self.access.decide(user, "quality.read", product, audit=False)
            shown = product not in decisions or decisions[product].sees_values(None)
            out.append({"contract_id": r.contract_id, "metric": r.metric, "actual": r.actual if shown else None,
                        "threshold": r.threshold, "operator": r.operator, "measured_at": r.measured_at.isoformat()})
        return out


def _number(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None
