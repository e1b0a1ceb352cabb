"""JSON Schema evolution checks with the rules and vocabulary of Confluent Schema Registry.

Why this module exists: a consumer of a JSON/event product must be told, before a new schema
version is accepted, exactly which change would stop it from reading the data. Confluent Schema
Registry is what users of JSON Schema already trust for that, so the changes found here carry
its names (``TYPE_NARROWED``, ``OPTIONAL_PROPERTY_ADDED_TO_OPEN_CONTENT_MODEL``, …), its paths
(``#/properties/foo``), and its two policies: STRICT (the default) and LENIENT, which assumes
producers never write properties their schema does not declare.

How it works: both schemas are first read into a small typed model, the way Confluent's loader
does it (a schema with keywords of several JSON types becomes an ``allOf`` of one typed schema per
type, ``"type": [..]`` becomes an ``anyOf``, ``$ref`` is followed), and the two models are then
walked side by side. Draft-07 and 2020-12 (and 2019-09) are read each by their own rules, chosen by
the schema's ``$schema``.

``diff(original, update)`` lists what changed from the schema data was written with
(``original``) to the schema that reads it (``update``); :func:`is_compatible` says whether every
change is harmless under a policy.

Beyond Confluent (checked against Apicurio Registry's 145 cases, tests/unit/test_apicurio_json_schema.py):
keywords Confluent's diff ignores are compared the way Apicurio compares them, under names of this
module's own (listed in :data:`DIFF_TYPES`; Confluent's 263 cases never meet them, so their verdicts
are unchanged). ``format``, ``contentEncoding``, ``contentMediaType`` (draft-07 and earlier; from
2019-09 on they are annotations, and Confluent ignores them): removed is compatible, added or changed
is not. ``propertyNames``: compared as a subschema, absent accepting every name. ``patternProperties``:
pattern by pattern; a pattern removed from an otherwise open model is compatible, one added to it is
not (compatible under LENIENT); one added to a closed model only widens it and is not reported, as
Confluent does not. ``if``/``then``/``else``: a changed ``if`` is incompatible both ways, ``then`` and
``else`` are compared as subschemas. ``required`` of an object where neither version declares any
``properties`` (Confluent only judges declared properties, and keeps ignoring undeclared names when
some are). ``$ref: "#Name"`` resolved through a ``$id: "#Name"`` (or 2019-09+ ``$anchor``) in the same
document. draft-04's boolean ``exclusiveMinimum``/``exclusiveMaximum`` read as the later numeric form.
``const`` compared with an ``enum`` as a one-value enum.

Deliberate differences from Apicurio (Confluent's verdict kept): a bound moved between the inclusive
and the exclusive keyword (``exclusiveMinimum: 10`` → ``minimum: 10``) is judged keyword by keyword,
so the inclusive bound added makes it incompatible both ways, where Apicurio weighs the two bounds
against each other and finds BACKWARD compatible (6 of Apicurio's cases).

>>> old = {"type": "object", "properties": {"id": {"type": "integer"}}, "additionalProperties": False}
>>> new = {"type": "object", "properties": {"id": {"type": "number"}, "note": {"type": "string"}},
...        "additionalProperties": False}
>>> [str(d) for d in backward_changes(new, old)]
['TYPE_EXTENDED #/properties/id', 'OPTIONAL_PROPERTY_ADDED_TO_UNOPEN_CONTENT_MODEL #/properties/note']
>>> is_compatible(backward_changes(new, old)), is_compatible(forward_changes(new, old))
(True, False)
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any, ClassVar, Literal
from urllib.parse import unquote

from meshfabric.errors import ConfigError

Policy = Literal["strict", "lenient"]

__all__ = [
    "COMPATIBLE_CHANGES",
    "DIFF_TYPES",
    "Difference",
    "InvalidSchemaError",
    "Policy",
    "backward_changes",
    "diff",
    "forward_changes",
    "is_compatible",
]


# --------------------------------------------------------------------------------------------
# Vocabulary and classification
# --------------------------------------------------------------------------------------------


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


#: Every kind of change this module reports, in Confluent's names.
DIFF_TYPES: frozenset[str] = _words(
    """
    ID_CHANGED DESCRIPTION_CHANGED TITLE_CHANGED DEFAULT_CHANGED
    SCHEMA_ADDED SCHEMA_REMOVED TYPE_EXTENDED TYPE_NARROWED TYPE_CHANGED
    MAX_LENGTH_ADDED MAX_LENGTH_REMOVED MAX_LENGTH_INCREASED MAX_LENGTH_DECREASED
    MIN_LENGTH_ADDED MIN_LENGTH_REMOVED MIN_LENGTH_INCREASED MIN_LENGTH_DECREASED
    PATTERN_ADDED PATTERN_REMOVED PATTERN_CHANGED
    MAXIMUM_ADDED MAXIMUM_REMOVED MAXIMUM_INCREASED MAXIMUM_DECREASED
    MINIMUM_ADDED MINIMUM_REMOVED MINIMUM_INCREASED MINIMUM_DECREASED
    EXCLUSIVE_MAXIMUM_ADDED EXCLUSIVE_MAXIMUM_REMOVED EXCLUSIVE_MAXIMUM_INCREASED EXCLUSIVE_MAXIMUM_DECREASED
    EXCLUSIVE_MINIMUM_ADDED EXCLUSIVE_MINIMUM_REMOVED EXCLUSIVE_MINIMUM_INCREASED EXCLUSIVE_MINIMUM_DECREASED
    MULTIPLE_OF_ADDED MULTIPLE_OF_REMOVED MULTIPLE_OF_EXPANDED MULTIPLE_OF_REDUCED MULTIPLE_OF_CHANGED
    REQUIRED_ATTRIBUTE_ADDED REQUIRED_ATTRIBUTE_WITH_DEFAULT_ADDED REQUIRED_ATTRIBUTE_REMOVED
    MAX_PROPERTIES_ADDED MAX_PROPERTIES_REMOVED MAX_PROPERTIES_INCREASED MAX_PROPERTIES_DECREASED
    MIN_PROPERTIES_ADDED MIN_PROPERTIES_REMOVED MIN_PROPERTIES_INCREASED MIN_PROPERTIES_DECREASED
    ADDITIONAL_PROPERTIES_ADDED ADDITIONAL_PROPERTIES_REMOVED
    ADDITIONAL_PROPERTIES_EXTENDED ADDITIONAL_PROPERTIES_NARROWED
    UNEVALUATED_PROPERTIES_ADDED UNEVALUATED_PROPERTIES_REMOVED
    UNEVALUATED_PROPERTIES_EXTENDED UNEVALUATED_PROPERTIES_NARROWED
    DEPENDENCY_ARRAY_ADDED DEPENDENCY_ARRAY_REMOVED DEPENDENCY_ARRAY_EXTENDED DEPENDENCY_ARRAY_NARROWED
    DEPENDENCY_ARRAY_CHANGED DEPENDENCY_SCHEMA_ADDED DEPENDENCY_SCHEMA_REMOVED
    PROPERTY_ADDED_TO_OPEN_CONTENT_MODEL
    REQUIRED_PROPERTY_ADDED_TO_OPEN_CONTENT_MODEL REQUIRED_PROPERTY_WITH_DEFAULT_ADDED_TO_OPEN_CONTENT_MODEL
    OPTIONAL_PROPERTY_ADDED_TO_OPEN_CONTENT_MODEL PROPERTY_WITH_EMPTY_SCHEMA_ADDED_TO_OPEN_CONTENT_MODEL
    REQUIRED_PROPERTY_ADDED_TO_UNOPEN_CONTENT_MODEL REQUIRED_PROPERTY_WITH_DEFAULT_ADDED_TO_UNOPEN_CONTENT_MODEL
    OPTIONAL_PROPERTY_ADDED_TO_UNOPEN_CONTENT_MODEL
    PROPERTY_REMOVED_FROM_OPEN_CONTENT_MODEL PROPERTY_WITH_FALSE_REMOVED_FROM_CLOSED_CONTENT_MODEL
    PROPERTY_REMOVED_FROM_CLOSED_CONTENT_MODEL
    PROPERTY_REMOVED_IS_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL
    PROPERTY_REMOVED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL
    PROPERTY_ADDED_IS_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL
    PROPERTY_ADDED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL
    MAX_ITEMS_ADDED MAX_ITEMS_REMOVED MAX_ITEMS_INCREASED MAX_ITEMS_DECREASED
    MIN_ITEMS_ADDED MIN_ITEMS_REMOVED MIN_ITEMS_INCREASED MIN_ITEMS_DECREASED
    MAX_CONTAINS_ADDED MAX_CONTAINS_REMOVED MAX_CONTAINS_INCREASED MAX_CONTAINS_DECREASED
    MIN_CONTAINS_ADDED MIN_CONTAINS_REMOVED MIN_CONTAINS_INCREASED MIN_CONTAINS_DECREASED
    UNIQUE_ITEMS_ADDED UNIQUE_ITEMS_REMOVED
    ADDITIONAL_ITEMS_ADDED ADDITIONAL_ITEMS_REMOVED ADDITIONAL_ITEMS_EXTENDED ADDITIONAL_ITEMS_NARROWED
    UNEVALUATED_ITEMS_ADDED UNEVALUATED_ITEMS_REMOVED UNEVALUATED_ITEMS_EXTENDED UNEVALUATED_ITEMS_NARROWED
    ITEM_ADDED_TO_OPEN_CONTENT_MODEL ITEM_WITH_EMPTY_SCHEMA_ADDED_TO_OPEN_CONTENT_MODEL
    ITEM_ADDED_TO_CLOSED_CONTENT_MODEL ITEM_REMOVED_FROM_OPEN_CONTENT_MODEL
    ITEM_WITH_FALSE_REMOVED_FROM_CLOSED_CONTENT_MODEL ITEM_REMOVED_FROM_CLOSED_CONTENT_MODEL
    ITEM_REMOVED_IS_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL ITEM_REMOVED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL
    ITEM_ADDED_IS_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL ITEM_ADDED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL
    ENUM_ARRAY_EXTENDED ENUM_ARRAY_NARROWED ENUM_ARRAY_CHANGED
    COMBINED_TYPE_EXTENDED COMBINED_TYPE_CHANGED PRODUCT_TYPE_EXTENDED PRODUCT_TYPE_NARROWED
    SUM_TYPE_EXTENDED SUM_TYPE_NARROWED COMBINED_TYPE_SUBSCHEMAS_CHANGED
    NOT_TYPE_EXTENDED NOT_TYPE_NARROWED
    """
) | _words(
    # Not in Confluent's vocabulary: keywords its diff ignores, compared as Apicurio Registry does
    """
    FORMAT_ADDED FORMAT_REMOVED FORMAT_CHANGED
    CONTENT_ENCODING_ADDED CONTENT_ENCODING_REMOVED CONTENT_ENCODING_CHANGED
    CONTENT_MEDIA_TYPE_ADDED CONTENT_MEDIA_TYPE_REMOVED CONTENT_MEDIA_TYPE_CHANGED
    PROPERTY_NAMES_ADDED PROPERTY_NAMES_REMOVED PROPERTY_NAMES_EXTENDED PROPERTY_NAMES_NARROWED
    PATTERN_PROPERTY_ADDED_TO_OPEN_CONTENT_MODEL PATTERN_PROPERTY_REMOVED_FROM_OPEN_CONTENT_MODEL
    PATTERN_PROPERTY_REMOVED_FROM_CLOSED_CONTENT_MODEL
    CONDITIONAL_IF_CHANGED
    CONDITIONAL_THEN_ADDED CONDITIONAL_THEN_REMOVED CONDITIONAL_THEN_EXTENDED CONDITIONAL_THEN_NARROWED
    CONDITIONAL_ELSE_ADDED CONDITIONAL_ELSE_REMOVED CONDITIONAL_ELSE_EXTENDED CONDITIONAL_ELSE_NARROWED
    """
)

# A change is compatible when every value the original schema accepts is still accepted by the
# update: a bound relaxed, a constraint dropped, a type widened, an alternative added, metadata.
_COMPATIBLE_STRICT: frozenset[str] = _words(
    """
    ID_CHANGED DESCRIPTION_CHANGED TITLE_CHANGED DEFAULT_CHANGED SCHEMA_REMOVED TYPE_EXTENDED
    MAX_LENGTH_INCREASED MAX_LENGTH_REMOVED MIN_LENGTH_DECREASED MIN_LENGTH_REMOVED PATTERN_REMOVED
    MAXIMUM_INCREASED MAXIMUM_REMOVED MINIMUM_DECREASED MINIMUM_REMOVED
    EXCLUSIVE_MAXIMUM_INCREASED EXCLUSIVE_MAXIMUM_REMOVED EXCLUSIVE_MINIMUM_DECREASED EXCLUSIVE_MINIMUM_REMOVED
    MULTIPLE_OF_REDUCED MULTIPLE_OF_REMOVED
    REQUIRED_ATTRIBUTE_WITH_DEFAULT_ADDED REQUIRED_ATTRIBUTE_REMOVED
    DEPENDENCY_ARRAY_NARROWED DEPENDENCY_ARRAY_REMOVED DEPENDENCY_SCHEMA_REMOVED
    MAX_PROPERTIES_INCREASED MAX_PROPERTIES_REMOVED MIN_PROPERTIES_DECREASED MIN_PROPERTIES_REMOVED
    ADDITIONAL_PROPERTIES_ADDED ADDITIONAL_PROPERTIES_EXTENDED
    UNEVALUATED_PROPERTIES_ADDED UNEVALUATED_PROPERTIES_EXTENDED
    PROPERTY_WITH_EMPTY_SCHEMA_ADDED_TO_OPEN_CONTENT_MODEL
    REQUIRED_PROPERTY_WITH_DEFAULT_ADDED_TO_UNOPEN_CONTENT_MODEL OPTIONAL_PROPERTY_ADDED_TO_UNOPEN_CONTENT_MODEL
    PROPERTY_WITH_FALSE_REMOVED_FROM_CLOSED_CONTENT_MODEL PROPERTY_REMOVED_FROM_OPEN_CONTENT_MODEL
    PROPERTY_ADDED_IS_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL
    PROPERTY_REMOVED_IS_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL
    MAX_ITEMS_INCREASED MAX_ITEMS_REMOVED MIN_ITEMS_DECREASED MIN_ITEMS_REMOVED
    MAX_CONTAINS_INCREASED MAX_CONTAINS_REMOVED MIN_CONTAINS_DECREASED MIN_CONTAINS_REMOVED
    UNIQUE_ITEMS_REMOVED ADDITIONAL_ITEMS_ADDED ADDITIONAL_ITEMS_EXTENDED
    UNEVALUATED_ITEMS_ADDED UNEVALUATED_ITEMS_EXTENDED
    ITEM_WITH_EMPTY_SCHEMA_ADDED_TO_OPEN_CONTENT_MODEL ITEM_ADDED_TO_CLOSED_CONTENT_MODEL
    ITEM_WITH_FALSE_REMOVED_FROM_CLOSED_CONTENT_MODEL ITEM_REMOVED_FROM_OPEN_CONTENT_MODEL
    ITEM_ADDED_IS_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL ITEM_REMOVED_IS_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL
    ENUM_ARRAY_EXTENDED COMBINED_TYPE_EXTENDED PRODUCT_TYPE_NARROWED SUM_TYPE_EXTENDED NOT_TYPE_NARROWED
    FORMAT_REMOVED CONTENT_ENCODING_REMOVED CONTENT_MEDIA_TYPE_REMOVED
    PROPERTY_NAMES_ADDED PROPERTY_NAMES_EXTENDED PATTERN_PROPERTY_REMOVED_FROM_OPEN_CONTENT_MODEL
    CONDITIONAL_THEN_ADDED CONDITIONAL_THEN_EXTENDED CONDITIONAL_ELSE_ADDED CONDITIONAL_ELSE_EXTENDED
    """
)

# LENIENT assumes writers only ever send the properties their schema declares, so closing or
# narrowing an open content model, and declaring a new optional property in it, cannot break.
_LENIENT_ONLY: frozenset[str] = _words(
    """
    ADDITIONAL_PROPERTIES_NARROWED ADDITIONAL_PROPERTIES_REMOVED
    UNEVALUATED_PROPERTIES_NARROWED UNEVALUATED_PROPERTIES_REMOVED
    PROPERTY_ADDED_TO_OPEN_CONTENT_MODEL OPTIONAL_PROPERTY_ADDED_TO_OPEN_CONTENT_MODEL
    REQUIRED_PROPERTY_WITH_DEFAULT_ADDED_TO_OPEN_CONTENT_MODEL
    PROPERTY_ADDED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL
    PROPERTY_REMOVED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL
    PATTERN_PROPERTY_ADDED_TO_OPEN_CONTENT_MODEL
    """
)

#: The change types that are compatible under each policy (LENIENT is a superset of STRICT).
COMPATIBLE_CHANGES: Mapping[str, frozenset[str]] = {
    "strict": _COMPATIBLE_STRICT,
    "lenient": _COMPATIBLE_STRICT | _LENIENT_ONLY,
}


@dataclass(frozen=True)
class Difference:
    """One change between two schemas: a Confluent change type and the JSON pointer where it is.

    >>> str(Difference("TYPE_NARROWED", "#/properties/foo"))
    'TYPE_NARROWED #/properties/foo'
    """

    type: str
    path: str

    def __str__(self) -> str:
        return f"{self.type} {self.path}"


class InvalidSchemaError(ConfigError, ValueError):
    """A schema could not be read (wrong keyword value, unknown type, unresolvable local ``$ref``)."""


def is_compatible(differences: Iterable[Difference], *, policy: Policy = "strict") -> bool:
    """Whether every difference is a compatible kind of change under ``policy``.

    >>> is_compatible([Difference("MAX_LENGTH_INCREASED", "#/maxLength")])
    True
    >>> gained = [Difference("OPTIONAL_PROPERTY_ADDED_TO_OPEN_CONTENT_MODEL", "#/properties/bar")]
    >>> is_compatible(gained), is_compatible(gained, policy="lenient")
    (False, True)
    """
    allowed = _compatible_set(policy)
    return all(d.type in allowed for d in differences)


def diff(
    original: Mapping[str, Any] | bool, update: Mapping[str, Any] | bool, *, policy: Policy = "strict"
) -> list[Difference]:
    """Every change from ``original`` (the writer's schema) to ``update`` (the reader's schema).

    The policy matters beyond the final verdict: where a change is only explained by comparing two
    subschemas (is a removed property still covered by ``additionalProperties``? which ``oneOf``
    alternative does the old type now match?), the subschemas count as matching when their own
    changes are compatible under that policy.

    >>> [str(d) for d in diff({"type": "number"}, {"type": "integer"})]
    ['TYPE_NARROWED #/']
    >>> [str(d) for d in diff({"type": "string"}, {"oneOf": [{"type": "number"}, {"type": "string"}]})]
    ['SUM_TYPE_EXTENDED #/']
    """
    engine = _Engine(_compatible_set(policy))
    old = _Loader(original).root()
    new = _Loader(update).root()
    return [Difference(d.type, _render(d.path)) for d in engine.compare(old, new)]


def backward_changes(
    new: Mapping[str, Any] | bool, old: Mapping[str, Any] | bool, policy: Policy = "strict"
) -> list[Difference]:
    """Changes that matter for BACKWARD: can ``new`` read data written with ``old``? (``diff(old, new)``).

    >>> [str(d) for d in backward_changes({"type": "string", "maxLength": 5}, {"type": "string", "maxLength": 3})]
    ['MAX_LENGTH_INCREASED #/maxLength']
    """
    return diff(old, new, policy=policy)


def forward_changes(
    new: Mapping[str, Any] | bool, old: Mapping[str, Any] | bool, policy: Policy = "strict"
) -> list[Difference]:
    """Changes that matter for FORWARD: can ``old`` read data written with ``new``? (``diff(new, old)``).

    >>> [str(d) for d in forward_changes({"type": "string", "maxLength": 5}, {"type": "string", "maxLength": 3})]
    ['MAX_LENGTH_DECREASED #/maxLength']
    """
    return diff(new, old, policy=policy)


def _compatible_set(policy: str) -> frozenset[str]:
    try:
        return COMPATIBLE_CHANGES[policy]
    except KeyError:
        raise ValueError(f"unknown policy {policy!r}: use 'strict' or 'lenient'") from None


# --------------------------------------------------------------------------------------------
# The typed model a schema is read into
# --------------------------------------------------------------------------------------------

_ABSENT = "<absent>"  # canonical form of a missing value; canonical JSON never looks like this


@dataclass(eq=False)
class _Node:
    """A schema after loading. ``kind`` decides which comparison applies; ``key`` dedupes subschemas."""

    kind: ClassVar[str] = "node"
    key: str = ""
    id: str = _ABSENT
    title: str = _ABSENT
    description: str = _ABSENT
    default: str = _ABSENT


@dataclass(eq=False)
class _Empty(_Node):
    """``{}`` or a schema with no assertion keyword: accepts everything."""

    kind: ClassVar[str] = "empty"


@dataclass(eq=False)
class _True(_Node):
    """The literal ``true`` schema (accepts everything, like ``{}``)."""

    kind: ClassVar[str] = "true"


@dataclass(eq=False)
class _False(_Node):
    """The literal ``false`` schema (accepts nothing)."""

    kind: ClassVar[str] = "false"


@dataclass(eq=False)
class _String(_Node):
    kind: ClassVar[str] = "string"
    min_length: int | None = None
    max_length: int | None = None
    pattern: str | None = None
    format: str | None = None
    content_encoding: str | None = None
    content_media_type: str | None = None


@dataclass(eq=False)
class _Number(_Node):
    kind: ClassVar[str] = "number"
    integer: bool = False
    minimum: float | None = None
    maximum: float | None = None
    exclusive_minimum: float | None = None
    exclusive_maximum: float | None = None
    multiple_of: Decimal | None = None


@dataclass(eq=False)
class _Boolean(_Node):
    kind: ClassVar[str] = "boolean"


@dataclass(eq=False)
class _Null(_Node):
    kind: ClassVar[str] = "null"


@dataclass(eq=False)
class _Object(_Node):
    kind: ClassVar[str] = "object"
    properties: dict[str, _Node] = field(default_factory=dict)
    required: frozenset[str] = frozenset()
    pattern_properties: list[tuple[str, _Node]] = field(default_factory=list)
    property_names: _Node | None = None
    permits_additional: bool = True
    additional: _Node | None = None
    unevaluated: _Node | None = None
    property_dependencies: dict[str, frozenset[str]] = field(default_factory=dict)
    schema_dependencies: dict[str, _Node] = field(default_factory=dict)
    min_properties: int | None = None
    max_properties: int | None = None


@dataclass(eq=False)
class _Array(_Node):
    kind: ClassVar[str] = "array"
    all_items: _Node | None = None
    item_schemas: list[_Node] = field(default_factory=list)
    permits_additional: bool = True
    additional: _Node | None = None
    unevaluated: _Node | None = None
    contains: _Node | None = None
    min_items: int | None = None
    max_items: int | None = None
    unique_items: bool = False
    min_contains: int | None = None
    max_contains: int | None = None


@dataclass(eq=False)
class _Enum(_Node):
    kind: ClassVar[str] = "enum"
    values: frozenset[str] = frozenset()


@dataclass(eq=False)
class _Const(_Node):
    kind: ClassVar[str] = "const"
    value: str = _ABSENT


@dataclass(eq=False)
class _Combined(_Node):
    kind: ClassVar[str] = "combined"
    criterion: str = "allOf"
    subschemas: list[_Node] = field(default_factory=list)


@dataclass(eq=False)
class _Not(_Node):
    kind: ClassVar[str] = "not"
    inner: _Node | None = None


@dataclass(eq=False)
class _Conditional(_Node):
    """``if``/``then``/``else`` (Confluent ignores them; compared here as Apicurio does)."""

    kind: ClassVar[str] = "conditional"
    if_: _Node | None = None
    then: _Node | None = None
    else_: _Node | None = None


@dataclass(eq=False)
class _Ref(_Node):
    """A local ``$ref``, followed when compared (lazily, so recursive schemas load)."""

    kind: ClassVar[str] = "ref"
    loader: _Loader | None = None
    pointer: str = ""


@dataclass(eq=False)
class _ExternalRef(_Node):
    """A ``$ref`` to another document: it cannot be followed, so it is compared by its text."""

    kind: ClassVar[str] = "external-ref"
    ref: str = ""


_ANYTHING = _Empty(key="{}")

_METADATA = {
    "$schema",
    "$id",
    "id",
    "title",
    "description",
    "default",
    "$comment",
    "examples",
    "definitions",
    "$defs",
    "readOnly",
    "writeOnly",
    "deprecated",
    "$anchor",
    "$dynamicAnchor",
    "$vocabulary",
}
_STRING_WORDS = ("minLength", "maxLength", "pattern", "format", "contentEncoding", "contentMediaType")
# Annotations only from 2019-09 on (and ignored there by Confluent's reader); compared in draft-07
_ANNOTATION_WORDS = ("format", "contentEncoding", "contentMediaType")
_NUMBER_WORDS = ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf")
_OBJECT_WORDS_07 = (
    "properties",
    "required",
    "minProperties",
    "maxProperties",
    "dependencies",
    "patternProperties",
    "additionalProperties",
    "propertyNames",
)
_OBJECT_WORDS_2020 = (
    "properties",
    "required",
    "minProperties",
    "maxProperties",
    "dependentRequired",
    "dependentSchemas",
    "patternProperties",
    "additionalProperties",
    "propertyNames",
    "unevaluatedProperties",
)
_ARRAY_WORDS_07 = ("items", "additionalItems", "minItems", "maxItems", "uniqueItems", "contains")
_ARRAY_WORDS_2020 = (
    "prefixItems",
    "items",
    "additionalItems",  # 2019-09 still spells tuples as items: [..] + additionalItems
    "minItems",
    "maxItems",
    "uniqueItems",
    "contains",
    "minContains",
    "maxContains",
    "unevaluatedItems",
)
_CONDITIONAL_WORDS = ("if", "then", "else")
_COMBINERS = ("allOf", "anyOf", "oneOf")
_TYPE_NAMES = ("string", "integer", "number", "boolean", "null", "array", "object")


def _canonical(value: Any) -> str:
    """One spelling per JSON value, for equality that keeps ``1``, ``1.0`` and ``true`` apart."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _is_2020(document: Any) -> bool:
    """2019-09 and 2020-12 share the keywords that matter here (``prefixItems`` aside)."""
    schema = document.get("$schema") if isinstance(document, Mapping) else None
    return isinstance(schema, str) and ("2020-12" in schema or "2019-09" in schema)


