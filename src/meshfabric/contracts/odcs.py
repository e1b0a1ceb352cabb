"""Open Data Contract Standard (ODCS) v3.1 documents: load, dump, validate, and typed access.

A :class:`Contract` wraps the parsed ODCS document unchanged and reads what meshfabric needs from
it through typed accessors. Modelling the whole standard field by field would make every
unmodelled or future field (servers, roles, pricing, relationships, vendor extensions…) a place
where an import silently drops data; wrapping the document makes import → export lossless by
construction, and :func:`validate_odcs` (:mod:`.odcs_validate`) holds the document to the official
JSON Schema instead.

YAML is read with the JSON data model ODCS is defined in: a date-looking scalar such as
``2022-10-03`` stays the string it is in JSON, where PyYAML's YAML 1.1 rules would turn it into a
``datetime.date`` that no JSON Schema ``string`` accepts. On export such strings are quoted, so
every YAML reader gets a string back.

What ODCS has no field for is kept in the top-level ``customProperties`` under names prefixed
``meshfabric.``: the product the contract binds (``meshfabric.product``), the consumer domain
(``meshfabric.consumerDomain``) and the validity period (``meshfabric.validFrom``,
``meshfabric.validUntil``, ISO 8601 instants). The producer domain is ODCS's own ``domain``.
"""

from __future__ import annotations

import copy
import math
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from meshfabric import safe_yaml

# SCHEMA_PATH and validate_odcs are re-exported: the JSON Schema check lives in odcs_validate
from meshfabric.contracts.odcs_validate import SCHEMA_PATH as SCHEMA_PATH
from meshfabric.contracts.odcs_validate import json_path_steps, schema_violations
from meshfabric.contracts.odcs_validate import validate_odcs as validate_odcs
from meshfabric.errors import MeshfabricError, SpecError, SpecProblem

#: The ODCS version meshfabric writes.
API_VERSION = "v3.1.0"

PRODUCT_PROPERTY = "meshfabric.product"
CONSUMER_PROPERTY = "meshfabric.consumerDomain"
VALID_FROM_PROPERTY = "meshfabric.validFrom"
VALID_UNTIL_PROPERTY = "meshfabric.validUntil"
MESHFABRIC_PREFIX = "meshfabric."

#: ODCS SLA property names (the "Data QoS periodic table", case-insensitive, with their two-letter
#: synonyms) plus the three meshfabric adds: completeness, accuracy and freshness.
SLA_SYNONYMS = {
    "av": "availability",
    "th": "throughput",
    "er": "errorRate",
    "ga": "generalAvailability",
    "es": "endOfSupport",
    "el": "endOfLife",
    "re": "retention",
    "fy": "frequency",
    "ly": "latency",
    "td": "timeToDetect",
    "tn": "timeToNotify",
    "tr": "timeToRepair",
}
_SLA_CANONICAL = {
    name.lower(): name
    for name in (*SLA_SYNONYMS.values(), "completeness", "accuracy", "freshness", "timeOfAvailability")
}
#: SLA properties where a measured value must be at least the agreed one.
SLA_AT_LEAST = frozenset({"availability", "completeness", "accuracy", "throughput", "retention"})
#: SLA properties where a measured value must be at most the agreed one.
SLA_AT_MOST = frozenset(
    {"latency", "freshness", "frequency", "errorRate", "timeToDetect", "timeToNotify", "timeToRepair"}
)
#: SLA properties whose value is a share: measured as a ratio 0..1 (``unit: percent`` is divided by 100).
SLA_RATIOS = frozenset({"availability", "completeness", "accuracy", "errorRate"})
#: SLA properties whose value is a duration: measured in milliseconds.
SLA_DURATIONS = frozenset(
    {"latency", "freshness", "frequency", "retention", "timeToDetect", "timeToNotify", "timeToRepair"}
)

