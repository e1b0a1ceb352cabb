"""Discovery: how well ``meshfabric discover`` finds PII, semantic types and business areas.

What it measures
    A labelled corpus (``_discovery_data.py``: about 42 tables, 325 columns, eight business areas
    spread over PostgreSQL, MariaDB, a SQLite file and a folder of CSV and Parquet files, with
    checksummed identifiers, opaque column names and PII-sounding non-PII columns) is loaded into
    fresh databases ``mf_disc_<random>`` and a workspace whose ``mesh.yaml`` declares the four
    sources and one domain per area, with one or two registered products per area. Then
    ``meshfabric discover <the four sources> --json --sample N`` runs in that workspace as a
    subprocess, and its answer is scored against the labels next to three baselines run in this
    process on the same first N rows of every dataset:

    * ``name-regex``       — PII type from the column name alone;
    * ``name+value-regex`` — the name rule, else value regexes (email, IP, card-like digits, phone);
    * ``tfidf+dbscan``     — TF-IDF over table name + column names, DBSCAN(eps=0.3, cosine) for
                             clusters, the nearest domain (registered products' words) by cosine.

    Scores: column-level PII precision / recall / F1; per-type precision / recall / F1 and
    macro-F1 over the labelled types (the ten PII types and twelve others); adjusted Rand index of
    the clusters against the true areas; suggested-domain accuracy over unregistered datasets;
    discover's wall time and the rows and columns it scanned. A column labelled ``None`` (e.g.
    product names) only counts against a prediction of a PII type. Nothing is asserted: exit 0.

How to run (from the repository root; PostgreSQL as ``postgres`` with trust auth and MariaDB as
``root`` without a password on 127.0.0.1)::

    .venv/bin/python benchmarks/discovery.py                      # the whole corpus
    .venv/bin/python benchmarks/discovery.py --sources sqlite,files --json disc.json
    .venv/bin/python benchmarks/discovery.py --speed              # 100 tables x 20 columns in PostgreSQL
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _discovery_data as data
from _discovery_data import LABELLED_TYPES, PII_TYPES, SOURCE_NAMES, Table

ROOT = Path(__file__).resolve().parent.parent
BIN = ROOT / ".venv" / "bin" / "meshfabric"
PG_ADMIN = "host=127.0.0.1 port=5432 user=postgres dbname=postgres"
SOURCE_KEYS = {v: k for k, v in SOURCE_NAMES.items()}

# --------------------------------------------------------------------------------- environment


class Databases:
    """A fresh PostgreSQL and MariaDB database of one name; dropped by :meth:`drop`."""

    def __init__(self, pg: bool, mysql: bool) -> None:
        self.name = f"mf_disc_{uuid.uuid4().hex[:10]}"
        self.pg_url = self.my_url = None
        if pg:
            import psycopg

            with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
                conn.execute(f'CREATE DATABASE "{self.name}"')
            self.pg_url = f"postgresql://postgres@127.0.0.1:5432/{self.name}"
        if mysql:
            self._my(f"CREATE DATABASE `{self.name}` CHARACTER SET utf8mb4")
            self.my_url = f"mysql://root@127.0.0.1:3306/{self.name}"

    @staticmethod
    def _my(sql: str) -> None:
        import pymysql

        conn = pymysql.connect(host="127.0.0.1", port=3306, user="root", password="", autocommit=True)
        try:
            with conn.cursor() as cur:
                cur.execute(sql)
        finally:
            conn.close()

    def drop(self) -> list[str]:
        dropped = []
        if self.pg_url:
            import psycopg

            with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
            dropped.append(f"postgres:{self.name}")
        if self.my_url:
            self._my(f"DROP DATABASE IF EXISTS `{self.name}`")
            dropped.append(f"mariadb:{self.name}")
        return dropped


def load(tables: list[Table], dbs: Databases, ws: Path) -> dict[str, float]:
    """Every table into its source; the seconds each source took."""
    took = {}
    for key, loader in (("pg", lambda ts: data.load_postgres(dbs.pg_url, ts)),
                        ("mysql", lambda ts: data.load_mysql(dbs.name, ts)),
                        ("sqlite", lambda ts: data.load_sqlite(ws / "data" / "legacy.sqlite", ts)),
                        ("files", lambda ts: data.load_files(ws / "data" / "lake", ts))):
        mine = [t for t in tables if t.source == key]
        if mine:
            t0 = time.perf_counter()
            loader(mine)
            took[key] = time.perf_counter() - t0
    return took


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("MESHFABRIC_STORE_URL", None)
    env["NO_COLOR"] = "1"
    env["COLUMNS"] = "200"
    return env


def apply_workspace(ws: Path) -> tuple[bool, str]:
    proc = subprocess.run([str(BIN), "apply"], cwd=ws, env=_env(), capture_output=True, text=True, timeout=600)
    return proc.returncode == 0, (proc.stdout + proc.stderr).strip()


def discover_available() -> tuple[bool, str]:
    try:
        proc = subprocess.run([str(BIN), "discover", "--help"], env=_env(), capture_output=True, text=True,
                              timeout=120)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return False, str(exc)
    last = (proc.stderr or proc.stdout).strip().splitlines()[-1:]
    return proc.returncode == 0, (last[0] if last else f"exit code {proc.returncode}") if proc.returncode else ""


def run_discover(ws: Path, sources: list[str], sample: int, timeout: float) -> dict[str, Any]:
    cmd = [str(BIN), "discover", *sources, "--json", "--sample", str(sample)]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ws, env=_env(), capture_output=True, text=True, timeout=timeout)
    wall = time.perf_counter() - t0
    out: dict[str, Any] = {"command": " ".join(["meshfabric", *cmd[1:]]), "wall_s": wall, "rc": proc.returncode}
    if proc.returncode != 0:
        out["error"] = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-6:])
        return out
    try:
        found = json.loads(proc.stdout)
    except json.JSONDecodeError as exc:
        out["error"] = f"stdout is not JSON ({exc}): {proc.stdout[:500]}"
        return out
    if isinstance(found, dict):  # tolerate {"datasets": [...]} around the array
        found = found.get("datasets") or found.get("results") or []
    out["datasets"] = found
    return out


# ------------------------------------------------------------------------------------ matching

_PART = re.compile(r"^part[-_]\d+(\.\w+)*$")
_EXT = re.compile(r"\.(csv|tsv|parquet|pq|txt)(\.gz)?$")


def norm_name(source: str, name: str) -> str:
    """A dataset name as discover may spell it (``public.orders``, ``events/dt=*/part-0.parquet``,
    ``events/**/*.parquet``, ``sales/quotes.csv``) reduced to the label's key."""
    n = name.strip().lower().replace("\\", "/")
    if source != "files":
        return n.strip('"`').rsplit(".", 1)[-1].strip('"`')
    if "data/lake/" in n:
        n = n.split("data/lake/", 1)[1]
    segs = [s for s in n.strip("./").split("/") if s and s != "." and "*" not in s and "=" not in s
            and not _PART.match(s)]
    if segs:
        segs[-1] = _EXT.sub("", segs[-1])
    return "/".join(segs)


