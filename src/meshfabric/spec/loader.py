"""Load spec files from a workspace, collecting every problem with file, line and field.

Nothing is written by this module: the catalog applies specs only after :func:`load_workspace`
returns without problems.
"""

from __future__ import annotations

import difflib
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from meshfabric import safe_yaml
from meshfabric.errors import ConfigError, SpecError, SpecProblem
from meshfabric.spec.models import SPEC_KINDS, MeshSpec, ProductSpec, SourceSpec

MESH_FILE = "mesh.yaml"
SKIP_DIRS = {".meshfabric", ".git", ".venv", "venv", "node_modules", "__pycache__"}
_ENV_RE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


@dataclass
class LoadedProduct:
    spec: ProductSpec
    file: str
    line: int
    #: line of every key in the document, by path (``("status",)``), for errors found later
    lines: dict[tuple[Any, ...], int] = field(default_factory=dict)


@dataclass
class LoadedContract:
    """An ODCS data contract kept in the workspace (``kind: DataContract``)."""

    contract: Any  # meshfabric.contracts.odcs.Contract (imported lazily)
    file: str
    line: int


@dataclass
class LoadedPolicy:
    """An access policy file (``kind: AccessPolicy``)."""

    policy: Any  # meshfabric.spec.access_models.AccessPolicy
    file: str
    line: int
    lines: dict[tuple[Any, ...], int] = field(default_factory=dict)


@dataclass
class WorkspaceSpecs:
    root: Path
    mesh: MeshSpec
    products: list[LoadedProduct] = field(default_factory=list)
    contracts: list[LoadedContract] = field(default_factory=list)
    policies: list[LoadedPolicy] = field(default_factory=list)


