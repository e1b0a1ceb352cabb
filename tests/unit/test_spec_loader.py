"""Loading spec files: every problem is collected with its file, line, field and a hint."""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers import CUSTOMERS_YAML, MESH_YAML, ORDERS_YAML, SHIPMENTS_YAML, SPEC_FILES, line_of, write
from meshfabric.config import find_root, store_url
from meshfabric.errors import ConfigError, SpecError, SpecProblem
from meshfabric.spec import load_workspace, resolved_source
from meshfabric.spec.loader import resolve_env, spec_files
from meshfabric.spec.models import ColumnSpec, OutputPort, ProductSpec, SourceSpec


def _workspace(root: Path, files: dict[str, str] | None = None, mesh: str = MESH_YAML) -> Path:
    write(root / "mesh.yaml", mesh)
    for rel, text in (SPEC_FILES if files is None else files).items():
        write(root / rel, text)
    return root


def _problems(root: Path) -> list[SpecProblem]:
    with pytest.raises(SpecError) as info:
        load_workspace(root)
    return info.value.problems


def _only(problems: list[SpecProblem]) -> SpecProblem:
    assert len(problems) == 1, [p.render() for p in problems]
    return problems[0]


def test_valid_workspace_loads_every_product_with_its_file(tmp_path: Path) -> None:
    specs = load_workspace(_workspace(tmp_path))
    found = {lp.spec.fqn: lp.file for lp in specs.products}
    assert found == {
        "sales.orders": "products/sales/orders.yaml",
        "crm.customers": "products/crm/customers.yaml",
        "logistics.shipments": "products/logistics/shipments.yaml",
    }
    orders = next(lp.spec for lp in specs.products if lp.spec.fqn == "sales.orders")
    assert [c.name for c in orders.columns] == ["order_id", "customer_id", "amount", "status"]
    assert orders.columns[0].nullable is False
    assert specs.mesh.domains["sales"].owners == ["sales-team@example.com"]
    assert specs.root == tmp_path.resolve()


def test_unknown_field_names_line_and_suggests_the_right_name(tmp_path: Path) -> None:
    text = ORDERS_YAML.replace("owner:", "ownr:")
    _workspace(tmp_path, {"products/orders.yaml": text})
    problems = _problems(tmp_path)
    unknown = next(p for p in problems if p.field == "ownr")
    assert unknown.file == "products/orders.yaml"
    assert unknown.line == line_of(text, "ownr:")
    assert unknown.message == "unknown field 'ownr'"
    assert unknown.hint == "did you mean 'owner'?"
    # the field it replaced is now missing, and that is reported too
    assert any(p.field == "owner" and "missing" in p.message for p in problems)
    rendered = unknown.render()
    assert rendered.startswith(f"products/orders.yaml:{unknown.line}:")
    assert "did you mean 'owner'?" in rendered


def test_unknown_field_nested_in_a_column_points_at_its_line(tmp_path: Path) -> None:
    text = ORDERS_YAML.replace("  - name: amount\n    type: double", "  - name: amount\n    tpye: double")
    _workspace(tmp_path, {"products/orders.yaml": text})
    problems = _problems(tmp_path)
    typo = next(p for p in problems if p.field and p.field.endswith("tpye"))
    assert typo.field == "schema.2.tpye"
    assert typo.line == line_of(text, "tpye:")
    assert typo.hint == "did you mean 'type'?"


def test_unknown_field_in_output_port_suggests_from_the_port_fields(tmp_path: Path) -> None:
    text = ORDERS_YAML.replace("  table: orders", "  tabel: orders")
    _workspace(tmp_path, {"products/orders.yaml": text})
    typo = next(p for p in _problems(tmp_path) if p.field == "output.tabel")
    assert typo.hint == "did you mean 'table'?"
    assert typo.line == line_of(text, "tabel:")