def match_datasets(found: list[dict[str, Any]], tables: list[Table]) -> dict[int, dict[str, Any]]:
    """Labelled table index -> discover's dataset object."""
    by_key = {(t.source, norm_name(t.source, t.name)): i for i, t in enumerate(tables)}
    by_base: dict[tuple[str, str], list[int]] = {}
    for (src, key), i in by_key.items():
        by_base.setdefault((src, key.rsplit("/", 1)[-1]), []).append(i)
    out: dict[int, dict[str, Any]] = {}
    for ds in found:
        src = SOURCE_KEYS.get(str(ds.get("source")), str(ds.get("source")))
        key = norm_name(src, str(ds.get("name", "")))
        i = by_key.get((src, key))
        if i is None:
            cands = by_base.get((src, key.rsplit("/", 1)[-1]), [])
            i = cands[0] if len(cands) == 1 else None
        if i is not None and i not in out:
            out[i] = ds
    return out


# ----------------------------------------------------------------------------------- baselines

NAME_RULES: list[tuple[str, re.Pattern[str]]] = [(t, re.compile(p)) for t, p in [
    ("email", r"e[-_]?mail"),
    ("phone", r"phone|mobile|(^|_)tel($|_)|telephone|(^|_)fax($|_)|(^|_)cell($|_)"),
    ("ip_address", r"(^|_)ip($|_)|ip_?addr"),
    ("credit_card", r"card_?(no|num)|credit_?card|(^|_)cc_?(no|num)|(^|_)pan($|_)"),
    ("iban", r"iban"),
    ("national_id", r"ssn|(^|_)bsn($|_)|nino|national_?id|tax_?id|(^|_)dni($|_)|personnummer|(^|_)nir($|_)|passport"),
    ("date_of_birth", r"(^|_)dob($|_)|birth"),
    ("postal_code", r"zip|postal|post_?code"),
    ("address", r"address|street|(^|_)addr($|_)"),
    ("person_name", r"(^|_)((first|last|full|given|family|sur|contact|customer|holder)_?)?name($|_)|recipient|"
                    r"beneficiary|cardholder"),
]]
VALUE_RULES: list[tuple[str, re.Pattern[str]]] = [(t, re.compile(p)) for t, p in [
    ("email", r"^[\w.+-]+@[\w-]+(\.[\w-]+)+$"),
    ("ip_address", r"^((\d{1,3}\.){3}\d{1,3}|[0-9a-f]{1,4}(:[0-9a-f]{0,4}){2,7})$"),
    ("credit_card", r"^(\d{4}([ -]?\d{4}){3}|\d{13,19})$"),
    ("phone", r"^\+?[\d\s().-]{7,20}$"),
]]


