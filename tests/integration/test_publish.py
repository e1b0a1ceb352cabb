"""Producers publishing rows into a product: checked against the declared schema, then written."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from helpers import build_workspace, cli
from meshfabric import CheckFailed, ConfigError, Mesh


@pytest.fixture
def mesh(tmp_path: Path):
    build_workspace(tmp_path)
    with Mesh.open(tmp_path) as m:
        m.apply()
        yield m


def count(mesh: Mesh, product: str) -> int:
    return mesh.query(f"SELECT count(*) AS n FROM {product}").arrow().column("n")[0].as_py()


def test_append_to_a_table_product_is_queryable_and_emits_an_event(mesh: Mesh) -> None:
    before = count(mesh, "sales.orders")
    batch = pa.table(
        {"order_id": [1001, 1002], "customer_id": [1, 2], "amount": [9.5, 12.0], "status": ["completed"] * 2}
    )
    assert mesh.write("sales.orders", batch) == 2
    assert count(mesh, "sales.orders") == before + 2
    events = mesh.events.list(event_type="product.data_written")
    assert [e.data for e in events] == [{"product": "sales.orders", "rows": 2, "mode": "append"}]


def test_columns_are_matched_by_name_and_cast_to_the_declared_types(mesh: Mesh) -> None:
    # integers for a double column, columns in another order, nullable customer_id missing
    batch = pa.table({"status": ["completed"], "amount": pa.array([7], pa.int32()), "order_id": [2001]})
    mesh.write("sales.orders", batch)
    row = mesh.query("SELECT customer_id, amount FROM sales.orders WHERE order_id = 2001").arrow().to_pylist()
    assert row == [{"customer_id": None, "amount": 7.0}]


def test_a_batch_that_breaks_the_schema_is_refused_whole_with_every_reason(mesh: Mesh) -> None:
    before = count(mesh, "sales.orders")
    batch = pa.table({"order_id": [None, 5], "amount": ["cheap", "dear"], "colour": ["red", "blue"]})
    with pytest.raises(CheckFailed) as err:
        mesh.write("sales.orders", batch)
    text = str(err.value)
    assert "column 'colour' is not in the product's schema" in text
    assert "column 'amount' cannot be stored as double" in text
    assert "column 'order_id' is not nullable but has 1 null values" in text
    assert count(mesh, "sales.orders") == before
    assert mesh.events.list(event_type="product.data_written") == []


def test_a_glob_product_gets_a_new_file_per_append(mesh: Mesh, tmp_path: Path) -> None:
    before = count(mesh, "logistics.shipments")
    files_before = set((tmp_path / "data/lake/shipments").glob("*.parquet"))
    batch = pa.table({"shipment_id": [900], "order_id": [3], "carrier": ["GLS"], "cost": [4.25]})
    mesh.write("logistics.shipments", batch)
    new = set((tmp_path / "data/lake/shipments").glob("*.parquet")) - files_before
    assert len(new) == 1 and pq.read_table(next(iter(new))).schema.field("cost").type == pa.decimal128(10, 2)
    assert count(mesh, "logistics.shipments") == before + 1
    with pytest.raises(ConfigError, match="only 'append' adds to it"):
        mesh.write("logistics.shipments", batch, mode="replace")


def test_cli_products_write_reads_a_file_and_exits_1_on_a_schema_mismatch(
    mesh: Mesh, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = tmp_path / "batch.csv"
    good.write_text("order_id,customer_id,amount,status\n3001,4,15.25,completed\n", encoding="utf-8")
    code, out, _ = cli(capsys, "-w", tmp_path, "products", "write", "sales.orders", good)
    assert code == 0 and "wrote 1 rows to sales.orders" in out
    bad = tmp_path / "bad.csv"
    bad.write_text("order_id,weight\n1,3\n", encoding="utf-8")
    code, _, err = cli(capsys, "-w", tmp_path, "products", "write", "sales.orders", bad)
    assert code == 1 and "column 'weight' is not in the product's schema" in err
    code, _, err = cli(capsys, "-w", tmp_path, "products", "write", "sales.orders", tmp_path / "nope.csv")
    assert code == 2 and "no such file" in err
