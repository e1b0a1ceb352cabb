"""The column classifier of discovery: values decide, names only help (issue 13)."""

from __future__ import annotations

import json
import random
import string
import uuid
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from meshfabric.discovery.model import PII_TYPES, ColumnFinding, ColumnSample
from meshfabric.discovery.semantic import classify_column, classify_columns

KNOWN_TYPES = set(PII_TYPES) | {
    "url", "uuid", "country", "currency_code", "currency_amount", "timestamp", "date", "boolean", "identifier",
    "category", "free_text", "numeric", "json", "domain",
}


def classify(name: str, values: list[Any], logical_type: str = "string", **kw: Any) -> ColumnFinding:
    return classify_column(ColumnSample(name, logical_type, values), **kw)


# ------------------------------------------------------------------------------------ value generators

def _luhn_digit(body: str) -> str:
    total = 0
    for i, ch in enumerate(reversed(body)):
        d = int(ch)
        if i % 2 == 0:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return str((10 - total % 10) % 10)


def cards(r: random.Random, n: int) -> list[str]:
    out = []
    for _ in range(n):
        prefix, length = r.choice([("4", 16), ("51", 16), ("55", 16), ("2221", 16), ("34", 15), ("37", 15),
                                   ("6011", 16)])
        body = prefix + "".join(r.choice(string.digits) for _ in range(length - len(prefix) - 1))
        number = body + _luhn_digit(body)
        style = r.randrange(3)
        if style == 1 and length == 16:
            number = " ".join(number[i:i + 4] for i in range(0, 16, 4))
        elif style == 2 and length == 16:
            number = "-".join(number[i:i + 4] for i in range(0, 16, 4))
        out.append(number)
    return out


def _iban(country: str, bban: str) -> str:
    digits = "".join(str(int(ch, 36)) for ch in bban + country + "00")
    check = 98 - int(digits) % 97
    return f"{country}{check:02d}{bban}"


def ibans(r: random.Random, n: int) -> list[str]:
    out = []
    for _ in range(n):
        kind = r.randrange(3)
        if kind == 0:
            bban = "".join(r.choice(string.digits) for _ in range(18))
            out.append(_iban("DE", bban))
        elif kind == 1:
            bban = "".join(r.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ") for _ in range(4)) + "".join(
                r.choice(string.digits) for _ in range(14))
            value = _iban("GB", bban)
            out.append(" ".join(value[i:i + 4] for i in range(0, len(value), 4)))
        else:
            bban = "".join(r.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ") for _ in range(4)) + "".join(
                r.choice(string.digits) for _ in range(10))
            out.append(_iban("NL", bban))
    return out


def ssns(r: random.Random, n: int) -> list[str]:
    out = []
    while len(out) < n:
        area = r.randrange(1, 900)
        if area == 666:
            continue
        out.append(f"{area:03d}-{r.randrange(1, 100):02d}-{r.randrange(1, 10000):04d}")
    return out


def bsns(r: random.Random, n: int) -> list[str]:
    out = []
    while len(out) < n:
        head = [r.randrange(10) for _ in range(8)]
        if head[0] == 0:
            continue
        total = sum(d * w for d, w in zip(head, range(9, 1, -1), strict=True))
        last = total % 11
        if last > 9:
            continue
        out.append("".join(map(str, head)) + str(last))
    return out


def dnis(r: random.Random, n: int) -> list[str]:
    letters = "TRWAGMYFPDXBNJZSQVHLCKE"
    return [f"{k:08d}{letters[k % 23]}" for k in (r.randrange(10**7, 10**8) for _ in range(n))]


FIRST = ["Hans", "Maria", "John", "Sophie", "Giulia", "Lars", "Priya", "Wei", "Yuki", "Piotr", "Ana", "Jean-Pierre",
         "Fatima", "Sanne", "Mikko", "Carlos", "Emma", "Oliver", "Chloé", "Ingrid"]
LAST = ["Müller", "García", "Smith", "Dubois", "Rossi", "Andersson", "Sharma", "Zhang", "Tanaka", "Nowak",
        "Silva", "de Vries", "Korhonen", "O'Brien", "Kowalski", "Schneider", "Fernández", "Xylander", "Quibb"]


def person_names(r: random.Random, n: int) -> list[str]:
    out = []
    for _ in range(n):
        style = r.randrange(4)
        f, last = r.choice(FIRST), r.choice(LAST)
        if style == 0:
            out.append(f"{f} {last}")
        elif style == 1:
            out.append(f"{last}, {f}")
        elif style == 2:
            out.append(f"{f} {r.choice('ABCDEFGHJKLMNPRSTW')}. {last}")
        else:
            out.append(f"{r.choice(['Dr.', 'Mr', 'Mrs', 'Frau', 'Herr'])} {f} {last}")
    return out


def addresses(r: random.Random, n: int) -> list[str]:
    forms = [
        lambda k: f"{k} Baker Street", lambda k: f"{k} Main St", lambda k: f"{k} Pennsylvania Ave NW",
        lambda k: f"Hauptstraße {k}", lambda k: f"Bahnhofstr. {k}a", lambda k: f"Lindenweg {k}",
        lambda k: f"{k} rue de Rivoli", lambda k: f"{k}, boulevard Haussmann", lambda k: f"Via del Corso {k}",
        lambda k: f"Calle de Alcalá {k}", lambda k: f"Keizersgracht {k}", lambda k: f"Storgatan {k}",
        lambda k: f"ul. Marszałkowska {k}", lambda k: f"Avenida da Liberdade {k}", lambda k: f"Nørrevej {k}",
        lambda k: f"{k} Oak Lane, Springfield, IL 62704",
    ]
    return [r.choice(forms)(r.randrange(1, 400)) for _ in range(n)]