def by_name(column: str) -> str | None:
    low = column.lower()
    for typ, rx in NAME_RULES:
        if rx.search(low):
            return typ
    return None


def by_name_then_values(column: str, values: list[Any]) -> str | None:
    typ = by_name(column)
    if typ:
        return typ
    texts = [v.strip() for v in values if isinstance(v, str) and v.strip()]
    if not texts:
        return None
    for typ, rx in VALUE_RULES:
        if sum(1 for v in texts if rx.match(v.lower())) >= 0.8 * len(texts):
            if typ == "phone" and sum(ch.isdigit() for ch in texts[0]) < 7:
                continue
            return typ
    return None


def baseline_columns(tables: list[Table], sample: int) -> dict[str, dict[tuple[int, str], tuple[str | None, bool]]]:
    out: dict[str, dict[tuple[int, str], tuple[str | None, bool]]] = {"name-regex": {}, "name+value-regex": {}}
    for i, t in enumerate(tables):
        for c in t.columns:
            a = by_name(c.name)
            b = by_name_then_values(c.name, c.values[:sample])
            out["name-regex"][(i, c.name)] = (a, a in PII_TYPES)
            out["name+value-regex"][(i, c.name)] = (b, b in PII_TYPES)
    return out


def _doc(table: Table) -> str:
    return " ".join([table.name.rsplit("/", 1)[-1].split(".")[0]] + [c.name for c in table.columns])


def baseline_clusters(tables: list[Table]) -> tuple[list[str], list[str]]:
    """The seed's clustering (TF-IDF over table name + column names, DBSCAN eps=0.3 cosine) and the
    nearest domain by cosine to each area's registered products and its description."""
    from sklearn.cluster import DBSCAN
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.metrics.pairwise import cosine_similarity

    docs = [_doc(t) for t in tables]
    x = TfidfVectorizer().fit_transform(docs)
    labels = DBSCAN(eps=0.3, metric="cosine").fit_predict(x)
    clusters = [f"c{lab}" if lab >= 0 else f"noise{i}" for i, lab in enumerate(labels)]
    areas = [a for a in data.AREAS if any(t.registered and t.area == a for t in tables)]
    dom_docs = [" ".join([a, data.AREA_DESCRIPTIONS[a]] + [_doc(t) + " " + t.description for t in tables
                                                          if t.registered and t.area == a]) for a in areas]
    vec = TfidfVectorizer().fit(docs + dom_docs)
    sim = cosine_similarity(vec.transform(docs), vec.transform(dom_docs)) if areas else None
    domains = [areas[int(sim[i].argmax())] if sim is not None and sim[i].max() > 0 else "" for i in range(len(docs))]
    return clusters, domains


