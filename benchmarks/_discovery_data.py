"""The labelled corpus of the discovery benchmark (``discovery.py``): tables, their business areas,
every column's semantic type and PII flag, loaders for the four sources and the workspace.

Everything is generated here from a seeded ``random.Random`` — no download, no faker. Checksummed
identifiers (IBAN mod-97 with the national check digits stdnum verifies, Luhn cards with real IIN
prefixes, US SSN rules, NL BSN 11-check, ES DNI letter, SE personnummer Luhn, FR NIR key, UK NINO
prefix rules) are built by the generators below; :func:`self_check` verifies them with
python-stdnum. The data is written without looking at how meshfabric classifies or clusters.

A column's label is its semantic type (``None``: none of the labelled types, e.g. product names)
and ``pii`` is true exactly for the types of :data:`PII_TYPES`.
"""

from __future__ import annotations

import csv
import json
import random
import string
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

#: the fixed PII vocabulary (issue 13)
PII_TYPES: tuple[str, ...] = (
    "email", "phone", "person_name", "address", "postal_code", "ip_address", "credit_card", "iban",
    "national_id", "date_of_birth",
)
#: the non-PII types this corpus labels; per-type scores cover PII_TYPES + these
OTHER_TYPES: tuple[str, ...] = (
    "url", "uuid", "country", "currency_code", "currency_amount", "timestamp", "date", "boolean",
    "identifier", "category", "free_text", "numeric",
)
LABELLED_TYPES: tuple[str, ...] = PII_TYPES + OTHER_TYPES

AREAS: tuple[str, ...] = ("sales", "crm", "hr", "finance", "logistics", "marketing", "support", "telemetry")
AREA_DESCRIPTIONS = {
    "sales": "Orders, order lines, products and quotes: what we sell and for how much",
    "crm": "Customers, their contacts, addresses and loyalty membership",
    "hr": "Employees, payroll, absences and recruiting",
    "finance": "Payments, refunds, bank accounts, payouts and the general ledger",
    "logistics": "Shipments, warehouses, deliveries, routes and returns",
    "marketing": "Campaigns, newsletter subscribers, leads and ad spend",
    "support": "Support tickets, agents, chats, callbacks and satisfaction surveys",
    "telemetry": "Devices, their sensor readings, events, alerts and firmware",
}
#: source keys of the benchmark and their names in mesh.yaml
SOURCE_NAMES = {"pg": "pg_main", "mysql": "maria_ops", "sqlite": "legacy_sqlite", "files": "lake"}

KINDS = ("int", "float", "dec", "text", "bool", "date", "ts")


@dataclass
class Column:
    name: str
    #: storage: int, float, dec, text, bool, date, ts
    kind: str
    semantic: str | None
    values: list[Any]

    @property
    def pii(self) -> bool:
        return self.semantic in PII_TYPES


@dataclass
class Table:
    #: pg, mysql, sqlite or files
    source: str
    #: the SQL table name, or the file's path relative to the files root (a partitioned folder: the folder)
    name: str
    area: str
    columns: list[Column]
    #: files only: csv, parquet or partitioned (parquet files under name/dt=.../part-0.parquet)
    fmt: str = ""
    #: registered as a data product of its area in the workspace
    registered: bool = False
    description: str = ""
    partitions: list[str] = field(default_factory=list)

    @property
    def rows(self) -> int:
        return len(self.columns[0].values) if self.columns else 0

    def row_tuples(self, start: int = 0, stop: int | None = None) -> Iterator[tuple[Any, ...]]:
        cols = [c.values for c in self.columns]
        for i in range(start, self.rows if stop is None else min(stop, self.rows)):
            yield tuple(v[i] for v in cols)


# --------------------------------------------------------------------------------------- values

FIRST = {
    "US": ["James", "Mary", "Robert", "Patricia", "Michael", "Jennifer", "David", "Linda", "Tyrone", "Ashley",
           "Kevin", "Brittany", "Jose", "Keisha", "Ethan"],
    "UK": ["Oliver", "Amelia", "Harry", "Isla", "George", "Ava", "Jack", "Mia", "Alfie", "Poppy", "Callum"],
    "DE": ["Lukas", "Anna", "Jonas", "Lea", "Felix", "Hannah", "Maximilian", "Sophie", "Jürgen", "Käthe"],
    "FR": ["Jean", "Marie", "Lucas", "Chloé", "Hugo", "Léa", "Théo", "Camille", "François", "Amélie"],
    "NL": ["Daan", "Emma", "Sem", "Julia", "Bram", "Tess", "Jan", "Sanne", "Pieter", "Femke"],
    "ES": ["Hugo", "Lucía", "Mateo", "Martina", "Pablo", "Sofía", "Álvaro", "Carmen", "Javier", "Nuria"],
    "IT": ["Leonardo", "Giulia", "Francesco", "Aurora", "Alessandro", "Chiara", "Lorenzo", "Francesca"],
    "SE": ["Erik", "Astrid", "Lars", "Ingrid", "Oskar", "Elsa", "Nils", "Maja", "Björn", "Sigrid"],
}
LAST = {
    "US": ["Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Rodriguez", "Lee"],
    "UK": ["Taylor", "Evans", "Wilson", "Thomas", "Roberts", "Walker", "Wright", "Hughes", "O'Brien", "Patel"],
    "DE": ["Müller", "Schmidt", "Schneider", "Fischer", "Weber", "Meyer", "Wagner", "Becker", "Hoffmann"],
    "FR": ["Martin", "Bernard", "Dubois", "Thomas", "Robert", "Richard", "Petit", "Durand", "Lefèvre"],
    "NL": ["de Jong", "Jansen", "de Vries", "van den Berg", "van Dijk", "Bakker", "Visser", "Smit", "Meijer"],
    "ES": ["García", "Fernández", "González", "Rodríguez", "López", "Martínez", "Sánchez", "Pérez", "Gómez"],
    "IT": ["Rossi", "Russo", "Ferrari", "Esposito", "Bianchi", "Romano", "Colombo", "Ricci", "Marino"],
    "SE": ["Andersson", "Johansson", "Karlsson", "Nilsson", "Eriksson", "Larsson", "Olsson", "Persson"],
}
STREETS = {
    "US": ["Oak St", "Maple Avenue", "Main Street", "Elm St", "Sunset Blvd", "Washington Ave", "Lakeview Dr"],
    "UK": ["Baker Street", "High Street", "Station Road", "Church Lane", "Victoria Road", "Mill Lane"],
    "DE": ["Hauptstraße", "Bahnhofstraße", "Gartenweg", "Schillerstraße", "Lindenallee", "Goethestraße"],
    "FR": ["rue de la Paix", "avenue Victor Hugo", "boulevard Voltaire", "rue du Bac", "place de la Mairie"],
    "NL": ["Keizersgracht", "Dorpsstraat", "Kerkstraat", "Molenweg", "Stationsplein", "Prinsengracht"],
    "ES": ["Calle Mayor", "Calle de Alcalá", "Avenida de la Constitución", "Calle Real", "Paseo del Prado"],
    "IT": ["Via Roma", "Via Garibaldi", "Corso Italia", "Via Dante", "Piazza Verdi", "Via Mazzini"],
    "SE": ["Storgatan", "Drottninggatan", "Kungsgatan", "Skolgatan", "Vasagatan", "Järnvägsgatan"],
}
CITIES = {
    "US": [("Springfield", "IL"), ("Austin", "TX"), ("Denver", "CO"), ("Portland", "OR"), ("Albany", "NY")],
    "UK": ["London", "Manchester", "Leeds", "Bristol", "Glasgow"],
    "DE": ["Berlin", "München", "Hamburg", "Köln", "Leipzig"],
    "FR": ["Paris", "Lyon", "Marseille", "Toulouse", "Nantes"],
    "NL": ["Amsterdam", "Rotterdam", "Utrecht", "Den Haag", "Eindhoven"],
    "ES": ["Madrid", "Barcelona", "Valencia", "Sevilla", "Bilbao"],
    "IT": ["Roma", "Milano", "Torino", "Napoli", "Bologna"],
    "SE": ["Stockholm", "Göteborg", "Malmö", "Uppsala", "Lund"],
}
COUNTRIES = list(FIRST)
ISO2 = {"US": "US", "UK": "GB", "DE": "DE", "FR": "FR", "NL": "NL", "ES": "ES", "IT": "IT", "SE": "SE"}
COUNTRY_NAMES = {"US": "United States", "UK": "United Kingdom", "DE": "Germany", "FR": "France",
                 "NL": "Netherlands", "ES": "Spain", "IT": "Italy", "SE": "Sweden"}
CURRENCY = {"US": "USD", "UK": "GBP", "DE": "EUR", "FR": "EUR", "NL": "EUR", "ES": "EUR", "IT": "EUR", "SE": "SEK"}
PRODUCTS = ["Trail Runner 2", "Aero Kettle", "Nordic Wool Scarf", "Espresso Duo", "Cloud Pillow", "Desk Lamp Mini",
            "Harbor Backpack", "Solar Charger 10W", "Bamboo Cutting Board", "Velvet Armchair", "Studio Headphones",
            "Linen Shirt", "Ceramic Mug Set", "Yoga Mat Pro", "Smart Plug", "Cast Iron Pan"]
PHONE_MODELS = ["iPhone 14", "iPhone 15 Pro", "Pixel 7", "Pixel 8a", "Galaxy S23", "Galaxy A54", "Xperia 10 V",
                "Nokia G42", "OnePlus 11", "Fairphone 5"]
_TEXT = ("the order arrived late and the box was damaged please advise when a replacement can be sent "
         "thanks for the quick reply I still cannot log in after resetting my password the app crashes on "
         "start since the last update battery drains fast invoice shows the wrong amount can you check "
         "delivery was left at the neighbour great service would recommend sensor reports odd values")
WORDS = _TEXT.split()


def luhn_digit(payload: str) -> str:
    """The Luhn check digit completing ``payload`` (digits)."""
    total = 0
    for i, ch in enumerate(reversed(payload)):
        d = int(ch)
        if i % 2 == 0:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return str((10 - total % 10) % 10)