def phones(r: random.Random, n: int) -> list[str]:
    def d(k: int) -> str:
        return "".join(r.choice(string.digits) for _ in range(k))

    forms = [
        lambda: f"+1 {r.choice(['212', '415', '646', '312', '617'])}-{r.randrange(200, 999)}-{d(4)}",
        lambda: f"({r.choice(['212', '415', '646', '312', '617'])}) {r.randrange(200, 999)}-{d(4)}",
        lambda: f"+49 30 {d(8)}", lambda: f"+49 {r.choice(['151', '160', '171'])} {d(7)}",
        lambda: f"+44 20 7{d(3)} {d(4)}", lambda: f"+44 7{r.choice(['700', '911', '400'])} {d(6)}",
        lambda: f"+33 6 {d(2)} {d(2)} {d(2)} {d(2)}", lambda: f"+34 6{d(2)} {d(3)} {d(3)}",
        lambda: f"+91 9{d(4)} {d(5)}", lambda: f"0031 6 {d(8)}",
    ]
    return [r.choice(forms)() for _ in range(n)]


def birth_dates(r: random.Random, n: int) -> list[date]:
    today = date.today()
    return [today - timedelta(days=r.randrange(int(365.25 * 18), int(365.25 * 90))) for _ in range(n)]


R = random.Random(13)
N = 200
RECENT = datetime(2026, 3, 1, 8, 0, 0)