def _compose_lines(node: yaml.Node, path: tuple[Any, ...], out: dict[tuple[Any, ...], int]) -> None:
    out[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = key_node.value
            out[(*path, key)] = key_node.start_mark.line + 1
            _compose_lines(value_node, (*path, key), out)
            out[(*path, key)] = key_node.start_mark.line + 1
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _compose_lines(item, (*path, i), out)


def read_documents(path: Path, rel: str) -> list[tuple[Any, dict[tuple[Any, ...], int]]]:
    """Parse every YAML document of a file (once, with the bounds of :mod:`.safe_yaml`) with a
    line map per document."""
    text = safe_yaml.read_text(path, rel)
    result = []
    for doc, node in safe_yaml.compose_documents(text, rel):
        lines: dict[tuple[Any, ...], int] = {}
        if node is not None:
            _compose_lines(node, (), lines)
        result.append((doc, lines))
    return result


def _line_for(lines: dict[tuple[Any, ...], int], loc: tuple[Any, ...]) -> int | None:
    for n in range(len(loc), -1, -1):
        if loc[:n] in lines:
            return lines[loc[:n]]
    return None


def _field_names(model: type[BaseModel]) -> list[str]:
    names = []
    for name, info in model.model_fields.items():
        names.append(info.alias or name)
    return names


def _model_at(model: type[BaseModel], loc: tuple[Any, ...]) -> type[BaseModel] | None:
    """The pydantic model that owns the last key of ``loc`` (for 'did you mean' hints)."""
    import typing

    current: Any = model
    for part in loc[:-1]:
        if isinstance(part, int):
            continue
        if not (isinstance(current, type) and issubclass(current, BaseModel)):
            # dict[str, Model]: the key is a user-chosen name
            continue
        info = next(
            (f for n, f in current.model_fields.items() if part in (n, f.alias)),
            None,
        )
        if info is None:
            return None
        ann = info.annotation
        # unwrap list[X], dict[str, X], X | None
        while True:
            args = typing.get_args(ann)
            if not args:
                break
            candidates = [a for a in args if isinstance(a, type) and issubclass(a, BaseModel)]
            if candidates:
                ann = candidates[0]
                break
            nested = [a for a in args if typing.get_args(a)]
            if not nested:
                break
            ann = nested[0]
        current = ann
    if isinstance(current, type) and issubclass(current, BaseModel):
        return current
    return None


def validation_problems(
    model: type[BaseModel], exc: ValidationError, rel: str, lines: dict[tuple[Any, ...], int],
    prefix: tuple[Any, ...] = (),
) -> list[SpecProblem]:
    problems = []
    for err in exc.errors():
        loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-")))
        full = (*prefix, *loc)
        line = _line_for(lines, full)
        field_name = ".".join(str(p) for p in full) or None
        msg = err["msg"].removeprefix("Value error, ")
        hint = None
        if err["type"] == "extra_forbidden":
            owner = _model_at(model, loc)
            known = _field_names(owner) if owner else []
            close = difflib.get_close_matches(str(loc[-1]), known, n=1)
            msg = f"unknown field '{loc[-1]}'"
            hint = f"did you mean '{close[0]}'?" if close else f"known fields: {', '.join(known)}"
        elif err["type"] == "missing":
            msg = f"required field '{loc[-1]}' is missing"
            hint = f"add '{loc[-1]}:'"
        elif err["type"] == "value_error" and msg.startswith("unknown type"):
            from meshfabric.types import known_type_names

            close = difflib.get_close_matches(str(err.get("input", "")).lower(), known_type_names(), n=1)
            hint = f"did you mean '{close[0]}'?" if close else f"known types: {', '.join(known_type_names())}"
        elif err["type"] == "literal_error":
            expected = err.get("ctx", {}).get("expected", "")
            close = difflib.get_close_matches(str(err.get("input")), re.findall(r"'([^']+)'", expected), n=1)
            msg = f"'{err.get('input')}' is not allowed; expected {expected}"
            hint = f"did you mean '{close[0]}'?" if close else None
        problems.append(SpecProblem(rel, line, field_name, msg, hint))
    return problems


def load_mesh(root: Path) -> tuple[MeshSpec, dict[tuple[Any, ...], int]]:
    path = root / MESH_FILE
    if not path.is_file():
        raise ConfigError(
            f"no {MESH_FILE} in {root}",
            hint="run `meshfabric init` to create a workspace, or pass the workspace folder",
        )
    docs = read_documents(path, MESH_FILE)
    if len(docs) != 1 or not isinstance(docs[0][0], dict):
        raise SpecError([SpecProblem(MESH_FILE, 1, None, "must hold one YAML mapping", "see `meshfabric init`")])
    doc, lines = docs[0]
    try:
        return MeshSpec.model_validate(doc), lines
    except ValidationError as exc:
        raise SpecError(validation_problems(MeshSpec, exc, MESH_FILE, lines)) from None


def spec_files(root: Path) -> list[Path]:
    files = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in SKIP_DIRS and not d.startswith("."))
        for name in sorted(filenames):
            if name.endswith((".yaml", ".yml")) and not (dirpath == str(root) and name == MESH_FILE):
                files.append(Path(dirpath) / name)
    return files