# ------------------------------------------------------------------------------------- scoring


def _prf(tp: int, fp: int, fn: int) -> dict[str, Any]:
    p = tp / (tp + fp) if tp + fp else None
    r = tp / (tp + fn) if tp + fn else None
    f = 2 * p * r / (p + r) if p and r else 0.0
    return {"precision": p, "recall": r, "f1": f, "tp": tp, "fp": fp, "fn": fn}


def score_columns(tables: list[Table], pred: dict[tuple[int, str], tuple[str | None, bool]]) -> dict[str, Any]:
    """PII and per-type scores; a column missing from ``pred`` counts as predicted None, not PII."""
    tp = fp = fn = 0
    per = {t: [0, 0, 0] for t in LABELLED_TYPES}
    for i, t in enumerate(tables):
        for c in t.columns:
            p_type, p_pii = pred.get((i, c.name), (None, False))
            if c.pii and p_pii:
                tp += 1
            elif p_pii:
                fp += 1
            elif c.pii:
                fn += 1
            if c.semantic is not None and p_type == c.semantic:
                per[c.semantic][0] += 1
                continue
            if c.semantic is not None:
                per[c.semantic][2] += 1
            if p_type in per and (c.semantic is not None or p_type in PII_TYPES):
                per[p_type][1] += 1
    per_type = {t: _prf(*v) for t, v in per.items()}
    support = {t: v[0] + v[2] for t, v in per.items()}
    scored = [t for t in LABELLED_TYPES if support[t]]
    pii_scored = [t for t in scored if t in PII_TYPES]
    return {
        "pii": _prf(tp, fp, fn),
        "per_type": per_type,
        "macro_f1": sum(per_type[t]["f1"] for t in scored) / len(scored) if scored else None,
        "macro_f1_pii": sum(per_type[t]["f1"] for t in pii_scored) / len(pii_scored) if pii_scored else None,
    }


def ari(truth: Sequence[str], pred: Sequence[str]) -> float | None:
    if len(truth) < 2:
        return None
    from sklearn.metrics import adjusted_rand_score

    return float(adjusted_rand_score(list(truth), list(pred)))


def score_clusters(tables: list[Table], clusters: dict[int, str], domains: dict[int, str]) -> dict[str, Any]:
    idx = sorted(clusters)
    unreg = [i for i, t in enumerate(tables) if not t.registered]
    right = sum(1 for i in unreg if domains.get(i) == tables[i].area)
    return {
        "ari": ari([tables[i].area for i in idx], [clusters[i] for i in idx]),
        "clusters": len(set(clusters.values())),
        "datasets": len(idx),
        "domain_accuracy": right / len(unreg) if unreg else None,
        "domain_right": right,
        "unregistered": len(unreg),
    }


def meshfabric_predictions(tables: list[Table], matched: dict[int, dict[str, Any]]
                           ) -> tuple[dict[tuple[int, str], tuple[str | None, bool]], dict[tuple[int, str], float],
                                      dict[int, str], dict[int, str], Counter[str]]:
    cols: dict[tuple[int, str], tuple[str | None, bool]] = {}
    conf: dict[tuple[int, str], float] = {}
    clusters: dict[int, str] = {}
    domains: dict[int, str] = {}
    unknown: Counter[str] = Counter()
    for i, ds in matched.items():
        names = {c.name.lower(): c.name for c in tables[i].columns}
        for col in ds.get("columns") or []:
            name = names.get(str(col.get("name", "")).lower())
            if name is None:
                continue
            typ = col.get("semantic_type")
            typ = str(typ).lower() if typ else None
            if typ and typ not in LABELLED_TYPES:
                unknown[typ] += 1
            cols[(i, name)] = (typ, "pii" in (col.get("classifications") or []))
            conf[(i, name)] = float(col.get("confidence") or 0.0)
        cl = ds.get("cluster")
        clusters[i] = str(cl) if cl not in (None, "") else f"none{i}"
        domains[i] = str(ds.get("suggested_domain") or "")
    return cols, conf, clusters, domains, unknown


