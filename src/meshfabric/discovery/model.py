"""What discovery reads and what it finds: the shapes shared by sampling, classification,
clustering and the report (``meshfabric discover --json`` prints :meth:`DiscoveryReport.to_dict`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

#: the fixed PII vocabulary: a column of one of these types carries ``pii`` in its classifications
PII_TYPES: tuple[str, ...] = (
    "email", "phone", "person_name", "address", "postal_code", "ip_address", "credit_card", "iban",
    "national_id", "date_of_birth",
)


@dataclass(frozen=True)
class ColumnSample:
    """One column's sampled values, in process only (never stored, never printed)."""

    name: str
    #: meshfabric logical type (string, integer, long, decimal, double, boolean, date, timestamp, ...)
    logical_type: str
    #: the sampled values in row order, ``None`` for SQL NULL
    values: list[Any]


@dataclass(frozen=True)
class DatasetSample:
    """One dataset (a table, a view, a file or a group of files sharing a schema) and its sample."""

    name: str
    columns: list[ColumnSample]
    #: rows in the sample (every column holds this many values)
    rows: int
    #: rows in the dataset when the source says cheaply (catalog statistics), else None
    total_rows: int | None = None


@dataclass
class ColumnFinding:
    """What classification concluded about one column. ``evidence`` holds aggregates only
    (fractions, counts, validator names, name hints) — never a sampled value."""

    name: str
    logical_type: str
    semantic_type: str | None
    classifications: list[str]
    confidence: float
    evidence: dict[str, Any] = field(default_factory=dict)

    @property
    def pii(self) -> bool:
        return "pii" in self.classifications

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "semantic_type": self.semantic_type, "classifications": list(self.classifications),
                "confidence": round(self.confidence, 3), "evidence": self.evidence}


@dataclass(frozen=True)
class DomainProfile:
    """An existing domain of the workspace as clustering sees it: the words and semantic types of
    its registered products (names, descriptions, tags, column names)."""

    name: str
    #: free text: product names, descriptions, tags, column names, owners' team names
    texts: list[str]
    #: semantic types / classifications of its products' columns
    semantic_types: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class ClusterAssignment:
    """Where clustering put one dataset."""

    dataset: str
    #: a stable label for the cluster within this run ("c1", "c2", ...)
    cluster: str
    #: the cluster's most characteristic terms, best first
    terms: list[str]
    #: the nearest existing domain when one is near enough, else a name made of the top terms
    suggested_domain: str
    #: cosine similarity to that domain (0 when it was made from the terms)
    domain_similarity: float = 0.0
