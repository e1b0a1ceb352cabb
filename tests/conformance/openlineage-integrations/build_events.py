"""Rebuild ``events/`` from the expected-event resources of OpenLineage's Spark and Hive
integration tests (a checkout of https://github.com/OpenLineage/OpenLineage; see PROVENANCE.md).

Those resources are partial-match templates (json-unit placeholders, fields left out); this
script completes each into a spec-valid event as described in PROVENANCE.md. It is run by hand,
never by the tests: ``python build_events.py <git dir of the checkout> [commit]``.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent
SPEC = HERE.parents[2] / "src" / "meshfabric" / "lineage" / "spec"
CORE = "https://openlineage.io/spec/2-0-2/OpenLineage.json"
PRODUCERS = {"spark": "https://github.com/OpenLineage/OpenLineage/tree/1.53.0/integration/spark",
             "hive": "https://github.com/OpenLineage/OpenLineage/tree/1.53.0/integration/hive"}
T0 = datetime(2025, 6, 1, 10, 0, tzinfo=UTC)
RUN_NS = uuid.UUID("6f1c8d2e-4b7a-4e55-9d0b-0a1b2c3d4e5f")
#: the resources taken: every Hive expectation; Spark ones with column lineage, Iceberg or a dataSource
SOURCES = [
    ("hive", r"^integration/hive/hive-openlineage-hook/integrations/container/.*\.json$", None),
    ("spark", r"^integration/spark/app/integrations/container/.*\.json$", r"columnLineage|iceberg|dataSource"),
    ("spark", r"^integration/spark/cli/tests/test_(iceberg|pyspark|simple)/.*\.json$", None),
]

#: Iceberg events also stored with their warehouse moved to S3 (as the Iceberg-on-S3 tests run)
S3_VARIANTS = ["pysparkV2CreateTableAsSelectCompleteEvent", "pysparkV2MergeIntoTableCowCompleteEvent",
               "pysparkV2AppendDataCompleteEvent", "columnLineageJDBCComplete"]


def facet_urls() -> dict[str, str]:
    out = {}
    for p in sorted((SPEC / "facets").glob("*.json")):
        doc = json.loads(p.read_text("utf-8"))
        for key in doc.get("properties", {}):
            out.setdefault(key, f"{doc['$id']}#/$defs/{p.stem}")
    return out


def fill(value: Any, key: str, run_id: str, when: str) -> Any:
    """A plausible value for a json-unit placeholder."""
    if isinstance(value, dict):
        return {k: fill(v, k, run_id, when) for k, v in value.items()}
    if isinstance(value, list):
        return [fill(v, key, run_id, when) for v in value]
    if not isinstance(value, str) or "${json-unit" not in value:
        return value
    if value == "${json-unit.any-number}":
        return 1
    if value == "${json-unit.any-string}":
        if key == "runId":
            return run_id
        if key.lower().endswith("time"):
            return when
        if key in ("queryId", "sessionId"):
            return str(uuid.uuid5(RUN_NS, run_id + key))
        return f"{key}-1"
    body = value.removeprefix("${json-unit.regex}")
    if body.startswith("\\d{1,3}"):
        return "172.18.0.5"
    return body.replace(":.*/", ":/tmp/").replace(".*/", "/tmp/").replace(".*", ".execute_create_table_command.")


def complete(event: dict[str, Any], integration: str, stem: str, index: int, urls: dict[str, str]) -> dict[str, Any]:
    test = re.sub(r"(Start|Complete|End|Running)(Event|Job|Application)?$", "", stem)
    run_id = str(uuid.uuid5(RUN_NS, f"{integration}/{test}"))
    state = next((s for w, s in (("Start", "START"), ("Running", "RUNNING"), ("Complete", "COMPLETE"),
                                 ("End", "COMPLETE")) if w in stem), "COMPLETE")
    when = (T0 + timedelta(minutes=index, seconds={"START": 0, "RUNNING": 10}.get(state, 30)))
    when_s = when.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    event = fill(event, "", run_id, when_s)
    event.setdefault("eventType", state)
    event["eventTime"] = event.get("eventTime") or when_s
    event.setdefault("producer", PRODUCERS[integration])
    event.setdefault("schemaURL", f"{CORE}#/$defs/RunEvent")
    run = event.setdefault("run", {})
    run.setdefault("runId", run_id)
    job = event.setdefault("job", {})
    job.setdefault("namespace", "default")
    job.setdefault("name", re.sub(r"(?<!^)(?=[A-Z])", "_", test).lower())
    producer = event["producer"]

    def facets(container: Any, key: str) -> None:
        if not isinstance(container, dict) or not isinstance(container.get(key), dict):
            return
        for name, facet in container[key].items():
            if isinstance(facet, dict):
                facet.setdefault("_producer", producer)
                facet.setdefault("_schemaURL", urls.get(name, f"{CORE}#/$defs/{_kind(key)}"))
                if name == "version" and "datasetVersion" not in facet:
                    facet["datasetVersion"] = "1"

    facets(run, "facets")
    facets(job, "facets")
    for side, extra in (("inputs", "inputFacets"), ("outputs", "outputFacets")):
        for ds in event.get(side) or []:
            facets(ds, "facets")
            facets(ds, extra)
    _required(event, run_id)
    return event


#: namespaces the expectations leave out (they match on the name only)
JDBC_NAMESPACE, METASTORE = "postgres://postgres:5432", "hive://localhost:9083"


def _required(event: dict[str, Any], run_id: str) -> None:
    """Fields the spec requires that the partial-match expectations leave out."""
    run_facets = event["run"].get("facets") or {}
    engine = run_facets.get("processing_engine")
    if isinstance(engine, dict):
        engine.setdefault("version", "3.5.6")
    parent = run_facets.get("parent")
    if isinstance(parent, dict):
        parent.setdefault("run", {}).setdefault("runId", str(uuid.uuid5(RUN_NS, run_id + "parent")))
    for side in ("inputs", "outputs"):
        for ds in event.get(side) or []:
            ds.setdefault("namespace", JDBC_NAMESPACE)
            f = ds.get("facets") or {}
            if isinstance(f.get("catalog"), dict):
                f["catalog"].setdefault("name", "spark_catalog")
            for ident in (f.get("symlinks") or {}).get("identifiers") or []:
                ident.setdefault("namespace", METASTORE)
            lineage = f.get("columnLineage")
            if isinstance(lineage, dict):
                lineage.setdefault("fields", {})
                for spec in lineage["fields"].values():
                    for src in spec.get("inputFields") or []:
                        src.setdefault("namespace", JDBC_NAMESPACE)
                for src in lineage.get("dataset") or []:
                    src.setdefault("namespace", JDBC_NAMESPACE)


def _kind(key: str) -> str:
    return {"facets": "DatasetFacet", "inputFacets": "InputDatasetFacet",
            "outputFacets": "OutputDatasetFacet"}.get(key, "RunFacet")


def main(git_dir: str, commit: str = "HEAD") -> None:
    def git(*args: str) -> str:
        return subprocess.run(["git", "--git-dir", git_dir, *args], check=True, capture_output=True,
                              text=True).stdout

    urls = facet_urls()
    paths = git("ls-tree", "-r", "--name-only", commit).splitlines()
    out_dir = HERE / "events"
    out_dir.mkdir(exist_ok=True)
    index = 0
    listing = []
    for integration, pattern, needle in SOURCES:
        for path in sorted(p for p in paths if re.match(pattern, p)):
            text = git("show", f"{commit}:{path}")
            if needle and not re.search(needle, text):
                continue
            raw = json.loads(text)
            if not isinstance(raw, dict):
                continue
            stem = Path(path).stem
            event = complete(raw, integration, stem, index, urls)
            index += 1
            name = f"{integration}-{Path(path).parent.name}-{stem}.json"
            (out_dir / name).write_text(json.dumps(event, indent=2) + "\n", "utf-8")
            listing.append(f"{name}\t{path}")
    for stem in S3_VARIANTS:
        name = f"spark-container-{stem}.json"
        text = (out_dir / name).read_text("utf-8")
        text = text.replace('"namespace": "file"', '"namespace": "s3://test-bucket"')
        text = text.replace("/tmp/iceberg", "/iceberg_warehouse").replace('"uri": "file"', '"uri": "s3://test-bucket"')
        event = json.loads(text)
        event["run"]["runId"] = str(uuid.uuid5(RUN_NS, "s3/" + stem))
        (out_dir / f"s3-{name}").write_text(json.dumps(event, indent=2) + "\n", "utf-8")
        listing.append(f"s3-{name}\t(derived from {name}: file -> s3://test-bucket, "
                       "/tmp/iceberg -> /iceberg_warehouse)")
    (HERE / "SOURCES.tsv").write_text("event\tsource path\n" + "\n".join(listing) + "\n", "utf-8")
    print(f"{len(listing)} events from {commit}")


if __name__ == "__main__":
    main(*sys.argv[1:])
