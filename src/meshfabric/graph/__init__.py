"""The metadata graph: every entity a node with properties, every relationship a typed edge.

Nodes are ``graph_nodes`` rows, identified by ``(kind, key)``; keys are unique per kind:
products by fqn ``domain.product``, columns ``domain.product.column``, OpenLineage datasets and
jobs ``namespace/name`` (kinds ``dataset`` and ``job``), runs by run id (kind ``run``), domains,
sources, tags and teams by name. Edges are ``graph_edges`` rows ``(src, rel, dst)``, unique per
triple, with properties.

Every write takes an optional ``session``: pass the session of an open ``store.write()`` to
write many nodes and edges in one transaction; without one each call is its own transaction.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from sqlalchemy import delete, or_, select, text
from sqlalchemy.orm import Session, aliased

from meshfabric.errors import MeshfabricError, NotFound
from meshfabric.store import Store
from meshfabric.store.models import utcnow
from meshfabric.store.models_graph import GraphEdgeRow, GraphNodeRow

Direction = Literal["out", "in", "both"]
NodeRef = tuple[str, str]

#: node kinds the graph knows; other kinds are accepted (lowercase words) but these are documented
KINDS = ("domain", "product", "source", "dataset", "column", "schema_version", "contract", "job", "run",
         "team", "user", "tag")
_CHUNK = 400


@dataclass(frozen=True)
class Node:
    id: int
    kind: str
    key: str
    name: str
    properties: dict[str, Any] = field(default_factory=dict)
    created_at: datetime | None = None
    updated_at: datetime | None = None

    @property
    def ref(self) -> NodeRef:
        return (self.kind, self.key)

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "kind": self.kind, "key": self.key, "name": self.name,
                "properties": self.properties,
                "created_at": self.created_at.isoformat() if self.created_at else None,
                "updated_at": self.updated_at.isoformat() if self.updated_at else None}


@dataclass(frozen=True)
class Edge:
    src: NodeRef
    rel: str
    dst: NodeRef
    properties: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"src": {"kind": self.src[0], "key": self.src[1]}, "rel": self.rel,
                "dst": {"kind": self.dst[0], "key": self.dst[1]}, "properties": self.properties}


def _utc(ts: datetime | None) -> datetime | None:
    return ts.replace(tzinfo=UTC) if ts is not None and ts.tzinfo is None else ts


def _node(row: GraphNodeRow) -> Node:
    return Node(row.id, row.kind, row.key, row.name, dict(row.properties or {}), _utc(row.created_at),
                _utc(row.updated_at))


def _check_ref(kind: str, key: str) -> None:
    if not kind or not isinstance(kind, str) or not kind.replace("_", "").isalnum() or kind != kind.lower():
        raise MeshfabricError(f"invalid node kind {kind!r}: use a lowercase word such as {', '.join(KINDS[:5])}")
    if not key or not isinstance(key, str):
        raise MeshfabricError(f"a {kind} node needs a non-empty key")
    if len(key) > 512:
        raise MeshfabricError(f"{kind} key is {len(key)} characters long; the limit is 512")


def _merge(old: dict[str, Any], new: dict[str, Any] | None) -> dict[str, Any]:
    """Keys given overwrite; a key given as None is removed."""
    if not new:
        return dict(old)
    out = dict(old)
    for k, v in new.items():
        if v is None:
            out.pop(k, None)
        else:
            out[k] = v
    return out


def _chunks(items: Sequence[Any], size: int = _CHUNK) -> Iterator[Sequence[Any]]:
    for i in range(0, len(items), size):
        yield items[i:i + size]


class MetadataGraph:
    def __init__(self, store: Store) -> None:
        self.store = store

    @contextmanager
    def _session(self, session: Session | None) -> Iterator[Session]:
        if session is not None:
            yield session
            return
        with self.store.write() as s:
            yield s

    @contextmanager
    def _reading(self, session: Session | None) -> Iterator[Session]:
        if session is not None:
            yield session
            return
        with self.store.read() as s:
            yield s

    # ---- writes ------------------------------------------------------------------------------

    def upsert_node(self, kind: str, key: str, *, name: str | None = None,
                    properties: dict[str, Any] | None = None, session: Session | None = None) -> int:
        """Create or update one node; returns its id. Properties merge into the stored ones (a key
        given as ``None`` is removed); ``name`` defaults to the key."""
        _check_ref(kind, key)
        with self._session(session) as s:
            row = s.scalars(select(GraphNodeRow).where(GraphNodeRow.kind == kind, GraphNodeRow.key == key)).first()
            if row is None:
                row = GraphNodeRow(kind=kind, key=key, name=name if name is not None else key,
                                   properties=_merge({}, properties))
                s.add(row)
                s.flush()
                return row.id
            merged = _merge(row.properties or {}, properties)
            if (name is not None and name != row.name) or merged != (row.properties or {}):
                if name is not None:
                    row.name = name
                row.properties = merged
                row.updated_at = utcnow()
                s.flush()
            return row.id

    def upsert_edge(self, src: NodeRef, rel: str, dst: NodeRef, *, properties: dict[str, Any] | None = None,
                    session: Session | None = None) -> None:
        """Create or update the edge ``src -rel-> dst`` (creating missing endpoint nodes); its
        properties merge into the stored ones."""
        _check_rel(rel)
        with self._session(session) as s:
            ids = self.ensure_nodes([src, dst], session=s)
            row = s.scalars(select(GraphEdgeRow).where(
                GraphEdgeRow.src_id == ids[tuple(src)], GraphEdgeRow.rel == rel,
                GraphEdgeRow.dst_id == ids[tuple(dst)])).first()
            if row is None:
                s.add(GraphEdgeRow(src_id=ids[tuple(src)], rel=rel, dst_id=ids[tuple(dst)],
                                   properties=_merge({}, properties)))
            else:
                merged = _merge(row.properties or {}, properties)
                if merged != (row.properties or {}):
                    row.properties, row.updated_at = merged, utcnow()
            s.flush()

    def ensure_nodes(self, refs: Iterable[NodeRef], *, session: Session | None = None) -> dict[NodeRef, int]:
        """Ids of many nodes, creating the missing ones (name = key, no properties) in bulk."""
        wanted = list(dict.fromkeys((str(k), str(v)) for k, v in refs))
        for kind, key in wanted:
            _check_ref(kind, key)
        with self._session(session) as s:
            s.flush()
            out = self._ids(s, wanted)
            missing = [r for r in wanted if r not in out]
            if missing:
                stamp = _stamp(s)
                _bulk_insert(s, "graph_nodes", ("kind", "key", "name", "properties", "created_at", "updated_at"),
                             [(k, v, v, "{}", stamp, stamp) for k, v in missing], "ON CONFLICT (kind, key) DO NOTHING")
                out.update(self._ids(s, missing))
        return out

    @staticmethod
    def _ids(s: Session, refs: Sequence[NodeRef]) -> dict[NodeRef, int]:
        """Ids of the given nodes that exist: one indexed lookup per kind (and per chunk on SQLite)."""
        by_kind: dict[str, list[str]] = {}
        for kind, key in refs:
            by_kind.setdefault(kind, []).append(key)
        out: dict[NodeRef, int] = {}
        pg = s.get_bind().dialect.name != "sqlite"
        for kind, keys in by_kind.items():
            if pg:
                rows = s.execute(text("SELECT key, id FROM graph_nodes WHERE kind = :kind AND key = ANY(:keys)"),
                                 {"kind": kind, "keys": keys})
                out.update({(kind, k): i for k, i in rows})
                continue
            for part in _chunks(keys, 900):
                rows = s.execute(select(GraphNodeRow.key, GraphNodeRow.id)
                                 .where(GraphNodeRow.kind == kind, GraphNodeRow.key.in_(list(part))))
                out.update({(kind, k): i for k, i in rows})
        return out

    def add_edges(self, edges: Iterable[tuple[NodeRef, str, NodeRef, dict[str, Any] | None]], *,
                  session: Session | None = None) -> int:
        """Bulk upsert of edges ``(src, rel, dst, properties)``: endpoints created as needed, an
        existing edge's properties replaced by the given ones (and left untouched, timestamp
        included, when they are the same). Returns how many distinct edges were given."""
        items = list(edges)
        for _, rel, _, _ in items:
            _check_rel(rel)
        with self._session(session) as s:
            ids = self.ensure_nodes([r for e in items for r in (e[0], e[2])], session=s)
            rows: dict[tuple[int, str, int], dict[str, Any]] = {}
            for src, rel, dst, props in items:
                rows[(ids[tuple(src)], rel, ids[tuple(dst)])] = dict(props or {})  # type: ignore[index]
            stamp = _stamp(s)
            _bulk_insert(s, "graph_edges", ("src_id", "rel", "dst_id", "properties", "created_at", "updated_at"),
                         [(a, r, b, json.dumps(p, sort_keys=True, default=str), stamp, stamp)
                          for (a, r, b), p in rows.items()],
                         "ON CONFLICT (src_id, rel, dst_id) DO UPDATE SET properties = excluded.properties, "
                         "updated_at = excluded.updated_at "
                         "WHERE CAST(graph_edges.properties AS TEXT) <> CAST(excluded.properties AS TEXT)")
        return len(rows)

    def remove_edges(self, src: NodeRef | None = None, rel: str | Sequence[str] | None = None,
                     dst: NodeRef | None = None, *, session: Session | None = None) -> int:
        """Delete the edges matching every given part; returns how many were deleted."""
        if src is None and dst is None:
            raise MeshfabricError("remove_edges needs src or dst")
        with self._session(session) as s:
            conds = []
            for ref, col in ((src, GraphEdgeRow.src_id), (dst, GraphEdgeRow.dst_id)):
                if ref is not None:
                    node_id = self._ids(s, [tuple(ref)]).get(tuple(ref))  # type: ignore[arg-type]
                    if node_id is None:
                        return 0
                    conds.append(col == node_id)
            if rel is not None:
                conds.append(GraphEdgeRow.rel.in_([rel] if isinstance(rel, str) else list(rel)))
            return int(s.execute(delete(GraphEdgeRow).where(*conds)).rowcount or 0)

    def remove_node(self, kind: str, key: str, *, session: Session | None = None) -> bool:
        """Delete a node and every edge touching it."""
        with self._session(session) as s:
            node_id = self._ids(s, [(kind, key)]).get((kind, key))
            if node_id is None:
                return False
            s.execute(delete(GraphEdgeRow).where(or_(GraphEdgeRow.src_id == node_id, GraphEdgeRow.dst_id == node_id)))
            s.execute(delete(GraphNodeRow).where(GraphNodeRow.id == node_id))
            return True

    # ---- reads -------------------------------------------------------------------------------

    def get(self, kind: str, key: str) -> Node | None:
        with self.store.read() as s:
            row = s.scalars(select(GraphNodeRow).where(GraphNodeRow.kind == kind, GraphNodeRow.key == key)).first()
            return _node(row) if row is not None else None

    def require(self, kind: str, key: str) -> Node:
        node = self.get(kind, key)
        if node is None:
            raise NotFound(f"no {kind} node '{key}' in the metadata graph",
                           hint="list nodes with `MetadataGraph.find(kind=...)`; products appear after "
                                "`meshfabric apply`")
        return node

    def find(self, kind: str | None = None, *, limit: int = 1000, offset: int = 0, **criteria: Any) -> list[Node]:
        """Nodes whose name / key / properties equal every criterion (AND), e.g.
        ``find("column", classification="pii")``; a list-valued property matches when it
        contains the value. Ordered by kind and key."""
        stmt = select(GraphNodeRow)
        if kind is not None:
            stmt = stmt.where(GraphNodeRow.kind == kind)
        post: list[tuple[str, Any]] = []
        for name, value in criteria.items():
            if name in ("name", "key"):
                stmt = stmt.where(getattr(GraphNodeRow, name) == str(value))
                continue
            prop = GraphNodeRow.properties[name]
            # SQL narrows (JSON types differ per dialect: SQLite's true is 1); Python decides exactly
            # (never a CAST to a number or boolean: PostgreSQL would fail on a node whose value is text)
            if isinstance(value, bool):
                stmt = stmt.where(_json_text(prop).in_(["true", "1"] if value else ["false", "0"]))
            elif isinstance(value, int | float):
                if float(value).is_integer() and abs(value) < 1e15:
                    stmt = stmt.where(_json_text(prop).like(f"%{int(value)}%"))
            elif isinstance(value, str):
                # equal, or a list that may contain it
                stmt = stmt.where(or_(prop.as_string() == value, _json_text(prop).like(f"%{_like(value)}%",
                                                                                           escape="\\")))
            else:
                raise MeshfabricError(f"find: criterion {name}={value!r} must be a string, number or boolean")
            post.append((name, value))
        stmt = stmt.order_by(GraphNodeRow.kind, GraphNodeRow.key)
        out: list[Node] = []
        skipped = 0
        with self.store.read() as s:
            # exact checks of string criteria happen here, so page in Python over the SQL prefilter
            for row in s.scalars(stmt).yield_per(500) if post else s.scalars(stmt.limit(limit).offset(offset)):
                if post and not all(_matches(row.properties.get(k), v) for k, v in post):
                    continue
                if post and skipped < offset:
                    skipped += 1
                    continue
                out.append(_node(row))
                if len(out) >= limit:
                    break
        return out

    def neighbours(self, kind: str, key: str, rel: str | None = None, direction: Direction = "out",
                   limit: int = 100, offset: int = 0) -> list[Edge]:
        """Edges of one node: outgoing (``out``), incoming (``in``) or both, optionally of one
        relationship, ordered by relationship and the other end; paginated."""
        if direction not in ("out", "in", "both"):
            raise MeshfabricError(f"direction must be out, in or both, not {direction!r}")
        node = self.require(kind, key)
        a, b = aliased(GraphNodeRow), aliased(GraphNodeRow)
        stmt = (select(a.kind, a.key, GraphEdgeRow.rel, b.kind, b.key, GraphEdgeRow.properties)
                .join(a, a.id == GraphEdgeRow.src_id).join(b, b.id == GraphEdgeRow.dst_id))
        sides = {"out": GraphEdgeRow.src_id == node.id, "in": GraphEdgeRow.dst_id == node.id}
        stmt = stmt.where(sides[direction] if direction != "both" else or_(*sides.values()))
        if rel is not None:
            stmt = stmt.where(GraphEdgeRow.rel == rel)
        stmt = stmt.order_by(GraphEdgeRow.rel, b.kind, b.key, a.kind, a.key).limit(limit).offset(offset)
        with self.store.read() as s:
            return [Edge((sk, skey), r, (dk, dkey), dict(p or {})) for sk, skey, r, dk, dkey, p in s.execute(stmt)]

    def count(self) -> dict[str, int]:
        """Node counts per kind plus ``edges``: the size of the graph."""
        from sqlalchemy import func

        with self.store.read() as s:
            out = {k: int(n) for k, n in s.execute(select(GraphNodeRow.kind, func.count()).group_by(GraphNodeRow.kind))}
            out["edges"] = int(s.scalar(select(func.count()).select_from(GraphEdgeRow)) or 0)
        return out

    def edges_between(self, node_ids: Sequence[int], rels: Sequence[str] | None = None, *,
                      refs: dict[int, NodeRef] | None = None, session: Session | None = None) -> list[Edge]:
        """Every edge whose two ends are both among ``node_ids`` (``refs`` may already name some
        of them), sorted."""
        ids = list(dict.fromkeys(int(i) for i in node_ids))
        if not ids:
            return []
        wanted = set(ids)
        names = dict(refs or {})
        found: list[tuple[int, str, int, Any]] = []
        with self._reading(session) as s:
            rel_sql = ""
            if rels is not None:
                rel_sql = " AND rel IN (" + ", ".join(f"'{r}'" for r in rels if _REL.fullmatch(r)) + ")"
            pg = s.get_bind().dialect.name != "sqlite"
            conn = s.connection()
            for part in _chunks(ids, 10_000 if pg else 900):
                # ids are ints formatted here (no user text): one indexed scan per chunk, run by the
                # driver without SQLAlchemy's per-row processing
                listed = ", ".join(str(i) for i in part)
                where = f"src_id = ANY('{{{listed}}}'::bigint[])" if pg else f"src_id IN ({listed})"
                result = conn.exec_driver_sql(f"SELECT src_id, rel, dst_id, properties FROM graph_edges "
                                              f"WHERE {where}{rel_sql}")
                found.extend((a, r, b, p) for a, r, b, p in result.all() if b in wanted)
            unknown = [i for i in {x for a, _, b, _ in found for x in (a, b)} if i not in names]
            for part in _chunks(unknown, 900):
                q2 = select(GraphNodeRow.id, GraphNodeRow.kind, GraphNodeRow.key).where(GraphNodeRow.id.in_(list(part)))
                names.update({i: (k, key) for i, k, key in s.execute(q2)})
        out = [Edge(names[a], r, names[b], _props(p)) for a, r, b, p in found]
        out.sort(key=lambda e: (e.src, e.rel, e.dst))
        return out


def _stamp(s: Session) -> Any:
    """Now, as the driver stores it: SQLAlchemy keeps SQLite datetimes as naive UTC text."""
    now = utcnow()
    if s.get_bind().dialect.name == "sqlite":
        return now.astimezone(UTC).replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S.%f")
    return now


def _bulk_insert(s: Session, table: str, columns: tuple[str, ...], rows: list[tuple[Any, ...]], tail: str) -> None:
    """Bulk INSERTs through the driver — SQLAlchemy's per-row parameter processing costs more than
    the database does at this volume: multi-row VALUES on SQLite, one ``unnest`` of arrays per
    10,000 rows on PostgreSQL. The first and third columns are text (nodes) or ids (edges), the
    second text, ``properties`` (4th) JSON text, then the two timestamps."""
    if not rows:
        return
    conn = s.connection()
    cols = ", ".join(columns)
    if s.get_bind().dialect.name == "sqlite":
        one = "(?, ?, ?, ?, ?, ?)"
        for part in _chunks(rows, 500):
            sql = f"INSERT INTO {table} ({cols}) VALUES " + ", ".join([one] * len(part)) + " " + tail
            conn.exec_driver_sql(sql, tuple(v for row in part for v in row))
        return
    first = "text[]" if table == "graph_nodes" else "bigint[]"
    sql = (f"INSERT INTO {table} ({cols}) SELECT a, b, c, CAST(d AS json), %s, %s "
           f"FROM unnest(%s::{first}, %s::text[], %s::{first}, %s::text[]) AS t(a, b, c, d) {tail}")
    for part in _chunks(rows, 10_000):
        a, b, c, d, created, updated = zip(*part, strict=True)
        conn.exec_driver_sql(sql, (created[0], updated[0], list(a), list(b), list(c), list(d)))


_REL = re.compile(r"\w{1,64}")


def _props(value: Any) -> dict[str, Any]:
    if not value or value == "{}":
        return {}
    if isinstance(value, str):
        return dict(json.loads(value))
    return dict(value or {})


def _check_rel(rel: str) -> None:
    if not rel or not isinstance(rel, str) or len(rel) > 64 or not rel.replace("_", "").isalnum():
        raise MeshfabricError(f"invalid relationship {rel!r}: use a word such as derived_from, owned_by, has_column")


def _like(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _json_text(prop: Any) -> Any:
    from sqlalchemy import String, cast

    return cast(prop, String)


def _matches(stored: Any, value: Any) -> bool:
    """JSON equality: a boolean is not a number; a list matches when it holds the value."""
    if isinstance(stored, list):
        return any(_matches(x, value) for x in stored)
    if isinstance(stored, bool) or isinstance(value, bool):
        return isinstance(stored, bool) and isinstance(value, bool) and stored == value
    if isinstance(stored, int | float) and isinstance(value, int | float):
        return float(stored) == float(value)
    return type(stored) is type(value) and bool(stored == value)


__all__ = ["KINDS", "Edge", "MetadataGraph", "Node"]
