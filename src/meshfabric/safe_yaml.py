"""The one way meshfabric reads YAML (and JSON) a user hands it: bounded in size, nesting depth
and alias expansion, with duplicate keys refused.

PyYAML's safe loader is safe against code execution only. On its own a 5,000-level ``[[[…]]]``
ends in a RecursionError, a 661-byte file of nested aliases ("billion laughs") expands to 10^9
nodes for anything that walks the result, and a repeated key silently replaces the first. Every
parse of untrusted YAML goes through :class:`SafeLoader` (or a subclass), which refuses these
while composing, before any Python object is built:

>>> def first_problem(text):
...     try:
...         load_documents(text, "x.yaml", max_depth=3)
...     except SpecError as exc:
...         return exc.problems[0].render()
>>> first_problem("a: [[[1]]]")
'x.yaml:1: the YAML nests deeper than 3 levels — flatten the nesting; spec files need only a few levels'
>>> first_problem("status: draft\\nstatus: retired\\n")
"x.yaml:2: duplicate key 'status' (first on line 1; YAML would keep only the last) — remove one of them"
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml
from yaml.composer import Composer
from yaml.constructor import SafeConstructor
from yaml.resolver import Resolver

from meshfabric.errors import ConfigError, SpecError, SpecProblem

#: the largest YAML or JSON file read as a spec, contract, policy or event file
MAX_BYTES = 10 * 1024 * 1024
#: collections inside collections, counted from the document's root
MAX_DEPTH = 100
#: nodes all aliases of one document may bring in, counted as if every alias were copied out
MAX_ALIAS_NODES = 100_000

_MERGE_TAG = "tag:yaml.org,2002:merge"


class YAMLLimitError(yaml.composer.ComposerError):
    """A YAML document refused for its shape (too deep, too many aliases, a duplicate key)."""

    def __init__(self, problem: str, mark: Any, hint: str) -> None:
        super().__init__(None, None, problem, mark)
        self.hint = hint


class _BoundedComposer(Composer):
    """PyYAML's composer with a depth limit, an alias budget and a duplicate-key check.

    Limits are class attributes so a caller may tighten them (``max_depth`` of the helpers)."""

    max_depth = MAX_DEPTH
    max_alias_nodes = MAX_ALIAS_NODES

    def compose_document(self) -> Any:
        self._depth = 0
        self._alias_nodes = 0
        self._open: set[str] = set()
        self._expanded: dict[int, tuple[int, int]] = {}
        return super().compose_document()

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            if event.anchor in self._open:
                raise YAMLLimitError(f"alias *{event.anchor} refers to a collection that contains it",
                                     event.start_mark, "a spec cannot contain itself; copy the values instead")
            node = super().compose_node(parent, index)
            size, height = self._expansion(node)
            self._alias_nodes += size
            if self._alias_nodes > self.max_alias_nodes:
                raise YAMLLimitError(
                    f"aliases expand to more than {self.max_alias_nodes:,} values (at *{event.anchor})",
                    event.start_mark, "use fewer or smaller aliases (&anchor / *alias); write the values out")
            if self._depth + height > self.max_depth:
                raise YAMLLimitError(f"the YAML nests deeper than {self.max_depth} levels (through *{event.anchor})",
                                     event.start_mark, "flatten the nesting")
            return node
        event = self.peek_event()
        collection = isinstance(event, yaml.SequenceStartEvent | yaml.MappingStartEvent)
        if not collection:
            return super().compose_node(parent, index)
        self._depth += 1
        if self._depth > self.max_depth:
            raise YAMLLimitError(f"the YAML nests deeper than {self.max_depth} levels", event.start_mark,
                                 "flatten the nesting; spec files need only a few levels")
        if event.anchor is not None:
            self._open.add(event.anchor)
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1
            self._open.discard(event.anchor)

    def compose_mapping_node(self, anchor: Any) -> Any:
        node = super().compose_mapping_node(anchor)
        seen: dict[tuple[str, str], Any] = {}
        for key_node, _ in node.value:
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag == _MERGE_TAG:
                continue
            key = (key_node.tag, key_node.value)
            first = seen.setdefault(key, key_node)
            if first is not key_node:
                raise YAMLLimitError(
                    f"duplicate key '{key_node.value}' (first on line {first.start_mark.line + 1}; "
                    "YAML would keep only the last)",
                    key_node.start_mark, "remove one of them")
        return node

    def _expansion(self, node: Any) -> tuple[int, int]:
        """(values, levels) of ``node`` with every alias in it copied out; memoised per node."""
        found = self._expanded.get(id(node))
        if found is not None:
            return found
        if isinstance(node, yaml.SequenceNode):
            children = node.value
        elif isinstance(node, yaml.MappingNode):
            children = [n for pair in node.value for n in pair]
        else:
            return 1, 0
        size, height = 1, 0
        for child in children:
            s, h = self._expansion(child)
            size, height = size + s, max(height, h)
            if size > self.max_alias_nodes:
                break  # the budget is exceeded anyway; stop counting
        found = (size, height + 1)
        self._expanded[id(node)] = found
        return found


try:
    from yaml.cyaml import CParser as _CParser
except ImportError:  # pragma: no cover - PyYAML built without libyaml
    _CParser = None

if _CParser is not None:

    class SafeLoader(_BoundedComposer, _CParser, SafeConstructor, Resolver):  # type: ignore[misc,valid-type]
        """Safe, bounded loader: libyaml's scanner and parser, this module's composer (the
        bounds), PyYAML's safe constructor and resolver."""

        def __init__(self, stream: Any) -> None:
            _CParser.__init__(self, stream)
            _BoundedComposer.__init__(self)
            SafeConstructor.__init__(self)
            Resolver.__init__(self)