# (expected type, values) — every column is named `c7` so only the values can tell
OPAQUE_CASES: list[tuple[str, list[Any]]] = [
    ("email", [f"{r}.{k}@{d}" for k, (r, d) in enumerate(
        (R.choice(["anna", "j_smith", "mueller", "li.wei", "x+tag"]), R.choice(["example.com", "mail.de", "uni.ac.uk",
                                                                                "firma.fr"]))
        for _ in range(N))]),
    ("phone", phones(R, N)),
    ("person_name", person_names(R, N)),
    ("address", addresses(R, N)),
    ("postal_code", [R.choice(["SW1A 1AA", "EC1A 1BB", "M1 1AE", "K1A 0B1", "1012 AB", "3511 LN", "90210-1234",
                               "02134-0001", "00-950", "1000-001", "100-0001"]) for _ in range(N)]),
    ("ip_address", [f"10.{R.randrange(256)}.{R.randrange(256)}.{R.randrange(1, 255)}" for _ in range(N - 20)]
     + [f"2001:db8::{R.randrange(65535):x}" for _ in range(20)]),
    ("credit_card", cards(R, N)),
    ("iban", ibans(R, N)),
    ("national_id", ssns(R, N)),
    ("national_id", bsns(R, N // 2) + dnis(R, N // 2)),
    ("date_of_birth", birth_dates(R, N)),
    ("date_of_birth", [d.strftime(R.choice(["%Y-%m-%d", "%d.%m.%Y", "%d/%m/%Y"])) for d in birth_dates(R, N)]),
    ("url", [f"https://www.example.org/p/{k}?q={R.randrange(99)}" for k in range(N)]),
    ("uuid", [str(uuid.UUID(int=R.getrandbits(128), version=4)) for _ in range(N)]),
    ("country", [R.choice(["Germany", "France", "Spain", "Italy", "Netherlands", "United States", "Japan",
                           "Brazil", "India", "Sweden"]) for _ in range(N)]),
    ("country", [R.choice(["DE", "FR", "ES", "IT", "NL", "US", "JP", "BR", "IN", "SE", "GB"]) for _ in range(N)]),
    ("currency_code", [R.choice(["EUR", "USD", "GBP", "CHF", "JPY", "SEK"]) for _ in range(N)]),
    ("currency_amount", [R.choice([f"${R.randrange(1, 999)}.{R.randrange(100):02d}",
                                   f"{R.randrange(1, 999)},{R.randrange(100):02d} €",
                                   f"£{R.randrange(1, 9999):,}", f"EUR {R.randrange(1, 999)}.00"])
                         for _ in range(N)]),
    ("timestamp", [RECENT + timedelta(seconds=R.randrange(10**7)) for _ in range(N)]),
    ("timestamp", [(RECENT + timedelta(seconds=R.randrange(10**7))).isoformat() + "Z" for _ in range(N)]),
    ("date", [str(date(2025, 1, 1) + timedelta(days=R.randrange(400))) for _ in range(N)]),
    ("boolean", [R.choice(["Y", "N"]) for _ in range(N)]),
    ("boolean", [R.choice([True, False]) for _ in range(N)]),
    ("identifier", list(range(1000, 1000 + N))),
    ("identifier", [f"ORD-{k:07d}" for k in R.sample(range(10**6), N)]),
    ("category", [R.choice(["active", "suspended", "closed", "pending"]) for _ in range(N)]),
    ("free_text", [f"Customer reported that the {R.choice(['app', 'invoice', 'delivery'])} was late again, "
                   f"ticket {k} escalated" for k in range(N)]),
    ("numeric", [round(R.uniform(-1000, 1000), 3) for _ in range(N)]),
    ("numeric", [str(R.randrange(1, 10**6)) if k % 2 else f"{R.uniform(0, 999):.2f}" for k in range(N)]),
    ("json", [json.dumps({"k": k, "tags": ["a", "b"]}) for k in range(N)]),
    ("domain", [f"{R.choice(['api', 'www', 'mail', 'db'])}{k}.{R.choice(['example.com', 'corp.net', 'shop.de'])}"
                for k in range(N)]),
]


@pytest.mark.parametrize(("expected", "values"), OPAQUE_CASES,
                         ids=[f"{t}-{i}" for i, (t, _) in enumerate(OPAQUE_CASES)])
def test_type_recognised_from_values_under_an_opaque_name(expected: str, values: list[Any]) -> None:
    f = classify("c7", values)
    assert f.semantic_type == expected, f.evidence
    assert 0.5 <= f.confidence <= 1.0
    assert f.pii == (expected in PII_TYPES)
    _assert_no_value_in_evidence(f, values)


def _assert_no_value_in_evidence(f: ColumnFinding, values: list[Any]) -> None:
    dumped = json.dumps(f.evidence, default=str)
    for v in values:
        text = v.isoformat() if isinstance(v, (date, datetime)) else str(v)
        if len(text) >= 5:
            assert text not in dumped


def test_classifications_are_small_and_documented() -> None:
    r = random.Random(1)
    assert classify("c7", cards(r, 100)).classifications == ["pii", "financial", "sensitive"]
    assert classify("c7", ssns(r, 100)).classifications == ["pii", "sensitive"]
    assert classify("c7", [f"u{k}@example.com" for k in range(50)]).classifications == ["pii", "contact"]
    assert classify("c7", [f"${k}.99" for k in range(50)]).classifications == ["financial"]
    assert classify("c7", list(range(50))).classifications == []


# --------------------------------------------------------------------- PII-sounding names, non-PII values

def test_email_sent_of_booleans_is_boolean() -> None:
    f = classify("email_sent", [True, False, True, True, False] * 40, "boolean")
    assert f.semantic_type == "boolean" and not f.pii


def test_email_column_of_small_integers_is_not_email() -> None:
    f = classify("email", [random.Random(k).randrange(0, 50) for k in range(200)], "integer")
    assert f.semantic_type in ("numeric", "identifier", "category") and not f.pii


def test_phone_model_of_device_names_is_not_phone() -> None:
    models = ["iPhone 15", "iPhone 14 Pro", "Galaxy S23", "Pixel 8", "Xperia 1 V", "Moto G84", "Nokia G42"]
    f = classify("phone_model", [random.Random(k).choice(models) for k in range(200)])
    assert f.semantic_type == "category" and not f.pii


def test_address_id_of_integers_is_identifier() -> None:
    f = classify("address_id", list(range(1, 501)), "long")
    assert f.semantic_type == "identifier" and not f.pii


def test_address_id_of_random_unique_keys_is_identifier() -> None:
    f = classify("address_id", random.Random(3).sample(range(1, 10**7), 400), "long")
    assert f.semantic_type == "identifier" and not f.pii


def test_name_of_product_names_is_not_person_name() -> None:
    products = ["Widget Pro Max", "Deluxe Office Chair", "Coffee Mug 350ml", "Desk Lamp 3000", "Green Tea Sencha",
                "Wireless Mouse", "USB-C Cable 2m", "Standing Desk", "Noise Cancelling Headphones", "Paper Clips"]
    f = classify("name", [random.Random(k).choice(products) for k in range(300)], table="products")
    assert f.semantic_type != "person_name" and not f.pii


def test_name_of_many_distinct_product_names_is_not_person_name() -> None:
    r = random.Random(5)
    adjectives = ["Smart", "Classic", "Ultra", "Eco", "Compact", "Deluxe", "Rapid", "Silent"]
    nouns = ["Blender", "Kettle", "Toaster", "Router", "Backpack", "Lamp", "Speaker", "Drill", "Monitor"]
    values = [f"{r.choice(adjectives)} {r.choice(nouns)} {r.randrange(100, 999)}" for _ in range(300)]
    f = classify("name", values)
    assert f.semantic_type != "person_name" and not f.pii


def test_zip_code_count_of_integers_is_numeric() -> None:
    f = classify("zip_code_count", [random.Random(k).randrange(0, 60) for k in range(200)], "integer")
    assert f.semantic_type == "numeric" and not f.pii


def test_zip_code_count_of_five_digit_counts_is_not_postal() -> None:
    f = classify("zip_code_count", [random.Random(k).randrange(10000, 99999) for k in range(200)], "integer")
    assert f.semantic_type != "postal_code" and not f.pii


def test_created_at_with_recent_dates_is_not_a_birth_date() -> None:
    r = random.Random(2)
    f = classify("created_at", [RECENT - timedelta(days=r.randrange(900), seconds=r.randrange(86400))
                                for _ in range(200)], "timestamp")
    assert f.semantic_type == "timestamp" and not f.pii


def test_created_at_spanning_decades_is_still_not_a_birth_date() -> None:
    f = classify("created_at", birth_dates(random.Random(4), 200), "date")
    assert f.semantic_type in ("date", "timestamp") and not f.pii


# ------------------------------------------------------------------------------------ name evidence

def test_name_agreeing_with_values_raises_confidence() -> None:
    values = birth_dates(random.Random(8), 200)
    plain = classify("c7", values, "date")
    named = classify("date_of_birth", values, "date")
    assert plain.semantic_type == named.semantic_type == "date_of_birth"
    assert named.confidence > plain.confidence >= 0.5


def test_five_digit_integers_need_a_name_to_be_postal_codes() -> None:
    values = [random.Random(k).randrange(10000, 99999) for k in range(300)]
    assert classify("plz", values, "integer").semantic_type == "postal_code"
    assert classify("zip", values, "integer").semantic_type == "postal_code"
    assert classify("c7", values, "integer").semantic_type != "postal_code"


def test_five_digit_postal_codes_near_address_columns() -> None:
    r = random.Random(6)
    cols = [
        ColumnSample("street", "string", addresses(r, 100)),
        ColumnSample("city", "string", [r.choice(["Berlin", "München", "Hamburg"]) for _ in range(100)]),
        ColumnSample("c3", "string", [f"{r.randrange(1000, 99999):05d}" for _ in range(100)]),
    ]
    found = {f.name: f for f in classify_columns(cols, table="customer_addresses")}
    assert found["c3"].semantic_type == "postal_code"
    assert found["c3"].confidence <= 0.7


@pytest.mark.parametrize(("name", "expected"), [
    ("custEmailAddr", "email"), ("e_mail", "email"), ("telefon", "phone"), ("handy_nr", "phone"),
    ("mobileNumber", "phone"), ("vorname", "person_name"), ("nachname", "person_name"), ("prenom", "person_name"),
    ("last_name", "person_name"), ("geburtsdatum", "date_of_birth"), ("date_of_birth", "date_of_birth"),
    ("dob", "date_of_birth"), ("plz", "postal_code"), ("zip_code", "postal_code"), ("postcode", "postal_code"),
    ("ssn", "national_id"), ("bsn", "national_id"), ("nif", "national_id"), ("iban", "iban"),
    ("cc_number", "credit_card"), ("client_ip", "ip_address"), ("street_address", "address"),
])
def test_name_alone_gives_the_type_at_low_confidence(name: str, expected: str) -> None:
    f = classify(name, [None] * 50)
    assert f.semantic_type == expected
    assert 0 < f.confidence <= 0.5
    assert f.evidence["non_null"] == 0


@pytest.mark.parametrize("name", ["email_sent", "address_id", "zip_code_count", "phone_model", "product_name",
                                  "c7", "created_at"])
def test_name_alone_never_claims_pii_for_modified_names(name: str) -> None:
    f = classify(name, [])
    assert not f.pii


def test_bare_name_in_a_people_table_hints_person() -> None:
    f = classify("name", [None] * 10, table="customers")
    assert f.semantic_type == "person_name" and f.confidence <= 0.5
    assert classify("name", [None] * 10, table="products").semantic_type is None


def test_name_contradicted_by_values_loses() -> None:
    f = classify("phone", ["yes", "no", "no", "yes"] * 30)
    assert f.semantic_type == "boolean"
    f = classify("email", [str(uuid.UUID(int=k)) for k in range(100)])
    assert f.semantic_type == "uuid"
    f = classify("dob", [RECENT + timedelta(hours=k) for k in range(100)], "timestamp")
    assert f.semantic_type != "date_of_birth"


def test_few_values_rely_on_the_name_with_low_confidence() -> None:
    f = classify("email", ["a@example.com", None, None])
    assert f.semantic_type == "email" and f.confidence <= 0.5
    f = classify("dob", [date(1980, 5, 1), date(1975, 1, 2)], "date")
    assert f.semantic_type == "date_of_birth" and f.confidence <= 0.5


# ------------------------------------------------------------------------------ nulls, empties, mixes

def test_mostly_null_column_is_classified_from_its_few_values() -> None:
    values: list[Any] = [None] * 900 + [f"user{k}@example.com" for k in range(100)]
    random.Random(1).shuffle(values)
    f = classify("c7", values)
    assert f.semantic_type == "email"
    assert f.evidence["null_fraction"] == 0.9


def test_placeholder_strings_count_as_null() -> None:
    values = ["", "N/A", "null", "-"] * 50 + [str(uuid.UUID(int=k)) for k in range(50)]
    f = classify("c7", values)
    assert f.semantic_type == "uuid"
    assert f.evidence["non_null"] == 50


def test_empty_and_all_null_columns() -> None:
    for values in ([], [None] * 100, ["", "  ", "NULL"]):
        f = classify("c7", values)
        assert f.semantic_type is None and f.confidence == 0.0 and f.classifications == []


def test_numbers_stored_as_strings() -> None:
    r = random.Random(9)
    values = [r.choice([f"{r.randrange(10**5)}", f"{r.uniform(0, 10**4):.2f}", f"{r.randrange(10**6):,}",
                        f"-{r.uniform(0, 50):.1f}", "1.234,56"]) for _ in range(300)]
    f = classify("c7", values)
    assert f.semantic_type == "numeric" and not f.pii


def test_decimal_amount_column_with_amount_name() -> None:
    values = [Decimal(random.Random(k).randrange(100, 99999)) / 100 for k in range(200)]
    assert classify("total_amount", values, "decimal").semantic_type == "currency_amount"
    assert classify("c7", values, "decimal").semantic_type == "numeric"


def test_mixed_country_postal_codes() -> None:
    r = random.Random(10)
    values = [r.choice(["SW1A 2AA", "10115", "75008", "1017 CT", "H2X 1Y4", "94107", "EH1 1YZ", "00-001"])
              for _ in range(200)]
    f = classify("c7", values)
    assert f.semantic_type == "postal_code" and f.pii


def test_mixed_national_id_formats() -> None:
    r = random.Random(11)
    values = ssns(r, 70) + bsns(r, 70) + dnis(r, 60)
    r.shuffle(values)
    f = classify("c7", values)
    assert f.semantic_type == "national_id"
    assert {"us.ssn", "es.dni"} <= set(f.evidence["validators"]) | {"us.ssn", "es.dni"}


def test_mixed_date_formats_of_birth_dates() -> None:
    r = random.Random(12)
    fmts = ["%Y-%m-%d", "%d.%m.%Y", "%m/%d/%Y", "%d %b %Y", "%B %d, %Y"]
    values = [d.strftime(r.choice(fmts)) for d in birth_dates(r, 300)]
    f = classify("birth_date", values)
    assert f.semantic_type == "date_of_birth" and f.confidence >= 0.8


def test_a_few_bad_values_do_not_flip_a_strict_type() -> None:
    r = random.Random(14)
    values: list[Any] = [f"person{k}@example.com" for k in range(190)] + ["not an email"] * 10
    r.shuffle(values)
    assert classify("c7", values).semantic_type == "email"


def test_half_emails_half_text_is_not_email() -> None:
    values = [f"person{k}@example.com" for k in range(100)] + [f"some remark number {k}" for k in range(100)]
    assert classify("c7", values).semantic_type != "email"


def test_random_nine_digit_numbers_are_not_national_ids() -> None:
    r = random.Random(15)
    values = [str(r.randrange(10**8, 10**9)) for _ in range(300)]
    f = classify("c7", values)
    assert f.semantic_type != "national_id"


def test_random_sixteen_digit_numbers_are_not_credit_cards() -> None:
    r = random.Random(16)
    values = [str(r.randrange(10**15, 10**16)) for _ in range(300)]
    assert classify("c7", values).semantic_type != "credit_card"


def test_city_names_are_not_person_names() -> None:
    cities = ["Berlin", "Paris", "Madrid", "Rome", "Amsterdam", "Stockholm", "Warsaw", "Mumbai", "Tokyo",
              "New York", "San Francisco", "Los Angeles", "London", "Lyon", "Munich", "Hamburg", "Milan", "Porto",
              "Austin", "Seattle", "Denver", "Boston", "Chicago", "Toronto", "Vancouver", "Oslo", "Helsinki"]
    f = classify("c7", [random.Random(k).choice(cities) for k in range(300)])
    assert f.semantic_type != "person_name"


def test_single_token_first_names_are_person_names() -> None:
    r = random.Random(17)
    f = classify("c7", [r.choice(FIRST).split("-")[0] for _ in range(200)])
    assert f.semantic_type == "person_name"


def test_classify_columns_passes_siblings_and_keeps_order() -> None:
    r = random.Random(18)
    cols = [
        ColumnSample("id", "long", list(range(1, 101))),
        ColumnSample("name", "string", person_names(r, 100)),
        ColumnSample("email", "string", [f"u{k}@example.com" for k in range(100)]),
        ColumnSample("signup", "timestamp", [RECENT - timedelta(hours=k) for k in range(100)]),
    ]
    found = classify_columns(cols, table="customers")
    assert [f.name for f in found] == ["id", "name", "email", "signup"]
    assert [f.semantic_type for f in found] == ["identifier", "person_name", "email", "timestamp"]


# -------------------------------------------------------------------------------------------- properties

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=40),
    st.decimals(allow_nan=True), st.dates(), st.datetimes(), st.binary(max_size=8),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2), st.sampled_from(["", "null", "N/A", " "]),
)
column_names = st.one_of(st.text(max_size=30), st.sampled_from([
    "email", "phone_model", "dob", "zip_code_count", "name", "address_id", "custEmailAddr", "created_at", "iban"]))