def _digits(r: random.Random, n: int) -> str:
    return "".join(r.choice(string.digits) for _ in range(n))


def _alnum(r: random.Random, n: int) -> str:
    return "".join(r.choice(string.ascii_uppercase + string.digits) for _ in range(n))


def _letters(r: random.Random, n: int) -> str:
    return "".join(r.choice(string.ascii_uppercase) for _ in range(n))


def _iban_num(text: str) -> int:
    return int("".join(str(int(ch, 36)) for ch in text))


def _es_ccc_digit(digits: str) -> str:
    weights = (1, 2, 4, 8, 5, 10, 9, 7, 3, 6)
    w = weights[-len(digits):] if len(digits) < 10 else weights
    d = 11 - sum(int(c) * k for c, k in zip(digits, w, strict=True)) % 11
    return {10: "1", 11: "0"}.get(d, str(d))


def _fr_rib_key(bank: str, branch: str, account: str) -> str:
    return f"{97 - (89 * int(bank) + 15 * int(branch) + 3 * int(account)) % 97:02d}"


def iban(r: random.Random, country: str | None = None, spaced: bool | None = None) -> str:
    cc = country or r.choice(["DE", "GB", "FR", "NL", "ES", "IT", "SE"])
    if cc == "DE":
        bban = _digits(r, 18)
    elif cc == "GB":
        bban = r.choice(["NWBK", "BARC", "HBUK", "LOYD", "MIDL"]) + _digits(r, 14)
    elif cc == "FR":
        bank, branch, acct = _digits(r, 5), _digits(r, 5), _digits(r, 11)
        bban = bank + branch + acct + _fr_rib_key(bank, branch, acct)
    elif cc == "NL":
        bban = r.choice(["ABNA", "INGB", "RABO", "SNSB", "TRIO"]) + _digits(r, 10)
    elif cc == "ES":
        bank, branch, acct = _digits(r, 4), _digits(r, 4), _digits(r, 10)
        bban = bank + branch + _es_ccc_digit("00" + bank + branch) + _es_ccc_digit(acct) + acct
    elif cc == "IT":
        bban = _letters(r, 1) + _digits(r, 10) + _digits(r, 12)
    else:  # SE
        bban = _digits(r, 20)
    check = 98 - _iban_num(bban + cc + "00") % 97
    text = f"{cc}{check:02d}{bban}"
    if spaced is None:
        spaced = r.random() < 0.4
    return " ".join(text[i:i + 4] for i in range(0, len(text), 4)) if spaced else text


IINS = [("4", 16), ("51", 16), ("52", 16), ("53", 16), ("55", 16), ("2221", 16), ("2720", 16), ("34", 15),
        ("37", 15), ("6011", 16), ("4", 13)]


def credit_card(r: random.Random, style: str | None = None) -> str:
    prefix, length = r.choice(IINS)
    body = prefix + _digits(r, length - len(prefix) - 1)
    number = body + luhn_digit(body)
    style = style or r.choice(["plain", "plain", "space", "dash"])
    if style == "plain" or length != 16:
        return number
    sep = " " if style == "space" else "-"
    return sep.join(number[i:i + 4] for i in range(0, 16, 4))


def us_ssn(r: random.Random) -> str:
    while True:
        area = r.randint(1, 899)
        if area != 666:
            break
    return f"{area:03d}-{r.randint(1, 99):02d}-{r.randint(1, 9999):04d}"


def nl_bsn(r: random.Random) -> str:
    while True:
        d = [r.randint(0, 9) for _ in range(8)]
        if d[0] == 0:
            continue
        s = sum(x * w for x, w in zip(d, range(9, 1, -1), strict=True)) % 11
        if s < 10:  # last digit: sum - 1*d9 ≡ 0 (mod 11)
            return "".join(map(str, d)) + str(s)


def es_dni(r: random.Random) -> str:
    n = r.randint(10_000_000, 99_999_999)
    return f"{n}{'TRWAGMYFPDXBNJZSQVHLCKE'[n % 23]}"


def se_personnummer(r: random.Random) -> str:
    born = date(1950, 1, 1) + timedelta(days=r.randint(0, 20000))
    payload = born.strftime("%y%m%d") + _digits(r, 3)
    return f"{payload[:6]}-{payload[6:]}{luhn_digit(payload)}"


def fr_nir(r: random.Random) -> str:
    dept = r.choice([d for d in range(1, 96) if d != 20])
    body = f"{r.randint(1, 2)}{r.randint(50, 99):02d}{r.randint(1, 12):02d}{dept:02d}{r.randint(1, 990):03d}" \
           f"{r.randint(1, 999):03d}"
    key = 97 - int(body) % 97
    return f"{body[0]} {body[1:3]} {body[3:5]} {body[5:7]} {body[7:10]} {body[10:13]} {key:02d}" \
        if r.random() < 0.5 else f"{body}{key:02d}"


def de_idnr(r: random.Random) -> str:
    """German tax id: ten digits, one of them twice, the first not 0, then the ISO 7064 MOD 11,10 digit."""
    while True:
        digits = r.sample(range(10), 9)
        twice = r.choice(digits)
        digits.insert(r.randrange(1, 10), twice)
        if digits[0] != 0:
            break
    product = 10
    for d in digits:
        total = (d + product) % 10 or 10
        product = total * 2 % 11
    check = (11 - product) % 10
    text = "".join(map(str, digits)) + str(check)
    return f"{text[:2]} {text[2:5]} {text[5:8]} {text[8:]}" if r.random() < 0.3 else text


def uk_nino(r: random.Random) -> str:
    first_ok = [c for c in string.ascii_uppercase if c not in "DFIQUV"]
    second_ok = [c for c in first_ok if c != "O"]
    while True:
        prefix = r.choice(first_ok) + r.choice(second_ok)
        if prefix not in ("BG", "GB", "NK", "KN", "TN", "NT", "ZZ"):
            break
    return f"{prefix}{_digits(r, 6)}{r.choice('ABCD')}"


def national_id(r: random.Random, country: str) -> str:
    return {"US": us_ssn, "NL": nl_bsn, "ES": es_dni, "SE": se_personnummer, "FR": fr_nir, "UK": uk_nino,
            "DE": de_idnr}[country](r)


def phone(r: random.Random, country: str | None = None) -> str:
    cc = country or r.choice(COUNTRIES)
    d = lambda n: _digits(r, n)  # noqa: E731
    choices = {
        "US": [f"({r.randint(201, 989)}) 555-{d(4)}", f"{r.randint(201, 989)}-555-{d(4)}",
               f"+1 {r.randint(201, 989)} 555 {d(4)}"],
        "UK": [f"+44 20 7946 0{d(3)}", f"020 7946 0{d(3)}", f"07700 900{d(3)}", f"+44 7700 900{d(3)}"],
        "DE": [f"030 {r.randint(1000000, 9999999)}", f"+49 30 {d(7)}", f"0151 {r.randint(10000000, 99999999)}",
               f"+49 (0)89 {d(6)}"],
        "FR": [f"01 {d(2)} {d(2)} {d(2)} {d(2)}", f"+33 6 {d(2)} {d(2)} {d(2)} {d(2)}", f"06{d(8)}"],
        "NL": [f"06-{r.randint(10000000, 99999999)}", f"+31 6 {r.randint(10000000, 99999999)}",
               f"020-{r.randint(1000000, 9999999)}"],
        "ES": [f"+34 6{d(2)} {d(3)} {d(3)}", f"91{d(1)} {d(3)} {d(3)}", f"6{d(8)}"],
        "IT": [f"+39 06 {d(4)} {d(4)}", f"3{r.randint(20, 49)} {d(3)} {d(4)}", f"+39 3{d(2)} {d(7)}"],
        "SE": [f"08-{d(3)} {d(3)} {d(2)}", f"+46 70 {d(3)} {d(2)} {d(2)}", f"070-{d(3)} {d(2)} {d(2)}"],
    }[cc]
    return r.choice(choices)


def person(r: random.Random, country: str | None = None) -> tuple[str, str]:
    cc = country or r.choice(COUNTRIES)
    return r.choice(FIRST[cc]), r.choice(LAST[cc])


def full_name(r: random.Random, country: str | None = None) -> str:
    first, last = person(r, country)
    style = r.random()
    if style < 0.1:
        return f"{last}, {first}"
    if style < 0.15:
        return f"{first} {r.choice(string.ascii_uppercase)}. {last}"
    return f"{first} {last}"


def _ascii(text: str) -> str:
    table = str.maketrans({"ä": "a", "ö": "o", "ü": "u", "ß": "ss", "é": "e", "è": "e", "ê": "e", "ë": "e",
                           "á": "a", "à": "a", "í": "i", "ó": "o", "ú": "u", "ñ": "n", "ç": "c", "å": "a",
                           "Ä": "A", "Ö": "O", "Ü": "U", "É": "E", "Á": "A", "Å": "A", "Ø": "O", "'": "", " ": ""})
    return text.translate(table).lower()


def email(r: random.Random, country: str | None = None) -> str:
    first, last = person(r, country)
    domain = r.choice(["gmail.com", "outlook.com", "yahoo.co.uk", "web.de", "orange.fr", "ziggo.nl", "libero.it",
                       "telia.se", "proton.me", "acme-corp.com", "example.org"])
    style = r.randint(0, 3)
    local = [f"{first}.{last}", f"{first[0]}{last}", f"{first}{r.randint(1, 99)}", f"{last}_{first[0]}"][style]
    return f"{_ascii(local)}@{domain}"


def postal_code(r: random.Random, country: str) -> str:
    if country == "US":
        return f"{r.randint(1001, 99950):05d}" + (f"-{_digits(r, 4)}" if r.random() < 0.2 else "")
    if country == "UK":
        return f"{r.choice(['SW', 'NW', 'EC', 'M', 'LS', 'BS', 'G'])}{r.randint(1, 20)} {r.randint(1, 9)}" \
               f"{_letters(r, 2)}"
    if country == "NL":
        return f"{r.randint(1000, 9999)} {r.choice('ABCDEGHJKLMNPRSTVXZ')}{r.choice('ABCDEGHJKLMNPRSTVXZ')}"
    if country == "SE":
        return f"{r.randint(100, 989)} {r.randint(10, 99)}"
    return f"{r.randint(1000, 95999):05d}"