else:  # pragma: no cover - PyYAML built without libyaml

    class SafeLoader(_BoundedComposer, yaml.SafeLoader):  # type: ignore[no-redef]
        """Safe, bounded loader (pure-Python PyYAML)."""


def problem_of(exc: yaml.YAMLError, origin: str) -> SpecProblem:
    """The spec problem for a YAML error: the file, the line and what to do."""
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    line = mark.line + 1 if mark is not None else None
    if isinstance(exc, YAMLLimitError):
        return SpecProblem(origin, line, None, str(exc.problem), exc.hint)
    problem = getattr(exc, "problem", None) or str(exc)
    if "maximum nesting depth" in problem:  # libyaml's own limit (1,000 levels), met before ours
        return SpecProblem(origin, line, None, f"the YAML nests deeper than {MAX_DEPTH} levels", "flatten the nesting")
    return SpecProblem(origin, line, None, f"not valid YAML: {problem}", "check indentation and quoting")


def compose_documents(text: str, origin: str, *, loader: type[SafeLoader] = SafeLoader,
                      max_depth: int | None = None) -> list[tuple[Any, Any]]:
    """``(value, node)`` for every document of ``text``: each parsed once, the node kept for the
    lines of its keys. SpecError (origin, line, what is wrong) for bad or hostile YAML."""
    if len(text) > MAX_BYTES:
        raise SpecError([_too_big(origin, len(text))])
    instance = loader(text)
    if max_depth is not None:
        instance.max_depth = max_depth
    try:
        out = []
        while instance.check_node():
            node = instance.get_node()
            out.append((instance.construct_document(node), node))
        return out
    except yaml.YAMLError as exc:
        raise SpecError([problem_of(exc, origin)]) from None
    except RecursionError:  # a limit raised by a caller above what the stack allows
        raise SpecError([SpecProblem(origin, None, None, "the YAML nests too deeply", "flatten the nesting")]) from None
    finally:
        instance.dispose()


def load_documents(text: str, origin: str, *, loader: type[SafeLoader] = SafeLoader,
                   max_depth: int | None = None) -> list[Any]:
    """Every document of ``text`` as Python values (see :func:`compose_documents`)."""
    return [value for value, _ in compose_documents(text, origin, loader=loader, max_depth=max_depth)]