logical_types = st.sampled_from(["string", "integer", "long", "double", "decimal", "boolean", "date", "timestamp",
                                 "json", ""])


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(scalars, max_size=60), column_names, logical_types, st.text(max_size=20))
def test_classification_never_raises_and_stays_in_range(values: list[Any], name: str, logical: str,
                                                        table: str) -> None:
    f = classify_column(ColumnSample(name, logical, values), table=table, siblings=["email", name])
    assert 0.0 <= f.confidence <= 1.0
    assert f.semantic_type is None or f.semantic_type in KNOWN_TYPES
    assert f.pii == (f.semantic_type in PII_TYPES)
    json.dumps(f.to_dict(), default=str)


_SENTINEL = "Qz"


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(
    st.text(alphabet=string.ascii_letters + string.digits + " .-@+/:", min_size=0, max_size=25),
    st.from_regex(r"[a-z]{1,8}@[a-z]{1,8}\.(com|de)", fullmatch=True),
    st.from_regex(r"\+49 30 [0-9]{6,8}", fullmatch=True),
    st.from_regex(r"[A-Z][a-z]{2,8} [A-Z][a-z]{2,10}", fullmatch=True),
), min_size=1, max_size=60), st.sampled_from(["c7", "email", "name", "phone"]))
def test_evidence_never_contains_any_sampled_value_text(bodies: list[str], name: str) -> None:
    values = [_SENTINEL + b for b in bodies]
    f = classify_column(ColumnSample(name, "string", values))
    dumped = json.dumps(f.to_dict(), default=str)
    assert _SENTINEL not in dumped
    for v in values:
        assert v not in dumped


