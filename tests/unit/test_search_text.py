"""The search tokenizer, highlighting, edit distance and ranking, without a store."""

from __future__ import annotations

import html
import re
from itertools import pairwise
from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from meshfabric.search.ranking import EXACT_NAME, WEIGHTS, Group, score
from meshfabric.search.text import distance, fold, highlight, index_text, spans, tokens, vocabulary_term


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("customer_email", ["customer", "email"]),
        ("customerEmail", ["customer", "email"]),
        ("HTTPServer log", ["http", "server", "log"]),
        ("sales.orders", ["sales", "orders"]),
        ("crm-team@example.com", ["crm", "team", "example", "com"]),
        ("Chloé ÅNGSTRÖM", ["chloe", "angstrom"]),
        ("Straße", ["strasse"]),
        ("v2 2024 decimal(10,2)", ["v2", "2024", "decimal", "10", "2"]),
        ("\"*\" AND (NEAR) :* 'x'", ["and", "near", "x"]),
        ("", []),
    ],
)
def test_tokens(text: str, expected: list[str]) -> None:
    assert tokens(text) == expected


@given(st.text())
def test_tokens_are_plain_folded_words(text: str) -> None:
    for word in tokens(text):
        # nothing a full-text query language could read as syntax
        assert re.fullmatch(r"[^\W_]+", word)
        assert word == fold(word)
    assert index_text(text).split() == tokens(text)


@given(st.text())
def test_spans_point_into_the_original(text: str) -> None:
    for start, end, word in spans(text):
        assert 0 <= start < end <= len(text)
        assert word in fold(text[start:end])


@given(st.text(), st.sets(st.text(min_size=1, max_size=5)))
def test_highlight_only_adds_marks(text: str, terms: set[str]) -> None:
    marked = highlight(text, terms)
    assert html.unescape(marked.replace("<mark>", "").replace("</mark>", "")) == text
    # every < in the result belongs to a mark: user text cannot inject markup
    assert re.sub(r"</?mark>", "", marked).count("<") == 0


def test_highlight_marks_words_and_prefixes() -> None:
    assert highlight("customer_email", {"customer", "email"}) == "<mark>customer</mark>_<mark>email</mark>"
    assert highlight("Customers & orders", {"cust"}) == "<mark>Customers</mark> &amp; orders"
    assert highlight("Chloé's", {"chloe"}) == "<mark>Chloé</mark>'s"
    assert highlight("no match here", {"zzz"}) == "no match here"


def test_highlight_window_keeps_the_first_match_in_view() -> None:
    text = " ".join(f"w{i}" for i in range(40)) + " target " + " ".join(f"x{i}" for i in range(40))
    shown = highlight(text, {"target"}, window=9)
    assert shown.startswith("… ") and shown.endswith(" …")
    assert "<mark>target</mark>" in shown
    assert len(tokens(re.sub(r"</?mark>|…", "", shown))) == 9


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ("email", "email", 0),
        ("emial", "email", 1),
        ("custmer", "customer", 1),
        ("cusotmer", "customer", 1),
        ("kitten", "sitting", 3),
        ("", "abc", 3),
        ("abc", "", 3),
        ("ca", "abc", 3),
    ],
)
def test_distance(a: str, b: str, expected: int) -> None:
    assert distance(a, b, limit=5) == expected


@given(st.text(max_size=8), st.text(max_size=8), st.integers(0, 3))
def test_distance_is_symmetric_and_capped(a: str, b: str, limit: int) -> None:
    d = distance(a, b, limit)
    assert d == distance(b, a, limit)
    assert 0 <= d <= limit + 1
    assert (d == 0) == (a == b)


def test_vocabulary_terms() -> None:
    assert vocabulary_term("email")
    assert not vocabulary_term("id")
    assert not vocabulary_term("2024")
    assert not vocabulary_term("x" * 41)


# -- ranking ---------------------------------------------------------------------------------------
def doc(
    name: str,
    *,
    kind: str = "product",
    domain: str = "d",
    columns: list[dict[str, Any]] | None = None,
    tags: list[str] | None = None,
    owner: str = "team@example.com",
    description: str = "",
) -> Any:
    return SimpleNamespace(
        kind=kind,
        name=name,
        domain=domain,
        columns=columns or [],
        tags=tags or [],
        owner=owner,
        description=description,
    )


def query(*words: str) -> list[Group]:
    return [Group(w, {w: 1.0}) for w in words]


def test_each_tier_outranks_the_next() -> None:
    q = query("customer", "email")
    tiers = [
        doc("customer_email"),  # exact name
        doc("customer_email_history"),  # every word in the name
        doc("customers", columns=[{"name": "email"}]),  # name prefix + a column
        doc("orders", columns=[{"name": "customer_email"}]),  # columns
        doc("newsletter", tags=["email", "customer"]),  # tags
        doc("mailing", owner="customer-email@example.com"),  # owner
        doc("audit", columns=[{"name": "x", "description": "the customer email"}]),  # column description
        doc("campaigns", description="Sends an email to every customer"),  # description
    ]
    scores = [score(d, q).score for d in tiers]
    assert scores == sorted(scores, reverse=True)
    assert len(set(scores)) == len(scores), scores
    assert scores[0] == EXACT_NAME + 2 * WEIGHTS["name"]