def worst_columns(tables: list[Table], pred: dict[tuple[int, str], tuple[str | None, bool]],
                  conf: dict[tuple[int, str], float]) -> list[dict[str, Any]]:
    """Wrong answers, PII mistakes first, then by confidence."""
    out = []
    for i, t in enumerate(tables):
        for c in t.columns:
            if (i, c.name) not in pred:
                continue
            p_type, p_pii = pred[(i, c.name)]
            wrong_type = c.semantic is not None and p_type != c.semantic
            wrong_pii = p_pii != c.pii
            if wrong_type or wrong_pii or (c.semantic is None and p_type in PII_TYPES):
                out.append({"source": t.source, "dataset": t.name, "column": c.name, "true": c.semantic,
                            "true_pii": c.pii, "predicted": p_type, "predicted_pii": p_pii,
                            "confidence": conf.get((i, c.name), 0.0), "pii_mistake": wrong_pii})
    out.sort(key=lambda e: (not e["pii_mistake"], -e["confidence"]))
    return out


# ------------------------------------------------------------------------------------- printing


def _fmt(v: Any) -> str:
    if v is None:
        return "—"
    if isinstance(v, float):
        return f"{v:.3f}"
    return str(v)


def show(title: str, headers: list[str], rows: list[list[Any]]) -> None:
    """A Rich table on a terminal, aligned plain text when piped."""
    cells = [[_fmt(v) for v in r] for r in rows]
    if sys.stdout.isatty():
        from rich.console import Console
        from rich.table import Table as RichTable

        table = RichTable(title=title, title_justify="left")
        for k, h in enumerate(headers):
            table.add_column(h, justify="left" if k == 0 else "right")
        for r in cells:
            table.add_row(*r)
        Console().print(table)
        return
    widths = [max(len(h), *(len(r[k]) for r in cells)) if cells else len(h) for k, h in enumerate(headers)]
    print(f"\n{title}")
    print("  ".join(h.ljust(w) if k == 0 else h.rjust(w) for k, (h, w) in enumerate(zip(headers, widths, strict=True))))
    for r in cells:
        print("  ".join(v.ljust(w) if k == 0 else v.rjust(w) for k, (v, w) in enumerate(zip(r, widths, strict=True))))


def corpus_summary(tables: list[Table], sample: int) -> dict[str, Any]:
    types = Counter(str(c.semantic) for t in tables for c in t.columns)
    return {
        "tables": len(tables),
        "columns": sum(len(t.columns) for t in tables),
        "pii_columns": sum(c.pii for t in tables for c in t.columns),
        "rows": sum(t.rows for t in tables),
        "sampled_rows": sum(min(t.rows, sample) for t in tables),
        "registered": sum(t.registered for t in tables),
        "by_source": dict(Counter(SOURCE_NAMES[t.source] for t in tables)),
        "by_area": dict(Counter(t.area for t in tables)),
        "by_type": dict(types.most_common()),
    }