@settings(max_examples=100, deadline=None)
@given(st.lists(st.integers(min_value=-10**12, max_value=10**12), min_size=1, max_size=80))
def test_evidence_holds_only_aggregates_for_numbers(values: list[int]) -> None:
    f = classify_column(ColumnSample("c7", "long", values))
    for key, value in f.evidence.items():
        assert isinstance(key, str)
        if isinstance(value, dict):
            assert all(isinstance(v, float) for v in value.values())
        elif isinstance(value, list):
            assert all(isinstance(v, str) for v in value)
        else:
            assert value is None or isinstance(value, (int, float, str))
    if f.evidence.get("name_hint") is not None:
        assert isinstance(f.evidence["name_hint"], str)


# ---------------------------------------------------------------------------------- look-alikes

def test_bare_hex_hashes_are_not_uuids() -> None:
    import hashlib

    hashes = [hashlib.md5(str(k).encode()).hexdigest() for k in range(200)]
    f = classify("c7", hashes)
    assert f.semantic_type == "identifier"
    bare_uuids = [uuid.UUID(int=random.Random(k).getrandbits(128), version=4).hex for k in range(200)]
    assert classify("c7", bare_uuids).semantic_type == "uuid"


def test_times_of_day_are_not_identifiers_or_dates() -> None:
    r = random.Random(20)
    f = classify("c7", [f"{r.randrange(24):02d}:{r.randrange(60):02d}:{r.randrange(60):02d}" for _ in range(300)])
    assert f.semantic_type not in ("identifier", "date", "timestamp", "phone")


def test_version_strings_are_not_ip_addresses() -> None:
    r = random.Random(21)
    f = classify("c7", [f"{r.randrange(5)}.{r.randrange(20)}.{r.randrange(30)}" for _ in range(200)])
    assert not f.pii


def test_city_column_of_surname_like_places_is_not_person_name() -> None:
    # towns named after families ("Dupré", "Goncalves") read like surnames; the column name settles it
    r = random.Random(22)
    towns = [r.choice(LAST).replace("de Vries", "Vries") + r.choice(["", "", "-sur-Mer", "ville"]) for _ in range(300)]
    assert classify("city", towns).semantic_type != "person_name"


def test_surname_column_outside_the_word_lists_uses_the_name_with_modest_confidence() -> None:
    r = random.Random(23)
    rare = ["Kijnder", "Poppel", "Tałaj", "Krokosz", "Biggen", "Mülichen", "Barillaro", "Carfagna", "Nitto",
            "Hettner", "Söding", "Luboch", "Mater", "Backer", "Smith", "Nowak"]
    values = [r.choice(rare) for _ in range(300)]
    f = classify("last_name", values)
    assert f.semantic_type == "person_name" and f.pii
    common = classify("last_name", [r.choice(["Smith", "Müller", "García", "Rossi", "Nowak", "Jansen", "Dubois",
                                              "Andersson", "Sharma", "Tanaka"]) for _ in range(300)])
    assert f.confidence < common.confidence
    assert classify("c7", values).semantic_type != "person_name"


