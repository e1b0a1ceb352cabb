"""ODCS v3.1 documents held to the official JSON Schema, with messages that say what to fix.

Every violation is reported (not the first), by JSON path. jsonschema's own messages are made
readable where they are not: an ``anyOf``/``oneOf`` failure names its closest alternative's
problem, an ``unevaluatedProperties`` error names only the keys no alternative declares, and a
long offending value is shortened (the path already locates it).

>>> validate_odcs({"apiVersion": "v3.1.0", "kind": "DataContract", "id": "c", "version": "1.0.0"})
["$: 'status' is a required property"]
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

#: The JSON Schema shipped with the package (a verbatim copy of bitol-io's, see schemas/README.md).
SCHEMA_PATH = Path(__file__).resolve().parent / "schemas" / "odcs-json-schema-v3.1.0.json"


def validate_odcs(doc: Any, *, schema_path: str | Path | None = None) -> list[str]:
    """Every violation of the ODCS v3.1.0 JSON Schema, as ``"<JSON path>: <message>"``.

    All violations are returned, not the first, sorted by path. A violation inside ``anyOf`` or
    ``oneOf`` names its closest alternative's own problem too, because "not valid under any of
    the given schemas" alone does not say what to fix. ``format`` (dates, date-times) is
    asserted with stdlib parsers so the result does not depend on optional packages.

    ``schema_path`` defaults to the schema packaged with meshfabric.
    """
    return [f"{path}: {message}" for path, message in schema_violations(doc, schema_path)]


def schema_violations(doc: Any, schema_path: str | Path | None = None) -> list[tuple[str, str]]:
    validator = _validator(str(Path(schema_path).resolve()) if schema_path else str(SCHEMA_PATH))
    errors = list(validator.iter_errors(doc))
    found: set[tuple[str, str]] = set()
    for error in errors:
        message = _message(error, validator.schema, errors)
        if message is not None:
            found.add((error.json_path, message))
    return sorted(found, key=lambda pm: (_path_key(pm[0]), pm[1]))


@lru_cache(maxsize=4)
def _validator(schema_file: str) -> Any:
    from jsonschema import FormatChecker
    from jsonschema.validators import validator_for

    schema = json.loads(Path(schema_file).read_text(encoding="utf-8"))
    cls = validator_for(schema)
    cls.check_schema(schema)
    checker = FormatChecker(formats=())
    checker.checks("date")(_is_date)
    checker.checks("date-time")(_is_date_time)
    return cls(schema, format_checker=checker)


_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_DATE_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")


def _is_date(value: object) -> bool:
    """RFC 3339 full-date; non-strings pass (``type`` is a separate keyword)."""
    if not isinstance(value, str):
        return True
    if not _DATE.match(value):
        return False
    try:
        datetime.strptime(value, "%Y-%m-%d")
    except ValueError:
        return False
    return True


def _is_date_time(value: object) -> bool:
    """RFC 3339 date-time: a date, a time and an offset (``Z`` or ``±hh:mm``)."""
    if not isinstance(value, str):
        return True
    if not _DATE_TIME.match(value):
        return False
    try:
        datetime.fromisoformat(value.replace("z", "Z"))
    except ValueError:
        return False
    return True


def _message(error: Any, root: dict[str, Any], errors: list[Any]) -> str | None:
    """A readable message for one error, or None when it only repeats another one.

    Under ``unevaluatedProperties`` a property counts as unexpected as soon as the alternative
    that declares it fails for another reason, so a missing ``mustBe`` would also report
    ``metric`` as unexpected. Only properties that no applicable subschema declares are
    reported; an error left with none, or repeating an ``additionalProperties`` error, is dropped.
    """
    if error.validator == "unevaluatedProperties" and isinstance(error.instance, dict):
        known = _declared_keys(error.schema, root, set())
        if known is not None:
            unknown = [k for k in error.instance if k not in known]
            repeated = any(
                e.validator == "additionalProperties"
                and e.json_path == error.json_path
                and all(repr(k) in e.message for k in unknown)
                for e in errors
            )
            if not unknown or repeated:
                return None
            names = ", ".join(repr(k) for k in unknown)
            return (
                f"Unevaluated properties are not allowed ({names} {'was' if len(unknown) == 1 else 'were'} unexpected)"
            )
    if " is valid under each of " in error.message:
        return f"{_describe(error.instance)} matches more than one alternative where exactly one is allowed (oneOf)"
    text = _shorten(error.message, error.instance)
    if error.validator in ("anyOf", "oneOf") and error.context:
        text += f" ({_closest(error)})"
    return text


def _closest(error: Any) -> str:
    """What the most nearly matching alternative of an ``anyOf``/``oneOf`` lacks.

    The alternative that got deepest into the value is the one the author meant; when every
    alternative only misses a required property, those properties are listed as the choice.
    """
    from jsonschema.exceptions import best_match

    def leaves(err: Any) -> Iterator[Any]:
        for sub in err.context:
            if sub.validator in ("anyOf", "oneOf") and sub.context:
                yield from leaves(sub)
            else:
                yield sub

    found = list(leaves(error))
    depth = max(len(e.absolute_path) for e in found)
    deepest = [e for e in found if len(e.absolute_path) == depth]
    if all(e.validator == "required" for e in deepest) and depth == len(error.absolute_path):
        missing = dict.fromkeys(m for e in deepest for m in re.findall(r"^'([^']+)' is a required", e.message))
        return "needs one of: " + ", ".join(missing)
    best = best_match(deepest)
    where = best.json_path[len(error.json_path) :].lstrip(".")
    return f"closest: {where + ': ' if where else ''}{_shorten(best.message, best.instance)}"


def _declared_keys(schema: Any, root: dict[str, Any], seen: set[str]) -> set[str] | None:
    """Property names declared for one instance level by ``schema`` and its applicators.

    None when a reference cannot be followed (then the error is kept as jsonschema wrote it).
    """
    if not isinstance(schema, dict):
        return set()
    keys = set(schema.get("properties", {}) or {})
    subschemas: list[Any] = []
    for word in ("allOf", "anyOf", "oneOf"):
        subschemas.extend(schema.get(word, []) or [])
    subschemas.extend(schema[w] for w in ("if", "then", "else", "not") if w in schema)
    ref = schema.get("$ref")
    if isinstance(ref, str):
        if not ref.startswith("#/"):
            return None
        if ref not in seen:
            seen.add(ref)
            target: Any = root
            for part in ref[2:].split("/"):
                target = target.get(part.replace("~1", "/").replace("~0", "~")) if isinstance(target, dict) else None
            if target is None:
                return None
            subschemas.append(target)
    for sub in subschemas:
        more = _declared_keys(sub, root, seen)
        if more is None:
            return None
        keys |= more
    return keys


def _describe(instance: Any) -> str:
    text = repr(instance)
    if len(text) <= 60:
        return text
    return (
        "the object" if isinstance(instance, dict) else "the list" if isinstance(instance, list) else text[:57] + "..."
    )


def _shorten(message: str, instance: Any) -> str:
    """Replace a long repr of the offending value by a short one: the path already locates it."""
    text = repr(instance)
    if len(text) > 60 and text in message:
        return message.replace(text, _describe(instance))
    return message


def _path_key(path: str) -> list[tuple[int, Any]]:
    """Sort key for JSON paths: indices numerically (``[10]`` after ``[9]``)."""
    return [(0, i) if i is not None else (1, k) for i, k in json_path_steps(path)]


def json_path_steps(path: str) -> list[tuple[int | None, str | None]]:
    """``$.schema[0]['a.b']`` → [(None, 'schema'), (0, None), (None, 'a.b')]."""
    steps: list[tuple[int | None, str | None]] = []
    for index, dotted, quoted in re.findall(r"\[(\d+)\]|\.([^.\[\]]+)|\['([^']*)'\]", path):
        if index:
            steps.append((int(index), None))
        else:
            steps.append((None, dotted or quoted))
    return steps