def report(result: dict[str, Any]) -> None:
    c = result["corpus"]
    print(f"corpus: {c['tables']} tables, {c['columns']} columns ({c['pii_columns']} PII), {c['rows']:,} rows; "
          f"{c['registered']} registered as products; sources {c['by_source']}")
    print("types: " + ", ".join(f"{k} {v}" for k, v in c["by_type"].items()))
    cls, clu = result["classifiers"], result["clustering"]
    names = [n for n in ("name-regex", "name+value-regex", "tfidf+dbscan", "meshfabric") if n in cls or n in clu]

    def metric(label: str, key: str, sub: str | None = None) -> list[Any]:
        return [label] + [(cls[n][key][sub] if sub else cls[n][key]) if n in cls else None for n in names]

    rows = [
        metric("PII precision", "pii", "precision"),
        metric("PII recall", "pii", "recall"),
        metric("PII F1", "pii", "f1"),
        metric("macro-F1, PII types", "macro_f1_pii"),
        metric("macro-F1, all labelled types", "macro_f1"),
    ]
    rows += [
        ["cluster ARI vs areas"] + [clu[n]["ari"] if n in clu else None for n in names],
        ["clusters"] + [clu[n]["clusters"] if n in clu else None for n in names],
        ["suggested-domain accuracy"] + [clu[n]["domain_accuracy"] if n in clu else None for n in names],
    ]
    mf = result.get("meshfabric") or {}

    def per(base: Any, mine: Any) -> list[Any]:
        return [mine if n == "meshfabric" else base(n) for n in names]

    rows += [
        ["wall time s", *per(lambda n: result["baseline_seconds"].get(n), mf.get("wall_s"))],
        ["datasets matched", *per(lambda n: c["tables"], f"{mf.get('matched')}/{c['tables']} "
                                                        f"(+{mf.get('unmatched')} unlabelled)")],
        ["columns scanned", *per(lambda n: c["columns"], mf.get("columns_scanned"))],
        ["rows scanned", *per(lambda n: c["sampled_rows"], mf.get("rows_scanned"))],
    ]
    show("Discovery: meshfabric next to the baselines", ["metric", *names], rows)
    trows = []
    names = [n for n in names if n in cls]
    for t in LABELLED_TYPES:
        support = cls[names[0]]["per_type"][t]["tp"] + cls[names[0]]["per_type"][t]["fn"]
        if not support:
            continue
        row: list[Any] = [t, support]
        for n in names:
            pt = cls[n]["per_type"][t]
            row += [pt["precision"], pt["recall"], pt["f1"]] if n == "meshfabric" else [pt["f1"]]
        trows.append(row)
    heads = ["type", "n"] + [h for n in names for h in ((f"{n} P", f"{n} R", f"{n} F1") if n == "meshfabric"
                                                         else (f"{n} F1",))]
    show("Per type (a baseline only predicts PII types)", heads, trows)
    if not mf.get("available"):
        print(f"\nmeshfabric discover is not available: {mf.get('reason')}. Baselines only.")
        return
    if mf.get("unknown_types"):
        print(f"\ntypes discover used outside the labelled set (scored as wrong): {mf['unknown_types']}")
    if mf.get("missing"):
        print(f"labelled datasets discover did not return: {', '.join(mf['missing'])}")
    if mf.get("unmatched_names"):
        print(f"datasets discover returned that match no label: {', '.join(mf['unmatched_names'][:20])}")
    worst = mf.get("worst", [])
    if worst:
        pairs = Counter((str(w["true"]), str(w["predicted"])) for w in worst)
        show("meshfabric's confusions (true -> predicted)", ["true type", "predicted", "columns"],
             [[t, p, k] for (t, p), k in pairs.most_common(15)])
        show(f"meshfabric's worst-classified columns ({len(worst)} wrong, first 30)",
             ["dataset", "column", "true type", "predicted", "conf", "PII true/pred"],
             [[f"{SOURCE_NAMES[w['source']]}:{w['dataset']}", w["column"], w["true"], w["predicted"], w["confidence"],
               f"{'y' if w['true_pii'] else 'n'}/{'y' if w['predicted_pii'] else 'n'}"] for w in worst[:30]])
    wrong_dom = mf.get("wrong_domains", [])
    if wrong_dom:
        show("Unregistered datasets with a wrong suggested domain", ["dataset", "true area", "suggested", "cluster"],
             wrong_dom)


# ----------------------------------------------------------------------------------------- runs


