"""OpenLineage ingestion: validate RunEvents, DatasetEvents and JobEvents against the spec, keep
them raw, and fold them into the lineage graph.

This module gathers the public names of four, one step each:

* :mod:`.ol_validate` — every way an event breaks the spec (offline, against the bundled
  schemas), each with its JSON path: :func:`validate_event`, :class:`InvalidOpenLineageEvent`,
  and the format deviations it tolerates as warnings: :func:`check_event`;
* :mod:`.ol_names` — which graph node an OpenLineage dataset, column or run is
  (:func:`dataset_ref`, :func:`products_by_table`);
* :mod:`.ol_fold` — :func:`ingest_openlineage` stores an event raw and folds it into the
  metadata graph in one store transaction;
* :mod:`.ol_read` — the lineage around a dataset or job and column lineage as Marquez's API
  shapes them, and the raw events as stored.

Every function that touches the store takes the :class:`~meshfabric.store.Store` (``mesh.store``).
"""

from __future__ import annotations

from meshfabric.lineage.ol_fold import (
    KEY_LIMIT,
    TERMINAL_STATES,
    URL_LIMIT,
    DatasetRef,
    IngestResult,
    ParsedEvent,
    fingerprint,
    fold_event,
    ingest_openlineage,
    parse_event,
)
from meshfabric.lineage.ol_names import (
    MESH_NAMESPACE,
    Ref,
    canonical_run_id,
    column_key,
    dataset_ref,
    physical_names,
    products_by_table,
    resolving_tables,
)
from meshfabric.lineage.ol_read import (
    DEFAULT_DEPTH,
    MAX_GRAPH_DEPTH,
    list_events,
    marquez_column_lineage,
    marquez_lineage,
    resolve_field_id,
    resolve_node_id,
)
from meshfabric.lineage.ol_validate import (
    CORE_ID,
    MAX_NESTING,
    STRICT_FORMATS,
    EventProblem,
    InvalidOpenLineageEvent,
    check_event,
    event_kind,
    validate_event,
)

__all__ = [
    "CORE_ID",
    "DEFAULT_DEPTH",
    "KEY_LIMIT",
    "MAX_GRAPH_DEPTH",
    "MAX_NESTING",
    "MESH_NAMESPACE",
    "STRICT_FORMATS",
    "TERMINAL_STATES",
    "URL_LIMIT",
    "DatasetRef",
    "EventProblem",
    "IngestResult",
    "InvalidOpenLineageEvent",
    "ParsedEvent",
    "Ref",
    "canonical_run_id",
    "check_event",
    "column_key",
    "dataset_ref",
    "event_kind",
    "fingerprint",
    "fold_event",
    "ingest_openlineage",
    "list_events",
    "marquez_column_lineage",
    "marquez_lineage",
    "parse_event",
    "physical_names",
    "products_by_table",
    "resolve_field_id",
    "resolve_node_id",
    "resolving_tables",
    "validate_event",
]