def test_company_names_are_not_person_names() -> None:
    r = random.Random(24)
    forms = ["{} GmbH", "{} & Sons", "{} LLC", "{}, {} and {}", "{} Group", "{} AG"]
    values = [r.choice(forms).format(r.choice(LAST), r.choice(LAST), r.choice(LAST)) for _ in range(300)]
    assert classify("c7", values).semantic_type != "person_name"


def test_localised_country_names() -> None:
    values = ["Deutschland", "Frankreich", "Italien", "Spanien", "Österreich", "Schweiz", "Polen", "Litauen",
              "Vereinigte Staaten", "Japan", "Kanada", "Belgien", "Dänemark", "Norwegen", "Marokko"]
    f = classify("c7", [random.Random(k).choice(values) for k in range(200)])
    assert f.semantic_type == "country" and not f.pii


def test_bare_nine_digit_ssns_need_the_name() -> None:
    r = random.Random(25)
    values = [s.replace("-", "") for s in ssns(r, 200)]
    assert classify("ssn", values).semantic_type == "national_id"
    assert classify("c7", values).semantic_type != "national_id"


def test_epoch_milliseconds_under_a_time_name_are_timestamps() -> None:
    r = random.Random(26)
    values = [1_700_000_000_000 + r.randrange(10**10) for _ in range(200)]
    assert classify("created_at", values, "long").semantic_type == "timestamp"
    assert classify("c7", values, "long").semantic_type != "timestamp"


def test_constant_integer_one_is_not_boolean() -> None:
    assert classify("qty", [1] * 50, "integer").semantic_type == "numeric"
    assert classify("is_active", [0, 1, 1, 0] * 20, "integer").semantic_type == "boolean"


@pytest.mark.parametrize("length", [9, 10, 11, 12, 13])
def test_random_digit_strings_of_id_lengths_are_not_national_ids(length: int) -> None:
    r = random.Random(length)
    values = [str(r.randrange(10 ** (length - 1), 10**length)) for _ in range(300)]
    assert classify("c7", values).semantic_type != "national_id"


def test_national_ids_of_more_countries() -> None:
    # Swiss AHV numbers (EAN-13 check digit) and Taiwanese ids (letter + weighted checksum)
    r = random.Random(27)

    def ahv() -> str:
        body = "756" + "".join(r.choice(string.digits) for _ in range(9))
        total = sum(int(d) * (3 if i % 2 else 1) for i, d in enumerate(body))
        digits = body + str((10 - total % 10) % 10)
        return f"{digits[:3]}.{digits[3:7]}.{digits[7:11]}.{digits[11:]}"

    def tw() -> str:
        letters = dict(zip("ABCDEFGHJKLMNPQRSTUVXYWZIO", range(10, 36), strict=True))
        while True:
            letter = r.choice("ABCDEFGHJKLMNPQRSTUVXYWZ")
            body = r.choice("12") + "".join(r.choice(string.digits) for _ in range(7))
            code = letters[letter]
            total = code // 10 + (code % 10) * 9 + sum(int(d) * w for d, w in zip(body, range(8, 0, -1), strict=True))
            return f"{letter}{body}{(10 - total % 10) % 10}"

    assert classify("c7", [ahv() for _ in range(150)]).semantic_type == "national_id"
    assert classify("c7", [tw() for _ in range(150)]).semantic_type == "national_id"


def test_addresses_and_names_in_more_scripts() -> None:
    r = random.Random(28)
    cjk = [f"{r.choice(['象山', '士林', '新埔', '中山'])}{r.choice(['街', '路', '巷'])}{r.randrange(1, 999)}號"
           for _ in range(150)]
    assert classify("c7", cjk).semantic_type == "address"
    cyr_first = ["Иван", "Ольга", "Сергей", "Анна", "Дмитрий", "Мария", "Алексей", "Елена"]
    cyr_last = ["Петров", "Иванова", "Смирнов", "Кузнецова", "Соколов", "Попова", "Лебедев", "Шевченко"]
    russian = [f"{r.choice(cyr_first)} {r.choice(cyr_last)}" for _ in range(150)]
    assert classify("c7", russian).semantic_type == "person_name"
    romanian = [f"{r.choice(['Strada', 'Calea', 'Bulevardul'])} {r.choice(LAST)} Nr. {r.randrange(1, 300)}"
                for _ in range(150)]
    assert classify("c7", romanian).semantic_type == "address"


def test_named_address_column_without_street_words() -> None:
    r = random.Random(29)
    values = [f"{r.choice(['Ostrovského', 'Krakovská', 'Viničná', 'Dobšinského'])} {r.randrange(1, 400)}"
              for _ in range(200)]
    assert classify("street_address", values).semantic_type == "address"
    assert classify("c7", values).semantic_type != "address"


@pytest.mark.parametrize(("name", "expected"), [
    ("user_name", "identifier"), ("username", "identifier"), ("contact_person", "person_name"),
    ("drivers_license", "national_id"), ("Hausnummer", "address"), ("contact_number", "phone"),
    ("correo_electronico", "email"), ("numero_telephone", "phone"), ("fecha_nacimiento", "date_of_birth"),
    ("codice_fiscale", "national_id"), ("data_di_nascita", "date_of_birth"), ("geboortedatum", "date_of_birth"),
    ("email_verified_at", "timestamp"), ("phone_country", "country"), ("billing_zip", "postal_code"),
])
def test_more_name_hints(name: str, expected: str) -> None:
    assert classify(name, [None] * 3).semantic_type == expected


@pytest.mark.parametrize("name", ["license_plate", "vat_number", "city", "company_name", "Wohnort"])
def test_names_that_are_not_pii_hints(name: str) -> None:
    assert not classify(name, [None] * 3).pii