def load_one(text: str, origin: str, *, loader: type[SafeLoader] = SafeLoader) -> Any:
    """The single document of ``text`` (None when empty); more than one is a SpecError."""
    docs = load_documents(text, origin, loader=loader)
    if len(docs) > 1:
        raise SpecError([SpecProblem(origin, None, None, f"holds {len(docs)} YAML documents; expected one",
                                     "keep one document per file (no '---' separators)")])
    return docs[0] if docs else None


def _too_big(origin: str, size: int) -> SpecProblem:
    return SpecProblem(origin, None, None, f"the file is {size / 1048576:.1f} MB; at most {MAX_BYTES // 1048576} MB "
                       "is read", "split it into smaller files")


def read_text(path: Path, origin: str, *, max_bytes: int = MAX_BYTES) -> str:
    """A file's UTF-8 text, refused (SpecError) when it is larger than ``max_bytes`` — checked
    before it is read — or cannot be read."""
    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise SpecError([_too_big(origin, size)])
        with path.open("rb") as fh:
            data = fh.read(max_bytes + 1)  # the file may have grown since stat
        if len(data) > max_bytes:
            raise SpecError([_too_big(origin, len(data))])
        return data.decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise SpecError([SpecProblem(origin, None, None, f"cannot read file: {exc}")]) from None


#: a line that starts a top-level ``kind:`` or ``domain:`` key, or a flow mapping at column 0
_SPEC_MARKER = re.compile(rb"""^(?:(?:kind|domain|["'](?:kind|domain)["'])[ \t]*:|\{)""", re.M)
_TOP_KIND = re.compile(rb"""^["']?kind["']?[ \t]*:[ \t]*["']?([A-Za-z][A-Za-z0-9_]*)""", re.M)
_HEAD_BYTES = 64 * 1024


def looks_like_spec(path: Path, kinds: set[str] | frozenset[str], origin: str) -> bool:
    """Whether a workspace YAML file may hold a meshfabric spec, decided without parsing it.

    A spec names its ``kind:`` (or, forgotten, its ``domain:``) as a top-level key at the start
    of a line, as every generated spec does; a file with no such line is someone else's YAML and
    is skipped unread. A file above :data:`MAX_BYTES` is skipped too unless its first 64 KB name
    one of ``kinds`` — then it is a spec that is too large (SpecError)."""
    try:
        size = path.stat().st_size
        with path.open("rb") as fh:
            if size > MAX_BYTES:
                head = fh.read(_HEAD_BYTES)
                if any(m.group(1).decode() in kinds for m in _TOP_KIND.finditer(head)):
                    raise SpecError([_too_big(origin, size)])
                return False
            data = fh.read(MAX_BYTES + 1)
    except OSError as exc:
        raise SpecError([SpecProblem(origin, None, None, f"cannot read file: {exc}")]) from None
    return _SPEC_MARKER.search(data) is not None


# --------------------------------------------------------------------------------------------
# JSON


def json_depth(value: Any, limit: int) -> int:
    """Levels of ``value`` (arrays and objects), counted without recursion and up to ``limit + 1``."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict):
            item = list(item.values())
        elif not isinstance(item, list):
            continue
        deepest = max(deepest, level)
        if deepest > limit:
            return deepest
        stack.extend((child, level + 1) for child in item if isinstance(child, dict | list))
    return deepest


def load_json(text: str | bytes, origin: str, *, max_bytes: int = MAX_BYTES, max_depth: int = MAX_DEPTH) -> Any:
    """Parse JSON a user gave, bounded in size and depth; ConfigError names origin and problem.
    Raises json.JSONDecodeError for text that is not JSON (callers say where it came from)."""
    if len(text) > max_bytes:
        raise ConfigError(f"{origin}: the JSON is {len(text) / 1048576:.1f} MB; at most {max_bytes // 1048576} MB "
                          "is read", hint="split it into smaller files")
    try:
        value = json.loads(text)
    except RecursionError:
        value = None
        too_deep = True
    else:
        too_deep = json_depth(value, max_depth) > max_depth
    if too_deep:
        raise ConfigError(f"{origin}: the JSON nests deeper than {max_depth} levels", hint="flatten the nesting")
    return value