def address(r: random.Random, country: str | None = None, with_city: bool = True) -> str:
    cc = country or r.choice(COUNTRIES)
    street, no = r.choice(STREETS[cc]), r.randint(1, 240)
    if not with_city:
        return f"{no} {street}" if cc in ("US", "UK", "FR") else f"{street} {no}"
    city = r.choice(CITIES[cc])
    pc = postal_code(r, cc)
    if cc == "US":
        return f"{no} {street}, {city[0]}, {city[1]} {pc}"
    if cc == "UK":
        return f"{no}{r.choice(['', '', 'B'])} {street}, {city} {pc}"
    if cc == "FR":
        return f"{no} {street}, {pc} {city}"
    return f"{street} {no}, {pc} {city}"


def ipv4(r: random.Random) -> str:
    first = r.choice([a for a in range(11, 223) if a not in (127, 169, 172, 192, 100)])
    return f"{first}.{r.randint(0, 255)}.{r.randint(0, 255)}.{r.randint(1, 254)}"


def ip_address(r: random.Random) -> str:
    if r.random() < 0.15:
        return "2001:db8:" + ":".join(f"{r.randint(0, 65535):x}" for _ in range(6))
    return ipv4(r)


def a_uuid(r: random.Random) -> str:
    return str(uuid.UUID(int=r.getrandbits(128), version=4))


def day(r: random.Random, start: date = date(2023, 1, 1), days: int = 1090) -> date:
    return start + timedelta(days=r.randint(0, days))


def moment(r: random.Random, start: datetime = datetime(2024, 1, 1), days: int = 700) -> datetime:
    return start + timedelta(seconds=r.randint(0, days * 86400))


def birth(r: random.Random) -> date:
    return date(1942, 1, 1) + timedelta(days=r.randint(0, 23000))


def amount(r: random.Random, lo: float = 1, hi: float = 900) -> Decimal:
    return Decimal(f"{r.uniform(lo, hi):.2f}")


def sentence(r: random.Random, lo: int = 6, hi: int = 22) -> str:
    text = " ".join(r.choice(WORDS) for _ in range(r.randint(lo, hi)))
    return text[0].upper() + text[1:] + r.choice([".", "!", "?", "."])


# -------------------------------------------------------------------------------------- corpus


class Builder:
    """Builds the tables; key pools make tables of different areas share value domains."""

    def __init__(self, seed: int = 13, scale: float = 1.0) -> None:
        self.r = random.Random(seed)
        self.scale = scale
        self.customer_ids = list(range(1001, 1001 + 1500))
        self.order_ids = list(range(50_001, 50_001 + 2600))
        self.product_ids = list(range(1, 161))
        self.employee_ids = list(range(7001, 7001 + 420))
        self.device_ids = [a_uuid(self.r) for _ in range(300)]
        self.payment_ids = [a_uuid(self.r) for _ in range(2200)]
        self.ticket_ids = list(range(90_001, 90_001 + 1800))
        self.shipment_ids = list(range(300_001, 300_001 + 2000))
        self.campaign_ids = list(range(501, 561))
        self.agent_ids = list(range(201, 241))
        self.customer_country = {c: self.r.choice(COUNTRIES) for c in self.customer_ids}

    def n(self, rows: int) -> int:
        return max(20, int(rows * self.scale))

    def col(self, name: str, kind: str, semantic: str | None, gen: Callable[[int], Any], rows: int,
            nulls: float = 0.0) -> Column:
        r = self.r
        values = [None if nulls and r.random() < nulls else gen(i) for i in range(rows)]
        return Column(name, kind, semantic, values)

    def pick(self, pool: list[Any]) -> Callable[[int], Any]:
        return lambda i: self.r.choice(pool)

    def seq(self, start: int = 1) -> Callable[[int], Any]:
        return lambda i: start + i

    def choice(self, options: list[Any], weights: list[float] | None = None) -> Callable[[int], Any]:
        return lambda i: self.r.choices(options, weights)[0]


TableFn = Callable[[Builder], Table]
TEMPLATES: list[TableFn] = []


def template(fn: TableFn) -> TableFn:
    TEMPLATES.append(fn)
    return fn


def _table(source: str, name: str, area: str, cols: list[Column], fmt: str = "", description: str = "") -> Table:
    if source == "files" and not fmt:
        fmt = "partitioned" if "." not in name.rsplit("/", 1)[-1] else name.rsplit(".", 1)[1]
    return Table(source, name, area, cols, fmt=fmt, description=description)


# ---- sales ------------------------------------------------------------------------------------


@template
def t_orders(b: Builder) -> Table:
    r, n = b.r, len(b.order_ids)
    cust = [r.choice(b.customer_ids) for _ in range(n)]
    c = b.col
    return _table("pg", "orders", "sales", [
        c("order_id", "int", "identifier", lambda i: b.order_ids[i], n),
        c("customer_id", "int", "identifier", lambda i: cust[i], n),
        c("order_date", "date", "date", lambda i: day(r), n),
        c("status", "text", "category", b.choice(["new", "paid", "shipped", "delivered", "cancelled", "returned"],
                                                 [2, 5, 4, 8, 1, 1]), n),
        c("total_amount", "dec", "currency_amount", lambda i: amount(r, 5, 1500), n),
        c("currency", "text", "currency_code", lambda i: CURRENCY[b.customer_country[cust[i]]], n),
        c("channel", "text", "category", b.choice(["web", "app", "store", "phone"]), n),
        c("coupon_code", "text", "identifier", lambda i: "SAVE" + _alnum(r, 5), n, nulls=0.8),
        c("email_sent", "bool", "boolean", lambda i: r.random() < 0.9, n),
        c("ship_to", "text", "address", lambda i: address(r, b.customer_country[cust[i]]), n, nulls=0.1),
        c("ip", "text", "ip_address", lambda i: ip_address(r), n, nulls=0.3),
        c("updated_at", "ts", "timestamp", lambda i: moment(r), n),
    ], description="Every order with its amount")


@template
def t_order_items(b: Builder) -> Table:
    r, n = b.r, b.n(3800)
    c = b.col
    return _table("mysql", "order_items", "sales", [
        c("id", "int", "identifier", b.seq(), n),
        c("order_id", "int", "identifier", b.pick(b.order_ids), n),
        c("product_id", "int", "identifier", b.pick(b.product_ids), n),
        c("qty", "int", "numeric", lambda i: r.choice([1, 1, 1, 2, 2, 3, 5]), n),
        c("unit_price", "dec", "currency_amount", lambda i: amount(r, 2, 400), n),
        c("discount_pct", "float", "numeric", lambda i: r.choice([0, 0, 0, 5, 10, 15, 20]) / 1.0, n),
    ])


@template
def t_products(b: Builder) -> Table:
    r, n = b.r, len(b.product_ids)
    c = b.col
    return _table("pg", "products", "sales", [
        c("product_id", "int", "identifier", lambda i: b.product_ids[i], n),
        c("name", "text", None, lambda i: f"{PRODUCTS[i % len(PRODUCTS)]} {['', 'XL', 'v2', 'Black', 'Kids'][i // 32]}"
          .strip(), n),
        c("sku", "text", "identifier", lambda i: f"SKU-{r.randint(10000, 99999)}-{_letters(r, 2)}", n),
        c("category", "text", "category", b.choice(["home", "outdoor", "kitchen", "apparel", "electronics"]), n),
        c("list_price", "dec", "currency_amount", lambda i: amount(r, 3, 600), n),
        c("weight_kg", "float", "numeric", lambda i: round(r.uniform(0.05, 25), 3), n),
        c("product_url", "text", "url",
          lambda i: f"https://shop.example.com/p/{b.product_ids[i]}-{_alnum(r, 6).lower()}", n),
        c("launched_on", "text", "date", lambda i: day(r, date(2015, 1, 1), 3000).isoformat(), n),
        c("in_stock", "bool", "boolean", lambda i: r.random() < 0.8, n),
    ], description="The product catalogue with list prices")


@template
def t_invoices(b: Builder) -> Table:  # sqlite, opaque name and columns
    r, n = b.r, b.n(2400)
    c = b.col
    return _table("sqlite", "t_0042", "sales", [
        c("c0", "text", "identifier", lambda i: f"INV-2025-{i + 1:06d}", n),
        c("c1", "int", "identifier", b.pick(b.order_ids), n),
        c("c2", "text", "timestamp", lambda i: moment(r).strftime("%Y-%m-%d %H:%M:%S"), n),
        c("c3", "text", "currency_amount", lambda i: f"{amount(r, 5, 1500)}", n),
        c("c4", "float", "numeric", b.choice([0.0, 0.07, 0.19, 0.2, 0.21, 0.25]), n),
        c("c5", "text", "email", lambda i: email(r), n, nulls=0.35),
        c("c6", "text", "currency_code", b.choice(["EUR", "EUR", "USD", "GBP", "SEK"]), n),
    ])


@template
def t_quotes(b: Builder) -> Table:
    r, n = b.r, b.n(700)
    c = b.col
    return _table("files", "sales/quotes.csv", "sales", [
        c("quote_id", "text", "identifier", lambda i: f"Q{i + 1:05d}", n),
        c("customer_id", "int", "identifier", b.pick(b.customer_ids), n),
        c("product_id", "int", "identifier", b.pick(b.product_ids), n),
        c("valid_until", "text", "date", lambda i: day(r, date(2025, 6, 1), 400).strftime("%d/%m/%Y"), n),
        c("quoted_price", "text", "currency_amount", lambda i: f"{amount(r, 10, 5000)}", n),
        c("currency", "text", "currency_code", b.choice(["EUR", "USD", "GBP"]), n),
        c("stage", "text", "category", b.choice(["draft", "sent", "accepted", "rejected", "expired"]), n),
        c("sales_rep", "text", "person_name", lambda i: full_name(r), n),
    ])