def test_unknown_type_suggests_a_known_type(tmp_path: Path) -> None:
    text = ORDERS_YAML.replace("type: double", "type: duble")
    _workspace(tmp_path, {"products/orders.yaml": text})
    problem = _only(_problems(tmp_path))
    assert problem.field == "schema.2.type"
    assert "unknown type 'duble'" in problem.message
    assert problem.hint == "did you mean 'double'?"
    assert problem.line == line_of(text, "duble")


def test_bad_status_lists_the_lifecycle_and_suggests(tmp_path: Path) -> None:
    text = ORDERS_YAML.replace("status: published", "status: publishd")
    _workspace(tmp_path, {"products/orders.yaml": text})
    problem = _only(_problems(tmp_path))
    assert problem.field == "status"
    assert problem.line == line_of(text, "status: publishd")
    assert "'draft', 'published', 'deprecated' or 'retired'" in problem.message
    assert problem.hint == "did you mean 'published'?"


@pytest.mark.parametrize("bad", ["Orders", "my-orders", "9orders", "orders!"])
def test_invalid_product_name_is_refused_with_the_naming_rule(tmp_path: Path, bad: str) -> None:
    text = ORDERS_YAML.replace("name: orders", f"name: '{bad}'", 1)
    _workspace(tmp_path, {"products/orders.yaml": text})
    problem = _only(_problems(tmp_path))
    assert problem.field == "name"
    assert problem.line == 3
    assert "lower-case letters" in problem.message


def test_invalid_name_suggests_a_valid_spelling(tmp_path: Path) -> None:
    text = ORDERS_YAML.replace("name: orders", "name: Big-Orders", 1)
    _workspace(tmp_path, {"products/orders.yaml": text})
    assert "try 'big_orders'" in _only(_problems(tmp_path)).message


def test_output_port_with_table_and_path_is_refused(tmp_path: Path) -> None:
    text = ORDERS_YAML.replace("  table: orders", "  table: orders\n  path: orders.csv")
    _workspace(tmp_path, {"products/orders.yaml": text})
    problem = _only(_problems(tmp_path))
    assert problem.field == "output"
    assert problem.line == line_of(text, "output:")
    assert "exactly one of 'table', 'path' or 'sql'" in problem.message


def test_output_port_with_nothing_is_refused() -> None:
    with pytest.raises(ValueError, match="exactly one"):
        OutputPort(source="x")


def test_invalid_yaml_names_the_line(tmp_path: Path) -> None:
    text = "kind: DataProduct\ndomain: sales\n  name: orders\nowner: me\n"
    _workspace(tmp_path, {"products/broken.yaml": text})
    problem = _only(_problems(tmp_path))
    assert problem.file == "products/broken.yaml"
    assert problem.line == 3
    assert "not valid YAML" in problem.message
    assert problem.hint and "indentation" in problem.hint


def test_unknown_domain_and_source_are_cross_checked_against_mesh_yaml(tmp_path: Path) -> None:
    text = ORDERS_YAML.replace("domain: sales", "domain: sale").replace("source: shop_db", "source: shopdb")
    _workspace(tmp_path, {"products/orders.yaml": text})
    problems = {p.field: p for p in _problems(tmp_path)}
    assert set(problems) == {"domain", "output.source"}
    assert problems["domain"].line == line_of(text, "domain: sale")
    assert "domain 'sale' is not declared in mesh.yaml" in problems["domain"].message
    assert problems["domain"].hint == "did you mean 'sales'?"
    assert problems["output.source"].line == line_of(text, "source: shopdb")
    assert problems["output.source"].hint == "did you mean 'shop_db'?"


def test_unknown_domain_without_close_match_says_where_to_declare_it(tmp_path: Path) -> None:
    text = ORDERS_YAML.replace("domain: sales", "domain: zzz")
    _workspace(tmp_path, {"products/orders.yaml": text})
    problem = _only(_problems(tmp_path))
    assert problem.hint == "add it under 'domains:' in mesh.yaml"