_MS = {
    "ms": 1.0, "millisecond": 1.0, "milliseconds": 1.0,
    "s": 1e3, "sec": 1e3, "second": 1e3, "seconds": 1e3,
    "m": 6e4, "min": 6e4, "minute": 6e4, "minutes": 6e4,
    "h": 3.6e6, "hr": 3.6e6, "hour": 3.6e6, "hours": 3.6e6,
    "d": 8.64e7, "day": 8.64e7, "days": 8.64e7,
    "w": 6.048e8, "week": 6.048e8, "weeks": 6.048e8,
    "mo": 2.592e9, "month": 2.592e9, "months": 2.592e9,
    "y": 3.1536e10, "yr": 3.1536e10, "year": 3.1536e10, "years": 3.1536e10,
}  # fmt: skip
_ISO_DURATION = re.compile(
    r"^P(?:(?P<y>\d+(?:\.\d+)?)Y)?(?:(?P<mo>\d+(?:\.\d+)?)M)?(?:(?P<w>\d+(?:\.\d+)?)W)?(?:(?P<d>\d+(?:\.\d+)?)D)?"
    r"(?:T(?:(?P<h>\d+(?:\.\d+)?)H)?(?:(?P<m>\d+(?:\.\d+)?)M)?(?:(?P<s>\d+(?:\.\d+)?)S)?)?$"
)

QUALITY_OPERATORS = (
    "mustBe",
    "mustNotBe",
    "mustBeGreaterThan",
    "mustBeGreaterOrEqualTo",
    "mustBeLessThan",
    "mustBeLessOrEqualTo",
    "mustBeBetween",
    "mustNotBeBetween",
)


# --------------------------------------------------------------------------------------------
# typed views


@dataclass(frozen=True)
class SchemaProperty:
    """One property (column, field) of a schema object; nested ones in ``properties``/``items``.

    ``path`` is dotted from the schema object (``orders.customer.zip``; an array's element is
    ``name[]``) so that messages and changelogs can name it without JSON indices.
    """

    name: str
    path: str
    logical_type: str | None
    physical_type: str | None
    required: bool
    primary_key: bool
    primary_key_position: int | None
    unique: bool
    classification: str | None
    description: str | None
    logical_type_options: Mapping[str, Any]
    properties: tuple[SchemaProperty, ...] = ()
    items: SchemaProperty | None = None
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)


@dataclass(frozen=True)
class SchemaObject:
    """One element of the contract's ``schema`` list (a table, view, topic, file…)."""

    name: str
    physical_name: str | None
    physical_type: str | None
    description: str | None
    properties: tuple[SchemaProperty, ...]
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    def property(self, name: str) -> SchemaProperty | None:
        """The top-level property called ``name`` (case-insensitive, as meshfabric column names are)."""
        wanted = name.lower()
        return next((p for p in self.properties if p.name.lower() == wanted), None)


@dataclass(frozen=True)
class SlaProperty:
    """One ``slaProperties`` entry, with its ODCS name resolved (``ly`` → ``latency``).

    ``name`` is the canonical camelCase name for the periodic-table properties and for
    meshfabric's own, and the name as written otherwise.
    """

    property: str
    name: str
    value: Any
    unit: str | None
    element: str | None
    id: str | None
    driver: str | None
    description: str | None
    index: int
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def direction(self) -> str | None:
        """``"min"`` when a measurement must reach the value, ``"max"`` when it must stay under it."""
        if self.name in SLA_AT_LEAST:
            return "min"
        if self.name in SLA_AT_MOST:
            return "max"
        return None

    def normalized(self) -> tuple[float | None, str | None]:
        """The agreed value in meshfabric's measuring unit, or ``(None, why not)``.

        Shares (availability, completeness, accuracy, errorRate) are ratios 0..1; ``unit:
        percent`` (or ``%``) is divided by 100. Durations (latency, freshness, frequency,
        retention, timeTo…) are milliseconds, converted from the ODCS unit (ms, s, m/min, h, d,
        w, mo/month = 30 d, y = 365 d) or from an ISO 8601 duration string (``PT1H``). ``m`` is
        minutes, as in SodaCL; months are ``mo``. Throughput is taken as written.
        """
        value = self.value
        if isinstance(value, bool) or value is None:
            return None, f"value {value!r} is not a number"
        unit = (self.unit or "").strip().lower()
        if self.name in SLA_DURATIONS:
            if isinstance(value, str):
                ms = iso_duration_ms(value)
                return (ms, None) if ms is not None else (None, f"value {value!r} is not a duration")
            if not isinstance(value, int | float):
                return None, f"value {value!r} is not a number"
            if not unit:
                return None, "a duration needs a unit (ms, s, min, h, d, y)"
            if unit not in _MS:
                return None, f"unknown duration unit {self.unit!r}"
            return float(value) * _MS[unit], None
        if not isinstance(value, int | float):
            return None, f"value {value!r} is not a number"
        if self.name in SLA_RATIOS and unit in ("percent", "%", "pct"):
            return float(value) / 100.0, None
        return float(value), None