# ---- crm --------------------------------------------------------------------------------------


@template
def t_customers(b: Builder) -> Table:
    r, n = b.r, len(b.customer_ids)
    people = [person(r, b.customer_country[cid]) for cid in b.customer_ids]
    c = b.col
    return _table("pg", "customers", "crm", [
        c("id", "int", "identifier", lambda i: b.customer_ids[i], n),
        c("first_name", "text", "person_name", lambda i: people[i][0], n),
        c("last_name", "text", "person_name", lambda i: people[i][1], n),
        c("email", "text", "email", lambda i: email(r, b.customer_country[b.customer_ids[i]]), n, nulls=0.05),
        c("phone", "text", "phone", lambda i: phone(r, b.customer_country[b.customer_ids[i]]), n, nulls=0.3),
        c("country", "text", "country", lambda i: ISO2[b.customer_country[b.customer_ids[i]]], n),
        c("birth_date", "date", "date_of_birth", lambda i: birth(r), n, nulls=0.4),
        c("created_at", "ts", "timestamp", lambda i: moment(r, datetime(2019, 1, 1), 2400), n),
        c("is_active", "bool", "boolean", lambda i: r.random() < 0.8, n),
        c("segment", "text", "category", b.choice(["consumer", "smb", "enterprise"], [6, 3, 1]), n),
    ], description="One row per customer")


@template
def t_contacts(b: Builder) -> Table:
    r, n = b.r, b.n(1800)
    cust = [r.choice(b.customer_ids) for _ in range(n)]
    c = b.col
    return _table("mysql", "contacts", "crm", [
        c("contact_id", "int", "identifier", b.seq(1), n),
        c("customer_id", "int", "identifier", lambda i: cust[i], n),
        c("full_name", "text", "person_name", lambda i: full_name(r, b.customer_country[cust[i]]), n),
        c("c1", "text", "email", lambda i: email(r, b.customer_country[cust[i]]), n, nulls=0.2),
        c("mobile", "text", "phone", lambda i: phone(r, b.customer_country[cust[i]]), n, nulls=0.5),
        c("preferred_language", "text", "category", b.choice(["en", "de", "fr", "nl", "es", "it", "sv"]), n),
        c("phone_model", "text", "category", b.pick(PHONE_MODELS), n, nulls=0.3),
        c("uk_nino", "text", "national_id", lambda i: uk_nino(r), n, nulls=0.85),
        c("address", "text", "address", lambda i: address(r, b.customer_country[cust[i]]), n, nulls=0.3),
        c("dob", "date", "date_of_birth", lambda i: birth(r), n, nulls=0.6),
    ])


@template
def t_addresses(b: Builder) -> Table:
    r, n = b.r, b.n(1600)
    cust = [r.choice(b.customer_ids) for _ in range(n)]
    c = b.col
    return _table("sqlite", "addresses", "crm", [
        c("address_id", "int", "identifier", b.seq(1), n),
        c("customer_id", "int", "identifier", lambda i: cust[i], n),
        c("street", "text", "address", lambda i: address(r, b.customer_country[cust[i]], with_city=False), n),
        c("postal_code", "text", "postal_code", lambda i: postal_code(r, b.customer_country[cust[i]]), n),
        c("country_name", "text", "country", lambda i: COUNTRY_NAMES[b.customer_country[cust[i]]], n),
        c("kind", "text", "category", b.choice(["billing", "shipping", "both"]), n),
        c("verified_at", "text", "timestamp", lambda i: moment(r).isoformat(), n, nulls=0.6),
    ])


@template
def t_sheet1(b: Builder) -> Table:  # an exported customer list with spreadsheet column names
    r, n = b.r, b.n(600)
    cc = [r.choice(COUNTRIES) for _ in range(n)]
    c = b.col
    return _table("files", "sheet1.csv", "crm", [
        c("col_a", "text", "person_name", lambda i: full_name(r, cc[i]), n),
        c("col_b", "text", "email", lambda i: email(r, cc[i]), n, nulls=0.1),
        c("col_c", "text", "phone", lambda i: phone(r, cc[i]), n, nulls=0.25),
        c("col_d", "text", "address", lambda i: address(r, cc[i]), n),
        c("col_e", "text", "country", lambda i: COUNTRY_NAMES[cc[i]], n),
        c("col_f", "text", "date", lambda i: day(r).strftime("%m/%d/%Y"), n),
    ])


@template
def t_loyalty(b: Builder) -> Table:
    r, n = b.r, b.n(900)
    cust = [r.choice(b.customer_ids) for _ in range(n)]
    c = b.col
    return _table("mysql", "export_3", "crm", [
        c("member_id", "text", "identifier", lambda i: f"M-{r.randint(100000, 999999)}", n),
        c("customer_id", "int", "identifier", lambda i: cust[i], n),
        c("points", "text", "numeric", lambda i: str(r.randint(0, 25000)), n),
        c("tier", "text", "category", b.choice(["bronze", "silver", "gold", "platinum"], [6, 3, 1, 0.3]), n),
        c("f_07", "text", "phone", lambda i: phone(r, b.customer_country[cust[i]]), n, nulls=0.4),
        c("joined", "text", "date", lambda i: day(r, date(2018, 1, 1), 2500).isoformat(), n),
        c("attr3", "text", "national_id", lambda i: fr_nir(r), n, nulls=0.7),
        c("dob", "text", "date_of_birth", lambda i: birth(r).strftime("%d.%m.%Y"), n, nulls=0.5),
    ])


@template
def t_export9(b: Builder) -> Table:  # consents export with opaque columns, in PostgreSQL
    r, n = b.r, b.n(1000)
    cust = [r.choice(b.customer_ids) for _ in range(n)]
    cc = [b.customer_country[x] for x in cust]
    cc_iban = {"US": "DE", "UK": "GB", "DE": "DE", "FR": "FR", "NL": "NL", "ES": "ES", "IT": "IT", "SE": "SE"}
    c = b.col
    return _table("pg", "export_9", "crm", [
        c("k", "int", "identifier", lambda i: cust[i], n),
        c("c1", "text", "person_name", lambda i: full_name(r, cc[i]), n),
        c("c2", "text", "email", lambda i: email(r, cc[i]), n, nulls=0.3),
        c("c3", "date", "date_of_birth", lambda i: birth(r), n, nulls=0.5),
        c("c4", "text", "iban", lambda i: iban(r, cc_iban[cc[i]]), n, nulls=0.6),
        c("c5", "text", "phone", lambda i: phone(r, cc[i]), n, nulls=0.4),
        c("c6", "bool", "boolean", lambda i: r.random() < 0.4, n),
        c("c7", "text", "address", lambda i: address(r, cc[i]), n, nulls=0.5),
        c("c8", "ts", "timestamp", lambda i: moment(r), n),
    ])

# ---- hr ---------------------------------------------------------------------------------------


@template
def t_employees(b: Builder) -> Table:
    r, n = b.r, len(b.employee_ids)
    names = [person(r, "US") for _ in range(n)]
    c = b.col
    return _table("mysql", "employees", "hr", [
        c("emp_id", "int", "identifier", lambda i: b.employee_ids[i], n),
        c("full_name", "text", "person_name", lambda i: f"{names[i][0]} {names[i][1]}", n),
        c("work_email", "text", "email",
          lambda i: f"{_ascii(names[i][0])}.{_ascii(names[i][1])}@acme-corp.com", n),
        c("personal_phone", "text", "phone", lambda i: phone(r, "US"), n, nulls=0.3),
        c("ssn", "text", "national_id", lambda i: us_ssn(r), n),
        c("ssn_verified", "bool", "boolean", lambda i: r.random() < 0.7, n),
        c("hire_date", "date", "date", lambda i: day(r, date(2005, 1, 1), 7000), n),
        c("salary", "dec", "currency_amount", lambda i: amount(r, 32000, 190000), n),
        c("department", "text", "category", b.choice(["engineering", "sales", "support", "finance", "ops"]), n),
        c("home_address", "text", "address", lambda i: address(r, "US"), n, nulls=0.2),
    ], description="Employees with their departments")


@template
def t_payroll(b: Builder) -> Table:
    r, n = b.r, b.n(2500)
    c = b.col
    return _table("pg", "payroll", "hr", [
        c("id", "int", "identifier", b.seq(), n),
        c("employee_id", "int", "identifier", b.pick(b.employee_ids), n),
        c("period", "date", "date", lambda i: date(2025, 1 + i % 12, 1), n),
        c("iban", "text", "iban", lambda i: iban(r, "NL"), n),
        c("gross_amount", "dec", "currency_amount", lambda i: amount(r, 2500, 12000), n),
        c("net_amount", "dec", "currency_amount", lambda i: amount(r, 1800, 8000), n),
        c("currency", "text", "currency_code", lambda i: "EUR", n),
        c("tax_id", "text", "national_id", lambda i: nl_bsn(r), n),
    ])


@template
def t_absences(b: Builder) -> Table:
    r, n = b.r, b.n(1100)
    c = b.col
    return _table("sqlite", "t_0107", "hr", [
        c("k", "int", "identifier", b.seq(), n),
        c("emp", "int", "identifier", b.pick(b.employee_ids), n),
        c("d_from", "text", "date", lambda i: day(r).isoformat(), n),
        c("d_to", "text", "date", lambda i: day(r).isoformat(), n),
        c("reason", "text", "category", b.choice(["sick", "vacation", "parental", "training", "other"]), n),
        c("approved", "int", "boolean", lambda i: int(r.random() < 0.85), n),
        c("notes", "text", "free_text", lambda i: sentence(r), n, nulls=0.7),
    ])