def load_workspace(root: Path) -> WorkspaceSpecs:
    """Load and cross-check mesh.yaml and every spec file; raise SpecError with all problems."""
    root = root.resolve()
    mesh, mesh_lines = load_mesh(root)
    problems: list[SpecProblem] = []
    products: list[LoadedProduct] = []
    contracts: list[LoadedContract] = []
    policies: list[LoadedPolicy] = []
    kinds = frozenset({*SPEC_KINDS, "DataContract", "AccessPolicy"})
    for path in spec_files(root):
        rel = str(path.relative_to(root))
        try:
            if not safe_yaml.looks_like_spec(path, kinds, rel):
                continue  # someone else's YAML (data, CI, …): not parsed at all
            docs = read_documents(path, rel)
        except SpecError as exc:
            problems.extend(exc.problems)
            continue
        for doc, lines in docs:
            if doc is None:
                continue
            if not isinstance(doc, dict) or "kind" not in doc:
                if isinstance(doc, dict) and {"domain", "name"} <= set(doc):
                    problems.append(SpecProblem(rel, 1, "kind", "missing 'kind'", "add 'kind: DataProduct'"))
                continue  # not a meshfabric spec (other tools keep YAML in repos too)
            kind = doc["kind"]
            if kind == "DataContract":
                found, contract_problems = _load_contract_doc(doc, rel, lines)
                problems.extend(contract_problems)
                if found is not None:
                    contracts.append(found)
                continue
            if kind == "AccessPolicy":
                found_policy, policy_problems = _load_policy_doc(doc, rel, lines, mesh)
                problems.extend(policy_problems)
                if found_policy is not None:
                    policies.append(found_policy)
                continue
            model = SPEC_KINDS.get(kind)
            if model is None:
                kinds = [*SPEC_KINDS, "DataContract", "AccessPolicy"]
                close = difflib.get_close_matches(str(kind), kinds, n=1)
                problems.append(SpecProblem(
                    rel, lines.get(("kind",)), "kind", f"unknown kind '{kind}'",
                    f"did you mean '{close[0]}'?" if close else f"known kinds: {', '.join(kinds)}",
                ))
                continue
            try:
                spec = model.model_validate(doc)
            except ValidationError as exc:
                problems.extend(validation_problems(model, exc, rel, lines))
                continue
            assert isinstance(spec, ProductSpec)
            products.append(LoadedProduct(spec, rel, lines.get((), 1), lines))
            problems.extend(_cross_check(spec, mesh, rel, lines))
    seen: dict[str, LoadedProduct] = {}
    for lp in products:
        if lp.spec.fqn in seen:
            first = seen[lp.spec.fqn]
            problems.append(SpecProblem(
                lp.file, lp.line, "name", f"product '{lp.spec.fqn}' is also defined in {first.file}:{first.line}",
                "give one of them another name",
            ))
        seen[lp.spec.fqn] = lp
    used = {lp.spec.output.source for lp in products if lp.spec.output.source in mesh.sources}
    for name in sorted(used):
        problems.extend(_unset_env(name, mesh.sources[name], mesh_lines))
    problems.extend(_cross_check_contracts(contracts, products, mesh))
    problems.extend(_cross_check_policies(policies, products, mesh))
    if problems:
        raise SpecError(problems)
    return WorkspaceSpecs(root, mesh, products, contracts, policies)


def _load_policy_doc(
    doc: dict[str, Any], rel: str, lines: dict[tuple[Any, ...], int], mesh: MeshSpec
) -> tuple[LoadedPolicy | None, list[SpecProblem]]:
    from fnmatch import fnmatch

    from meshfabric.spec.access_models import AccessPolicy

    globs = mesh.access.policies
    if globs and not any(fnmatch(rel, g) for g in globs):
        return None, [SpecProblem(rel, lines.get(("kind",)), "kind",
                                  "this access policy is not in a file listed under access.policies in mesh.yaml",
                                  f"add '{rel}' to access.policies, or move the file")]
    try:
        policy = AccessPolicy.model_validate(doc)
    except ValidationError as exc:
        return None, validation_problems(AccessPolicy, exc, rel, lines)
    return LoadedPolicy(policy, rel, lines.get((), 1), lines), []