def test_a_higher_field_beats_three_matches_in_the_next_one() -> None:
    q = query("alpha", "beta", "gamma")
    one_name = score(doc("alpha"), query("alpha")).score
    three_columns = score(doc("x", columns=[{"name": "alpha"}, {"name": "beta"}, {"name": "gamma"}]), q).score
    assert one_name > three_columns
    one_column = score(doc("x", columns=[{"name": "alpha"}]), query("alpha")).score
    three_tags = score(doc("x", tags=["alpha", "beta", "gamma"]), q).score
    assert one_column > three_tags
    one_tag = score(doc("x", tags=["alpha"]), query("alpha")).score
    three_in_text = score(doc("x", description="alpha beta gamma"), q).score
    assert one_tag > three_in_text


def test_corrected_words_score_lower_than_typed_ones() -> None:
    exact = score(doc("orders"), query("orders")).score
    corrected = score(doc("orders"), [Group("ordrs", {"ordrs": 1.0, "orders": 0.7})]).score
    assert 0 < corrected < exact


def test_matches_name_each_field_once_with_snippets() -> None:
    d = doc(
        "orders",
        columns=[{"name": "customer_id", "type": "bigint", "description": "who ordered"}],
        tags=["customer", "sales"],
        description="Every order of a customer",
    )
    result = score(d, query("customer"))
    assert [(m.field, m.column, m.snippet) for m in result.matches] == [
        ("column", "customer_id", "<mark>customer</mark>_id"),
        ("tag", None, "<mark>customer</mark>, sales"),
        ("description", None, "Every order of a <mark>customer</mark>"),
    ]


def test_no_match_scores_zero() -> None:
    result = score(doc("orders"), query("zebra"))
    assert (result.score, result.matches) == (0, [])


WORD = st.from_regex(r"[a-z]{3,8}", fullmatch=True)


@given(st.lists(WORD, min_size=1, max_size=3, unique=True), st.lists(WORD, max_size=4))
def test_tiers_hold_for_any_words(words: list[str], noise: list[str]) -> None:
    """Whatever the words: the exact name, then the words in a longer name, then in columns, tags,
    the owner, column descriptions and the description, strictly in that order."""
    noise = [w for w in noise if not any(w.startswith(q) or q.startswith(w) for q in words)]
    joined = "_".join(words)
    tiers = [
        doc(joined),
        doc(f"{joined}_{'_'.join(noise) or 'zz'}"),
        doc("zz", columns=[{"name": w} for w in words]),
        doc("zz", tags=words),
        doc("zz", owner="-".join(words) + "@example.com"),
        doc("zz", columns=[{"name": "zz", "description": " ".join(words)}]),
        doc("zz", description=" ".join([*noise, *words])),
    ]
    scores = [score(d, query(*words)).score for d in tiers]
    assert all(a > b > 0 for a, b in pairwise(scores)), scores


def _points_by_definition(d: Any, groups: list[Group]) -> float:
    """A document's points from the definition: per group, the best field weight times the best
    quality any accepted term reaches on any of the field's words (plus the exact-name bonus)."""
    from meshfabric.search.ranking import exact_bonus, fields
    from meshfabric.search.text import word_matches

    total = 0.0
    for g in groups:
        total += max(
            (
                WEIGHTS[name] * q * word_matches(w, t)
                for name, entries in fields(d).items()
                for _, _, found in entries
                for w in found
                for t, q in g.accepted.items()
            ),
            default=0.0,
        )
    return round(total + exact_bonus(groups, d), 3)


SHORT = st.from_regex(r"[a-d]{1,5}", fullmatch=True)


@given(
    st.lists(SHORT, min_size=1, max_size=4),
    st.lists(st.lists(SHORT, min_size=1, max_size=4), max_size=4),
    st.lists(SHORT, max_size=6),
    st.lists(st.dictionaries(SHORT, st.sampled_from([1.0, 0.7, 0.5]), min_size=1, max_size=3), min_size=1, max_size=3),
    st.lists(st.booleans(), max_size=3),
)
def test_scores_equal_the_per_term_definition(
    name: list[str],
    columns: list[list[str]],
    description: list[str],
    accepted: list[dict[str, float]],
    stems: list[bool],
) -> None:
    """The page's scores (a memo of what each word gives each group, shared by every hit of a
    query) equal the definition: every accepted term against every word of every field — words,
    prefixes and stems (``~`` terms) alike, and a second scoring with the memo filled gives the same."""
    from meshfabric.search.text import STEM_MARK, stem

    groups = []
    for i, terms in enumerate(accepted):
        terms = dict(terms)
        if i < len(stems) and stems[i]:
            first = next(iter(terms))
            terms[STEM_MARK + stem(first + "s")] = 1.0
        groups.append(Group(next(iter(terms)), terms))
    d = doc(
        "_".join(name),
        columns=[{"name": "_".join(c), "description": " ".join(reversed(c))} for c in columns],
        description=" ".join(description),
    )
    want = _points_by_definition(d, groups)
    assert score(d, groups).score == want
    assert score(d, groups).score == want
