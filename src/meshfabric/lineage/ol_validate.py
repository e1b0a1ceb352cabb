"""OpenLineage validation: every way an event breaks the spec, each with its JSON path.

Validation is offline: the bundled core schema (``spec/OpenLineage.json``, 2-0-2) and every facet
schema (``spec/facets/*.json``) are registered under their ``$id`` in a ``referencing`` registry
that cannot retrieve anything else. An event is checked against the schema of its own kind (so
a problem is reported where it is, not as "not valid under any of the given schemas"), then each
known facet against its facet schema where the spec places it; unknown (custom) facets only need
the base facet fields. Every problem names its JSON path.

JSON Schema 2020-12 leaves ``format`` an annotation and producers send values such as Spark's
``dataSource.uri: "file"``, so the validation is strict where the spec is (types, required
fields, enums) and for the formats meshfabric relies on — ``date-time`` (times are compared and
stored, a date alone is no time) and ``uuid`` (a run's identity) — while any other format
deviation (``uri``) is a warning: :func:`check_event` returns both, :func:`validate_event` the
problems only.

>>> validate_event({"eventTime": "2024-05-01T10:00:00Z", "producer": "https://example.com/p",
...                 "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/JobEvent",
...                 "job": {"namespace": "airflow"}})
[EventProblem(path='$.job.name', message='is required but missing')]
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from meshfabric.errors import MeshfabricError

CORE_ID = "https://openlineage.io/spec/2-0-2/OpenLineage.json"
#: facet containers and the spec definition each facet in them extends
_LOCATIONS = {"RunFacet": "run", "JobFacet": "job", "DatasetFacet": "dataset",
              "InputDatasetFacet": "input", "OutputDatasetFacet": "output"}
_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*:\S*$")
#: a date-time has a date and a time of day (RFC 3339 ``date-time``); the offset may be omitted
_DATE_TIME = re.compile(r"^\s*\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}")
#: formats refused when broken; any other broken format is a warning
STRICT_FORMATS = frozenset({"date-time", "uuid"})


# --------------------------------------------------------------------------------------------
# problems


@dataclass(frozen=True)
class EventProblem:
    """One thing wrong in an event: where (a JSON path such as ``$.run.runId``) and why."""

    path: str
    message: str

    def render(self) -> str:
        return f"{self.path}: {self.message}"

    def to_dict(self) -> dict[str, str]:
        return {"path": self.path, "message": self.message}


class InvalidOpenLineageEvent(MeshfabricError):
    """The event does not follow the OpenLineage spec; nothing was stored."""

    title = "invalid OpenLineage event"

    def __init__(self, problems: list[EventProblem]) -> None:
        self.problems = problems
        n = len(problems)
        head = f"{n} problem{'s' if n != 1 else ''} in the OpenLineage event (nothing was stored):"
        super().__init__(head + "\n" + "\n".join("  " + p.render() for p in problems),
                         hint=f"the event must follow the OpenLineage spec ({CORE_ID})")


# --------------------------------------------------------------------------------------------
# the bundled spec


@dataclass
class _Spec:
    registry: Any
    #: (location, facet key) -> the facet's schema URI (``<$id>#/properties/<key>``)
    facets: dict[tuple[str, str], str]
    validators: dict[str, Any] = field(default_factory=dict)


def _format_checker() -> Any:
    from jsonschema import FormatChecker

    checker = FormatChecker(formats=())

    @checker.checks("uuid")
    def _uuid(value: object) -> bool:
        return not isinstance(value, str) or bool(_UUID.match(value))

    @checker.checks("date-time")
    def _date_time(value: object) -> bool:
        # ISO 8601 as producers write it: the spec's own examples omit the offset (read as UTC)
        return not isinstance(value, str) or (bool(_DATE_TIME.match(value)) and parse_time(value) is not None)

    @checker.checks("uri")
    def _uri(value: object) -> bool:
        return not isinstance(value, str) or bool(_URI.match(value))

    return checker


@lru_cache(maxsize=1)
def _spec() -> _Spec:
    from importlib.resources import files

    from referencing import Registry, Resource

    root = files("meshfabric.lineage").joinpath("spec")
    docs = [json.loads(root.joinpath("OpenLineage.json").read_text("utf-8"))]
    facet_dir = root.joinpath("facets")
    docs += [json.loads(p.read_text("utf-8")) for p in sorted(facet_dir.iterdir(), key=lambda p: p.name)
             if p.name.endswith(".json")]
    registry: Any = Registry().with_resources((d["$id"], Resource.from_contents(d)) for d in docs)
    facets: dict[tuple[str, str], str] = {}
    for doc in docs[1:]:
        text = json.dumps(doc)
        places = {loc for name, loc in _LOCATIONS.items() if f'{CORE_ID}#/$defs/{name}"' in text}
        for key in doc.get("properties", {}):
            for loc in places:
                facets[(loc, key)] = f"{doc['$id']}#/properties/{key}"
    return _Spec(registry=registry, facets=facets)


def _validator(ref: str) -> Any:
    spec = _spec()
    found = spec.validators.get(ref)
    if found is None:
        from jsonschema import Draft202012Validator

        found = Draft202012Validator({"$ref": ref}, registry=spec.registry, format_checker=_format_checker())
        spec.validators[ref] = found
    return found


def _json_path(parts: Any) -> str:
    out = "$"
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        elif re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", str(part)):
            out += f".{part}"
        else:
            out += "[" + json.dumps(str(part)) + "]"
    return out


def _leaves(error: Any) -> list[Any]:
    """The specific errors under an anyOf/oneOf failure: all of them when only one alternative
    was tried (the spec wraps every facet map in a one-branch anyOf), else the best match."""
    from jsonschema.exceptions import best_match

    if not error.context:
        return [error]
    branches = {e.relative_schema_path[0] for e in error.context if e.relative_schema_path}
    chosen = list(error.context) if len(branches) <= 1 else [best_match(error.context)]
    return [leaf for e in chosen for leaf in _leaves(e)]


def _describe(error: Any, prefix: tuple[Any, ...]) -> EventProblem:
    path = prefix + tuple(error.absolute_path)
    if error.validator == "required":
        missing = re.match(r"'([^']*)' is a required property", error.message)
        if missing:
            return EventProblem(_json_path((*path, missing.group(1))), "is required but missing")
    if error.validator == "format":
        return EventProblem(_json_path(path), f"{error.instance!r} is not a valid {error.validator_value}")
    if error.validator == "not" and error.validator_value == {"required": ["job", "run"]}:
        return EventProblem(_json_path(path), "a DatasetEvent must not carry job and run")
    return EventProblem(_json_path(path), error.message)


def _lenient(error: Any) -> bool:
    return error.validator == "format" and error.validator_value not in STRICT_FORMATS


def _check(instance: Any, ref: str, prefix: tuple[Any, ...]) -> tuple[list[EventProblem], list[EventProblem]]:
    """Problems and warnings (lenient format deviations) of ``instance`` against ``ref``."""
    leaves = [leaf for e in _validator(ref).iter_errors(instance) for leaf in _leaves(e)]
    return ([_describe(leaf, prefix) for leaf in leaves if not _lenient(leaf)],
            [_describe(leaf, prefix) for leaf in leaves if _lenient(leaf)])


def event_kind(event: Any) -> str | None:
    """``run``, ``dataset`` or ``job``: which of the three event schemas an event follows."""
    if not isinstance(event, dict):
        return None
    if "run" in event:
        return "run"
    if "dataset" in event:
        return "dataset"
    if "job" in event:
        return "job"
    return None


def validate_event(event: Any) -> list[EventProblem]:
    """Every way ``event`` breaks the OpenLineage spec (empty when it is valid); format
    deviations the spec tolerates are not among them (see :func:`check_event`)."""
    return check_event(event)[0]


def check_event(event: Any) -> tuple[list[EventProblem], list[EventProblem]]:
    """The problems of ``event`` (it is refused when there are any) and its warnings: values
    that break a ``format`` other than date-time and uuid, such as Spark's ``dataSource.uri:
    "file"`` — accepted, since JSON Schema does not oblige format validation."""
    if not isinstance(event, dict):
        return [EventProblem("$", f"an OpenLineage event is a JSON object, not {type(event).__name__}")], []
    kind = event_kind(event)
    if kind is None:
        return [EventProblem("$", "not an OpenLineage event: a RunEvent has run and job, a DatasetEvent "
                                  "has dataset, a JobEvent has job (none of them is present)")], []
    name = {"run": "RunEvent", "dataset": "DatasetEvent", "job": "JobEvent"}[kind]
    problems, warnings = _check(event, f"{CORE_ID}#/$defs/{name}", ())
    for loc, path, facets in _facet_containers(event, kind):
        for key, facet in facets.items():
            ref = _spec().facets.get((loc, key))
            if ref is None or not isinstance(facet, dict) or facet.get("_deleted") is True:
                continue
            found, warned = _check(facet, ref, (*path, key))
            problems += found
            warnings += warned
    return _unique(problems), _unique(warnings)


def _unique(problems: list[EventProblem]) -> list[EventProblem]:
    return sorted(dict.fromkeys(problems), key=lambda p: p.path)


def _facet_containers(event: dict[str, Any], kind: str) -> list[tuple[str, tuple[Any, ...], dict[str, Any]]]:
    out: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = []

    def add(loc: str, path: tuple[Any, ...], owner: Any, key: str) -> None:
        if isinstance(owner, dict) and isinstance(owner.get(key), dict):
            out.append((loc, (*path, key), owner[key]))

    if kind == "dataset":
        add("dataset", ("dataset",), event.get("dataset"), "facets")
        return out
    if kind == "run":
        add("run", ("run",), event.get("run"), "facets")
    add("job", ("job",), event.get("job"), "facets")
    for side, extra, loc in (("inputs", "inputFacets", "input"), ("outputs", "outputFacets", "output")):
        items = event.get(side)
        if isinstance(items, list):
            for i, ds in enumerate(items):
                add("dataset", (side, i), ds, "facets")
                add(loc, (side, i), ds, extra)
    return out


def parse_time(text: str) -> datetime | None:
    try:
        value = datetime.fromisoformat(text.strip().replace("z", "Z"))
    except ValueError:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


#: deeper JSON is refused: real events nest a dozen levels, and deep recursion is a denial of service
MAX_NESTING = 64


def json_problems(event: Any) -> list[EventProblem]:
    """Strings holding a NUL character, which PostgreSQL text cannot store, numbers JSON cannot
    write (NaN, Infinity), and nesting deeper than MAX_NESTING; no producer sends any of them.
    Walked with an explicit stack, so no input can exhaust Python's recursion limit."""
    out: list[EventProblem] = []
    stack: list[tuple[Any, tuple[Any, ...]]] = [(event, ())]
    while stack and len(out) < 20:
        value, path = stack.pop()
        if len(path) > MAX_NESTING:
            out.append(EventProblem(_json_path(path[:MAX_NESTING]), f"nests deeper than {MAX_NESTING} levels"))
            break
        if isinstance(value, float) and not math.isfinite(value):
            out.append(EventProblem(_json_path(path), f"{value} is not a JSON number"))
        elif isinstance(value, str):
            if "\x00" in value:
                out.append(EventProblem(_json_path(path), "contains a NUL character (\\u0000), which cannot be stored"))
        elif isinstance(value, dict):
            for k, v in value.items():
                if "\x00" in str(k):
                    out.append(EventProblem(_json_path(path), "has a key with a NUL character (\\u0000)"))
                stack.append((v, (*path, k)))
        elif isinstance(value, list):
            stack.extend((v, (*path, i)) for i, v in enumerate(value))
    return out
