"""Store tables of the metadata graph and the lineage graph (see store/models.py for the shared Base).

Every entity is one ``graph_nodes`` row — a kind (product, column, domain, team, source, tag,
dataset, job, run, schema_version, contract…) and a key unique within the kind — and every
relationship one ``graph_edges`` row ``(src, rel, dst)``. Lineage is the ``derived_from`` edge,
pointing from the derived node to what it was derived from (target → source), at dataset and at
column level.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from meshfabric.store.models import Base, BigId, utcnow


class GraphNodeRow(Base):
    __tablename__ = "graph_nodes"
    __table_args__ = (
        UniqueConstraint("kind", "key", name="uq_graph_nodes_kind_key"),
        Index("ix_graph_nodes_name", "name"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(32))
    #: unique per kind: products by fqn, columns ``domain.product.column``, datasets and jobs
    #: ``namespace/name``, runs by run id
    key: Mapped[str] = mapped_column(String(512))
    name: Mapped[str] = mapped_column(String(512), default="")
    properties: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class GraphEdgeRow(Base):
    __tablename__ = "graph_edges"
    __table_args__ = (
        # also the (src_id, rel) index: outgoing edges of a node by relationship
        UniqueConstraint("src_id", "rel", "dst_id", name="uq_graph_edges_src_rel_dst"),
        # incoming edges by relationship; src_id makes it covering for upstream/downstream walks
        Index("ix_graph_edges_dst_rel", "dst_id", "rel", "src_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    src_id: Mapped[int] = mapped_column(BigInteger)
    rel: Mapped[str] = mapped_column(String(64))
    dst_id: Mapped[int] = mapped_column(BigInteger)
    #: e.g. for column lineage {"type": "DIRECT", "subtype": "TRANSFORMATION"}; the job that made it
    properties: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
