"""Schema registry with compatibility modes, and data contracts between domains (ODCS v3.1).

Public API: :func:`check_compatibility` (tabular columns or JSON Schema, Confluent's modes),
:class:`SchemaRegistry` (persisted versions), and the contract functions in ``odcs``,
``generate``, ``compliance`` and ``changelog``.
"""

from meshfabric.contracts.compat import MODES, CompatibilityResult, SchemaChange, check_compatibility, schema_kind
from meshfabric.contracts.registry import SchemaRegistry, SchemaVersion

__all__ = [
    "MODES",
    "CompatibilityResult",
    "SchemaChange",
    "SchemaRegistry",
    "SchemaVersion",
    "check_compatibility",
    "schema_kind",
]