def run_corpus(args: argparse.Namespace) -> dict[str, Any]:
    sources = tuple(s.strip() for s in args.sources.split(",") if s.strip())
    bad = [s for s in sources if s not in SOURCE_NAMES]
    if bad:
        raise SystemExit(f"unknown source(s) {bad}: choose from {','.join(SOURCE_NAMES)}")
    tables = data.build_corpus(args.tables, sources, seed=args.seed)
    problems = data.self_check(tables)
    if problems:
        print("self-check found invalid identifiers:\n  " + "\n  ".join(problems[:20]), file=sys.stderr)
    ws = args.workdir / "ws"
    if ws.exists():
        shutil.rmtree(ws)
    ws.mkdir(parents=True)
    dbs = Databases("pg" in sources, "mysql" in sources)
    result: dict[str, Any] = {"corpus": corpus_summary(tables, args.sample), "self_check_problems": problems,
                              "workspace": str(ws), "databases": dbs.name}
    try:
        result["load_seconds"] = load(tables, dbs, ws)
        data.write_workspace(ws, tables, dbs.pg_url, dbs.my_url)
        ok, text = apply_workspace(ws)
        result["apply"] = {"ok": ok, "output": text[-1500:]}
        if not ok:
            print(f"warning: `meshfabric apply` failed in {ws}; registered products are missing:\n{text[-1500:]}",
                  file=sys.stderr)
        score(tables, args, ws, [SOURCE_NAMES[s] for s in sources], result)
    finally:
        if args.keep:
            kept = [k for k, url in (("PostgreSQL", dbs.pg_url), ("MariaDB", dbs.my_url)) if url]
            print(f"\nkept: database {dbs.name} on {' and '.join(kept) or 'no server'}; workspace {ws}",
                  file=sys.stderr)
        else:
            result["dropped"] = dbs.drop()
    return result


def score(tables: list[Table], args: argparse.Namespace, ws: Path, source_names: list[str],
          result: dict[str, Any]) -> None:
    t0 = time.perf_counter()
    base_cols = baseline_columns(tables, args.sample)
    t1 = time.perf_counter()
    b_clusters, b_domains = baseline_clusters(tables)
    t2 = time.perf_counter()
    result["baseline_seconds"] = {"name-regex": None, "name+value-regex": t1 - t0, "tfidf+dbscan": t2 - t1}
    classifiers = {n: score_columns(tables, p) for n, p in base_cols.items()}
    clustering = {"tfidf+dbscan": score_clusters(tables, dict(enumerate(b_clusters)), dict(enumerate(b_domains)))}
    ok, reason = discover_available()
    mf: dict[str, Any] = {"available": ok, "reason": reason}
    if ok:
        run = run_discover(ws, source_names, args.sample, args.timeout)
        mf.update({k: v for k, v in run.items() if k != "datasets"})
        if "error" in run:
            mf["available"] = False
            mf["reason"] = f"discover failed (rc {run['rc']}): {run['error']}"
        else:
            found = run["datasets"]
            matched = match_datasets(found, tables)
            cols, conf, clusters, domains, unknown = meshfabric_predictions(tables, matched)
            classifiers["meshfabric"] = score_columns(tables, cols)
            clustering["meshfabric"] = score_clusters(tables, clusters, domains)
            matched_ids = {id(ds) for ds in matched.values()}
            rows_scanned = 0
            for i, ds in matched.items():
                got = next((ds[k] for k in ("rows_sampled", "sampled_rows", "sample_rows", "rows")
                            if isinstance(ds.get(k), int)), None)
                rows_scanned += got if got is not None else min(tables[i].rows, args.sample)
            mf.update({
                "datasets_returned": len(found),
                "matched": len(matched),
                "unmatched": len(found) - len(matched),
                "unmatched_names": [f"{d.get('source')}:{d.get('name')}" for d in found if id(d) not in matched_ids],
                "missing": [f"{SOURCE_NAMES[t.source]}:{t.name}" for i, t in enumerate(tables) if i not in matched],
                "columns_scanned": sum(len(d.get("columns") or []) for d in found),
                "rows_scanned": rows_scanned,
                "unknown_types": dict(unknown),
                "worst": worst_columns(tables, cols, conf),
                "wrong_domains": [[f"{SOURCE_NAMES[t.source]}:{t.name}", t.area, domains.get(i) or "—",
                                   clusters.get(i, "—")] for i, t in enumerate(tables)
                                  if not t.registered and domains.get(i) != t.area],
                "raw": found,
            })
    result["classifiers"] = classifiers
    result["clustering"] = clustering
    result["meshfabric"] = mf