@dataclass(frozen=True)
class QualityRule:
    """One ODCS ``quality`` entry, located in the document.

    ``element`` is the schema object, or ``object.property`` (dotted for nested properties).
    ``key`` names the measurement the rule compares, so that measured metrics can be supplied
    by name: the rule's ``id`` when it has one, else ``<element>.<metric>`` for library metrics
    (two rules on the same metric share one measurement), else ``<element>.<name>``, else
    ``<element>.quality[<i>]``.
    """

    key: str
    element: str
    path: str
    type: str
    metric: str | None
    operators: Mapping[str, Any]
    id: str | None
    name: str | None
    dimension: str | None
    severity: str | None
    unit: str | None
    description: str | None
    index: int
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def lookup_keys(self) -> tuple[str, ...]:
        """Metric names tried in order: the id, then the positional/metric key."""
        keys = [self.key]
        if self.id is not None and self.metric:
            keys.append(f"{self.element}.{self.metric}")
        return tuple(dict.fromkeys(keys))


def canonical_sla_name(name: str) -> str:
    """``LY`` → ``latency``, ``Availability`` → ``availability``; unknown names are kept as written."""
    low = name.strip().lower()
    return SLA_SYNONYMS.get(low) or _SLA_CANONICAL.get(low) or name


def iso_duration_ms(text: str) -> float | None:
    """Milliseconds of an ISO 8601 duration (``P1D``, ``PT15M``, ``P1Y2M``; Y = 365 d, M = 30 d)."""
    m = _ISO_DURATION.match(text.strip().upper())
    if not m or text.strip().upper() in ("P", "PT") or text.strip().upper().endswith("T"):
        return None
    parts = {k: float(v) for k, v in m.groupdict().items() if v is not None}
    if not parts:
        return None
    scale = {"y": _MS["y"], "mo": _MS["mo"], "w": _MS["w"], "d": _MS["d"], "h": _MS["h"], "m": _MS["m"], "s": 1e3}
    return sum(v * scale[k] for k, v in parts.items())


# --------------------------------------------------------------------------------------------
# the contract