@template
def t_candidates(b: Builder) -> Table:
    r, n = b.r, b.n(500)
    c = b.col
    return _table("files", "hr/candidates.parquet", "hr", [
        c("candidate_id", "int", "identifier", b.seq(1), n),
        c("name", "text", "person_name", lambda i: full_name(r, "ES"), n),
        c("email", "text", "email", lambda i: email(r, "ES"), n),
        c("phone", "text", "phone", lambda i: phone(r, "ES"), n, nulls=0.1),
        c("date_of_birth", "date", "date_of_birth", lambda i: birth(r), n, nulls=0.3),
        c("nationality", "text", "country", b.choice(["ES", "ES", "PT", "FR", "IT", "MA"]), n),
        c("cv_url", "text", "url", lambda i: f"https://jobs.example.com/cv/{a_uuid(r)[:8]}.pdf", n),
        c("attr3", "text", "national_id", lambda i: es_dni(r), n, nulls=0.2),
        c("stage", "text", "category", b.choice(["applied", "screen", "interview", "offer", "hired", "rejected"]), n),
        c("address", "text", "address", lambda i: address(r, "ES"), n, nulls=0.25),
    ])


@template
def t_hr_export(b: Builder) -> Table:
    r, n = b.r, b.n(400)
    c = b.col
    return _table("files", "hr_export.csv", "hr", [
        c("nr", "int", "identifier", lambda i: b.employee_ids[i % len(b.employee_ids)], n),
        c("attr1", "text", "person_name", lambda i: full_name(r, "SE"), n),
        c("attr2", "text", "national_id", lambda i: se_personnummer(r), n),
        c("attr4", "text", "postal_code", lambda i: postal_code(r, "SE"), n),
        c("attr5", "text", "date_of_birth", lambda i: birth(r).strftime("%d-%m-%Y"), n),
        c("fte", "text", "numeric", b.choice(["1.0", "0.8", "0.6", "0.5"]), n),
        c("attr6", "text", "iban", lambda i: iban(r, "SE"), n, nulls=0.3),
    ])


# ---- finance ----------------------------------------------------------------------------------


@template
def t_payments(b: Builder) -> Table:
    r, n = b.r, len(b.payment_ids)
    c = b.col
    return _table("pg", "payments", "finance", [
        c("payment_id", "text", "uuid", lambda i: b.payment_ids[i], n),
        c("order_id", "int", "identifier", b.pick(b.order_ids), n),
        c("amount", "dec", "currency_amount", lambda i: amount(r, 5, 1500), n),
        c("currency", "text", "currency_code", b.choice(["EUR", "USD", "GBP", "SEK"], [6, 2, 2, 1]), n),
        c("card_number", "text", "credit_card", lambda i: credit_card(r), n, nulls=0.35),
        c("paid_at", "ts", "timestamp", lambda i: moment(r), n),
        c("method", "text", "category", b.choice(["card", "sepa", "paypal", "klarna", "ideal"]), n),
        c("status", "text", "category", b.choice(["paid", "failed", "pending", "refunded"], [8, 1, 1, 1]), n),
        c("ip_address", "text", "ip_address", lambda i: ip_address(r), n, nulls=0.1),
        c("billing_zip", "text", "postal_code", lambda i: postal_code(r, r.choice(COUNTRIES)), n, nulls=0.5),
        c("cardholder", "text", "person_name", lambda i: full_name(r), n, nulls=0.35),
        c("fee", "dec", "currency_amount", lambda i: amount(r, 0, 12), n),
    ], description="Card and bank payments of orders")


@template
def t_refunds(b: Builder) -> Table:
    r, n = b.r, b.n(600)
    c = b.col
    return _table("mysql", "refunds", "finance", [
        c("id", "int", "identifier", b.seq(), n),
        c("payment_id", "text", "uuid", b.pick(b.payment_ids), n),
        c("amount", "text", "currency_amount", lambda i: f"{amount(r, 5, 500)}", n),
        c("reason", "text", "free_text", lambda i: sentence(r), n),
        c("created_at", "ts", "timestamp", lambda i: moment(r), n),
        c("approved_by", "int", "identifier", b.pick(b.employee_ids), n, nulls=0.3),
        c("f_09", "text", "credit_card", lambda i: credit_card(r), n, nulls=0.5),
    ])


@template
def t_bank_accounts(b: Builder) -> Table:
    r, n = b.r, b.n(1200)
    cust = [r.choice(b.customer_ids) for _ in range(n)]
    c = b.col
    cc_iban = {"US": "DE", "UK": "GB", "DE": "DE", "FR": "FR", "NL": "NL", "ES": "ES", "IT": "IT", "SE": "SE"}
    return _table("sqlite", "bank_accounts", "finance", [
        c("id", "int", "identifier", b.seq(), n),
        c("customer_id", "int", "identifier", lambda i: cust[i], n),
        c("c2", "text", "iban", lambda i: iban(r, cc_iban[b.customer_country[cust[i]]]), n),
        c("holder", "text", "person_name", lambda i: full_name(r, b.customer_country[cust[i]]), n),
        c("bic", "text", "identifier", lambda i: _letters(r, 4) + ISO2[b.customer_country[cust[i]]] + _alnum(r, 2), n),
        c("mandate_signed", "int", "boolean", lambda i: int(r.random() < 0.6), n),
    ])


@template
def t_ledger(b: Builder) -> Table:
    r, n = b.r, b.n(3000)
    c = b.col
    return _table("files", "ledger.parquet", "finance", [
        c("entry_id", "int", "identifier", b.seq(1), n),
        c("account_code", "text", "identifier", b.choice(["1000", "1200", "2000", "4000", "4100", "6000", "7000"]), n),
        c("debit", "dec", "currency_amount", lambda i: amount(r, 0, 20000), n, nulls=0.5),
        c("credit", "dec", "currency_amount", lambda i: amount(r, 0, 20000), n, nulls=0.5),
        c("posted_on", "date", "date", lambda i: day(r), n),
        c("memo", "text", "free_text", lambda i: sentence(r, 3, 9), n, nulls=0.3),
        c("counterparty_iban", "text", "iban", lambda i: iban(r), n, nulls=0.6),
    ], description="General ledger entries")


@template
def t_payouts(b: Builder) -> Table:
    r, n = b.r, b.n(800)
    c = b.col
    return _table("mysql", "t_0311", "finance", [
        c("payout_id", "int", "identifier", b.seq(1), n),
        c("beneficiary", "text", "person_name", lambda i: full_name(r), n),
        c("f_02", "text", "iban", lambda i: iban(r), n),
        c("amt", "dec", "currency_amount", lambda i: amount(r, 50, 9000), n),
        c("ccy", "text", "currency_code", b.choice(["EUR", "GBP", "SEK"]), n),
        c("value_date", "date", "date", lambda i: day(r), n),
    ])


# ---- logistics --------------------------------------------------------------------------------


@template
def t_shipments(b: Builder) -> Table:
    r, n = b.r, len(b.shipment_ids)
    c = b.col
    cc = [r.choice(COUNTRIES) for _ in range(n)]
    return _table("pg", "shipments", "logistics", [
        c("shipment_id", "int", "identifier", lambda i: b.shipment_ids[i], n),
        c("order_id", "int", "identifier", b.pick(b.order_ids), n),
        c("carrier", "text", "category", b.choice(["DHL", "UPS", "PostNL", "DPD", "GLS", "Royal Mail"]), n),
        c("tracking_no", "text", "identifier", lambda i: "1Z" + _alnum(r, 16), n),
        c("shipped_at", "ts", "timestamp", lambda i: moment(r), n),
        c("delivered_at", "ts", "timestamp", lambda i: moment(r), n, nulls=0.4),
        c("dest_postal_code", "text", "postal_code", lambda i: postal_code(r, cc[i]), n),
        c("dest_country", "text", "country", lambda i: ISO2[cc[i]], n),
        c("weight_kg", "float", "numeric", lambda i: round(r.uniform(0.1, 30), 2), n),
        c("cost", "dec", "currency_amount", lambda i: amount(r, 3, 80), n),
    ], description="One row per shipped order")


@template
def t_warehouses(b: Builder) -> Table:
    r, n = b.r, 40
    cc = [r.choice(COUNTRIES) for _ in range(n)]
    c = b.col
    return _table("mysql", "warehouses", "logistics", [
        c("id", "int", "identifier", b.seq(), n),
        c("code", "text", "identifier", lambda i: f"WH-{ISO2[cc[i]]}-{i:02d}", n),
        c("site_address", "text", "address", lambda i: address(r, cc[i]), n),
        c("country", "text", "country", lambda i: ISO2[cc[i]], n),
        c("capacity_pallets", "int", "numeric", lambda i: r.randint(500, 20000), n),
        c("manager_phone", "text", "phone", lambda i: phone(r, cc[i]), n),
        c("opened", "date", "date", lambda i: day(r, date(2001, 1, 1), 8000), n),
        c("postal", "text", "postal_code", lambda i: postal_code(r, cc[i]), n),
    ])


@template
def t_deliveries(b: Builder) -> Table:
    r, n = b.r, b.n(1800)
    cc = [r.choice(COUNTRIES) for _ in range(n)]
    c = b.col
    return _table("sqlite", "deliveries", "logistics", [
        c("delivery_id", "int", "identifier", b.seq(1), n),
        c("shipment_id", "int", "identifier", b.pick(b.shipment_ids), n),
        c("recipient", "text", "person_name", lambda i: full_name(r, cc[i]), n),
        c("attr_addr", "text", "address", lambda i: address(r, cc[i]), n),
        c("c9", "text", "phone", lambda i: phone(r, cc[i]), n, nulls=0.3),
        c("signed", "int", "boolean", lambda i: int(r.random() < 0.7), n),
        c("attempts", "int", "numeric", b.choice([1, 1, 1, 2, 3]), n),
        c("address_id", "int", "identifier", lambda i: r.randint(1, 1600), n),
        c("zip5", "int", "postal_code", lambda i: r.randint(1001, 99950), n, nulls=0.3),
    ])


@template
def t_routes(b: Builder) -> Table:
    r, n = b.r, b.n(300)
    c = b.col
    return _table("files", "export_7.csv", "logistics", [
        c("route", "text", "identifier", lambda i: f"R{i + 1:04d}", n),
        c("region", "text", "category", b.choice(["north", "south", "east", "west", "central"]), n),
        c("stops", "int", "numeric", lambda i: r.randint(5, 60), n),
        c("zip_count", "int", "numeric", lambda i: r.randint(1, 40), n),
        c("avg_minutes", "float", "numeric", lambda i: round(r.uniform(3, 25), 1), n),
        c("driver", "text", "person_name", lambda i: full_name(r), n, nulls=0.2),
    ])