def _cross_check_policies(
    policies: list[LoadedPolicy], products: list[LoadedProduct], mesh: MeshSpec
) -> list[SpecProblem]:
    """Names unique; every product, domain and (declared) column a rule names exists."""
    problems = []
    by_fqn = {lp.spec.fqn: lp for lp in products}
    seen: dict[str, LoadedPolicy] = {}
    for lp in policies:
        p = lp.policy
        if p.name in seen:
            problems.append(SpecProblem(lp.file, lp.lines.get(("name",), lp.line), "name",
                                        f"policy '{p.name}' is also defined in {seen[p.name].file}",
                                        "give each policy its own name"))
        seen[p.name] = lp
        for i, rule in enumerate(p.rules):
            if rule.product is not None and rule.product not in by_fqn:
                close = difflib.get_close_matches(rule.product, sorted(by_fqn), n=1)
                problems.append(SpecProblem(lp.file, lp.lines.get(("rules", i, "product")), f"rules.{i}.product",
                                            f"product '{rule.product}' is not defined in this workspace",
                                            f"did you mean '{close[0]}'?" if close else None))
                continue
            if rule.domain is not None and rule.domain not in mesh.domains:
                problems.append(SpecProblem(lp.file, lp.lines.get(("rules", i, "domain")), f"rules.{i}.domain",
                                            f"domain '{rule.domain}' is not declared in {MESH_FILE}"))
            target = by_fqn.get(rule.product) if rule.product else None
            declared = {c.name.lower(): c.name for c in target.spec.columns} if target else {}
            if not declared:
                continue
            for col in rule.columns:
                if col.lower() not in declared:
                    close = difflib.get_close_matches(col.lower(), list(declared), n=1)
                    problems.append(SpecProblem(
                        lp.file, lp.lines.get(("rules", i, "columns", col)), f"rules.{i}.columns.{col}",
                        f"product '{rule.product}' has no column '{col}'",
                        f"did you mean '{declared[close[0]]}'?" if close else None))
            if rule.row_filter is not None:
                from sqlglot import exp

                from meshfabric.spec.policy_sql import parse_policy_sql

                named = {c.name for c in parse_policy_sql(rule.row_filter).find_all(exp.Column)
                         if not c.name.startswith("mf_user_attribute_")}
                for col in sorted(n for n in named if n.lower() not in declared):
                    problems.append(SpecProblem(
                        lp.file, lp.lines.get(("rules", i, "row_filter")), f"rules.{i}.row_filter",
                        f"the row filter names '{col}', which product '{rule.product}' does not have"))
    return problems


def _cross_check(spec: ProductSpec, mesh: MeshSpec, rel: str, lines: dict[tuple[Any, ...], int]) -> list[SpecProblem]:
    problems = []
    if spec.domain not in mesh.domains:
        close = difflib.get_close_matches(spec.domain, list(mesh.domains), n=1)
        problems.append(SpecProblem(
            rel, lines.get(("domain",)), "domain", f"domain '{spec.domain}' is not declared in {MESH_FILE}",
            f"did you mean '{close[0]}'?" if close else f"add it under 'domains:' in {MESH_FILE}",
        ))
    source = mesh.sources.get(spec.output.source)
    if source is None:
        close = difflib.get_close_matches(spec.output.source, list(mesh.sources), n=1)
        problems.append(SpecProblem(
            rel, lines.get(("output", "source")), "output.source",
            f"source '{spec.output.source}' is not declared in {MESH_FILE}",
            f"did you mean '{close[0]}'?" if close else f"add it under 'sources:' in {MESH_FILE}",
        ))
    elif source.kind == "files" and not spec.output.path:
        problems.append(SpecProblem(
            rel, lines.get(("output",)), "output", f"source '{spec.output.source}' holds files: use 'path'",
            "e.g. path: orders/*.parquet",
        ))
    elif source.kind != "files" and spec.output.path:
        problems.append(SpecProblem(
            rel, lines.get(("output", "path")), "output.path",
            f"source '{spec.output.source}' is a {source.kind} database: use 'table' or 'sql'",
            "e.g. table: orders, or sql: SELECT … FROM orders",
        ))
    return problems


def _unset_env(name: str, source: SourceSpec, lines: dict[tuple[Any, ...], int]) -> list[SpecProblem]:
    """A problem for each ${VAR} (without a default) a source uses that is not set right now."""
    problems = []
    for key, value in source.model_dump().items():
        if not isinstance(value, str):
            continue
        for m in _ENV_RE.finditer(value):
            if m.group(1) not in os.environ and m.group(2) is None:
                problems.append(SpecProblem(
                    MESH_FILE, _line_for(lines, ("sources", name, key)), f"sources.{name}.{key}",
                    f"references ${{{m.group(1)}}}, which is not set",
                    f"export {m.group(1)}=… (or write ${{{m.group(1)}:-default}})",
                ))
    return problems