def test_path_output_on_a_database_source_is_refused(tmp_path: Path) -> None:
    text = ORDERS_YAML.replace("  table: orders", "  path: orders.csv")
    _workspace(tmp_path, {"products/orders.yaml": text})
    problem = _only(_problems(tmp_path))
    assert problem.field == "output.path"
    assert problem.line == line_of(text, "path: orders.csv")
    assert "sqlite database: use 'table' or 'sql'" in problem.message


def test_table_output_on_a_files_source_is_refused(tmp_path: Path) -> None:
    text = CUSTOMERS_YAML.replace("  path: customers.csv", "  table: customers")
    _workspace(tmp_path, {"products/customers.yaml": text})
    problem = _only(_problems(tmp_path))
    assert problem.field == "output"
    assert problem.hint and "path:" in problem.hint


def test_duplicate_product_across_files_names_both_files(tmp_path: Path) -> None:
    _workspace(tmp_path, {"products/a/orders.yaml": ORDERS_YAML, "products/b/orders.yaml": ORDERS_YAML})
    problem = _only(_problems(tmp_path))
    assert problem.file == "products/b/orders.yaml"
    assert problem.field == "name"
    assert "'sales.orders' is also defined in products/a/orders.yaml:1" in problem.message


def test_problems_of_every_file_are_reported_together(tmp_path: Path) -> None:
    files = {
        "products/orders.yaml": ORDERS_YAML.replace("owner:", "ownr:"),
        "products/customers.yaml": CUSTOMERS_YAML.replace("status: published", "status: live"),
        "products/shipments.yaml": SHIPMENTS_YAML,
    }
    _workspace(tmp_path, files)
    problems = _problems(tmp_path)
    assert {p.file for p in problems} == {"products/orders.yaml", "products/customers.yaml"}
    message = str(SpecError(problems))
    assert message.startswith(f"{len(problems)} problems in spec files (nothing was written):")


def test_several_documents_in_one_file_each_get_their_own_lines(tmp_path: Path) -> None:
    second = CUSTOMERS_YAML.replace("owner:", "ownr:")
    text = ORDERS_YAML + "---\n" + second
    _workspace(tmp_path, {"products/all.yaml": text})
    typo = next(p for p in _problems(tmp_path) if p.field == "ownr")
    assert typo.line == line_of(ORDERS_YAML, "owner:") + ORDERS_YAML.count("\n") + 1


def test_yaml_files_of_other_tools_are_ignored_but_a_spec_without_kind_is_not(tmp_path: Path) -> None:
    files = {
        "products/orders.yaml": ORDERS_YAML,
        ".github/workflows/ci.yml": "on: push\njobs: {}\n",
        "docker-compose.yaml": "services:\n  db:\n    image: postgres\n",
        "notes.yaml": "- a list\n- of things\n",
    }
    _workspace(tmp_path, files)
    assert [lp.spec.fqn for lp in load_workspace(tmp_path).products] == ["sales.orders"]
    write(tmp_path / "products/nokind.yaml", ORDERS_YAML.replace("kind: DataProduct\n", ""))
    problem = _only(_problems(tmp_path))
    assert problem.field == "kind"
    assert problem.hint == "add 'kind: DataProduct'"


def test_unknown_kind_suggests_the_known_kind(tmp_path: Path) -> None:
    _workspace(tmp_path, {"products/orders.yaml": ORDERS_YAML.replace("kind: DataProduct", "kind: DataProdukt")})
    problem = _only(_problems(tmp_path))
    assert problem.field == "kind" and problem.line == 1
    assert problem.hint == "did you mean 'DataProduct'?"


def test_state_and_hidden_folders_are_not_scanned(tmp_path: Path) -> None:
    _workspace(tmp_path, {"products/orders.yaml": ORDERS_YAML})
    write(tmp_path / ".meshfabric" / "junk.yaml", "kind: DataProduct\nbroken: [\n")
    write(tmp_path / ".venv" / "x.yaml", "kind: DataProduct\n")
    write(tmp_path / "node_modules" / "x.yaml", "kind: DataProduct\n")
    write(tmp_path / ".hidden" / "x.yaml", "kind: DataProduct\n")
    files = [p.relative_to(tmp_path).as_posix() for p in spec_files(tmp_path)]
    assert files == ["products/orders.yaml"]
    assert len(load_workspace(tmp_path).products) == 1


