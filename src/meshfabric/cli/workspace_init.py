"""``meshfabric init``: a new workspace that applies and queries out of the box."""

from __future__ import annotations

from pathlib import Path

from meshfabric.errors import ConfigError

MESH_YAML = """\
# mesh.yaml — the workspace: its name, where metadata is stored, the sources data lives in,
# and the domains that own data products. Product specs are YAML files anywhere below this
# folder with `kind: DataProduct`. Apply everything with `meshfabric apply`.
name: {name}
description: ""

# Metadata store (SQLAlchemy URL). Default: a SQLite file in .meshfabric/.
# For a team, use PostgreSQL:  store: postgresql://meshfabric:${{MESH_DB_PASSWORD}}@db:5432/meshfabric
# (MESHFABRIC_STORE_URL overrides this.)
# store: sqlite:///.meshfabric/store.db

# Sources. Secrets are written as ${{ENV_VAR}} and resolved only when connecting.
sources:
  files:
    kind: files          # Parquet, CSV and JSON files below a folder
    path: data
  # warehouse:
  #   kind: postgres     # or mysql (MySQL/MariaDB), sqlite, duckdb
  #   url: postgresql://reader:${{WAREHOUSE_PASSWORD}}@localhost:5432/warehouse

# Domains own data products. Owners are people or teams.
domains:
  geo:
    description: Reference data about places
    owners: [platform-team@example.com]
"""

PRODUCT_YAML = """\
# A data product: owned by a domain, served from an output port, with a declared schema.
# Query it with:  meshfabric query "SELECT * FROM geo.cities"
kind: DataProduct
domain: geo
name: cities
owner: platform-team@example.com
description: Cities with their country and population.
tags: [reference, geo]
status: published          # draft -> published -> deprecated -> retired
version: 1.0.0
output:
  source: files
  path: cities.csv         # for database sources: `table: schema.table` or `sql: SELECT ...`
schema:
  - name: city
    type: string
    nullable: false
    description: City name
  - name: country
    type: string
  - name: population
    type: bigint
"""

CITIES_CSV = """\
city,country,population
Lisbon,PT,545923
Porto,PT,231800
Madrid,ES,3305408
Barcelona,ES,1620343
Lyon,FR,522250
Paris,FR,2102650
Berlin,DE,3755251
Hamburg,DE,1892122
"""


def scaffold(directory: Path, name: str | None = None) -> list[Path]:
    """Create mesh.yaml, an example product and its data; refuse to overwrite a workspace."""
    directory = directory.resolve()
    if (directory / "mesh.yaml").exists():
        raise ConfigError(f"{directory} already holds a mesh.yaml", hint="choose another folder")
    name = name or directory.name or "mesh"
    files = {
        directory / "mesh.yaml": MESH_YAML.format(name=name),
        directory / "products" / "geo" / "cities.yaml": PRODUCT_YAML,
        directory / "data" / "cities.csv": CITIES_CSV,
        directory / ".gitignore": ".meshfabric/\n",
    }
    for path, text in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return list(files)