@template
def t_returns(b: Builder) -> Table:
    r, n = b.r, b.n(500)
    c = b.col
    return _table("pg", "t_0777", "logistics", [
        c("return_id", "int", "identifier", b.seq(1), n),
        c("shipment_id", "int", "identifier", b.pick(b.shipment_ids), n),
        c("reason", "text", "category", b.choice(["damaged", "wrong_item", "too_small", "not_needed", "late"]), n),
        c("received", "date", "date", lambda i: day(r), n, nulls=0.3),
        c("restocked", "bool", "boolean", lambda i: r.random() < 0.5, n),
        c("address_id", "int", "identifier", lambda i: r.randint(1, 1600), n),
        c("status", "text", "category", b.choice(["new", "received", "refunded", "cancelled"]), n),
    ])


# ---- marketing --------------------------------------------------------------------------------


@template
def t_campaigns(b: Builder) -> Table:
    r, n = b.r, len(b.campaign_ids)
    c = b.col
    themes = ["Spring Sale", "Black Friday", "Back to School", "Summer Outdoor", "Winter Warmers", "New Year"]
    return _table("pg", "campaigns", "marketing", [
        c("campaign_id", "int", "identifier", lambda i: b.campaign_ids[i], n),
        c("name", "text", None, lambda i: f"{themes[i % len(themes)]} {2023 + i // 20}", n),
        c("channel", "text", "category", b.choice(["email", "social", "search", "display", "affiliate"]), n),
        c("budget", "dec", "currency_amount", lambda i: amount(r, 1000, 90000), n),
        c("currency", "text", "currency_code", b.choice(["EUR", "USD"]), n),
        c("start_date", "date", "date", lambda i: day(r), n),
        c("landing_url", "text", "url", lambda i: f"https://www.example.com/lp/{_alnum(r, 6).lower()}?utm_source=x",
          n),
        c("owner_email", "text", "email", lambda i: email(r, "US").split("@")[0] + "@acme-corp.com", n),
    ], description="Marketing campaigns and their budgets")


@template
def t_subscribers(b: Builder) -> Table:
    r, n = b.r, b.n(2200)
    c = b.col
    return _table("mysql", "newsletter_subscribers", "marketing", [
        c("id", "int", "identifier", b.seq(), n),
        c("email", "text", "email", lambda i: email(r), n),
        c("subscribed_at", "ts", "timestamp", lambda i: moment(r), n),
        c("email_sent", "int", "numeric", lambda i: r.randint(0, 120), n),
        c("opt_in", "bool", "boolean", lambda i: r.random() < 0.9, n),
        c("source", "text", "category", b.choice(["footer", "checkout", "popup", "import"]), n),
        c("signup_ip", "text", "ip_address", lambda i: ip_address(r), n, nulls=0.2),
        c("ip_blocked", "int", "numeric", lambda i: r.choice([0, 0, 0, 0, 1, 2, 5]), n),
        c("postcode", "text", "postal_code", lambda i: postal_code(r, "UK"), n, nulls=0.45),
    ])


@template
def t_leads(b: Builder) -> Table:
    r, n = b.r, b.n(900)
    cc = [r.choice(COUNTRIES) for _ in range(n)]
    c = b.col
    return _table("sqlite", "leads", "marketing", [
        c("lead_id", "int", "identifier", b.seq(1), n),
        c("contact_name", "text", "person_name", lambda i: full_name(r, cc[i]), n),
        c("f_12", "text", "email", lambda i: email(r, cc[i]), n, nulls=0.15),
        c("c4", "text", "phone", lambda i: phone(r, cc[i]), n, nulls=0.6),
        c("country", "text", "country", lambda i: ISO2[cc[i]], n),
        c("score", "float", "numeric", lambda i: round(r.uniform(0, 100), 1), n),
        c("created", "text", "date", lambda i: day(r).strftime("%Y/%m/%d"), n),
        c("campaign_id", "int", "identifier", b.pick(b.campaign_ids), n, nulls=0.3),
        c("zip", "text", "postal_code", lambda i: postal_code(r, "US"), n, nulls=0.4),
        c("utm_campaign", "text", "category", b.choice(["spring", "bf24", "bts", "brand", "retarget"]), n),
    ])


@template
def t_region_stats(b: Builder) -> Table:
    r, n = b.r, b.n(250)
    c = b.col
    return _table("sqlite", "region_stats", "marketing", [
        c("region_code", "text", "identifier", lambda i: f"{r.choice(list(ISO2.values()))}-{i:03d}", n),
        c("population", "int", "numeric", lambda i: r.randint(5000, 3_000_000), n),
        c("birth_rate", "float", "numeric", lambda i: round(r.uniform(7, 14), 2), n),
        c("median_income", "dec", "currency_amount", lambda i: amount(r, 18000, 60000), n),
        c("zip_count", "int", "numeric", lambda i: r.randint(3, 400), n),
        c("target", "int", "boolean", lambda i: int(r.random() < 0.3), n),
        c("country", "text", "country", lambda i: r.choice(list(ISO2.values())), n),
    ])


@template
def t_ad_spend(b: Builder) -> Table:
    r, n = b.r, b.n(700)
    c = b.col
    return _table("files", "exports/export_1.csv", "marketing", [
        c("day", "text", "date", lambda i: day(r).isoformat(), n),
        c("campaign_id", "int", "identifier", b.pick(b.campaign_ids), n),
        c("clicks", "int", "numeric", lambda i: r.randint(0, 5000), n),
        c("impressions", "int", "numeric", lambda i: r.randint(1000, 500000), n),
        c("cost", "text", "currency_amount", lambda i: f"{amount(r, 0, 3000)}", n),
        c("ccy", "text", "currency_code", b.choice(["EUR", "USD"]), n),
    ])


# ---- support ----------------------------------------------------------------------------------


@template
def t_tickets(b: Builder) -> Table:
    r, n = b.r, len(b.ticket_ids)
    mention = r.randrange(n)

    def body(i: int) -> str:
        text = sentence(r, 10, 30)
        return f"{text} You can reach me at {email(r)} anytime." if i == mention else text

    c = b.col
    return _table("pg", "tickets", "support", [
        c("ticket_id", "int", "identifier", lambda i: b.ticket_ids[i], n),
        c("customer_id", "int", "identifier", b.pick(b.customer_ids), n),
        c("subject", "text", "free_text", lambda i: sentence(r, 3, 7), n),
        c("body", "text", "free_text", body, n),
        c("priority", "text", "category", b.choice(["low", "normal", "high", "urgent"], [3, 6, 2, 1]), n),
        c("status", "text", "category", b.choice(["new", "open", "pending", "solved", "closed"]), n),
        c("opened_at", "ts", "timestamp", lambda i: moment(r), n),
        c("closed_at", "ts", "timestamp", lambda i: moment(r), n, nulls=0.5),
        c("agent_id", "int", "identifier", b.pick(b.agent_ids), n, nulls=0.1),
        c("requester_email", "text", "email", lambda i: email(r), n, nulls=0.1),
        c("callback_phone", "text", "phone", lambda i: phone(r), n, nulls=0.8),
    ], description="Customer support tickets")


@template
def t_agents(b: Builder) -> Table:
    r, n = b.r, len(b.agent_ids)
    names = [person(r, "UK") for _ in range(n)]
    c = b.col
    return _table("mysql", "agents", "support", [
        c("agent_id", "int", "identifier", lambda i: b.agent_ids[i], n),
        c("name", "text", "person_name", lambda i: f"{names[i][0]} {names[i][1]}", n),
        c("email", "text", "email", lambda i: f"{_ascii(names[i][0])}.{_ascii(names[i][1])}@support.acme-corp.com", n),
        c("team", "text", "category", b.choice(["tier1", "tier2", "billing", "tech"]), n),
        c("hired", "date", "date", lambda i: day(r, date(2015, 1, 1), 3500), n),
        c("desk_phone", "text", "phone", lambda i: phone(r, "UK"), n, nulls=0.2),
        c("employee_id", "int", "identifier", b.pick(b.employee_ids), n),
    ], description="Support agents and their teams")


@template
def t_chats(b: Builder) -> Table:
    r, n = b.r, b.n(2000)
    c = b.col
    return _table("sqlite", "chat_sessions", "support", [
        c("session_id", "text", "uuid", lambda i: a_uuid(r), n),
        c("customer_id", "int", "identifier", b.pick(b.customer_ids), n, nulls=0.4),
        c("started_at", "text", "timestamp", lambda i: moment(r).strftime("%Y-%m-%dT%H:%M:%SZ"), n),
        c("client_ip", "text", "ip_address", lambda i: ip_address(r), n),
        c("rating", "int", "numeric", lambda i: r.randint(1, 5), n, nulls=0.6),
        c("ip_blocked", "int", "numeric", lambda i: r.choice([0, 0, 0, 1, 3]), n),
        c("transcript", "text", "free_text", lambda i: sentence(r, 15, 40), n),
    ])


@template
def t_callbacks(b: Builder) -> Table:
    r, n = b.r, b.n(450)
    cc = [r.choice(COUNTRIES) for _ in range(n)]
    c = b.col
    return _table("files", "sheet2.csv", "support", [
        c("c1", "text", "phone", lambda i: phone(r, cc[i]), n),
        c("c2", "text", "person_name", lambda i: full_name(r, cc[i]), n),
        c("c3", "text", "category", b.choice(["morning", "afternoon", "evening"]), n),
        c("c6", "text", "country", lambda i: ISO2[cc[i]], n),
        c("c4", "int", "identifier", b.pick(b.ticket_ids), n),
        c("c5", "text", "timestamp", lambda i: moment(r).strftime("%d/%m/%Y %H:%M"), n),
    ])