def _is_draft4(document: Any) -> bool:
    schema = document.get("$schema") if isinstance(document, Mapping) else None
    return isinstance(schema, str) and "draft-04" in schema


# --------------------------------------------------------------------------------------------
# Reading a schema document
# --------------------------------------------------------------------------------------------


class _Loader:
    """Reads one schema document into :class:`_Node` objects, each ``$ref`` target read once.

    Draft-07 (and earlier): a ``$ref`` replaces its siblings. 2019-09/2020-12: ``$ref`` is one
    keyword among others, ``prefixItems``/``items`` replace ``items``/``additionalItems``,
    ``dependentRequired``/``dependentSchemas`` replace ``dependencies``, and, as Confluent reads
    them, the root ``$id``, ``format`` and an empty ``properties`` map carry no meaning.
    """

    def __init__(self, document: Any) -> None:
        if not isinstance(document, (Mapping, bool)):
            raise InvalidSchemaError(f"a JSON Schema is an object or a boolean, not {type(document).__name__}")
        self.document = document
        self.modern = _is_2020(document)
        self.draft4 = _is_draft4(document)
        self.id_word = "id" if self.draft4 else "$id"
        root_id = document.get(self.id_word) if isinstance(document, Mapping) else None
        self.root_id = root_id.split("#")[0] if isinstance(root_id, str) else None
        self.targets: dict[str, _Node] = {}
        self.anchors: dict[str, str] = {}
        self._find_anchors(document, "")

    def _find_anchors(self, raw: Any, pointer: str) -> None:
        """Named fragments: ``"$id": "#name"`` (draft-07 and earlier) or ``"$anchor": "name"``."""
        if isinstance(raw, list):
            for i, item in enumerate(raw):
                self._find_anchors(item, f"{pointer}/{i}")
            return
        if not isinstance(raw, Mapping):
            return
        named = raw.get("$anchor") if self.modern else raw.get(self.id_word)
        if isinstance(named, str):
            name = named if self.modern else named.partition("#")[2]
            if name and not name.startswith("/"):
                self.anchors.setdefault(name, pointer)
        for key, value in raw.items():
            if key not in ("enum", "const", "default", "examples"):
                self._find_anchors(value, f"{pointer}/{_escape(key)}")

    def root(self) -> _Node:
        return self.load(self.document, "#")

    # -- one schema -------------------------------------------------------------------------

    def load(self, raw: Any, where: str) -> _Node:
        if raw is True:
            return _True(key="true")
        if raw is False:
            return _False(key="false")
        if not isinstance(raw, Mapping):
            raise InvalidSchemaError(f"{where}: a schema is an object or a boolean, not {type(raw).__name__}")
        if "$ref" in raw and not self.modern:
            return self._reference(raw["$ref"], where)
        fragments = self._fragments(raw, where)
        if not fragments:
            node: _Node = _Empty()
        elif len(fragments) == 1:
            node = fragments[0]
        else:
            node = _Combined(criterion="allOf", subschemas=fragments)
        node.key = node.kind + ":" + _canonical(raw)
        self._metadata(node, raw, where)
        return node

    def _metadata(self, node: _Node, raw: Mapping[str, Any], where: str) -> None:
        if self.id_word in raw and not (self.modern and where == "#"):
            node.id = _canonical(raw[self.id_word])
        for word in ("title", "description", "default"):
            if word in raw:
                setattr(node, word, _canonical(raw[word]))

    def _fragments(self, raw: Mapping[str, Any], where: str) -> list[_Node]:
        """One typed schema per group of keywords, in the order Confluent's loader finds them."""
        out: list[_Node] = []
        used: set[str] = set(_METADATA)
        if "$ref" in raw:
            out.append(self._reference(raw["$ref"], where))
            used.add("$ref")
        if "enum" in raw:
            out.append(self._enum(raw["enum"], where))
            used.add("enum")
        combined = self._combinations(raw, where)
        if combined is not None:
            out.append(combined)
            used.update(_COMBINERS)
        if "not" in raw:
            out.append(_Not(inner=self.load(raw["not"], f"{where}/not")))
            used.add("not")
        if "const" in raw:
            out.append(_Const(value=_canonical(raw["const"])))
            used.add("const")
        if "type" in raw:
            out.append(self._explicit_type(raw, where))
            used.add("type")
            for name in self._type_names(raw["type"], where):
                used.update(self._words_of(name))
        out.extend(self._sniffed(raw, used, where))
        return out

    def _combinations(self, raw: Mapping[str, Any], where: str) -> _Node | None:
        found = [self._combined(word, raw[word], f"{where}/{word}") for word in _COMBINERS if word in raw]
        if not found:
            return None
        if len(found) == 1:
            return found[0]
        return _Combined(key="allOf:" + "|".join(c.key for c in found), criterion="allOf", subschemas=found)

    def _combined(self, word: str, value: Any, where: str) -> _Combined:
        if not isinstance(value, list) or not value:
            raise InvalidSchemaError(f"{where}: '{word}' must be a non-empty array of schemas")
        subs = [self.load(item, f"{where}/{i}") for i, item in enumerate(value)]
        return _Combined(key=word + ":" + _canonical(value), criterion=word, subschemas=subs)

    def _enum(self, value: Any, where: str) -> _Enum:
        if not isinstance(value, list):
            raise InvalidSchemaError(f"{where}/enum: 'enum' must be an array")
        return _Enum(values=frozenset(_canonical(v) for v in value))

    # -- types ------------------------------------------------------------------------------

    def _type_names(self, value: Any, where: str) -> list[str]:
        names = value if isinstance(value, list) else [value]
        for name in names:
            if name not in _TYPE_NAMES:
                raise InvalidSchemaError(f"{where}/type: unknown type {name!r}", hint=f"use one of {_TYPE_NAMES}")
        return names

    def _explicit_type(self, raw: Mapping[str, Any], where: str) -> _Node:
        """``"type": "x"`` is one typed schema; ``"type": [..]`` an ``anyOf`` of them, each with its keywords."""
        value = raw["type"]
        typed = [self._typed(name, raw, where) for name in self._type_names(value, where)]
        if isinstance(value, list):
            return _Combined(key="anyOf:" + _canonical(value), criterion="anyOf", subschemas=typed)
        return typed[0]

    def _words_of(self, type_name: str) -> tuple[str, ...]:
        if type_name == "string":
            return _STRING_WORDS
        if type_name in ("number", "integer"):
            return _NUMBER_WORDS
        if type_name == "object":
            return _OBJECT_WORDS_2020 if self.modern else _OBJECT_WORDS_07
        if type_name == "array":
            return _ARRAY_WORDS_2020 if self.modern else _ARRAY_WORDS_07
        return ()

    def _typed(self, type_name: str, raw: Mapping[str, Any], where: str) -> _Node:
        node: _Node
        if type_name == "string":
            node = self._string(raw, where)
        elif type_name in ("number", "integer"):
            node = self._number(raw, where, integer=type_name == "integer")
        elif type_name == "object":
            node = self._object(raw, where)
        elif type_name == "array":
            node = self._array(raw, where)
        elif type_name == "boolean":
            node = _Boolean()
        else:
            node = _Null()
        node.key = type_name + ":" + _canonical({w: raw[w] for w in self._words_of(type_name) if w in raw})
        return node

    def _sniffed(self, raw: Mapping[str, Any], used: set[str], where: str) -> list[_Node]:
        """Keywords of a type that ``type`` did not name still constrain values of that type."""
        left = {word for word in raw if word not in used}
        if self.modern:
            if raw.get("properties") == {}:
                left.discard("properties")
            if raw.get("patternProperties") == {}:
                left.discard("patternProperties")
            left.difference_update(_ANNOTATION_WORDS)
        out: list[_Node] = []
        for type_name in ("array", "object", "number", "string"):
            words = [w for w in self._words_of(type_name) if w in left]
            if words:
                node = self._typed(type_name, {w: raw[w] for w in words}, where)
                node.key = "sniffed-" + node.key
                out.append(node)
        if any(w in left for w in _CONDITIONAL_WORDS):
            out.append(
                _Conditional(
                    key="if:" + _canonical({w: raw[w] for w in _CONDITIONAL_WORDS if w in raw}),
                    if_=self._optional_schema(raw, "if", where),
                    then=self._optional_schema(raw, "then", where),
                    else_=self._optional_schema(raw, "else", where),
                )
            )
        return out

    def _string(self, raw: Mapping[str, Any], where: str) -> _String:
        pattern = raw.get("pattern")
        if pattern is not None and not isinstance(pattern, str):
            raise InvalidSchemaError(f"{where}/pattern: 'pattern' must be a string")
        node = _String(
            min_length=_count(raw, "minLength", where), max_length=_count(raw, "maxLength", where), pattern=pattern
        )
        if not self.modern:
            for word in _ANNOTATION_WORDS:
                value = raw.get(word)
                if value is not None and not isinstance(value, str):
                    raise InvalidSchemaError(f"{where}/{word}: '{word}' must be a string")
            node.format = raw.get("format")
            node.content_encoding = raw.get("contentEncoding")
            node.content_media_type = raw.get("contentMediaType")
        return node

    def _number(self, raw: Mapping[str, Any], where: str, *, integer: bool) -> _Number:
        multiple = _number(raw, "multipleOf", where)
        node = _Number(
            integer=integer,
            minimum=_number(raw, "minimum", where),
            maximum=_number(raw, "maximum", where),
            exclusive_minimum=_number(raw, "exclusiveMinimum", where, allow_bool=True),
            exclusive_maximum=_number(raw, "exclusiveMaximum", where, allow_bool=True),
            multiple_of=None if multiple is None else Decimal(str(multiple)),
        )
        if self.draft4:
            # draft-04 spells exclusivity as a boolean beside minimum/maximum: read it as the later
            # numeric form, so `{"minimum": 10, "exclusiveMinimum": true}` equals `{"exclusiveMinimum": 10}`
            if raw.get("exclusiveMinimum") is True and node.minimum is not None:
                node.exclusive_minimum, node.minimum = node.minimum, None
            if raw.get("exclusiveMaximum") is True and node.maximum is not None:
                node.exclusive_maximum, node.maximum = node.maximum, None
        return node

    def _object(self, raw: Mapping[str, Any], where: str) -> _Object:
        node = _Object(
            properties=self._schema_map(raw, "properties", where),
            required=frozenset(_string_list(raw.get("required", []), f"{where}/required")),
            pattern_properties=list(self._schema_map(raw, "patternProperties", where).items()),
            property_names=self._optional_schema(raw, "propertyNames", where),
            min_properties=_count(raw, "minProperties", where),
            max_properties=_count(raw, "maxProperties", where),
        )
        node.permits_additional, node.additional = self._open_part(raw, "additionalProperties", where)
        if self.modern:
            node.unevaluated = self._optional_schema(raw, "unevaluatedProperties", where)
            node.property_dependencies = self._required_map(raw.get("dependentRequired", {}), where)
            node.schema_dependencies = self._schema_map(raw, "dependentSchemas", where)
        else:
            self._dependencies(node, raw.get("dependencies", {}), f"{where}/dependencies")
        return node

    def _dependencies(self, node: _Object, value: Any, where: str) -> None:
        if not isinstance(value, Mapping):
            raise InvalidSchemaError(f"{where}: 'dependencies' must be an object")
        for name, dep in value.items():
            if isinstance(dep, list):
                node.property_dependencies[name] = frozenset(_string_list(dep, f"{where}/{name}"))
            else:
                node.schema_dependencies[name] = self.load(dep, f"{where}/{name}")

    def _required_map(self, value: Any, where: str) -> dict[str, frozenset[str]]:
        if not isinstance(value, Mapping):
            raise InvalidSchemaError(f"{where}/dependentRequired: must be an object of arrays")
        return {k: frozenset(_string_list(v, f"{where}/dependentRequired/{k}")) for k, v in value.items()}

    def _array(self, raw: Mapping[str, Any], where: str) -> _Array:
        node = _Array(
            min_items=_count(raw, "minItems", where),
            max_items=_count(raw, "maxItems", where),
            unique_items=raw.get("uniqueItems") is True,
            contains=self._optional_schema(raw, "contains", where),
            max_contains=_count(raw, "maxContains", where),
            min_contains=_count(raw, "minContains", where),
        )
        if self.modern and not isinstance(raw.get("items"), list):
            self._items_2020(node, raw, where)
        else:
            self._items_07(node, raw, where)
        if self.modern:
            node.unevaluated = self._optional_schema(raw, "unevaluatedItems", where)
            if node.contains is not None and node.min_contains is None:
                node.min_contains = 1  # the 2019-09 / 2020-12 default
        return node

    def _items_07(self, node: _Array, raw: Mapping[str, Any], where: str) -> None:
        items = raw.get("items")
        if isinstance(items, list):
            node.item_schemas = [self.load(s, f"{where}/items/{i}") for i, s in enumerate(items)]
        elif items is not None:
            node.all_items = self.load(items, f"{where}/items")
        node.permits_additional, node.additional = self._open_part(raw, "additionalItems", where)

    def _items_2020(self, node: _Array, raw: Mapping[str, Any], where: str) -> None:
        prefix = raw.get("prefixItems", [])
        if not isinstance(prefix, list):
            raise InvalidSchemaError(f"{where}/prefixItems: must be an array of schemas")
        node.item_schemas = [self.load(s, f"{where}/prefixItems/{i}") for i, s in enumerate(prefix)]
        permits, rest = self._open_part(raw, "items", where)
        node.permits_additional = permits
        if rest is not None and node.item_schemas:
            node.additional = rest
        elif rest is not None:
            node.all_items = rest

    def _open_part(self, raw: Mapping[str, Any], word: str, where: str) -> tuple[bool, _Node | None]:
        """``true``/absent: anything more is allowed; ``false``: nothing more; a schema: what more may be."""
        value = raw.get(word, True)
        if isinstance(value, bool):
            return value, None
        return True, self.load(value, f"{where}/{word}")

    def _optional_schema(self, raw: Mapping[str, Any], word: str, where: str) -> _Node | None:
        return self.load(raw[word], f"{where}/{word}") if word in raw else None

    def _schema_map(self, raw: Mapping[str, Any], word: str, where: str) -> dict[str, _Node]:
        value = raw.get(word, {})
        if not isinstance(value, Mapping):
            raise InvalidSchemaError(f"{where}/{word}: '{word}' must be an object of schemas")
        return {name: self.load(sub, f"{where}/{word}/{_escape(name)}") for name, sub in value.items()}

    # -- references -------------------------------------------------------------------------

    def _reference(self, ref: Any, where: str) -> _Node:
        if not isinstance(ref, str):
            raise InvalidSchemaError(f"{where}/$ref: '$ref' must be a string")
        base, _, fragment = ref.partition("#")
        local = base == "" or (self.root_id is not None and base == self.root_id)
        if local and fragment in self.anchors:
            return _Ref(key="$ref:#" + self.anchors[fragment], loader=self, pointer=self.anchors[fragment])
        if not local or (fragment and not fragment.startswith("/")):
            return _ExternalRef(key="$ref:" + ref, ref=ref)  # another document, or an unknown anchor
        pointer = unquote(fragment)
        self._walk(pointer, where)  # refuse a dangling pointer now, not halfway through a comparison
        return _Ref(key="$ref:#" + pointer, loader=self, pointer=pointer)

    def _walk(self, pointer: str, where: str) -> Any:
        node: Any = self.document
        for token in pointer.split("/")[1:] if pointer else []:
            token = token.replace("~1", "/").replace("~0", "~")
            if isinstance(node, Mapping) and token in node:
                node = node[token]
            elif isinstance(node, list) and token.isdigit() and int(token) < len(node):
                node = node[int(token)]
            else:
                raise InvalidSchemaError(f"{where}/$ref: '#{pointer}' does not point into this schema")
        return node

    def target(self, pointer: str) -> _Node:
        if pointer not in self.targets:
            self.targets[pointer] = self.load(self._walk(pointer, "#"), "#" + pointer)
        return self.targets[pointer]