def resolve_env(value: str, *, where: str) -> str:
    """Replace ``${VAR}`` / ``${VAR:-default}``; an unset variable is a ConfigError naming it."""

    def sub(m: re.Match[str]) -> str:
        name, default = m.group(1), m.group(2)
        if name in os.environ:
            return os.environ[name]
        if default is not None:
            return default
        raise ConfigError(f"{where} references ${{{name}}}, which is not set", hint=f"export {name}=…")

    return _ENV_RE.sub(sub, value)


def resolved_source(name: str, spec: SourceSpec) -> SourceSpec:
    """A copy of the source spec with ${ENV} references resolved (for connecting only)."""
    data = spec.model_dump()
    for key, value in data.items():
        if isinstance(value, str):
            data[key] = resolve_env(value, where=f"source '{name}' field '{key}'")
    return SourceSpec.model_validate(data, context={"resolved": True})


_JSONPATH_PART = re.compile(r"\.([A-Za-z0-9_$-]+)|\[(\d+)\]")


def _loc_of(jsonpath: str) -> tuple[Any, ...]:
    """``$.schema[0].name`` → ``("schema", 0, "name")``."""
    return tuple(int(i) if i else key for key, i in _JSONPATH_PART.findall(jsonpath))


def _plain(value: Any) -> Any:
    """YAML dates and times as the ISO strings ODCS expects (the JSON data model)."""
    import datetime as dt

    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dt.date | dt.datetime | dt.time):
        return value.isoformat()
    return value


def _load_contract_doc(
    doc: dict[str, Any], rel: str, lines: dict[tuple[Any, ...], int]
) -> tuple[LoadedContract | None, list[SpecProblem]]:
    from meshfabric.contracts.odcs import Contract, meshfabric_problems, validate_odcs

    doc = _plain(doc)
    problems = []
    for violation in validate_odcs(doc):
        path, _, message = violation.partition(": ")
        problems.append(SpecProblem(rel, _line_for(lines, _loc_of(path)), path.removeprefix("$.") or None, message,
                                    "see the ODCS v3.1 schema"))
    for path, message in meshfabric_problems(doc):
        problems.append(SpecProblem(rel, _line_for(lines, _loc_of(path)), path.removeprefix("$.") or None, message))
    if problems:
        return None, problems
    return LoadedContract(Contract(doc), rel, lines.get((), 1)), []


def _cross_check_contracts(
    contracts: list[LoadedContract], products: list[LoadedProduct], mesh: MeshSpec
) -> list[SpecProblem]:
    problems = []
    known = {lp.spec.fqn for lp in products}
    seen: dict[str, LoadedContract] = {}
    for lc in contracts:
        c = lc.contract
        if c.id in seen:
            problems.append(SpecProblem(lc.file, lc.line, "id",
                                        f"contract id '{c.id}' is also used in {seen[c.id].file}",
                                        "give each contract its own id"))
        seen[c.id] = lc
        if c.product_fqn and c.product_fqn not in known:
            close = difflib.get_close_matches(c.product_fqn, sorted(known), n=1)
            problems.append(SpecProblem(lc.file, lc.line, "customProperties.meshfabric.product",
                                        f"product '{c.product_fqn}' is not defined in this workspace",
                                        f"did you mean '{close[0]}'?" if close else None))
        if c.consumer_domain and c.consumer_domain not in mesh.domains:
            problems.append(SpecProblem(lc.file, lc.line, "customProperties.meshfabric.consumerDomain",
                                        f"consumer domain '{c.consumer_domain}' is not declared in {MESH_FILE}"))
    return problems