@template
def t_survey(b: Builder) -> Table:
    r, n = b.r, b.n(800)
    c = b.col
    return _table("files", "exports/export_2.parquet", "support", [
        c("response_id", "text", "uuid", lambda i: a_uuid(r), n),
        c("ticket_id", "int", "identifier", b.pick(b.ticket_ids), n),
        c("nps", "int", "numeric", lambda i: r.randint(0, 10), n),
        c("comment", "text", "free_text", lambda i: sentence(r), n, nulls=0.55),
        c("respondent_email", "text", "email", lambda i: email(r), n, nulls=0.7),
        c("responded_at", "ts", "timestamp", lambda i: moment(r), n),
    ])


# ---- telemetry --------------------------------------------------------------------------------


@template
def t_devices(b: Builder) -> Table:
    r, n = b.r, len(b.device_ids)
    c = b.col
    return _table("pg", "devices", "telemetry", [
        c("device_id", "text", "uuid", lambda i: b.device_ids[i], n),
        c("serial", "text", "identifier", lambda i: "SN" + _alnum(r, 10), n),
        c("model", "text", "category", b.choice(["TH-100", "TH-200", "AQ-5", "PM-2"]), n),
        c("firmware", "text", "category", b.choice(["1.2.0", "1.3.1", "2.0.0", "2.0.4"]), n),
        c("owner_customer_id", "int", "identifier", b.pick(b.customer_ids), n, nulls=0.3),
        c("installed_at", "ts", "timestamp", lambda i: moment(r, datetime(2022, 1, 1), 1200), n),
        c("last_ip", "text", "ip_address", lambda i: ipv4(r), n, nulls=0.2),
        c("phone_model", "text", "category", b.pick(PHONE_MODELS), n, nulls=0.5),
    ], description="Registered sensor devices")