@dataclass
class Contract:
    """An ODCS document and typed read access to it.

    ``doc`` is the document exactly as imported or generated; :func:`dump_contract` writes it
    back unchanged. The accessors never raise on a document that validates; on one that does
    not, they return ``None``/empty for what is missing.
    """

    doc: dict[str, Any]

    def __post_init__(self) -> None:
        if not isinstance(self.doc, dict):
            raise MeshfabricError(f"an ODCS contract is a mapping, not {type(self.doc).__name__}")

    # -- fundamentals
    @property
    def id(self) -> str:
        return str(self.doc.get("id", ""))

    @property
    def version(self) -> str:
        return str(self.doc.get("version", ""))

    @property
    def status(self) -> str:
        return str(self.doc.get("status", ""))

    @property
    def name(self) -> str | None:
        return _str_or_none(self.doc.get("name"))

    @property
    def api_version(self) -> str | None:
        return _str_or_none(self.doc.get("apiVersion"))

    @property
    def domain(self) -> str | None:
        """The producer's domain (ODCS ``domain``)."""
        return _str_or_none(self.doc.get("domain"))

    # -- meshfabric custom properties
    @property
    def custom_properties(self) -> dict[str, Any]:
        """Top-level ``customProperties`` as a mapping (the last one wins if a name repeats)."""
        out: dict[str, Any] = {}
        for item in _list(self.doc.get("customProperties")):
            if isinstance(item, dict) and isinstance(item.get("property"), str):
                out[item["property"]] = item.get("value")
        return out

    @property
    def product_fqn(self) -> str | None:
        """The meshfabric product (``domain.name``) this contract binds."""
        return _str_or_none(self.custom_properties.get(PRODUCT_PROPERTY))

    @property
    def consumer_domain(self) -> str | None:
        return _str_or_none(self.custom_properties.get(CONSUMER_PROPERTY))

    @property
    def valid_from(self) -> datetime | None:
        return _instant(self.custom_properties.get(VALID_FROM_PROPERTY))

    @property
    def valid_until(self) -> datetime | None:
        return _instant(self.custom_properties.get(VALID_UNTIL_PROPERTY))

    def in_force(self, at: datetime) -> bool:
        """Whether the contract applies at ``at``: inside its validity period and not retired.

        The period is half-open, ``valid_from <= at < valid_until``, so consecutive periods
        never overlap; an open end is unbounded.
        """
        at = _aware(at)
        if self.status.lower() == "retired":
            return False
        start, end = self.valid_from, self.valid_until
        return (start is None or start <= at) and (end is None or at < end)

    # -- schema, SLA, quality
    @property
    def schema_objects(self) -> list[SchemaObject]:
        return [_schema_object(o) for o in _list(self.doc.get("schema")) if isinstance(o, dict)]

    def schema_object(self, name: str) -> SchemaObject | None:
        """The schema object named ``name`` (or with that ``physicalName``), case-insensitive."""
        wanted = name.lower()
        for obj in self.schema_objects:
            if obj.name.lower() == wanted or (obj.physical_name or "").lower() == wanted:
                return obj
        return None

    def bound_properties(self) -> tuple[SchemaProperty, ...]:
        """The properties the consumer relies on for the bound product.

        The schema object named after the product (the part after the domain), else the only
        object, else the properties of every object: a contract listing several objects relies
        on all of them.
        """
        objects = self.schema_objects
        if self.product_fqn:
            obj = self.schema_object(self.product_fqn.partition(".")[2] or self.product_fqn)
            if obj is not None:
                return obj.properties
        if len(objects) == 1:
            return objects[0].properties
        return tuple(p for o in objects for p in o.properties)

    @property
    def sla_properties(self) -> list[SlaProperty]:
        out = []
        for i, item in enumerate(_list(self.doc.get("slaProperties"))):
            if not isinstance(item, dict) or not isinstance(item.get("property"), str):
                continue
            out.append(
                SlaProperty(
                    property=item["property"],
                    name=canonical_sla_name(item["property"]),
                    value=item.get("value"),
                    unit=_str_or_none(item.get("unit")),
                    element=_str_or_none(item.get("element")),
                    id=_str_or_none(item.get("id")),
                    driver=_str_or_none(item.get("driver")),
                    description=_str_or_none(item.get("description")),
                    index=i,
                    raw=item,
                )
            )
        return out

    def sla(self, name: str) -> SlaProperty | None:
        """The first SLA property called ``name`` (synonyms and case resolved)."""
        wanted = canonical_sla_name(name)
        return next((s for s in self.sla_properties if s.name == wanted), None)

    @property
    def quality_rules(self) -> list[QualityRule]:
        """Every ``quality`` entry of every schema object and (nested) property, in document order."""
        return list(_walk_quality(self.doc))

    def to_dict(self) -> dict[str, Any]:
        """A deep copy of the document, safe to change."""
        return copy.deepcopy(self.doc)


def _str_or_none(value: Any) -> str | None:
    return None if value is None else str(value)


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _aware(at: datetime) -> datetime:
    """Naive datetimes are taken as UTC: meshfabric stores and compares instants in UTC."""
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