def run_speed(args: argparse.Namespace) -> dict[str, Any]:
    tables = data.speed_corpus(args.speed_tables, 20, args.speed_rows, seed=args.seed)
    ws = args.workdir / "speed"
    if ws.exists():
        shutil.rmtree(ws)
    ws.mkdir(parents=True)
    dbs = Databases(True, False)
    result: dict[str, Any] = {"mode": "speed", "tables": len(tables), "columns": sum(len(t.columns) for t in tables),
                              "rows": sum(t.rows for t in tables), "databases": dbs.name}
    try:
        result["load_seconds"] = load(tables, dbs, ws)
        for t in tables:
            t.registered = False
        data.write_workspace(ws, tables, dbs.pg_url, None)
        t0 = time.perf_counter()
        base = baseline_columns(tables, args.sample)
        result["baseline_seconds"] = time.perf_counter() - t0
        result["baseline_pii_f1"] = score_columns(tables, base["name+value-regex"])["pii"]["f1"]
        ok, reason = discover_available()
        result["meshfabric"] = {"available": ok, "reason": reason}
        if ok:
            run = run_discover(ws, [SOURCE_NAMES["pg"]], args.sample, args.timeout)
            found = run.pop("datasets", None)
            result["meshfabric"].update(run)
            if found is not None:
                matched = match_datasets(found, tables)
                cols, *_ = meshfabric_predictions(tables, matched)
                result["meshfabric"].update({"datasets": len(found), "matched": len(matched),
                                             "pii_f1": score_columns(tables, cols)["pii"]["f1"]})
    finally:
        if args.keep:
            print(f"kept: database {dbs.name}, workspace {ws}", file=sys.stderr)
        else:
            result["dropped"] = dbs.drop()
    mf = result["meshfabric"]
    wall = mf.get("wall_s") if "error" not in mf else None
    rows = [["tables × columns", f"{result['tables']} × 20", f"{result['tables']} × 20"],
            ["rows in PostgreSQL", result["rows"], result["rows"]],
            ["wall time s", result["baseline_seconds"], wall],
            ["tables / s", result["tables"] / result["baseline_seconds"], result["tables"] / wall if wall else None],
            ["PII F1", result["baseline_pii_f1"], mf.get("pii_f1")]]
    show(f"Speed: discover over {result['tables']} PostgreSQL tables (sample {args.sample}; the baseline works on "
         "rows already in memory)", ["", "name+value-regex", "meshfabric"], rows)
    if not mf.get("available"):
        print(f"\nmeshfabric discover is not available: {mf.get('reason')}")
    elif "error" in mf:
        print(f"\nmeshfabric discover failed: {mf['error']}")
    return result


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    ap.add_argument("--tables", type=int, default=None, help="corpus size in tables (default: every template, 42)")
    ap.add_argument("--sources", default="pg,mysql,sqlite,files", help="which sources to build (default all four)")
    ap.add_argument("--sample", type=int, default=1000, help="rows sampled per dataset (default 1000)")
    ap.add_argument("--keep", action="store_true", help="leave the databases and the workspace for debugging")
    ap.add_argument("--json", nargs="?", const="-", default=None, metavar="FILE",
                    help="write every number as JSON to FILE (no FILE: to stdout, instead of the tables)")
    ap.add_argument("--speed", action="store_true", help="time discover over 100 tables x 20 columns in PostgreSQL")
    ap.add_argument("--speed-tables", type=int, default=100)
    ap.add_argument("--speed-rows", type=int, default=2000, help="rows per table in --speed (default 2000)")
    ap.add_argument("--seed", type=int, default=13)
    ap.add_argument("--timeout", type=float, default=1800.0, help="seconds before discover is killed")
    ap.add_argument("--workdir", type=Path, default=ROOT / "benchmarks" / ".data" / "discovery")
    return ap.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    quiet = args.json == "-"
    if quiet:  # the tables go to stderr so stdout stays one JSON document
        real_stdout, sys.stdout = sys.stdout, sys.stderr
    try:
        if args.speed:
            result = run_speed(args)
        else:
            result = run_corpus(args)
            report(result)
    finally:
        if quiet:
            sys.stdout = real_stdout
    if args.json:
        text = json.dumps(result, indent=2, default=str)
        if quiet:
            print(text)
        else:
            Path(args.json).write_text(text + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
