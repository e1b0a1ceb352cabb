"""OpenLineage names as graph keys: which node a dataset, a column or a run is.

A dataset in the ``meshfabric`` namespace is the mesh product its name is the fqn of; so is a
table a product is served from, named by the OpenLineage conventions for its source (see
:func:`physical_names`), while :func:`products_by_table` is in effect. Any other dataset is
``("dataset", "namespace/name")``.

>>> dataset_ref("meshfabric", "sales.orders"), dataset_ref("s3://lake", "raw/orders")
(('product', 'sales.orders'), ('dataset', 's3://lake/raw/orders'))
>>> column_key("s3://lake", "raw/orders", "amount")
's3://lake/raw/orders.amount'
>>> canonical_run_id("0190A1B2-C3D4-7E5F-8A9B-0C1D2E3F4A5B")
'0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b'
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from meshfabric.store import Store


#: the OpenLineage namespace of mesh products, whose dataset name is the product fqn (as
#: ``lineage.service`` exports them), so a job reporting it links to the product node
MESH_NAMESPACE = "meshfabric"
#: a graph node: (kind, key)
Ref = tuple[str, str]


def dataset_ref(namespace: str, name: str) -> tuple[str, str]:
    """Graph node of an OpenLineage dataset: a mesh product when the namespace is ``meshfabric``
    (the name is its fqn) or when it names the table a product is served from (see
    :func:`physical_names`, in effect while an event is folded or lineage is read); else
    ``("dataset", "namespace/name")``."""
    if namespace == MESH_NAMESPACE:
        return ("product", name)
    physical = _PHYSICAL.get()
    if physical:
        fqn = physical.get((namespace, name))
        if fqn is not None:
            return ("product", fqn)
    return ("dataset", f"{namespace}/{name}")


def canonical_run_id(run_id: str) -> str:
    """Lower-case hyphenated form, so a run reported with upper-case hex is the same run."""
    return str(uuid.UUID(run_id))


def column_key(namespace: str, name: str, field_name: str) -> str:
    """Graph key of a column: ``<dataset key>.<field>`` (``namespace/name.field``, or
    ``domain.product.column`` for a mesh product), as ``lineage.service`` names columns."""
    return f"{dataset_ref(namespace, name)[1]}.{field_name}"


#: (OpenLineage namespace, name) of the table behind each product, while folding or reading
_PHYSICAL: ContextVar[dict[tuple[str, str], str] | None] = ContextVar("meshfabric_ol_physical", default=None)
_PHYSICAL_CACHE: dict[str, tuple[Any, dict[tuple[str, str], str]]] = {}
_DEFAULT_PORTS = {"postgres": 5432, "mysql": 3306}


@contextmanager
def resolving_tables(names: dict[tuple[str, str], str]) -> Iterator[None]:
    """Within the block, :func:`dataset_ref` resolves the tables in ``names`` (as
    :func:`physical_names` returns them) to their products."""
    token = _PHYSICAL.set(names)
    try:
        yield
    finally:
        _PHYSICAL.reset(token)


@contextmanager
def products_by_table(store: Store) -> Iterator[None]:
    """Within the block, OpenLineage names of tables behind products resolve to the products."""
    with store.read() as s:
        names = physical_names(s)
    with resolving_tables(names):
        yield


def _source_location(kind: str, spec: dict[str, Any]) -> tuple[str, int, str] | None:
    """host, port, database of a PostgreSQL/MySQL source spec, ${ENV} resolved (None if unset)."""
    from urllib.parse import urlsplit

    from meshfabric.errors import ConfigError
    from meshfabric.spec.loader import resolve_env

    try:
        def env(value: Any) -> str | None:
            return resolve_env(str(value), where="source") if value not in (None, "") else None

        host, port, database = env(spec.get("host")), env(spec.get("port")), env(spec.get("database"))
        url = env(spec.get("url"))
        if url:
            parts = urlsplit(url)
            host = host or parts.hostname
            port = port or (str(parts.port) if parts.port else None)
            database = database or (parts.path.lstrip("/").split("/")[0] or None)
    except (ConfigError, ValueError):
        return None
    if not host or not database:
        return None
    return host, int(port) if port and str(port).isdigit() else _DEFAULT_PORTS[kind], database


def physical_names(session: Session) -> dict[tuple[str, str], str]:
    """The OpenLineage (namespace, name) of the table each product is served from, by the
    OpenLineage naming conventions — PostgreSQL ``postgres://host:port`` + ``database.schema.table``
    (schema ``public`` when the port names none), MySQL/MariaDB ``mysql://host:port`` +
    ``database.table`` — so events of Airflow, dbt or Spark jobs reading or writing that table land
    on the product. Host names are compared as written (``localhost`` is not ``127.0.0.1``).
    Cached per store until a product or source changes."""
    from sqlalchemy import func, select

    from meshfabric.store.models import ProductRow, SourceRow

    stamp = session.execute(select(func.count(ProductRow.id), func.max(ProductRow.updated_at),
                                   select(func.max(SourceRow.updated_at)).scalar_subquery())).one()
    url = str(session.get_bind().engine.url)
    cached = _PHYSICAL_CACHE.get(url)
    if cached is not None and cached[0] == tuple(stamp):
        return cached[1]
    sources = {name: (kind, spec) for name, kind, spec in
               session.execute(select(SourceRow.name, SourceRow.kind, SourceRow.spec))
               if kind in _DEFAULT_PORTS}
    located = {name: (kind, _source_location(kind, dict(spec or {}))) for name, (kind, spec) in sources.items()}
    out: dict[tuple[str, str], str] = {}
    for domain, product, source, spec in session.execute(
            select(ProductRow.domain, ProductRow.name, ProductRow.source, ProductRow.spec)):
        table = ((spec or {}).get("output") or {}).get("table")
        kind, where = located.get(source, (None, None))
        if not table or where is None:
            continue
        host, port, database = where
        scheme = "postgres" if kind == "postgres" else "mysql"
        parts = str(table).split(".")
        if kind == "postgres":
            name = f"{database}.{parts[0] if len(parts) > 1 else 'public'}.{parts[-1]}"
        else:
            name = f"{parts[0] if len(parts) > 1 else database}.{parts[-1]}"
        out[(f"{scheme}://{host}:{port}", name)] = f"{domain}.{product}"
    _PHYSICAL_CACHE[url] = (tuple(stamp), out)
    return out


def refs_in(kind_col: Any, key_col: Any, refs: list[Ref]) -> Any:
    """``(kind, key) IN refs`` as one ``kind = … AND key IN (…)`` per kind: SQLite answers a
    row-value IN by scanning the whole index, this form by one index search per key."""
    from sqlalchemy import and_, false, or_

    by_kind: dict[str, list[str]] = {}
    for kind, key in refs:
        by_kind.setdefault(kind, []).append(key)
    if not by_kind:
        return false()
    return or_(*(and_(kind_col == kind, key_col.in_(keys)) for kind, keys in by_kind.items()))