@template
def t_events(b: Builder) -> Table:
    r, n = b.r, b.n(3000)
    c = b.col
    parts = ["2026-01-01", "2026-01-02", "2026-01-03"]
    t = _table("files", "events", "telemetry", [
        c("event_id", "text", "uuid", lambda i: a_uuid(r), n),
        c("device_id", "text", "uuid", b.pick(b.device_ids), n),
        c("ts", "ts", "timestamp", lambda i: datetime(2026, 1, 1 + i * 3 // n) + timedelta(seconds=r.randint(0, 86399)),
          n),
        c("metric", "text", "category", b.choice(["temp", "humidity", "co2", "battery"]), n),
        c("value", "float", "numeric", lambda i: round(r.uniform(0, 1000), 3), n),
        c("battery_pct", "int", "numeric", lambda i: r.randint(0, 100), n, nulls=0.3),
        c("src_ip", "text", "ip_address", lambda i: ipv4(r), n, nulls=0.5),
    ], fmt="partitioned")
    t.partitions = parts
    return t


@template
def t_readings(b: Builder) -> Table:
    r, n = b.r, b.n(3500)
    c = b.col
    return _table("mysql", "t_9001", "telemetry", [
        c("id", "int", "identifier", b.seq(), n),
        c("dev", "text", "uuid", b.pick(b.device_ids), n),
        c("temp_c", "float", "numeric", lambda i: round(r.gauss(21, 4), 2), n),
        c("humidity", "float", "numeric", lambda i: round(r.uniform(20, 80), 1), n),
        c("recorded", "text", "timestamp", lambda i: moment(r).strftime("%Y-%m-%d %H:%M:%S"), n),
        c("ok", "bool", "boolean", lambda i: r.random() < 0.97, n),
        c("lat", "float", "numeric", lambda i: round(r.uniform(36, 60), 5), n),
        c("lon", "float", "numeric", lambda i: round(r.uniform(-9, 25), 5), n),
    ])


@template
def t_alerts(b: Builder) -> Table:
    r, n = b.r, b.n(700)
    c = b.col
    return _table("sqlite", "alerts", "telemetry", [
        c("alert_id", "int", "identifier", b.seq(1), n),
        c("device_id", "text", "uuid", b.pick(b.device_ids), n),
        c("severity", "text", "category", b.choice(["info", "warning", "critical"]), n),
        c("message", "text", "free_text", lambda i: sentence(r, 4, 12), n),
        c("raised_at", "text", "timestamp", lambda i: moment(r).isoformat(sep=" "), n),
        c("acknowledged", "int", "boolean", lambda i: int(r.random() < 0.6), n),
    ])


@template
def t_firmware(b: Builder) -> Table:
    r, n = b.r, 60
    c = b.col
    return _table("files", "telemetry/firmware.csv", "telemetry", [
        c("version", "text", "category", lambda i: f"{i // 20 + 1}.{i % 20 // 5}.{i % 5}", n),
        c("released", "text", "date", lambda i: day(r, date(2021, 1, 1), 1800).isoformat(), n),
        c("download_url", "text", "url", lambda i: f"https://fw.example.com/bin/{_alnum(r, 10).lower()}.bin", n),
        c("sha256", "text", "identifier", lambda i: "".join(r.choice("0123456789abcdef") for _ in range(64)), n),
        c("size_kb", "int", "numeric", lambda i: r.randint(300, 4000), n),
    ])


@template
def t_payroll_de(b: Builder) -> Table:  # a German payroll export: German headers and number formats
    r, n = b.r, b.n(350)

    def brutto(i: int) -> str:
        whole, cents = divmod(int(amount(r, 2200, 9800) * 100), 100)
        return f"{whole:,}".replace(",", ".") + f",{cents:02d}"

    c = b.col
    return _table("files", "hr/payroll_de.csv", "hr", [
        c("personal_nr", "int", "identifier", lambda i: b.employee_ids[i % len(b.employee_ids)], n),
        c("steuer_id", "text", "national_id", lambda i: de_idnr(r), n),
        c("mitarbeiter", "text", "person_name", lambda i: "{1}, {0}".format(*person(r, "DE")), n),
        c("konto", "text", "iban", lambda i: iban(r, "DE"), n),
        c("brutto", "text", "currency_amount", brutto, n),
        c("eintritt", "text", "date", lambda i: day(r, date(2008, 1, 1), 6000).strftime("%d.%m.%Y"), n),
        c("plz", "int", "postal_code", lambda i: r.randint(1067, 99998), n),
    ])


@template
def t_chargebacks(b: Builder) -> Table:
    r, n = b.r, b.n(400)
    c = b.col
    return _table("files", "finance/chargebacks.csv", "finance", [
        c("cb_id", "text", "identifier", lambda i: f"CB{r.randint(10**7, 10**8 - 1)}", n),
        c("pan", "text", "credit_card", lambda i: credit_card(r, "plain"), n),
        c("disputed", "text", "currency_amount", lambda i: r.choice(["€", "$", "£"]) + f"{amount(r, 5, 900)}", n),
        c("reason_code", "text", "category", b.choice(["4837", "4853", "4863", "10.4", "13.1"]), n),
        c("opened", "text", "date", lambda i: day(r).isoformat(), n),
        c("payment_id", "text", "uuid", b.pick(b.payment_ids), n),
    ])


@template
def t_sms_list(b: Builder) -> Table:
    r, n = b.r, b.n(650)
    cc = [r.choice(["NL", "DE", "UK", "SE"]) for _ in range(n)]
    prefix = {"NL": ("316", 8), "DE": ("49151", 8), "UK": ("447700", 6), "SE": ("4670", 7)}
    c = b.col
    return _table("files", "exports/export_11.parquet", "marketing", [
        c("msisdn", "text", "phone", lambda i: prefix[cc[i]][0] + _digits(r, prefix[cc[i]][1]), n),
        c("first", "text", "person_name", lambda i: person(r, cc[i])[0], n),
        c("opt", "bool", "boolean", lambda i: r.random() < 0.8, n),
        c("sent_at", "ts", "timestamp", lambda i: moment(r), n, nulls=0.2),
        c("campaign_id", "int", "identifier", b.pick(b.campaign_ids), n),
    ])


@template
def t_fx_rates(b: Builder) -> Table:
    r, n = b.r, b.n(400)
    c = b.col
    return _table("files", "exports/export_5.csv", "finance", [
        c("rate_date", "text", "date", lambda i: (date(2025, 1, 1) + timedelta(days=i // 4)).isoformat(), n),
        c("currency_code", "text", "currency_code", lambda i: ["USD", "GBP", "SEK", "CHF"][i % 4], n),
        c("rate", "text", "numeric", lambda i: f"{r.uniform(0.8, 11.5):.5f}", n),
    ])


#: tables registered as products of their area (source, name); the others are "unregistered"
REGISTERED = {("pg", "orders"), ("pg", "products"), ("pg", "customers"), ("mysql", "employees"),
              ("pg", "payments"), ("files", "ledger.parquet"), ("pg", "shipments"), ("pg", "campaigns"),
              ("pg", "tickets"), ("mysql", "agents"), ("pg", "devices")}


def _suffixed(table: Table, k: int) -> str:
    """The k-th copy's name: ``orders_2`` in a database; files go to a folder ``copy2/`` of their own,
    since files of one schema side by side are one dataset."""
    return f"copy{k}/{table.name}" if table.source == "files" else f"{table.name}_{k}"


def build_corpus(tables: int | None = None, sources: tuple[str, ...] = ("pg", "mysql", "sqlite", "files"),
                 seed: int = 13) -> list[Table]:
    """The labelled tables of ``sources``: their templates once (all four sources: 42 tables), fewer
    when ``tables`` is smaller (areas kept balanced), or the templates again under suffixed names
    (``orders_2``, ``copy2/sheet1.csv`` ...) when larger."""
    b = Builder(seed)
    by_area: dict[str, list[TableFn]] = {}
    for fn in TEMPLATES:
        area, source = _peek(fn)
        if source in sources:
            by_area.setdefault(area, []).append(fn)
    if not by_area:
        return []
    want = tables or sum(len(v) for v in by_area.values())
    order: list[TableFn] = []
    i = 0
    while any(i < len(v) for v in by_area.values()):  # round-robin across areas
        order += [v[i] for v in by_area.values() if i < len(v)]
        i += 1
    out: list[Table] = []
    k = 0
    while len(out) < want:
        for fn in order:
            if len(out) >= want:
                break
            t = fn(b)
            if k:
                t = replace(t, name=_suffixed(t, k + 1))
            t.registered = k == 0 and (t.source, t.name) in REGISTERED
            out.append(t)
        k += 1
    return out


_PEEKED: dict[str, tuple[str, str]] = {}


def _peek(fn: TableFn) -> tuple[str, str]:
    """A template's (area, source), from a tiny throw-away build."""
    if fn.__name__ not in _PEEKED:
        t = fn(Builder(0, scale=0.01))
        _PEEKED[fn.__name__] = (t.area, t.source)
    return _PEEKED[fn.__name__]


def speed_corpus(tables: int = 100, columns: int = 20, rows: int = 2000, seed: int = 5) -> list[Table]:
    """Unlabelled-area tables for timing: ``tables`` × ``columns`` of mixed types in PostgreSQL."""
    b = Builder(seed)
    r = b.r
    kinds: list[tuple[str, str, str, Callable[[int], Any]]] = [
        ("id", "int", "identifier", lambda i: i + 1),
        ("email", "text", "email", lambda i: email(r)),
        ("phone", "text", "phone", lambda i: phone(r)),
        ("amount", "dec", "currency_amount", lambda i: amount(r)),
        ("created_at", "ts", "timestamp", lambda i: moment(r)),
        ("status", "text", "category", b.choice(["new", "open", "closed"])),
        ("iban", "text", "iban", lambda i: iban(r)),
        ("note", "text", "free_text", lambda i: sentence(r)),
        ("score", "float", "numeric", lambda i: r.random()),
        ("flag", "bool", "boolean", lambda i: r.random() < 0.5),
    ]
    out = []
    for t in range(tables):
        cols = []
        for j in range(columns):
            name, kind, sem, gen = kinds[(j + t) % len(kinds)]
            cols.append(b.col(f"{name}_{j}", kind, sem, gen, rows, nulls=0.1 if j % 3 else 0.0))
        out.append(Table("pg", f"speed_{t:03d}", AREAS[t % len(AREAS)], cols))
    return out


# -------------------------------------------------------------------------------------- loaders

PG_TYPES = {"int": "bigint", "float": "double precision", "dec": "numeric(14,2)", "text": "text", "bool": "boolean",
            "date": "date", "ts": "timestamp"}
MY_TYPES = {"int": "BIGINT", "float": "DOUBLE", "dec": "DECIMAL(14,2)", "text": "VARCHAR(400)", "bool": "BOOLEAN",
            "date": "DATE", "ts": "DATETIME"}
LITE_TYPES = {"int": "INTEGER", "float": "REAL", "dec": "NUMERIC", "text": "TEXT", "bool": "INTEGER", "date": "DATE",
              "ts": "TIMESTAMP"}


def load_postgres(url: str, tables: list[Table]) -> None:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        for t in tables:
            cols = ", ".join(f'"{c.name}" {PG_TYPES[c.kind]}' for c in t.columns)
            conn.execute(f'CREATE TABLE "{t.name}" ({cols})')
            names = ", ".join(f'"{c.name}"' for c in t.columns)
            with conn.cursor() as cur, cur.copy(f'COPY "{t.name}" ({names}) FROM STDIN') as cp:
                for row in t.row_tuples():
                    cp.write_row(row)
            conn.execute(f'ANALYZE "{t.name}"')


def load_mysql(database: str, tables: list[Table]) -> None:
    import pymysql

    conn = pymysql.connect(host="127.0.0.1", port=3306, user="root", password="", database=database,
                           charset="utf8mb4", autocommit=True)
    try:
        with conn.cursor() as cur:
            for t in tables:
                cols = ", ".join(f"`{c.name}` {MY_TYPES[c.kind]}" for c in t.columns)
                cur.execute(f"CREATE TABLE `{t.name}` ({cols}) DEFAULT CHARSET=utf8mb4")
                sql = f"INSERT INTO `{t.name}` VALUES ({', '.join(['%s'] * len(t.columns))})"
                rows = list(t.row_tuples())
                for i in range(0, len(rows), 1000):
                    cur.executemany(sql, rows[i:i + 1000])
    finally:
        conn.close()


def _lite(v: Any) -> Any:
    if isinstance(v, Decimal):
        return float(v)
    if isinstance(v, datetime):
        return v.isoformat(sep=" ")
    if isinstance(v, date):
        return v.isoformat()
    if isinstance(v, bool):
        return int(v)
    return v


def load_sqlite(path: Path, tables: list[Table]) -> None:
    import sqlite3

    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path)
    try:
        for t in tables:
            cols = ", ".join(f'"{c.name}" {LITE_TYPES[c.kind]}' for c in t.columns)
            conn.execute(f'CREATE TABLE "{t.name}" ({cols})')
            conn.executemany(f'INSERT INTO "{t.name}" VALUES ({", ".join("?" * len(t.columns))})',
                             ([_lite(v) for v in row] for row in t.row_tuples()))
        conn.commit()
    finally:
        conn.close()


def _arrow_schema(t: Table) -> Any:
    import pyarrow as pa

    types = {"int": pa.int64(), "float": pa.float64(), "dec": pa.decimal128(14, 2), "text": pa.string(),
             "bool": pa.bool_(), "date": pa.date32(), "ts": pa.timestamp("us")}
    return pa.schema([(c.name, types[c.kind]) for c in t.columns])


def _write_parquet(path: Path, t: Table, start: int = 0, stop: int | None = None) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    stop = t.rows if stop is None else stop
    arrays = {c.name: c.values[start:stop] for c in t.columns}
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table(arrays, schema=_arrow_schema(t)), path)


def _csv_value(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, datetime):
        return v.isoformat(sep=" ")
    return str(v)


def load_files(root: Path, tables: list[Table]) -> None:
    root.mkdir(parents=True, exist_ok=True)
    for t in tables:
        if t.fmt == "partitioned":
            # rows go to the partition of their position (events are in time order within a day)
            per = -(-t.rows // len(t.partitions))
            for k, dt in enumerate(t.partitions):
                _write_parquet(root / t.name / f"dt={dt}" / "part-0.parquet", t, k * per, (k + 1) * per)
        elif t.fmt == "parquet":
            _write_parquet(root / t.name, t)
        else:
            path = root / t.name
            path.parent.mkdir(parents=True, exist_ok=True)
            with open(path, "w", newline="", encoding="utf-8") as fh:
                w = csv.writer(fh)
                w.writerow([c.name for c in t.columns])
                for row in t.row_tuples():
                    w.writerow([_csv_value(v) for v in row])


# ------------------------------------------------------------------------------------ workspace


def write_workspace(ws: Path, tables: list[Table], pg_url: str | None, my_url: str | None) -> None:
    """mesh.yaml (the sources, one domain per area) and one spec file per registered table."""
    lines = ["name: discovery-bench", "description: Labelled corpus of the discovery benchmark", "sources:"]
    if pg_url:
        lines += [f"  {SOURCE_NAMES['pg']}:", "    kind: postgres", f"    url: {pg_url}"]
    if my_url:
        lines += [f"  {SOURCE_NAMES['mysql']}:", "    kind: mysql", f"    url: {my_url}"]
    if any(t.source == "sqlite" for t in tables):
        lines += [f"  {SOURCE_NAMES['sqlite']}:", "    kind: sqlite", "    path: data/legacy.sqlite"]
    if any(t.source == "files" for t in tables):
        lines += [f"  {SOURCE_NAMES['files']}:", "    kind: files", "    path: data/lake"]
    lines.append("domains:")
    for area in AREAS:
        lines += [f"  {area}:", f"    description: {json.dumps(AREA_DESCRIPTIONS[area])}",
                  f"    owners: [{area}-team@example.com]"]
    ws.mkdir(parents=True, exist_ok=True)
    (ws / "mesh.yaml").write_text("\n".join(lines) + "\n", encoding="utf-8")
    for t in tables:
        if not t.registered:
            continue
        product = t.name.rsplit("/", 1)[-1].split(".")[0]
        where = f"  table: {t.name}" if t.source != "files" else f"  path: {t.name}"
        spec = [
            "kind: DataProduct", f"domain: {t.area}", f"name: {product}", f"owner: {t.area}-team@example.com",
            f"description: {json.dumps(t.description or product)}", "status: published", "version: 1.0.0", "output:",
            f"  source: {SOURCE_NAMES[t.source]}", where,
        ]
        out = ws / "products" / t.area / f"{product}.yaml"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text("\n".join(spec) + "\n", encoding="utf-8")


# ----------------------------------------------------------------------------------- self-check


def self_check(tables: list[Table]) -> list[str]:
    """Verify the checksummed identifiers with python-stdnum; returns the problems found."""
    from stdnum import iban as s_iban
    from stdnum import luhn
    from stdnum.de import idnr
    from stdnum.es import dni
    from stdnum.fr import nir
    from stdnum.nl import bsn
    from stdnum.se import personnummer
    from stdnum.us import ssn

    problems = []
    for t in tables:
        for c in t.columns:
            for v in c.values:
                if v is None or not isinstance(v, str):
                    continue
                ok = True
                if c.semantic == "iban":
                    ok = s_iban.is_valid(v)
                elif c.semantic == "credit_card":
                    ok = luhn.is_valid(v.replace(" ", "").replace("-", ""))
                elif c.semantic == "national_id":
                    if "-" in v and len(v) == 11 and v[3] == "-":
                        ok = ssn.is_valid(v)
                    elif v.replace(" ", "").isdigit() and len(v.replace(" ", "")) == 11:
                        ok = idnr.is_valid(v)
                    elif "-" in v:
                        ok = personnummer.is_valid(v)
                    elif v[:1].isalpha():
                        ok = len(v) == 9 and v[2:8].isdigit()
                    elif v[-1].isalpha():
                        ok = dni.is_valid(v)
                    elif len(v) == 9:
                        ok = bsn.is_valid(v)
                    else:
                        ok = nir.is_valid(v)
                if not ok:
                    problems.append(f"{t.name}.{c.name}: {c.semantic} {v!r}")
                    break
    return problems