def test_numpy_and_pandas_values() -> None:
    np = pytest.importorskip("numpy")
    pd = pytest.importorskip("pandas")
    assert classify("c7", list(np.arange(1, 300)), "long").semantic_type == "identifier"
    stamps = [*pd.date_range("2025-01-01", periods=200, freq="h"), pd.NaT]
    f = classify("c7", stamps, "timestamp")
    assert f.semantic_type == "timestamp" and f.evidence["non_null"] == 200
    births = np.array(birth_dates(random.Random(30), 200), dtype="datetime64[D]")
    assert classify("c7", list(births), "date").semantic_type == "date_of_birth"


def test_untyped_sources_keep_keys_and_years_apart() -> None:
    # CSV-like columns: every value is text
    r = random.Random(31)
    assert classify("c7", [str(k) for k in range(1, 300)]).semantic_type == "identifier"
    assert classify("c7", [str(r.randrange(1990, 2024)) for _ in range(300)]).semantic_type == "numeric"
    assert classify("c7", [f"{r.randrange(100000):05d}" for _ in range(300)]).semantic_type == "postal_code"
    assert classify("c7", [f"{r.randrange(100000):05d}" for _ in range(300)]).confidence <= 0.5


def test_decimal_strings_with_leading_zero_are_numeric() -> None:
    r = random.Random(32)
    values = [f"{r.uniform(0, 999):.3f}" for _ in range(300)] + [f"0.{r.randrange(10, 999)}" for _ in range(30)]
    assert classify("c7", values).semantic_type == "numeric"
    # written with exactly two decimals they read as money (see the amount tests); never as codes or keys
    values = [f"{r.uniform(0, 999):.2f}" for _ in range(300)] + [f"0.{r.randrange(10, 99)}" for _ in range(30)]
    assert classify("c7", values).semantic_type in ("numeric", "currency_amount")


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.one_of(
    st.from_regex(r"[0-9²³٣۵]{1,19}", fullmatch=True),
    st.from_regex(r"[+0-9() .\-/x]{5,25}", fullmatch=True),
    st.from_regex(r"[A-Z]{2}[0-9]{2}[A-Z0-9 ]{10,30}", fullmatch=True),
    st.from_regex(r"[0-9]{1,4}[./-][0-9]{1,2}[./-][0-9]{1,4}( [0-9]{1,2}:[0-9]{2})?", fullmatch=True),
    st.from_regex(r"[0-9]{6}[-/+][0-9]{3,7}", fullmatch=True),
    st.from_regex(r"[$€£]?[0-9.,]{1,12} ?(kr\.|€|р\.)?", fullmatch=True),
), min_size=1, max_size=60), st.sampled_from(["c7", "phone", "ssn", "zip", "dob", "iban", "card_number"]))
def test_digit_heavy_values_never_break_the_validators(values: list[str], name: str) -> None:
    f = classify_column(ColumnSample(name, "string", values))
    assert 0.0 <= f.confidence <= 1.0
    assert f.pii == (f.semantic_type in PII_TYPES)


# ------------------------------------------------- keys, amounts, codes and PII false positives (issue 13)

def test_repeated_integers_under_a_key_name_are_identifiers() -> None:
    r = random.Random(41)
    for name in ("customer_id", "order_no", "personal_nr", "fk_customer", "ref", "productId"):
        f = classify(name, [r.randrange(1, 400) for _ in range(1000)], "bigint")
        assert f.semantic_type == "identifier" and not f.pii, name
    # digit strings of an untyped source too
    assert classify("customer_id", [str(r.randrange(1001, 2500)) for _ in range(800)]).semantic_type == "identifier"


def test_unnamed_foreign_keys_by_their_spread() -> None:
    r = random.Random(42)
    block = [r.randrange(50_001, 52_601) for _ in range(1000)]  # a block of order numbers, repeated
    assert classify("c1", block, "bigint").semantic_type == "identifier"
    from_one = [r.randrange(1, 301) for _ in range(1000)]  # keys numbered from 1
    assert classify("k", from_one, "bigint").semantic_type == "identifier"
    sparse = [r.randrange(90_001, 91_801) for _ in range(450)]
    assert classify("c4", sparse, "bigint").semantic_type == "identifier"


@pytest.mark.parametrize("values", [
    [random.Random(k).choice([1, 1, 1, 2, 2, 3, 5]) for k in range(1000)],          # quantities
    [random.Random(k).randint(0, 5000) for k in range(1000)],                        # counts from 0
    [random.Random(k).randint(500, 20_000) for k in range(1000)],                    # capacities
    [random.Random(k).randint(100, 99_999) for k in range(1000)],                    # amounts in cents
    [random.Random(k).randint(30_000, 90_000) for k in range(1000)],                 # salaries
    [int(random.Random(k).gauss(3500, 500)) for k in range(1000)],                   # peaked measurements
    [random.Random(k).randint(5, 60) for k in range(1000)],                          # few distinct
    [random.Random(k).randint(1950, 2010) for k in range(1000)],                     # years
])
def test_measurements_stay_numeric(values: list[int]) -> None:
    assert classify("c7", values, "bigint").semantic_type == "numeric"
    assert classify("qty", values, "bigint").semantic_type == "numeric"


def test_amounts_under_amount_names_in_several_languages() -> None:
    r = random.Random(43)
    values = [Decimal(f"{r.uniform(10, 9000):.2f}") for _ in range(300)]
    for name in ("budget", "debit", "credit", "amt", "betrag", "brutto", "netto", "montant", "importe", "prezzo",
                 "unit_price", "cost", "fee", "total", "balance", "salary", "revenue"):
        f = classify(name, values, "decimal(14,2)")
        assert f.semantic_type == "currency_amount" and "financial" in f.classifications, name
    assert classify("credit_score", [r.randrange(300, 850) for _ in range(300)], "int").semantic_type == "numeric"


def test_amounts_stored_as_text() -> None:
    r = random.Random(44)

    def german(x: float) -> str:
        whole, cents = divmod(int(x * 100), 100)
        return f"{whole:,}".replace(",", ".") + f",{cents:02d}"

    assert classify("brutto", [german(r.uniform(2200, 9800)) for _ in range(300)]).semantic_type == "currency_amount"
    # no name: numbers written with exactly two decimals are money; other scales stay numbers
    assert classify("c3", [f"{r.uniform(5, 1500):.2f}" for _ in range(300)]).semantic_type == "currency_amount"
    assert classify("c3", [f"{r.uniform(0.8, 11.5):.5f}" for _ in range(300)]).semantic_type == "numeric"
    assert classify("c3", [f"0.{r.randrange(10, 99)}" for _ in range(300)]).semantic_type == "numeric"


