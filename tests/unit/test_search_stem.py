"""The light English stemmer and how stems enter the postings and the ranking, without a store."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from meshfabric.search.index import Document
from meshfabric.search.ranking import WEIGHTS, Group, _impacts_slow, impacts, query_group, score
from meshfabric.search.text import STEM, STEM_MARK, highlight, stem, stem_forms, vocabulary_term


@pytest.mark.parametrize(
    ("forms", "expected"),
    [
        (("order", "orders", "ordered", "ordering"), "order"),
        (("customer", "customers"), "customer"),
        (("category", "categories"), "category"),
        (("address", "addresses"), "address"),
        (("status", "statuses"), "status"),
        (("create", "creates", "created", "creating"), "creat"),
        (("ship", "ships", "shipped", "shipping"), "ship"),
        (("bill", "bills", "billed", "billing"), "bill"),
        (("match", "matches"), "match"),
        (("box", "boxes"), "box"),
        (("entry", "entries"), "entry"),
        (("price", "prices", "pricing", "priced"), "pric"),
        (("day", "days"), "day"),
    ],
)
def test_forms_of_a_word_meet(forms: tuple[str, ...], expected: str) -> None:
    assert {stem(f) for f in forms} == {expected}


@pytest.mark.parametrize(
    "word",
    [
        "analysis",
        "alias",
        "series",
        "news",
        "string",
        "thing",
        "bus",
        "gas",
        "red",
        "pay",
        "v2",
        "2024",
        "speed",
        "need",
        "x" * 31,
        "ümlaut",
    ],
)
def test_conservative(word: str) -> None:
    """Short, long, non-alphabetic words and the listed exceptions keep their form (or lose at most
    a final e)."""
    assert stem(word) in (word, word[:-1])


@given(st.text(alphabet="abcdefghijklmnopqrstuvwxyz", min_size=1, max_size=35))
def test_every_word_is_among_its_stems_forms(word: str) -> None:
    """What a query reads for a stem (its forms) is every word of that stem: the retrieval (forms
    as posting terms) and the ranking (a word's stem) agree."""
    s = stem(word)
    assert len(s) >= min(len(word), 3)
    assert word.startswith(s) or s.endswith("y")
    assert word in stem_forms(s)
    assert all(stem(f) == s for f in stem_forms(s))


@pytest.mark.parametrize(
    "word",
    [
        "orders",
        "categories",
        "creating",
        "shipped",
        "addresses",
        "matches",
        "prices",
        "applied",
        "billing",
        "agreeing",
        "dates",
        "ties",
        "embedded",
        "statuses",
    ],
)
def test_forms_of_examples(word: str) -> None:
    assert word in stem_forms(stem(word))


def test_stem_marks_are_no_word() -> None:
    assert not vocabulary_term(STEM_MARK + "order")
    assert not STEM_MARK.isalnum()


def doc(name: str, *, columns: list[dict[str, Any]] | None = None, description: str = "") -> Any:
    return SimpleNamespace(
        kind="product",
        name=name,
        domain="d",
        columns=columns or [],
        tags=[],
        owner="team@example.com",
        description=description,
        classifications=[],
    )


def test_plurals_find_the_word_below_the_word_itself() -> None:
    q = [query_group("orders")]
    exact = score(doc("orders"), q).score
    stemmed = score(doc("order"), q).score
    prefix = score(doc("ordersheet"), q).score
    assert exact > stemmed > prefix > 0
    assert stemmed == STEM * (1000 + WEIGHTS["name"])

    # and the other way round: "customer" finds "customers" as a stem (above a mere prefix)
    def column(name: str, word: str) -> float:
        return score(doc("x", columns=[{"name": name}]), [query_group(word)]).score

    assert column("customers", "customer") == column("customer", "customers") == STEM * WEIGHTS["columns"]
    assert column("customerid", "customer") == 0.8 * WEIGHTS["columns"]


def test_the_exact_words_outrank_their_stems_in_a_name() -> None:
    q = [query_group("customer"), query_group("orders")]
    exact = score(doc("customer_orders"), q).score
    stemmed = score(doc("customers_order"), q).score
    assert exact == 1000 + 2 * WEIGHTS["name"]
    assert stemmed == STEM * (1000 + 2 * WEIGHTS["name"])
    assert stemmed > score(doc("customer_orders_daily"), q).score


def test_stemmed_matches_are_highlighted() -> None:
    hit = score(doc("x", columns=[{"name": "orders_total"}]), [query_group("ordering")])
    assert [m.snippet for m in hit.matches] == ["<mark>orders</mark>_total"]
    assert highlight("shipped parcels", {STEM_MARK + "ship"}) == "<mark>shipped</mark> parcels"


def test_a_stemmed_name_earns_part_of_the_exact_name_bonus() -> None:
    """``refunds`` names the product ``refund`` less than ``refund`` does, and more than a
    corrected word would."""
    exact = score(doc("refund"), [query_group("refund")]).score
    stemmed = score(doc("refund"), [query_group("refunds")]).score
    corrected = score(doc("refund"), [Group("refnd", {"refnd": 1.0, "refund": 0.7})]).score
    assert exact > stemmed > corrected
    assert stemmed == STEM * (1000 + WEIGHTS["name"])


def test_postings_are_unchanged_by_stemming() -> None:
    d = Document(
        "product",
        "d.orders",
        "d",
        "orders",
        "team@example.com",
        "every order shipped",
        [],
        "published",
        [{"name": "shipping_date", "type": "date", "description": "", "classification": []}],
    )
    assert impacts(d) == _impacts_slow(d)
    assert not any(t.startswith(STEM_MARK) for t in impacts(d))