def test_mesh_yaml_problems_name_mesh_yaml(tmp_path: Path) -> None:
    mesh = MESH_YAML.replace("    kind: sqlite", "    kind: sqlite3")
    _workspace(tmp_path, {}, mesh=mesh)
    problem = _only(_problems(tmp_path))
    assert problem.file == "mesh.yaml"
    assert problem.line == line_of(mesh, "sqlite3")
    assert problem.field == "sources.shop_db.kind"
    assert problem.hint == "did you mean 'sqlite'?"


def test_mesh_yaml_unknown_top_level_field(tmp_path: Path) -> None:
    mesh = MESH_YAML.replace("domains:", "domians:")
    _workspace(tmp_path, {}, mesh=mesh)
    problem = next(p for p in _problems(tmp_path) if p.field == "domians")
    assert problem.hint == "did you mean 'domains'?"


def test_mesh_yaml_invalid_domain_name(tmp_path: Path) -> None:
    mesh = MESH_YAML.replace("  crm:", "  Customer-Relations:")
    _workspace(tmp_path, {}, mesh=mesh)
    problem = _only(_problems(tmp_path))
    assert problem.file == "mesh.yaml"
    assert "'Customer-Relations' is not a valid name" in problem.message


def test_database_source_needs_a_location() -> None:
    with pytest.raises(ValueError, match="needs 'url' or 'host' and 'database'"):
        SourceSpec(kind="postgres")
    with pytest.raises(ValueError, match="needs 'path'"):
        SourceSpec(kind="sqlite")