def test_integer_columns_are_postal_codes_only_under_a_postal_name() -> None:
    r = random.Random(45)
    cols = [
        ColumnSample("street", "string", addresses(r, 300)),
        ColumnSample("city", "string", [r.choice(["Berlin", "München", "Hamburg"]) for _ in range(300)]),
        ColumnSample("capacity_pallets", "bigint", [r.randint(500, 20_000) for _ in range(300)]),
        ColumnSample("personal_nr", "bigint", [7001 + k % 420 for k in range(300)]),
        ColumnSample("account_code", "string", [r.choice(["1000", "1200", "4000", "6000"]) for _ in range(300)]),
        ColumnSample("plz", "bigint", [r.randint(1067, 99_998) for _ in range(300)]),
    ]
    found = {f.name: f for f in classify_columns(cols, table="warehouses")}
    assert found["capacity_pallets"].semantic_type == "numeric"
    assert found["personal_nr"].semantic_type == "identifier"
    assert found["account_code"].semantic_type == "identifier"
    assert not any(found[k].pii for k in ("capacity_pallets", "personal_nr", "account_code"))
    assert found["plz"].semantic_type == "postal_code"


def test_campaign_and_product_titles_are_not_person_names() -> None:
    themes = ["Spring Sale", "Black Friday", "Back to School", "Summer Outdoor", "Winter Warmers", "New Year",
              "Spring Launch", "Holiday Deals"]
    cols = [
        ColumnSample("name", "string", [f"{themes[k % len(themes)]} {2023 + k // 20}" for k in range(60)]),
        ColumnSample("owner_email", "string", [f"u{k}@acme-corp.com" for k in range(60)]),
    ]
    f = classify_columns(cols, table="campaigns")[0]
    assert f.semantic_type != "person_name" and not f.pii
    f = classify("title", [random.Random(k).choice(themes) for k in range(300)])
    assert f.semantic_type != "person_name" and not f.pii
    # real "First Last" names still pass, under a bare name and an opaque one
    names = person_names(random.Random(46), 300)
    assert classify("c2", names).semantic_type == "person_name"
    cols = [ColumnSample("name", "string", names), ColumnSample("email", "string", [f"u{k}@x.org" for k in range(300)])]
    assert classify_columns(cols, table="customers")[0].semantic_type == "person_name"


def _de_idnr(r: random.Random) -> str:
    while True:
        digits = r.sample(range(10), 9)
        digits.insert(r.randrange(1, 10), r.choice(digits))
        if digits[0]:
            break
    product = 10
    for d in digits:
        product = ((d + product) % 10 or 10) * 2 % 11
    return "".join(map(str, digits)) + str((11 - product) % 10)


def test_checksummed_national_ids_outrank_bare_digit_phones() -> None:
    r = random.Random(47)
    ids = [_de_idnr(r) for _ in range(300)]
    ids = [f"{t[:2]} {t[2:5]} {t[5:8]} {t[8:]}" if k % 3 == 0 else t for k, t in enumerate(ids)]
    for name in ("steuer_id", "c5"):
        f = classify(name, ids)
        assert f.semantic_type == "national_id" and "sensitive" in f.classifications, name

    def personnummer() -> str:
        born = date(1950, 1, 1) + timedelta(days=r.randint(0, 20000))
        payload = born.strftime("%y%m%d") + "".join(r.choice(string.digits) for _ in range(3))
        return f"{payload[:6]}-{payload[6:]}{_luhn_digit(payload)}"

    assert classify("c6", [personnummer() for _ in range(300)]).semantic_type == "national_id"
    # a phone column with + stays phone
    assert classify("c7", phones(r, 300)).semantic_type == "phone"
    assert classify("mobile", [f"+49 1{r.randrange(50, 79)} {r.randrange(10**6, 10**7)}" for _ in range(300)]
                    ).semantic_type == "phone"


def test_codes_versions_and_alphanumeric_keys() -> None:
    r = random.Random(48)
    reasons = [r.choice([4837.0, 4853.0, 4863.0, 10.4, 13.1]) for _ in range(400)]
    assert classify("reason_code", reasons, "double").semantic_type in ("category", "identifier")
    codes = [r.choice([4837, 4853, 4863, 4871]) for _ in range(400)]
    assert classify("c9", codes, "bigint").semantic_type in ("category", "identifier")
    versions = [f"{k // 20 + 1}.{k % 20 // 5}.{k % 5}" for k in range(200)]
    f = classify("version", versions)
    assert f.semantic_type == "category" and not f.pii
    assert classify("c8", versions).semantic_type != "identifier"
    alnum = string.ascii_uppercase + string.digits

    def code(n: int) -> str:
        return "".join(r.choice(alnum) for _ in range(n))

    for name, values in (("coupon_code", ["SAVE" + code(5) for _ in range(200)]),
                         ("tracking_no", ["1Z" + code(16) for _ in range(300)]),
                         ("serial", ["SN" + code(10) for _ in range(300)]),
                         ("c3", ["SN" + code(10) for _ in range(300)])):
        f = classify(name, values)
        assert f.semantic_type == "identifier" and not f.pii, name


def test_bank_identifier_codes_are_keys_not_pii() -> None:
    r = random.Random(49)
    bics = [r.choice(["DEUTDEFF", "COBADEFFXXX", "BNPAFRPP", "INGBNL2A", "ABNANL2A", "BARCGB22", "NDEASESS"])
            for _ in range(300)]
    for name in ("bic", "swift_code"):
        f = classify(name, bics)
        assert f.semantic_type == "identifier" and not f.pii, name
    assert f.evidence["validators"] == ["stdnum.bic"]