def _count(raw: Mapping[str, Any], word: str, where: str) -> int | None:
    value = raw.get(word)
    if value is None:
        return None
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not math.isfinite(value)
        or value < 0
        or value != int(value)
    ):
        raise InvalidSchemaError(f"{where}/{word}: '{word}' must be a non-negative integer")
    return int(value)


def _number(raw: Mapping[str, Any], word: str, where: str, *, allow_bool: bool = False) -> float | None:
    value = raw.get(word)
    if value is None or (allow_bool and isinstance(value, bool)):
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise InvalidSchemaError(f"{where}/{word}: '{word}' must be a finite number")
    return value


def _string_list(value: Any, where: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InvalidSchemaError(f"{where}: must be an array of strings")
    return value


def _escape(token: str) -> str:
    """A JSON-pointer token: ``~`` and ``/`` inside a property name are escaped."""
    return token.replace("~", "~0").replace("/", "~1")


# --------------------------------------------------------------------------------------------
# Comparing two loaded schemas
# --------------------------------------------------------------------------------------------

_Path = tuple[str, ...]


@dataclass(frozen=True)
class _Found:
    """A difference with its path relative to the pair of schemas being compared."""

    type: str
    path: _Path = ()


def _render(path: _Path) -> str:
    return "#/" + "/".join(path)


def _under(prefix: _Path, found: list[_Found]) -> list[_Found]:
    return [_Found(f.type, prefix + f.path) for f in found]


def _here(change: str) -> list[_Found]:
    return [_Found(change)]


def _deref(node: _Node) -> _Node:
    """Follow ``$ref`` chains; a chain that loops back on itself constrains nothing."""
    seen: set[int] = set()
    while isinstance(node, _Ref) and node.loader is not None:
        if id(node) in seen:
            return _ANYTHING
        seen.add(id(node))
        node = node.loader.target(node.pointer)
    return node


def _has_default(node: _Node) -> bool:
    return node.default != _ABSENT or _deref(node).default != _ABSENT


class _Engine:
    """Walks two models side by side. Pairs already compared are remembered, and a pair met again
    while it is still being compared (a recursive schema) is taken as unchanged."""

    def __init__(self, compatible: frozenset[str]) -> None:
        self.compatible = compatible
        self.memo: dict[tuple[int, int], list[_Found]] = {}
        self.active: set[tuple[int, int]] = set()

    def ok(self, found: Iterable[_Found]) -> bool:
        return all(f.type in self.compatible for f in found)

    def compare(self, old: _Node | None, new: _Node | None) -> list[_Found]:
        if old is None and new is None:
            return []
        if old is None:
            return _here("SCHEMA_ADDED")
        if new is None:
            return _here("SCHEMA_REMOVED")
        old, new = _deref(old), _deref(new)
        pair = (id(old), id(new))
        if pair in self.memo:
            return self.memo[pair]
        if pair in self.active:
            return []
        self.active.add(pair)
        try:
            found = self._pair(old, new)
        finally:
            self.active.discard(pair)
        self.memo[pair] = found
        return found

    def _pair(self, old: _Node, new: _Node) -> list[_Found]:
        across = self._across_combination(old, new)
        if across is not None:
            return across
        if {old.kind, new.kind} == {"const", "enum"}:
            return self._metadata(old, new) + _enum_changes(_value_set(old), _value_set(new))
        if old.kind != new.kind:
            # `false` accepted nothing and `{}`/`true` accept everything: neither can break
            if isinstance(old, _False) or isinstance(new, (_Empty, _True)):
                return []
            return _here("TYPE_CHANGED")
        return self._metadata(old, new) + self._by_kind(old, new)

    def _across_combination(self, old: _Node, new: _Node) -> list[_Found] | None:
        """A plain schema that became (or came from) a combination: match it against one branch."""
        if not isinstance(old, _Combined) and isinstance(new, _Combined):
            if len(new.subschemas) == 1:
                found = self.compare(old, new.subschemas[0])
                return found if self.ok(found) else None
            if new.criterion in ("anyOf", "oneOf"):
                return self._first_compatible([(old, sub) for sub in new.subschemas], "SUM_TYPE_EXTENDED")
        elif isinstance(old, _Combined) and not isinstance(new, _Combined):
            if len(old.subschemas) == 1:
                found = self.compare(old.subschemas[0], new)
                return found if self.ok(found) else None
            if old.criterion == "allOf":
                return self._first_compatible([(sub, new) for sub in old.subschemas], "PRODUCT_TYPE_NARROWED")
        return None

    def _first_compatible(self, pairs: list[tuple[_Node, _Node]], change: str) -> list[_Found] | None:
        for old, new in pairs:
            found = self.compare(old, new)
            if self.ok(found):
                return [*found, *_here(change)]
        return None

    @staticmethod
    def _metadata(old: _Node, new: _Node) -> list[_Found]:
        out: list[_Found] = []
        for word, change in (
            ("id", "ID_CHANGED"),
            ("title", "TITLE_CHANGED"),
            ("description", "DESCRIPTION_CHANGED"),
            ("default", "DEFAULT_CHANGED"),
        ):
            if getattr(old, word) != getattr(new, word):
                out.append(_Found(change))
        return out

    def _by_kind(self, old: _Node, new: _Node) -> list[_Found]:
        if isinstance(old, _String) and isinstance(new, _String):
            return _string_changes(old, new)
        if isinstance(old, _Number) and isinstance(new, _Number):
            return _number_changes(old, new)
        if isinstance(old, _Enum) and isinstance(new, _Enum):
            return _enum_changes(old, new)
        if isinstance(old, _Const) and isinstance(new, _Const):
            return [] if old.value == new.value else [_Found("ENUM_ARRAY_CHANGED", ("const",))]
        if isinstance(old, _Combined) and isinstance(new, _Combined):
            return self._combined(old, new)
        if isinstance(old, _Not) and isinstance(new, _Not):
            return self._negation(old, new)
        if isinstance(old, _Conditional) and isinstance(new, _Conditional):
            return self._conditional(old, new)
        if isinstance(old, _Object) and isinstance(new, _Object):
            return self._object(old, new)
        if isinstance(old, _Array) and isinstance(new, _Array):
            return self._array(old, new)
        if isinstance(old, _ExternalRef) and isinstance(new, _ExternalRef) and old.ref != new.ref:
            return _here("TYPE_CHANGED")
        return []

    # -- not --------------------------------------------------------------------------------

    def _negation(self, old: _Not, new: _Not) -> list[_Found]:
        """``not A`` → ``not B`` is compatible when B accepts no more than A: compare them reversed."""
        inner = self.compare(new.inner, old.inner)
        if not inner:
            return []  # unchanged (Confluent would still report NOT_TYPE_NARROWED here)
        return [_Found("NOT_TYPE_NARROWED" if self.ok(inner) else "NOT_TYPE_EXTENDED", ("not",))]

    # -- if / then / else -------------------------------------------------------------------

    def _conditional(self, old: _Conditional, new: _Conditional) -> list[_Found]:
        """A changed ``if`` sorts values differently (no direction is safe); ``then``/``else`` are
        compared like any subschema, an absent one accepting everything."""
        condition = [f for f in self.compare(old.if_, new.if_) if f.type not in _METADATA_CHANGES]
        return [
            *([_Found("CONDITIONAL_IF_CHANGED", ("if",))] if condition else []),
            *_under(("then",), _unevaluated_changes(old.then, new.then, "CONDITIONAL_THEN", self)),
            *_under(("else",), _unevaluated_changes(old.else_, new.else_, "CONDITIONAL_ELSE", self)),
        ]

    # -- allOf / anyOf / oneOf --------------------------------------------------------------

    def _combined(self, old: _Combined, new: _Combined) -> list[_Found]:
        change = _criterion_change(old, new)
        out = [] if change is None else _here(change)
        if change == "COMBINED_TYPE_CHANGED":
            return out
        olds, news = _distinct(old.subschemas), _distinct(new.subschemas)
        if len(olds) < len(news):
            out += _here("PRODUCT_TYPE_EXTENDED" if new.criterion == "allOf" else "SUM_TYPE_EXTENDED")
        elif len(olds) > len(news):
            out += _here("PRODUCT_TYPE_NARROWED" if old.criterion == "allOf" else "SUM_TYPE_NARROWED")
        edges = self._compatible_pairs(old.criterion, olds, news)
        matching = _maximum_matching(edges)
        for i in sorted(matching):
            out += edges[i][matching[i]]
        if len(matching) < min(len(olds), len(news)):
            out += _here("COMBINED_TYPE_SUBSCHEMAS_CHANGED")
        return out

    def _compatible_pairs(self, criterion: str, olds: list[_Node], news: list[_Node]) -> list[dict[int, list[_Found]]]:
        """For each old branch, the new branches it may become, with the changes that would take."""
        edges: list[dict[int, list[_Found]]] = []
        for i, old in enumerate(olds):
            options: dict[int, list[_Found]] = {}
            for j, new in enumerate(news):
                found = self.compare(old, new)
                if self.ok(found):
                    options[j] = _under((criterion, str(i)), found)
            edges.append(options)
        return edges

    # -- objects ----------------------------------------------------------------------------

    def _object(self, old: _Object, new: _Object) -> list[_Found]:
        return [
            *_required_changes(old, new),
            *self._properties(old, new),
            *self._pattern_properties(old, new),
            *_under(
                ("propertyNames",), _unevaluated_changes(old.property_names, new.property_names, "PROPERTY_NAMES", self)
            ),
            *self._dependencies(old, new),
            *_under(("additionalProperties",), self._open_part(old, new, "ADDITIONAL_PROPERTIES")),
            *_under(
                ("unevaluatedProperties",),
                _unevaluated_changes(old.unevaluated, new.unevaluated, "UNEVALUATED_PROPERTIES", self),
            ),
            *_bound_changes("maxProperties", "MAX_PROPERTIES", old.max_properties, new.max_properties),
            *_bound_changes("minProperties", "MIN_PROPERTIES", old.min_properties, new.min_properties),
        ]

    def _properties(self, old: _Object, new: _Object) -> list[_Found]:
        out: list[_Found] = []
        for name in sorted(old.properties.keys() | new.properties.keys()):
            was, now = old.properties.get(name), new.properties.get(name)
            if now is None and was is not None:
                found = self._property_removed(name, was, new)
            elif was is None and now is not None:
                found = self._property_added(name, now, old, new)
            else:
                found = self.compare(was, now)
            out += _under(("properties", _escape(name)), found)
        return out

    def _pattern_properties(self, old: _Object, new: _Object) -> list[_Found]:
        """``patternProperties``, pattern by pattern. A pattern added to a model that was closed (or
        only let other properties in under a schema) widens it, which Confluent does not report."""
        was, now = dict(old.pattern_properties), dict(new.pattern_properties)
        out: list[_Found] = []
        for pattern in sorted(was.keys() | now.keys()):
            if pattern in was and pattern in now:
                found = self.compare(was[pattern], now[pattern])
            elif pattern in was:
                if _open_besides_patterns(new):
                    found = _here("PATTERN_PROPERTY_REMOVED_FROM_OPEN_CONTENT_MODEL")
                elif new.additional is not None:
                    found = self.compare(was[pattern], new.additional)
                else:
                    found = _here("PATTERN_PROPERTY_REMOVED_FROM_CLOSED_CONTENT_MODEL")
            elif _open_besides_patterns(old):
                found = _here("PATTERN_PROPERTY_ADDED_TO_OPEN_CONTENT_MODEL")
            elif old.additional is not None:
                found = self.compare(old.additional, now[pattern])
            else:
                found = []
            out += _under(("patternProperties", _escape(pattern)), found)
        return out

    def _property_removed(self, name: str, was: _Node, new: _Object) -> list[_Found]:
        """Data may still carry the property: the new schema must let it through some other way."""
        if _object_is_open(new):
            return _here("PROPERTY_REMOVED_FROM_OPEN_CONTENT_MODEL")
        covering = _object_partial_schema(new, name)
        if covering is not None:
            return self._covered(was, covering, "PROPERTY_REMOVED")
        if isinstance(_deref(was), _False):
            return _here("PROPERTY_WITH_FALSE_REMOVED_FROM_CLOSED_CONTENT_MODEL")
        return _here("PROPERTY_REMOVED_FROM_CLOSED_CONTENT_MODEL")

    def _property_added(self, name: str, now: _Node, old: _Object, new: _Object) -> list[_Found]:
        """Old data may already carry a property of that name if the old model let undeclared ones in."""
        required = name in new.required
        if _object_is_open(old):
            if isinstance(_deref(now), (_Empty, _True)):
                return _here("PROPERTY_WITH_EMPTY_SCHEMA_ADDED_TO_OPEN_CONTENT_MODEL")
            if not required:
                return _here("OPTIONAL_PROPERTY_ADDED_TO_OPEN_CONTENT_MODEL")
            with_default = _has_default(now)
            return _here(
                "REQUIRED_PROPERTY_WITH_DEFAULT_ADDED_TO_OPEN_CONTENT_MODEL"
                if with_default
                else "REQUIRED_PROPERTY_ADDED_TO_OPEN_CONTENT_MODEL"
            )
        out: list[_Found] = []
        covering = _object_partial_schema(old, name)
        if covering is not None:
            out += self._covered(covering, now, "PROPERTY_ADDED")
        if not required:
            out += _here("OPTIONAL_PROPERTY_ADDED_TO_UNOPEN_CONTENT_MODEL")
        elif _has_default(now):
            out += _here("REQUIRED_PROPERTY_WITH_DEFAULT_ADDED_TO_UNOPEN_CONTENT_MODEL")
        else:
            out += _here("REQUIRED_PROPERTY_ADDED_TO_UNOPEN_CONTENT_MODEL")
        return out

    def _covered(self, old: _Node, new: _Node, what: str) -> list[_Found]:
        found = self.compare(old, new)
        verdict = (
            "_IS_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL"
            if self.ok(found)
            else "_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL"
        )
        return [*found, *_here(what + verdict)]

    def _dependencies(self, old: _Object, new: _Object) -> list[_Found]:
        out: list[_Found] = []
        for name in sorted(old.property_dependencies.keys() | new.property_dependencies.keys()):
            was, now = old.property_dependencies.get(name), new.property_dependencies.get(name)
            out += _under(("dependencies", _escape(name)), _dependency_array_change(was, now))
        for name in sorted(old.schema_dependencies.keys() | new.schema_dependencies.keys()):
            was_schema, now_schema = old.schema_dependencies.get(name), new.schema_dependencies.get(name)
            if now_schema is None:
                found = _here("DEPENDENCY_SCHEMA_REMOVED")
            elif was_schema is None:
                found = _here("DEPENDENCY_SCHEMA_ADDED")
            else:
                found = self.compare(was_schema, now_schema)
            out += _under(("dependencies", _escape(name)), found)
        return out

    def _open_part(self, old: _Object | _Array, new: _Object | _Array, prefix: str) -> list[_Found]:
        """``additionalProperties`` / ``additionalItems``: allowed or not, and with which schema."""
        if old.permits_additional != new.permits_additional:
            return _here(prefix + ("_ADDED" if new.permits_additional else "_REMOVED"))
        if old.additional is None and new.additional is not None:
            return _here(prefix + "_NARROWED")
        if old.additional is not None and new.additional is None:
            return _here(prefix + "_EXTENDED")
        return self.compare(old.additional, new.additional)

    # -- arrays -----------------------------------------------------------------------------

    def _array(self, old: _Array, new: _Array) -> list[_Found]:
        return [
            *_under(("items",), self.compare(old.all_items, new.all_items)),
            *self._tuple_items(old, new),
            *_under(("additionalItems",), self._open_part(old, new, "ADDITIONAL_ITEMS")),
            *_under(
                ("unevaluatedItems",), _unevaluated_changes(old.unevaluated, new.unevaluated, "UNEVALUATED_ITEMS", self)
            ),
            *_under(("contains",), self.compare(old.contains, new.contains)),
            *_bound_changes("maxItems", "MAX_ITEMS", old.max_items, new.max_items),
            *_bound_changes("minItems", "MIN_ITEMS", old.min_items, new.min_items),
            *_unique_items_change(old.unique_items, new.unique_items),
            *_bound_changes("maxContains", "MAX_CONTAINS", old.max_contains, new.max_contains),
            *_bound_changes("minContains", "MIN_CONTAINS", old.min_contains, new.min_contains),
        ]

    def _tuple_items(self, old: _Array, new: _Array) -> list[_Found]:
        """Positional items (``items: [..]`` / ``prefixItems``), position by position."""
        out: list[_Found] = []
        for index in range(max(len(old.item_schemas), len(new.item_schemas))):
            if index < len(old.item_schemas) and index < len(new.item_schemas):
                found = self.compare(old.item_schemas[index], new.item_schemas[index])
            elif index < len(old.item_schemas):
                found = self._item_removed(old.item_schemas[index], new)
            else:
                found = self._item_added(new.item_schemas[index], old)
            out += _under(("items", str(index)), found)
        return out

    def _item_removed(self, was: _Node, new: _Array) -> list[_Found]:
        if _array_is_open(new):
            return _here("ITEM_REMOVED_FROM_OPEN_CONTENT_MODEL")
        covering = _array_partial_schema(new)
        if covering is not None:
            return self._covered(was, covering, "ITEM_REMOVED")
        if isinstance(_deref(was), _False):
            return _here("ITEM_WITH_FALSE_REMOVED_FROM_CLOSED_CONTENT_MODEL")
        return _here("ITEM_REMOVED_FROM_CLOSED_CONTENT_MODEL")

    def _item_added(self, now: _Node, old: _Array) -> list[_Found]:
        if _array_is_open(old):
            if isinstance(_deref(now), (_Empty, _True)):
                return _here("ITEM_WITH_EMPTY_SCHEMA_ADDED_TO_OPEN_CONTENT_MODEL")
            return _here("ITEM_ADDED_TO_OPEN_CONTENT_MODEL")
        covering = _array_partial_schema(old)
        if covering is not None:
            return self._covered(covering, now, "ITEM_ADDED")
        return _here("ITEM_ADDED_TO_CLOSED_CONTENT_MODEL")


# --------------------------------------------------------------------------------------------
# Small comparisons that need no recursion
# --------------------------------------------------------------------------------------------


def _bound_changes(word: str, prefix: str, old: float | None, new: float | None) -> list[_Found]:
    """A numeric limit added, removed, raised or lowered, reported at the keyword's path."""
    if old == new:
        return []
    if old is None:
        change = "_ADDED"
    elif new is None:
        change = "_REMOVED"
    else:
        change = "_INCREASED" if old < new else "_DECREASED"
    return [_Found(prefix + change, (word,))]


def _string_changes(old: _String, new: _String) -> list[_Found]:
    out = [
        *_bound_changes("maxLength", "MAX_LENGTH", old.max_length, new.max_length),
        *_bound_changes("minLength", "MIN_LENGTH", old.min_length, new.min_length),
    ]
    if old.pattern != new.pattern:
        change = (
            "PATTERN_ADDED" if old.pattern is None else "PATTERN_REMOVED" if new.pattern is None else "PATTERN_CHANGED"
        )
        out.append(_Found(change, ("pattern",)))
    for word, prefix in (
        ("format", "FORMAT"),
        ("contentEncoding", "CONTENT_ENCODING"),
        ("contentMediaType", "CONTENT_MEDIA_TYPE"),
    ):
        was, now = getattr(old, _ATTRIBUTE[word]), getattr(new, _ATTRIBUTE[word])
        if was != now:
            change = "_ADDED" if was is None else "_REMOVED" if now is None else "_CHANGED"
            out.append(_Found(prefix + change, (word,)))
    return out


_ATTRIBUTE = {"format": "format", "contentEncoding": "content_encoding", "contentMediaType": "content_media_type"}
_METADATA_CHANGES = frozenset({"ID_CHANGED", "TITLE_CHANGED", "DESCRIPTION_CHANGED", "DEFAULT_CHANGED"})


def _value_set(node: _Node) -> _Enum:
    """A ``const`` read as the one-value ``enum`` it is equivalent to."""
    if isinstance(node, _Const):
        return _Enum(values=frozenset([node.value]))
    assert isinstance(node, _Enum)
    return node


def _number_changes(old: _Number, new: _Number) -> list[_Found]:
    out = [
        *_bound_changes("maximum", "MAXIMUM", old.maximum, new.maximum),
        *_bound_changes("minimum", "MINIMUM", old.minimum, new.minimum),
        *_bound_changes("exclusiveMaximum", "EXCLUSIVE_MAXIMUM", old.exclusive_maximum, new.exclusive_maximum),
        *_bound_changes("exclusiveMinimum", "EXCLUSIVE_MINIMUM", old.exclusive_minimum, new.exclusive_minimum),
        *_multiple_of_change(old.multiple_of, new.multiple_of),
    ]
    if old.integer != new.integer:
        out += _here("TYPE_EXTENDED" if old.integer else "TYPE_NARROWED")
    return out


def _multiple_of_change(old: Decimal | None, new: Decimal | None) -> list[_Found]:
    """A new step that divides the old one keeps every old value valid (``REDUCED``); a multiple of
    it (``EXPANDED``) or an unrelated step (``CHANGED``) does not."""
    if old == new:
        return []
    if old is None:
        change = "MULTIPLE_OF_ADDED"
    elif new is None:
        change = "MULTIPLE_OF_REMOVED"
    elif _divides(old, new):
        change = "MULTIPLE_OF_EXPANDED"
    elif _divides(new, old):
        change = "MULTIPLE_OF_REDUCED"
    else:
        change = "MULTIPLE_OF_CHANGED"
    return [_Found(change, ("multipleOf",))]


def _divides(step: Decimal, value: Decimal) -> bool:
    try:
        return step != 0 and value % step == 0
    except InvalidOperation:
        return False


def _enum_changes(old: _Enum, new: _Enum) -> list[_Found]:
    if old.values == new.values:
        return []
    if new.values > old.values:
        change = "ENUM_ARRAY_EXTENDED"
    elif new.values < old.values:
        change = "ENUM_ARRAY_NARROWED"
    else:
        change = "ENUM_ARRAY_CHANGED"
    return [_Found(change, ("enum",))]


def _required_changes(old: _Object, new: _Object) -> list[_Found]:
    """``required`` is judged for properties both versions declare, as Confluent does. When neither
    version declares any property, the names are judged as they stand (as Apicurio does); Confluent
    ignores a required name no ``properties`` declares, and that is kept when some are declared."""
    out: list[_Found] = []
    undeclared = frozenset() if old.properties or new.properties else old.required | new.required
    for name in sorted((old.properties.keys() & new.properties.keys()) | undeclared):
        was, now = name in old.required, name in new.required
        if was and not now:
            change = "REQUIRED_ATTRIBUTE_REMOVED"
        elif now and not was:
            with_default = name in new.properties and _has_default(new.properties[name])
            change = "REQUIRED_ATTRIBUTE_WITH_DEFAULT_ADDED" if with_default else "REQUIRED_ATTRIBUTE_ADDED"
        else:
            continue
        out.append(_Found(change, ("required", _escape(name))))
    return out


def _dependency_array_change(was: frozenset[str] | None, now: frozenset[str] | None) -> list[_Found]:
    if now is None:
        return _here("DEPENDENCY_ARRAY_REMOVED")
    if was is None:
        return _here("DEPENDENCY_ARRAY_ADDED")
    if was == now:
        return []
    if now > was:
        return _here("DEPENDENCY_ARRAY_EXTENDED")
    if now < was:
        return _here("DEPENDENCY_ARRAY_NARROWED")
    return _here("DEPENDENCY_ARRAY_CHANGED")


def _unique_items_change(old: bool, new: bool) -> list[_Found]:
    if old == new:
        return []
    return [_Found("UNIQUE_ITEMS_REMOVED" if old else "UNIQUE_ITEMS_ADDED", ("uniqueItems",))]


def _is_anything(node: _Node | None) -> bool:
    return node is None or isinstance(_deref(node), (_Empty, _True))


def _is_nothing(node: _Node | None) -> bool:
    return node is not None and isinstance(_deref(node), _False)


def _unevaluated_changes(old: _Node | None, new: _Node | None, prefix: str, engine: _Engine) -> list[_Found]:
    """``unevaluatedProperties`` / ``unevaluatedItems``; absent counts as ``true``."""
    if _is_anything(old) and _is_anything(new):
        return []
    if _is_nothing(old) != _is_nothing(new):
        return _here(prefix + ("_REMOVED" if _is_nothing(new) else "_ADDED"))
    if _is_anything(old):
        return _here(prefix + "_NARROWED")
    if _is_anything(new):
        return _here(prefix + "_EXTENDED")
    return engine.compare(old, new)


def _object_is_open(node: _Object) -> bool:
    """Open: any undeclared property, of any value, is allowed."""
    return (
        not node.pattern_properties
        and node.additional is None
        and node.permits_additional
        and _is_anything(node.unevaluated)
    )


def _object_partial_schema(node: _Object, name: str) -> _Node | None:
    """The schema an undeclared property ``name`` must match, if the model lets it in under one."""
    for pattern, schema in node.pattern_properties:
        try:
            if re.search(pattern, name):
                return schema
        except re.error:
            continue
    if node.additional is not None:
        return node.additional
    if node.permits_additional and not _is_anything(node.unevaluated) and not _is_nothing(node.unevaluated):
        return node.unevaluated
    return None


def _open_besides_patterns(node: _Object) -> bool:
    """Open but for its ``patternProperties``: any other undeclared property is allowed."""
    return node.additional is None and node.permits_additional and _is_anything(node.unevaluated)


def _array_is_open(node: _Array) -> bool:
    return node.permits_additional and node.additional is None and _is_anything(node.unevaluated)


def _array_partial_schema(node: _Array) -> _Node | None:
    if node.additional is not None:
        return node.additional
    if node.permits_additional and not _is_anything(node.unevaluated) and not _is_nothing(node.unevaluated):
        return node.unevaluated
    return None


def _criterion_change(old: _Combined, new: _Combined) -> str | None:
    """Switching between allOf/anyOf/oneOf: towards ``anyOf`` always widens; towards ``oneOf`` only
    from a single branch or an ``allOf``; towards ``allOf`` only between single branches."""
    if old.criterion == new.criterion:
        return None
    if new.criterion == "anyOf":
        return "COMBINED_TYPE_EXTENDED"
    if new.criterion == "oneOf":
        widened = len(old.subschemas) == 1 or old.criterion == "allOf"
    else:
        widened = len(old.subschemas) == 1 and len(new.subschemas) == 1
    return "COMBINED_TYPE_EXTENDED" if widened else "COMBINED_TYPE_CHANGED"


def _distinct(nodes: list[_Node]) -> list[_Node]:
    """Branches written twice count once."""
    seen: dict[str, _Node] = {}
    for node in nodes:
        seen.setdefault(node.key, node)
    return list(seen.values())


def _maximum_matching(edges: list[dict[int, list[_Found]]]) -> dict[int, int]:
    """Pair as many old branches with new ones as possible, and among such pairings the one that
    needs the fewest changes, so an unchanged branch is always paired with its twin.

    ``edges[i]`` maps each new branch old branch ``i`` may become to the changes that takes. This is
    a minimum-cost maximum matching by successive shortest augmenting paths; the graphs are a handful
    of branches, so plain Bellman-Ford relaxation is enough. Returns old index → new index.
    """
    to_new: dict[int, int] = {}
    to_old: dict[int, int] = {}
    while True:
        path_end = _cheapest_augmenting_path(edges, to_new, to_old)
        if path_end is None:
            return to_new
        _augment(path_end, to_new, to_old)


def _cheapest_augmenting_path(
    edges: list[dict[int, list[_Found]]], to_new: dict[int, int], to_old: dict[int, int]
) -> tuple[int, dict[int, int], dict[int, int]] | None:
    """From any unpaired old branch to the cheapest reachable unpaired new branch, alternating
    unpaired edges (cost: their changes) and paired edges walked back (cost: minus their changes)."""
    cost_old = {i: 0 for i in range(len(edges)) if i not in to_new}
    cost_new: dict[int, int] = {}
    via_old: dict[int, int] = {}  # new branch → the old branch it was reached from
    via_new: dict[int, int] = {}  # paired old branch → the new branch it was reached back from
    changed = True
    while changed:
        changed = False
        for i in sorted(cost_old):
            for j, found in edges[i].items():
                if to_new.get(i) != j and cost_old[i] + len(found) < cost_new.get(j, math.inf):
                    cost_new[j], via_old[j], changed = cost_old[i] + len(found), i, True
        for j in sorted(cost_new):
            i = to_old.get(j)
            if i is not None and cost_new[j] - len(edges[i][j]) < cost_old.get(i, math.inf):
                cost_old[i], via_new[i], changed = cost_new[j] - len(edges[i][j]), j, True
    free = [j for j in sorted(cost_new) if j not in to_old]
    if not free:
        return None
    end = min(free, key=lambda j: cost_new[j])
    return end, via_old, via_new


def _augment(path: tuple[int, dict[int, int], dict[int, int]], to_new: dict[int, int], to_old: dict[int, int]) -> None:
    """Flip the pairing along the path: every unpaired edge on it becomes paired and vice versa."""
    j, via_old, via_new = path
    while True:
        i = via_old[j]
        previous = via_new.get(i)
        to_new[i], to_old[j] = j, i
        if previous is None:
            return
        j = previous