def test_missing_mesh_yaml_is_a_config_error_with_a_hint(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_workspace(tmp_path)
    assert "meshfabric init" in (info.value.hint or "")
    with pytest.raises(ConfigError, match=r"no mesh\.yaml found"):
        find_root(tmp_path)


def test_find_root_walks_up_from_a_file_or_subfolder(tmp_path: Path) -> None:
    _workspace(tmp_path)
    assert find_root(tmp_path / "products" / "sales") == tmp_path.resolve()
    assert find_root(tmp_path / "products" / "sales" / "orders.yaml") == tmp_path.resolve()


def test_unset_env_variable_of_a_used_source_is_a_spec_problem(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MF_TEST_PG_PASSWORD", raising=False)
    mesh = MESH_YAML.replace("sources:\n", "sources:\n  pg:\n    kind: postgres\n    host: 127.0.0.1\n"
                             "    database: shop\n    password: ${MF_TEST_PG_PASSWORD}\n")
    product = ORDERS_YAML.replace("source: shop_db", "source: pg")
    _workspace(tmp_path, {"products/orders.yaml": product}, mesh=mesh)
    problem = _only(_problems(tmp_path))
    assert problem.file == "mesh.yaml"
    assert problem.field == "sources.pg.password"
    assert problem.line == line_of(mesh, "password:")
    assert "${MF_TEST_PG_PASSWORD}" in problem.message and "not set" in problem.message
    assert problem.hint and "export MF_TEST_PG_PASSWORD" in problem.hint
    monkeypatch.setenv("MF_TEST_PG_PASSWORD", "s3cr3t")
    assert len(load_workspace(tmp_path).products) == 1


def test_unset_env_variable_of_an_unused_source_is_not_a_problem(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MF_TEST_UNUSED", raising=False)
    mesh = MESH_YAML.replace("sources:\n", "sources:\n  pg:\n    kind: postgres\n    url: postgresql://u:${MF_TEST_UNUSED}@h/db\n")
    _workspace(tmp_path, mesh=mesh)
    assert len(load_workspace(tmp_path).products) == 3


def test_resolve_env_substitutes_defaults_and_names_unset_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MF_A", "alpha")
    monkeypatch.delenv("MF_B", raising=False)
    assert resolve_env("x-${MF_A}-${MF_B:-beta}-${MF_B:-}", where="test") == "x-alpha-beta-"
    with pytest.raises(ConfigError) as info:
        resolve_env("${MF_B}", where="source 'pg' field 'password'")
    assert info.value.message == "source 'pg' field 'password' references ${MF_B}, which is not set"


def test_resolved_source_leaves_the_spec_with_references(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MF_PW", "hunter2")
    spec = SourceSpec(kind="postgres", url="postgresql://u:${MF_PW}@h/db", password="${MF_PW}")
    resolved = resolved_source("pg", spec)
    assert resolved.password == "hunter2" and resolved.url == "postgresql://u:hunter2@h/db"
    assert spec.password == "${MF_PW}" and "hunter2" not in spec.model_dump_json()


def test_store_url_precedence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MESHFABRIC_STORE_URL", raising=False)
    _workspace(tmp_path)
    mesh = load_workspace(tmp_path).mesh
    assert store_url(tmp_path, mesh) == f"sqlite:///{tmp_path / '.meshfabric' / 'store.db'}"
    relative = mesh.model_copy(update={"store": "sqlite:///state/meta.db"})
    assert store_url(tmp_path, relative) == f"sqlite:///{(tmp_path / 'state' / 'meta.db').resolve()}"
    monkeypatch.setenv("MF_DB_PW", "pw")
    with_env = mesh.model_copy(update={"store": "postgresql://u:${MF_DB_PW}@h/db"})
    assert store_url(tmp_path, with_env) == "postgresql://u:pw@h/db"
    monkeypatch.setenv("MESHFABRIC_STORE_URL", "sqlite:////tmp/elsewhere.db")
    assert store_url(tmp_path, with_env) == "sqlite:////tmp/elsewhere.db"


def test_product_spec_document_uses_the_yaml_names() -> None:
    spec = ProductSpec.model_validate({
        "domain": "sales", "name": "orders", "owner": "me", "output": {"source": "db", "table": "orders"},
        "schema": [{"name": "id", "type": "INT64", "classification": "pii"}],
    })
    doc = spec.to_doc()
    assert doc["schema"] == [{"name": "id", "type": "bigint", "nullable": True, "description": "",
                              "classification": ["pii"], "primary_key": False, "aliases": []}]
    assert doc["status"] == "draft" and doc["version"] == "1.0.0" and "columns" not in doc
    assert spec.fqn == "sales.orders"


def test_duplicate_column_is_refused() -> None:
    with pytest.raises(ValueError, match="column 'ID' is declared twice"):
        ProductSpec.model_validate({
            "domain": "sales", "name": "orders", "owner": "me", "output": {"source": "db", "table": "t"},
            "schema": [{"name": "id", "type": "bigint"}, {"name": "ID", "type": "bigint"}],
        })


def test_column_classification_accepts_one_or_many() -> None:
    assert ColumnSpec(name="a", type="string", classification="pii").classification == ["pii"]
    assert ColumnSpec(name="a", type="string", classification=["pii", "email"]).classification == ["pii", "email"]


@pytest.mark.parametrize(
    ("field", "value"),
    [("url", "postgresql://reader:hunter2@db/sales"), ("password", "hunter2")],
)
def test_a_literal_password_is_refused_so_it_never_reaches_the_store(field: str, value: str) -> None:
    spec = {"kind": "postgres", "host": "db", "database": "sales", field: value}
    with pytest.raises(ValueError, match=r"write it as \$\{ENV_VAR\}") as info:
        SourceSpec.model_validate(spec)
    assert "hunter2" not in str(info.value).split("input_value")[0]


@pytest.mark.parametrize(
    "url",
    ["postgresql://reader:${PG_PW}@db/sales", "postgresql://reader@db/sales", "mysql://root:@127.0.0.1/test"],
)
def test_env_references_and_empty_passwords_are_accepted(url: str) -> None:
    assert SourceSpec(kind="postgres", url=url).url == url