def _instant(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return _aware(value)
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        return _aware(datetime.fromisoformat(value.strip()))
    except ValueError:
        return None


def _schema_object(raw: dict[str, Any]) -> SchemaObject:
    name = str(raw.get("name", ""))
    props = tuple(_schema_property(p, name) for p in _list(raw.get("properties")) if isinstance(p, dict))
    return SchemaObject(
        name=name,
        physical_name=_str_or_none(raw.get("physicalName")),
        physical_type=_str_or_none(raw.get("physicalType")),
        description=_str_or_none(raw.get("description")),
        properties=props,
        raw=raw,
    )


def _schema_property(raw: dict[str, Any], parent: str, *, item: bool = False) -> SchemaProperty:
    name = str(raw.get("name", "")) if not item else f"{parent.rsplit('.', 1)[-1]}[]"
    path = f"{parent}[]" if item else (f"{parent}.{name}" if parent else name)
    nested = tuple(_schema_property(p, path) for p in _list(raw.get("properties")) if isinstance(p, dict))
    items_raw = raw.get("items")
    pk_pos = raw.get("primaryKeyPosition")
    options = raw.get("logicalTypeOptions")
    return SchemaProperty(
        name=name,
        path=path,
        logical_type=_str_or_none(raw.get("logicalType")),
        physical_type=_str_or_none(raw.get("physicalType")),
        required=raw.get("required") is True,
        primary_key=raw.get("primaryKey") is True,
        primary_key_position=pk_pos if isinstance(pk_pos, int) and pk_pos > 0 else None,
        unique=raw.get("unique") is True,
        classification=_str_or_none(raw.get("classification")),
        description=_str_or_none(raw.get("description")),
        logical_type_options=options if isinstance(options, dict) else {},
        properties=nested,
        items=_schema_property(items_raw, path, item=True) if isinstance(items_raw, dict) else None,
        raw=raw,
    )


def _walk_quality(doc: dict[str, Any]) -> Iterator[QualityRule]:
    def rules(node: dict[str, Any], element: str, jpath: str) -> Iterator[QualityRule]:
        for i, q in enumerate(_list(node.get("quality"))):
            if isinstance(q, dict):
                yield _quality_rule(q, element, f"{jpath}.quality[{i}]", i)

    def walk_property(node: dict[str, Any], element: str, jpath: str) -> Iterator[QualityRule]:
        yield from rules(node, element, jpath)
        for i, p in enumerate(_list(node.get("properties"))):
            if isinstance(p, dict):
                yield from walk_property(p, f"{element}.{p.get('name', i)}", f"{jpath}.properties[{i}]")
        if isinstance(node.get("items"), dict):
            yield from walk_property(node["items"], f"{element}[]", f"{jpath}.items")

    for i, obj in enumerate(_list(doc.get("schema"))):
        if isinstance(obj, dict):
            yield from walk_property(obj, str(obj.get("name", i)), f"$.schema[{i}]")


def _quality_rule(q: dict[str, Any], element: str, jpath: str, index: int) -> QualityRule:
    metric = q.get("metric", q.get("rule"))  # `rule` is the deprecated spelling of `metric`
    metric = metric if isinstance(metric, str) else None
    kind = q.get("type") if isinstance(q.get("type"), str) else "library"
    rule_id, name = _str_or_none(q.get("id")), _str_or_none(q.get("name"))
    if rule_id:
        key = rule_id
    elif metric and kind == "library":
        key = f"{element}.{metric}"
    elif name:
        key = f"{element}.{name}"
    else:
        key = f"{element}.quality[{index}]"
    return QualityRule(
        key=key,
        element=element,
        path=jpath,
        type=kind,
        metric=metric,
        operators={op: q[op] for op in QUALITY_OPERATORS if op in q},
        id=rule_id,
        name=name,
        dimension=_str_or_none(q.get("dimension")),
        severity=_str_or_none(q.get("severity")),
        unit=_str_or_none(q.get("unit")),
        description=_str_or_none(q.get("description")),
        index=index,
        raw=q,
    )


# --------------------------------------------------------------------------------------------
# YAML in and out

_TIMESTAMP_TAG = "tag:yaml.org,2002:timestamp"


class _Loader(safe_yaml.SafeLoader):
    """The bounded safe loader (libyaml's parser, a depth limit, an alias budget, duplicate keys
    refused) with JSON's data model: no timestamps."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != _TIMESTAMP_TAG]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_constructor(_TIMESTAMP_TAG, lambda loader, node: loader.construct_scalar(node))


class _Dumper(yaml.SafeDumper):
    """SafeDumper that indents lists under their key and writes multi-line text as ``|`` blocks.

    It keeps PyYAML's timestamp resolver on purpose: a string that looks like a date is then
    quoted, so YAML 1.1 readers too read it back as the string it is.
    """

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        super().increase_indent(flow, False)


#: characters YAML itself treats as line breaks or cannot print: only a double-quoted scalar with
#: escapes carries them through a dump and load unchanged
_NEEDS_ESCAPES = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\ufeff\r]")


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    if _NEEDS_ESCAPES.search(value) or (value != value.strip(" ") and "\n" in value):
        style: str | None = '"'
    else:
        style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _represent_str)


def parse_yaml(text: str, origin: str = "<contract>") -> Any:
    """Parse YAML text with the JSON data model (what :func:`load_contract` uses); SpecError
    naming ``origin`` and the line for bad, too deep or alias-bombed YAML."""
    return safe_yaml.load_one(text, origin, loader=_Loader)


def load_contract(source: str | Path, *, validate: bool = True) -> Contract:
    """Read an ODCS contract from YAML text or a file.

    ``source`` is a file when it is a :class:`~pathlib.Path`, or a one-line string naming an
    existing ``.yaml``/``.yml``/``.json`` file; any other string is the YAML text itself.

    With ``validate`` (the default) the document must pass :func:`validate_odcs` and its
    ``meshfabric.*`` custom properties must be well formed; otherwise :class:`SpecError` lists
    every problem with its line and JSON path, so an import is refused whole, not half done.
    """
    text, origin = _read_source(source)
    doc = parse_yaml(text, origin)
    if not isinstance(doc, dict):
        kind = "empty" if doc is None else f"a {type(doc).__name__}"
        raise SpecError([SpecProblem(origin, 1, None, f"an ODCS contract is a mapping; this document is {kind}")])
    if validate:
        problems = schema_violations(doc) + meshfabric_problems(doc)
        if problems:
            lines = _line_finder(text)
            raise SpecError([SpecProblem(origin, lines(path), path, msg) for path, msg in problems])
    return Contract(doc)


def dump_contract(contract: Contract | Mapping[str, Any]) -> str:
    """The contract as ODCS YAML, keys in document order (import → export is lossless)."""
    doc = contract.doc if isinstance(contract, Contract) else dict(contract)
    return yaml.dump(doc, Dumper=_Dumper, sort_keys=False, allow_unicode=True, default_flow_style=False, width=1 << 30)


def _read_source(source: str | Path) -> tuple[str, str]:
    if isinstance(source, Path):
        return safe_yaml.read_text(source, str(source)), str(source)
    if "\n" not in source and source.strip().lower().endswith((".yaml", ".yml", ".json")):
        path = Path(source.strip())
        if path.is_file():
            return safe_yaml.read_text(path, str(path)), str(path)
    return source, "<contract>"


# --------------------------------------------------------------------------------------------
# meshfabric's own checks (the JSON Schema ones are in odcs_validate), and where a problem is


def meshfabric_problems(doc: Mapping[str, Any]) -> list[tuple[str, str]]:
    """What is wrong with the ``meshfabric.*`` custom properties: (JSON path, message) pairs.

    The JSON Schema accepts any value there; meshfabric needs instants it can compare and a
    period that does not end before it starts.
    """
    problems: list[tuple[str, str]] = []
    instants: dict[str, datetime] = {}
    for i, item in enumerate(_list(doc.get("customProperties"))):
        if not isinstance(item, dict) or not str(item.get("property", "")).startswith(MESHFABRIC_PREFIX):
            continue
        prop, value, where = item["property"], item.get("value"), f"$.customProperties[{i}].value"
        if prop in (VALID_FROM_PROPERTY, VALID_UNTIL_PROPERTY):
            instant = _instant(value)
            if instant is None:
                problems.append((where, f"{prop} must be an ISO 8601 date-time, not {value!r}"))
            else:
                instants[prop] = instant
        elif prop in (PRODUCT_PROPERTY, CONSUMER_PROPERTY) and (not isinstance(value, str) or not value):
            problems.append((where, f"{prop} must be a non-empty string, not {value!r}"))
    start, end = instants.get(VALID_FROM_PROPERTY), instants.get(VALID_UNTIL_PROPERTY)
    if start and end and end <= start:
        problems.append(("$.customProperties", f"the validity period ends ({end}) before it starts ({start})"))
    return problems


def _line_finder(text: str) -> Any:
    """Map a JSON path of ``text``'s document to the 1-based line it starts on (None if unknown)."""
    try:
        root = yaml.compose(text, Loader=_Loader)
    except yaml.YAMLError:
        root = None

    def line(path: str) -> int | None:
        node = root
        if node is None:
            return None
        for index, key in json_path_steps(path):
            if isinstance(node, yaml.SequenceNode) and index is not None and index < len(node.value):
                node = node.value[index]
            elif isinstance(node, yaml.MappingNode) and key is not None:
                found = next((v for k, v in node.value if getattr(k, "value", None) == key), None)
                if found is None:
                    break
                node = found
            else:
                break
        return node.start_mark.line + 1

    return line


def is_number(value: Any) -> bool:
    """A real, finite number (booleans are not numbers here, although Python says they are)."""
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
