"""Column classification for discovery: what does a sampled column hold?

Method — values first, names second
===================================

1. **Prepare the sample.** ``None``, float NaN and placeholder strings (``""``, ``"null"``,
   ``"n/a"``, ``"-"``, ...) count as null. The non-null values are rendered to text once and
   counted; validators run on the most frequent distinct values only (at most
   :data:`MAX_DISTINCT`, and :data:`MAX_COSTLY` for the costly phone / national-id validators).
   A fraction is *weighted by row count*: "0.93 of the non-null sampled rows validate".

2. **Value evidence.** For every candidate type a validator says whether one value fits. Each
   type is checked with a cheap regex prefilter first, and a type stops being checked as soon as
   it can no longer reach its threshold (early exit), so most types cost a few values per column.

   ======================  ==============================================  ==========
   type                    validator                                       threshold
   ======================  ==============================================  ==========
   boolean                 bool values; ≤ 2 distinct true/false tokens     all
   uuid, email, url, json  regexes / ``json.loads`` (bare 32-hex needs     0.9
                           UUID version/variant nibbles, else a hash key)
   ip_address              ``ipaddress`` (v4, v6, with prefix length)      0.9
   iban                    ``stdnum.iban`` (mod-97 + country BBAN format)  0.9
   credit_card             Luhn + issuer prefix (IIN) + length             0.9
   national_id             stdnum modules by value shape: US SSN, NL BSN,  0.8
                           ES DNI/NIE, IT codice fiscale, FR NIR, SE/DK/
                           NO/FI/PL/BE/DE/IN/CN/BR/CA/KR/MX/ZA ids, GB NHS,
                           UK NINO (regex); bare 9-digit SSN only if named
   date / timestamp        ISO 8601, D.M.Y, D/M/Y, M/D/Y, Y/M/D, month     0.9
                           names (en/de/fr/es/it/pt/nl/nordic/pl);
                           ``date``/``datetime`` values; epoch s/ms ints
                           only under a date/time name
   date_of_birth           dates: ≥ 0.95 lie 16–100 years ago (0–130 when  0.95
                           named), none in the future, spread ≥ 15 years
                           and ≥ 5 distinct years; not under created/
                           updated-like names
   phone                   formatted / international / trunk-prefixed      0.8
                           digits, ``phonenumbers`` possible-number with
                           regions learnt from the first values; bare
                           digits only beside formatted ones or if named;
                           ≥ 0.3 must be *valid* numbers unless named
   postal_code             country formats (US ZIP+4, UK areas, CA, NL,    0.85
                           PL, PT, JP, BR, SE, IE, prefixed); bare 4–6
                           digits only if named, near address columns,
                           with leading zeros, or one width as text
                           (then confidence ≤ 0.5); integer-typed
                           columns only under a postal name
   currency_code           ISO 4217                                        0.9
   currency_amount         number + currency symbol/code; plain numbers    0.8
                           under an amount-like name (price, total,
                           budget, debit, credit, amt, betrag, brutto,
                           montant, importe, prezzo, ...); unnamed text/
                           decimal numbers of exactly two decimals
                           (1234.50, 5.218,23), varied and mostly ≥ 1
   country                 ISO 3166 alpha-2/3 codes, country names in      0.9
                           several languages (≥ 0.5 for names, lower conf)
   domain                  host names ending in a known TLD                0.9
   person_name             1–4 capitalised alphabetic tokens (titles and   0.5 known
                           particles skipped, no company/place words) with  or shape
                           a known first name / surname / surname ending;
                           several tokens: shape ≥ 0.85 and known ≥ 0.25;
                           one token: shape ≥ 0.95 and known ≥ 0.2; CJK
                           names by surname characters; digits and
                           marketing words (sale, launch) are no names,
                           and such values veto a name-only reading
   address                 house number + street-type word or compound     0.6
                           suffix (en/de/fr/es/it/pt/nl/nordic/pl/in)
   identifier              unique integers (named, increasing, dense       (shape)
                           without a repeat, fixed width ≥ 6); repeated
                           integers (foreign keys) under a key-like name
                           (*_id, *_key, *_no, *_nr, *_code, id, ref,
                           fk_*) or, unnamed, spread like keys (see
                           ``_key_like_integers``); unique digit-bearing
                           codes of one shape, alphanumeric codes of one
                           length and case, hex keys, BIC (stdnum.bic);
                           not version strings
   category                version strings (1.2.3, v2); a few numbers      (shape)
                           under a key-like name (reason_code 4837/10.4)
                           or unnamed wide integers of one width
   category                strings, ≤ 20 distinct and ≤ 20 % distinct      (shape)
   free_text               strings averaging ≥ 4 words or ≥ 40 characters  (shape)
                           (≥ 15 for CJK)
   numeric                 numbers, also numbers stored as strings         0.95
                           (1,234.5 / 1.234,5 / 12% / -3e2)
   ======================  ==============================================  ==========

3. **Name evidence.** The column name is tokenised (snake, kebab, camel, digits:
   ``custEmailAddr`` → cust, email, addr), compounds are merged (``e``+``mail``,
   ``date``+``of``+``birth``, ``zip``+``code``) and mapped through multilingual synonyms
   (``telefon``, ``vorname``, ``plz``, ``cap``, ``nif``, ...). The *last* meaningful token wins, so
   a trailing modifier turns the hint away from the PII word: ``email_sent`` → boolean,
   ``address_id`` → identifier, ``phone_model`` → category, ``zip_code_count`` → numeric.
   ``table`` and ``siblings`` give weak context (a bare ``name`` in a ``customers`` table next to
   ``email``; a 5-digit column next to ``city``/``street``). Nouns for places and things
   (``city``, ``company``, ``product``) are no type but veto a vocabulary-only person-name reading
   (towns and firms are often named after families).

4. **Decision.** Among the types whose value evidence passes, the most specific wins (a fixed rank:
   checksummed and strict formats above fuzzy vocabularies above shapes); a name that agrees adds
   a bonus to the rank, so it can only choose among types the values already support — a name
   never wins against the values. Confidence = base(type, validator strictness) scaled by how far
   the fraction clears the threshold, raised when the name agrees, lowered when the name points
   elsewhere, capped at 0.5 with fewer than 5 non-null values (and with so few values the name
   decides unless the values are booleans or a strict format). A column with no usable values
   (empty, all null) gets the name's type at confidence ≤ 0.4; values that lean the named way
   without reaching the threshold give the name's type at ≤ 0.5; values that fit nothing leave
   the name's type at 0.25; with no name hint either, the type is ``None``.

   Base confidences: 0.95–0.98 for checksummed/strict formats (iban, credit_card, uuid, email,
   ip_address, boolean), ~0.9 for dates, national ids, phone numbers with mostly valid numbers,
   country/currency codes; 0.75–0.85 for person names, addresses, formatted postal codes; 0.6
   for an unnamed date_of_birth, low-vocabulary names, categories and free text; ≤ 0.5 for
   context-only postal codes.

Classifications: ``pii`` for :data:`~meshfabric.discovery.model.PII_TYPES`; ``contact`` for
email/phone/address/postal_code; ``financial`` for credit_card/iban/currency_amount; ``sensitive``
for national_id/date_of_birth/credit_card/iban; ``network`` for ip_address.

Evidence holds aggregates only — counts, fractions, validator names, name hints — never a value.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import math
import re
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from functools import lru_cache
from itertools import pairwise
from typing import Any

from meshfabric.discovery import vocab
from meshfabric.discovery.model import PII_TYPES, ColumnFinding, ColumnSample

__all__ = ["CLASSIFICATIONS", "MAX_COSTLY", "MAX_DISTINCT", "classify_column", "classify_columns"]

#: distinct values validated per column (most frequent first)
MAX_DISTINCT = 300
#: distinct values given to the costly validators (phonenumbers, stdnum national ids)
MAX_COSTLY = 60
#: below this many non-null values the name carries the decision and confidence stays ≤ 0.5
MIN_VALUES = 5

#: classifications per semantic type (``pii`` is added for every PII type)
CLASSIFICATIONS: dict[str, tuple[str, ...]] = {
    "email": ("contact",),
    "phone": ("contact",),
    "address": ("contact",),
    "postal_code": ("contact",),
    "person_name": (),
    "ip_address": ("network",),
    "credit_card": ("financial", "sensitive"),
    "iban": ("financial", "sensitive"),
    "national_id": ("sensitive",),
    "date_of_birth": ("sensitive",),
    "currency_amount": ("financial",),
}

# rank: the more specific type wins when several pass; a name that agrees adds _NAME_BONUS
_RANK: dict[str, int] = {
    "boolean": 99, "uuid": 98, "iban": 98, "email": 97, "credit_card": 96, "url": 95, "json": 95,
    "ip_address": 94, "national_id": 92, "date_of_birth": 91, "timestamp": 90, "date": 90, "domain": 88,
    "postal_code": 86, "phone": 85, "currency_amount": 83, "currency_code": 82, "country": 80,
    "address": 75, "person_name": 70, "identifier": 40, "category": 30, "free_text": 25, "numeric": 20,
}
_NAME_BONUS = 15

_PLACEHOLDERS = frozenset({
    "", "null", "none", "nil", "n/a", "na", "nan", "#n/a", "-", "--", "?", "(null)", "<null>", "undefined",
    "unknown", "missing", "n.a.", "nicht angegeben", "k.a.",
})

# --------------------------------------------------------------------------------------- preparation


@dataclass
class _Prep:
    n_total: int = 0
    n_null: int = 0
    n_nonnull: int = 0
    n_distinct: int = 0
    #: most frequent distinct texts with their row counts
    items: list[tuple[str, int]] = field(default_factory=list)
    weight: int = 0
    kinds: Counter[str] = field(default_factory=Counter)
    #: date / datetime values (as given, repeated by count), at most 1000
    temporal: list[date] = field(default_factory=list)
    #: distinct numeric values (int/float/Decimal)
    numbers: list[float] = field(default_factory=list)
    #: row-order ints for the sequence check
    ints_in_order: list[int] = field(default_factory=list)

    def kind_fraction(self, *kinds: str) -> float:
        return sum(self.kinds[k] for k in kinds) / self.n_nonnull if self.n_nonnull else 0.0


def _render(v: Any) -> tuple[str, str] | None:
    """(kind, text) of one value; None when it counts as null."""
    if v is None:
        return None
    if type(v) is str:
        s = v.strip()
        return None if len(s) < 12 and s.lower() in _PLACEHOLDERS else ("str", s)
    if isinstance(v, bool):
        return "bool", "true" if v else "false"
    if isinstance(v, int):
        return "int", str(v)
    if isinstance(v, float):
        if math.isnan(v) or math.isinf(v):
            return None
        return ("int", str(int(v))) if v.is_integer() and abs(v) < 1e15 else ("float", repr(v))
    if isinstance(v, Decimal):
        if not v.is_finite():
            return None
        return "decimal", str(v)
    if type(v).__module__ == "numpy" and hasattr(v, "item"):
        try:
            return _render(v.item())  # numpy scalars as their Python values
        except Exception:
            return "other", "<other>"
    if isinstance(v, datetime):
        if v != v:  # pandas NaT
            return None
        return "datetime", v.isoformat()
    if isinstance(v, date):
        return "date", v.isoformat()
    if isinstance(v, (dict, list, tuple)):
        return "json", "{...}"
    if isinstance(v, (bytes, bytearray, memoryview)):
        return "bytes", "<bytes>"
    if isinstance(v, str):
        s = v.strip()
        if s.lower() in _PLACEHOLDERS:
            return None
        return "str", s
    try:
        s = str(v).strip()
    except Exception:
        return "other", "<other>"
    return ("other", s) if s else None


def _key_text(key: Any) -> str:
    if type(key) is float:
        return str(int(key)) if key.is_integer() and abs(key) < 1e15 else repr(key)
    return key if type(key) is str else str(key)


def _ints_in_order(values: Sequence[Any]) -> list[int]:
    out: list[int] = []
    for v in values[:2000]:
        if v is None or isinstance(v, (bool, str)):
            continue
        try:
            f = float(v)
        except (TypeError, ValueError, OverflowError):
            continue
        if f == f and abs(f) < 1e18 and f.is_integer():
            out.append(int(f))
    return out[:1000]


def _prepare(values: Sequence[Any]) -> _Prep:
    """Count the non-null values by their text (strings stripped, numbers by value); only the
    :data:`MAX_DISTINCT` most frequent distinct values are rendered for the validators."""
    p = _Prep(n_total=len(values))
    counts: Counter[Any] = Counter()
    kinds = p.kinds
    numbers, temporal = p.numbers, p.temporal
    placeholders = _PLACEHOLDERS
    try:
        pairs: Iterable[tuple[Any, int]] = Counter(values).items()  # counted in C; distinct values below
    except TypeError:  # unhashable values (dicts, lists)
        pairs = ((v, 1) for v in values)
    for v, k in pairs:
        t = type(v)
        if t is str:
            s = v.strip()
            if len(s) < 17 and s.lower() in placeholders:
                continue
            kinds["str"] += k
            counts[s] += k
        elif t is int:
            kinds["int"] += k
            counts[v] += k
            numbers.append(float(v))
        elif t is float:
            if v != v or v in (math.inf, -math.inf):
                continue
            kinds["int" if v.is_integer() and abs(v) < 1e15 else "float"] += k
            counts[v] += k
            numbers.append(v)
        else:
            if type(v).__module__ == "numpy" and hasattr(v, "item"):
                with contextlib.suppress(Exception):
                    v = v.item()  # numpy scalars as their Python values
            r = _render(v)
            if r is None:
                continue
            kind, text = r
            kinds[kind] += k
            counts[text] += k
            if kind in ("date", "datetime"):
                if len(temporal) < 1000:
                    temporal.extend([v] * min(k, 1000 - len(temporal)))
            elif kind in ("int", "float", "decimal"):
                with contextlib.suppress(TypeError, ValueError, OverflowError):
                    numbers.append(float(v))
    p.n_nonnull = sum(kinds.values())
    p.n_null = p.n_total - p.n_nonnull
    p.n_distinct = len(counts)
    if kinds["int"] and kinds["int"] == p.n_nonnull:
        # row order matters for the sequence check of keys
        p.ints_in_order = _ints_in_order(values)
    elif kinds["str"] == p.n_nonnull and p.n_nonnull and all(t.isascii() and t.isdigit() and len(t) < 19
                                                              for t in counts):
        # integers kept as text (CSV and other untyped sources): the same key checks apply
        p.ints_in_order = [int(v) for v in values[:2000] if isinstance(v, str) and v.strip().isdigit()
                           and v.isascii()][:1000]
    top = counts.most_common(MAX_DISTINCT)
    merged: dict[str, int] = {}
    for key, c in top:
        text = _key_text(key)
        merged[text] = merged.get(text, 0) + c
    p.items = sorted(merged.items(), key=lambda kv: -kv[1])
    p.weight = sum(c for _, c in p.items)
    return p


def _probe(items: Sequence[tuple[str, int]], ok: Callable[[str], bool], n: int = 30) -> float:
    """Row-weighted share of the ``n`` most frequent values for which ``ok`` holds (a cheap pre-check)."""
    head = items[:n]
    total = sum(c for _, c in head)
    return sum(c for t, c in head if ok(t)) / total if total else 0.0


def _fraction(items: Sequence[tuple[str, int]], ok: Callable[[str], bool], threshold: float = 0.0,
              limit: int = MAX_DISTINCT) -> tuple[float, bool]:
    """Row-weighted fraction of ``items`` (first ``limit``) for which ``ok`` holds, and whether it is
    exact: the count stops early once ``threshold`` is out of reach (the fraction is then the share
    among the values checked so far, below the threshold)."""
    if len(items) > limit:
        items = items[:limit]
    total = sum(c for _, c in items)
    if not total:
        return 0.0, True
    need = threshold * total - 1e-9
    good = bad = 0
    for text, c in items:
        try:
            passed = ok(text)
        except Exception:
            passed = False
        if passed:
            good += c
        else:
            bad += c
            if threshold and total - bad < need:
                return min(good / (good + bad), threshold - 0.001), False
    return good / total, True


# ---------------------------------------------------------------------------------------- name hints

_SYNONYMS: dict[str, str] = {}


def _wordset(text: str) -> frozenset[str]:
    return frozenset(text.split())


def _syn(kind: str, words: str) -> None:
    for w in words.split():
        _SYNONYMS[w] = kind


_syn("email", "email mail emails courriel correo epost emailaddress mailaddress")
_syn("phone", "phone tel telephone telefon telefono teléfono telefone mobile mobil cell cellphone handy fax "
     "msisdn portable gsm phonenumber mobilephone telno phoneno mobilnummer telefonnummer whatsapp "
     "contactnumber")
_syn("person_name", "fullname firstname lastname surname forename givenname familyname middlename nachname "
     "vorname prenom prénom nombre apellido apellidos cognome nome achternaam voornaam fornavn efternavn "
     "etternavn fornamn efternamn imie imię nazwisko sobrenome personname customername contactname "
     "displayname person")
_syn("address", "address addr street strasse straße adresse direccion dirección indirizzo adres anschrift "
     "streetaddress addressline domicilio adresa endereco endereço hausnummer huisnummer straatnaam "
     "strassenname")
_syn("postal_code", "zip zipcode postcode postal postalcode plz postleitzahl cap cp codigopostal codepostal "
     "postnummer postnr pincode")
_syn("ip_address", "ip ipaddr ipaddress ipv4 ipv6 remoteaddr clientip")
_syn("credit_card", "cc ccnum ccnumber card cardnumber creditcard cardno pan kreditkarte")
_syn("iban", "iban")
_syn("national_id", "ssn sin bsn nino nin nif nie dni cpf pesel nir insee personnummer cpr hetu "
     "fodselsnummer fødselsnummer aadhaar steuerid idnr codicefiscale nationalid taxid tin passport curp rfc "
     "socialsecurity personalid personnr rrn license licence driverslicense")
_syn("date_of_birth", "dob birth birthdate birthday bday born geburtsdatum geburtstag geburt naissance "
     "nacimiento nascita fodselsdato fødselsdato geboortedatum dateofbirth")
_syn("url", "url uri link href website homepage web permalink weburl")
_syn("uuid", "uuid guid")
_syn("country", "country land pays pais país paese nation nationality countrycode")
_syn("currency_code", "currency ccy curr waehrung währung devise moneda valuta")
_syn("currency_amount", "amount price cost total revenue salary fee fees balance payment subtotal betrag preis "
     "prix montant importe precio prezzo importo bedrag prijs belopp pris kwota cena wage income spend gmv "
     "discount charge paid refund amt amounts costs prices totals budget debit credit brutto netto gross "
     "gehalt lohn umsatz kosten gebuehr gebühr salario sueldo stipendio tax")
_syn("timestamp", "timestamp ts time datetime created updated modified at inserted deleted_at loaded "
     "occurred logged seen")
_syn("date", "date day datum fecha dt")
_syn("boolean", "is has flag enabled active verified sent opted optin consent can should valid bounced "
     "confirmed subscribed")
_syn("identifier", "id key pk fk uid seq sku ref username login handle nickname screenname serial serialno "
     "serialnumber bic swift swiftcode imei")
_syn("domain", "host hostname domain fqdn server")
_syn("json", "json payload metadata attributes props properties config settings extra")
_syn("free_text", "description desc comment comments notes note text body message remarks summary bio review "
     "feedback beschreibung bemerkung commentaire")
_syn("category", "status type category kind level tier segment gender sex model brand provider format channel "
     "source state region version")
# not semantic types: nouns that veto a fuzzy person-name reading of the values (leading underscore)
_syn("_place", "city town ort stadt ville ciudad citta città municipality village place location locality "
     "district county region province state woonplaats wohnort gemeente kommune")
_syn("_thing", "company firma organisation organization org employer vendor supplier merchant brand product "
     "item title job occupation profession department team store shop hotel school plate")
_syn("numeric", "count cnt qty quantity num sum avg mean score rating age size length len weight height width "
     "pct percent ratio rate duration")

#: multi-token compounds merged before lookup (joined without separator)
_COMPOUNDS: dict[tuple[str, ...], str] = {
    ("e", "mail"): "email", ("date", "of", "birth"): "dob", ("birth", "date"): "dob", ("birth", "day"): "dob",
    ("zip", "code"): "zip", ("post", "code"): "postcode", ("postal", "code"): "postal", ("pin", "code"): "pincode",
    ("code", "postal"): "codepostal", ("codigo", "postal"): "codigopostal", ("country", "code"): "country",
    ("country", "name"): "country", ("currency", "code"): "currency", ("email", "address"): "email",
    ("email", "addr"): "email", ("mail", "address"): "email", ("mail", "addr"): "email", ("ip", "address"): "ip",
    ("ip", "addr"): "ip", ("remote", "addr"): "ip", ("card", "number"): "cardnumber", ("card", "no"): "cardnumber",
    ("cc", "number"): "cardnumber", ("cc", "num"): "cardnumber", ("credit", "card"): "creditcard",
    ("phone", "number"): "phone", ("phone", "no"): "phone", ("tel", "no"): "phone", ("mobile", "number"): "phone",
    ("social", "security"): "ssn", ("national", "id"): "nationalid", ("tax", "id"): "taxid",
    ("codice", "fiscale"): "codicefiscale", ("street", "name"): "street", ("address", "line"): "address",
    ("first", "name"): "firstname", ("last", "name"): "lastname", ("given", "name"): "givenname",
    ("family", "name"): "familyname", ("middle", "name"): "middlename", ("full", "name"): "fullname",
    ("sur", "name"): "surname", ("fore", "name"): "forename", ("web", "site"): "website",
    ("date", "naissance"): "naissance", ("fecha", "nacimiento"): "nacimiento", ("data", "nascita"): "nascita",
    ("personal", "id"): "personalid", ("user", "name"): "username", ("screen", "name"): "screenname",
    ("contact", "number"): "contactnumber", ("drivers", "license"): "driverslicense",
    ("driver", "license"): "driverslicense", ("nick", "name"): "nickname", ("home", "page"): "homepage",
    ("ip", "v4"): "ipv4", ("ip", "v6"): "ipv6", ("debit", "card"): "creditcard", ("serial", "number"): "serial",
    ("serial", "no"): "serial", ("swift", "code"): "swift", ("steuer", "id"): "steuerid",
}
#: last name tokens that make a column a key (``customer_id``, ``order_no``, ``personal_nr``, ``coupon_code``)
_KEY_TAILS = _wordset("id ids key pk fk ref no nr nummer number code")
#: heads that make ``*_no`` / ``*_number`` something other than a key (house numbers)
_NOT_KEY_HEADS = _wordset("house haus huis building apt apartment flat floor unit suite street week day month year "
                          "quarter page")
#: words before ``name`` that make it a person's name
_PERSON_WORDS = _wordset(
    "customer client user employee person patient member contact owner holder cardholder sender recipient "
    "guest passenger author subscriber applicant candidate student teacher driver buyer seller account "
    "emergency spouse parent mother father beneficiary insured kunde")
_PEOPLE_TABLES = _wordset(
    "customer customers client clients user users employee employees staff person persons people patient "
    "patients member members contact contacts student students passenger passengers guest guests author "
    "authors subscriber subscribers applicant applicants candidate candidates kunde kunden mitarbeiter "
    "personen personnel hr account accounts leads lead")
_ADDRESS_WORDS = _wordset("city town ort stadt ville ciudad citta città street address addr state province "
                          "country region county postcode zip plz")
_CAMEL = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|\d+|[^\W\d_]+")


@lru_cache(maxsize=4096)
def _tokens(name: str) -> tuple[str, ...]:
    out: list[str] = []
    for part in re.split(r"[^0-9A-Za-zÀ-ÿ]+", name or ""):
        out.extend(t.lower() for t in _CAMEL.findall(part))
    return tuple(t for t in out if not t.isdigit())


def _merge(tokens: tuple[str, ...]) -> list[str]:
    out: list[str] = []
    i = 0
    while i < len(tokens):
        for n in (3, 2):
            key = tokens[i:i + n]
            if len(key) == n and key in _COMPOUNDS:
                out.append(_COMPOUNDS[key])
                i += n
                break
        else:
            out.append(tokens[i])
            i += 1
    return out


@lru_cache(maxsize=4096)
def _name_hint(name: str, table: str = "", person_context: bool = False) -> str | None:
    """The type a column name points to (the last meaningful token wins), or None."""
    toks = _merge(_tokens(name))
    hint: str | None = None
    for i, t in enumerate(toks):
        kind = _SYNONYMS.get(t)
        if t == "name" or t == "nom" or t == "navn" or t == "namn" or t == "naam":
            prev = toks[i - 1] if i else ""
            if prev in _PERSON_WORDS or (not prev and (person_context or _is_people_table(table))):
                kind = "person_name"
            elif prev and prev in _SYNONYMS and _SYNONYMS[prev] in ("country", "domain"):
                kind = _SYNONYMS[prev]
            else:
                # product_name, file_name, city_name: the noun before `name` is not a person
                hint = _SYNONYMS.get(prev) if _SYNONYMS.get(prev, "").startswith("_") else None
                continue
        if t == "no" or t == "nr" or t == "number" or t == "code" or t == "line":
            continue  # phone_no, zip_code, address_line: keep the head's hint
        if kind == "date" and hint == "date_of_birth":
            continue  # birth_date handled; dob_date keeps dob
        if kind == "timestamp" and t == "at" and hint in ("boolean",):
            kind = "timestamp"  # verified_at
        if kind == "date" and hint == "timestamp":
            continue  # created_date keeps timestamp-ish meaning: a date/time, not a dob
        if kind is not None:
            hint = kind
    if hint is None:
        compact = "".join(toks)
        for key in ("geburtsdatum", "dateofbirth", "birthdate", "emailaddress", "phonenumber", "postcode",
                    "zipcode", "firstname", "lastname", "surname", "ipaddress", "iban", "creditcard"):
            if key in compact:
                return _SYNONYMS[key]
    return hint


@lru_cache(maxsize=4096)
def _key_name(name: str) -> bool:
    """A name shaped like a key: ``*_id``, ``*_key``, ``*_no``, ``*_nr``, ``*_number``, ``*_code``, ``id``,
    ``ref``, ``fk_*`` / ``pk_*`` (used only when the name points to no other type)."""
    toks = _tokens(name)
    if not toks or any(t in _NOT_KEY_HEADS for t in toks):
        return False
    return toks[-1] in _KEY_TAILS or (toks[0] in ("fk", "pk") and len(toks) > 1)


def _is_people_table(table: str) -> bool:
    return any(t in _PEOPLE_TABLES for t in _tokens(table))


_COMPATIBLE: dict[str, frozenset[str]] = {
    "date": frozenset({"date", "timestamp"}),
    "timestamp": frozenset({"date", "timestamp"}),
    "date_of_birth": frozenset({"date_of_birth", "date", "timestamp"}),
    "domain": frozenset({"domain", "url"}),
    "url": frozenset({"url", "domain"}),
    "identifier": frozenset({"identifier", "uuid"}),
    "uuid": frozenset({"uuid", "identifier"}),
    "currency_amount": frozenset({"currency_amount", "numeric"}),
    "numeric": frozenset({"numeric", "currency_amount"}),
    "category": frozenset({"category"}),
}


def _agrees(hint: str | None, kind: str) -> bool:
    if hint is None:
        return False
    return kind in _COMPATIBLE.get(hint, frozenset({hint}))


# ---------------------------------------------------------------------------------- value validators

_EMAIL = re.compile(r"^[^\s@<>(),;:\"\[\]]+@[^\s@<>(),;:\"\[\]]+\.[^\W\d_]{2,24}$")
_URL = re.compile(r"^(?:(?:https?|ftp|ftps|sftp|s3|gs|wss?)://[^\s/?#]+[^\s]*|www\.[^\s/]+\.[a-z]{2,}[^\s]*)$",
                  re.IGNORECASE)
_UUID = re.compile(r"^\{?[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}\}?$")
_IP_PRE = re.compile(r"^[0-9A-Fa-f:.]{2,45}(?:/\d{1,3})?$")
_DOMAIN = re.compile(r"^(?=.{4,253}$)(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+([a-z]{2,24})\.?$", re.IGNORECASE)
_IBAN_PRE = re.compile(r"^[A-Za-z]{2}\d{2}[A-Za-z0-9 ]{10,40}$")
_CARD_PRE = re.compile(r"^\d[\d -]{10,22}\d$")
_NUMBER = re.compile(r"^(?=[^\d]{0,3}\d)[+-]?(?:\d{1,3}(?:[,\u00a0' ]\d{3})+|\d+)?(?:\.\d+)?(?:[eE][+-]?\d+)?%?$")
_NUMBER_EU = re.compile(r"^[+-]?(?:\d{1,3}(?:[.\u00a0 ]\d{3})+|\d+),\d+%?$")
_INT = re.compile(r"^[+-]?\d+$")
_PHONE_PRE = re.compile(r"^(?:\+|00)?[\d\s().\-/]{6,24}(?:\s*(?:x|ext\.?|#|ext)\s*\d{1,6})?$", re.IGNORECASE)
_TIME_ONLY = re.compile(r"^\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:\s*[AaPp][Mm])?$")
_DIGIT_START = re.compile(r"^\D{0,2}\d")
_HEX = re.compile(r"^[0-9a-fA-F]+$")
_WS = re.compile(r"\s+")
#: version strings: v-prefixed or with two or more dots (``1.2.3``, ``v2.0``, ``4.1.0-rc1``)
_VERSION = re.compile(r"^(?:[vV]\d+(?:\.\d+){0,3}|\d+(?:\.\d+){2,3})(?:[-+][0-9A-Za-z.\-]+)?$")
#: a number written with exactly two decimals, the scale of money (``1234.50``, ``1,234.50``, ``5.218,23``)
_MONEY_SCALE = re.compile(r"^[+-]?(?:(?:\d{1,3}(?:[,\u00a0' ]\d{3})+|\d+)\.\d{2}"
                          r"|(?:\d{1,3}(?:[.\u00a0 ]\d{3})+|\d+),\d{2})$")
_CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_\-]*$")


def _is_number_text(s: str) -> bool:
    return bool(_NUMBER.match(s) or _NUMBER_EU.match(s))


def _is_bic(s: str) -> bool:
    """A bank identifier code (ISO 9362: bank, country, location, optional branch), via ``stdnum.bic``."""
    if len(s) not in (8, 11) or not s.isalnum() or not s.isupper():
        return False
    return bool(_nid_module("bic").is_valid(s))


def _is_email(s: str) -> bool:
    return "@" in s and len(s) <= 254 and bool(_EMAIL.match(s))


def _is_url(s: str) -> bool:
    return bool(_URL.match(s))


def _is_uuid(s: str) -> bool:
    if len(s) not in (32, 36, 38) or not _UUID.match(s):
        return False
    if "-" in s:
        return True
    # 32 bare hex digits are a UUID only with the version and variant nibbles of one (else a hash)
    return s[12] in "12345678" and s[16].lower() in "89ab"


def _is_ip(s: str) -> bool:
    if not _IP_PRE.match(s) or ("." not in s and ":" not in s):
        return False
    try:
        if "/" in s:
            ipaddress.ip_interface(s)
        else:
            ipaddress.ip_address(s)
        return True
    except ValueError:
        return False


def _is_domain(s: str) -> bool:
    m = _DOMAIN.match(s)
    return bool(m) and m.group(1).lower() in vocab.TLDS and not s.replace(".", "").isdigit()


def _is_json(s: str) -> bool:
    if s == "{...}":
        return True
    if len(s) < 2 or (s[0], s[-1]) not in (("{", "}"), ("[", "]")):
        return False
    try:
        return isinstance(json.loads(s), (dict, list))
    except ValueError:
        return False


def _is_iban(s: str) -> bool:
    if not _IBAN_PRE.match(s):
        return False
    from stdnum import iban

    return bool(iban.is_valid(s))


def _luhn(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def _iin_ok(d: str) -> bool:
    """Issuer prefix and length plausible for a payment card (Visa, Mastercard, Amex, Discover, JCB,
    Diners, UnionPay, Maestro, Mir, RuPay). Luhn is what makes the check strict."""
    n = len(d)
    p2, p4 = int(d[:2]), int(d[:4])
    if d[0] == "4":
        return n in (13, 16, 19)
    if p2 in (34, 37):
        return n == 15
    if 51 <= p2 <= 55 or 2221 <= p4 <= 2720:
        return n == 16
    if p4 in (1800, 2131):
        return n == 15
    if d[0] == "3":
        return 14 <= n <= 19
    if d[0] in "568" or 2200 <= p4 <= 2204:
        return 12 <= n <= 19
    return False


def _is_card(s: str) -> bool:
    if not _CARD_PRE.match(s):
        return False
    d = s.replace(" ", "").replace("-", "")
    return 12 <= len(d) <= 19 and d.isascii() and d.isdigit() and len(set(d)) > 1 and _iin_ok(d) and _luhn(d)


# --- national identifiers: shape → stdnum modules (imported lazily) ---------------------------------

_NINO = re.compile(r"^[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z]\d{6}[A-D]$")
_NID_SHAPES: list[tuple[re.Pattern[str], tuple[str, ...], bool]] = [
    # (shape of the value, validators to try, strong = the shape itself is distinctive)
    (re.compile(r"^\d{3}-\d{2}-\d{4}$"), ("us.ssn",), True),
    (re.compile(r"^\d{3}[ -]\d{3}[ -]\d{3}$"), ("ca.sin", "nl.bsn"), True),
    (re.compile(r"^\d{3}\.\d{3}\.\d{3}-\d{2}$"), ("br.cpf",), True),
    (re.compile(r"^\d{2}\.\d{2}\.\d{2}-\d{3}\.\d{2}$"), ("be.nn",), True),
    (re.compile(r"^\d{6}[-+A]\d{3}[0-9A-Y]$"), ("fi.hetu",), True),
    (re.compile(r"^(?:\d{2})?\d{6}[-+]\d{4}$"), ("se.personnummer", "dk.cpr", "is_.kennitala"), True),
    (re.compile(r"^\d{6}-\d{7}$"), ("kr.rrn",), True),
    (re.compile(r"^\d{6}-\d{5}$"), ("lv.pvn",), True),
    (re.compile(r"^\d{6}/\d{3,4}$"), ("cz.rc", "sk.rc"), True),
    (re.compile(r"^756\.?\d{4}\.?\d{4}\.?\d{2}$"), ("ch.ssn",), True),
    (re.compile(r"^\d{2}-\d{8}-\d$"), ("ar.cuit",), True),
    (re.compile(r"^\d-\d{4}-\d{5}-\d{2}-\d$"), ("th.pin",), True),
    (re.compile(r"^\d{7}[A-W][A-IW]?$"), ("ie.pps",), True),
    (re.compile(r"^\d{4} \d{4} \d{4}$"), ("in_.aadhaar",), True),
    (re.compile(r"^[12] ?\d{2} ?\d{2} ?\d{2} ?\d{3} ?\d{3} ?\d{2}$"), ("fr.nir",), True),
    (re.compile(r"^\d{8}-?[A-Z]$"), ("es.dni",), True),
    (re.compile(r"^[XYZ]-?\d{7}-?[A-Z]$"), ("es.nie",), True),
    (re.compile(r"^[A-Z]{6}\d{2}[A-Z]\d{2}[A-Z]\d{3}[A-Z]$"), ("it.codicefiscale",), True),
    (re.compile(r"^[A-Z]{4}\d{6}[HM][A-Z]{5}[0-9A-Z]\d$"), ("mx.curp",), True),
    (re.compile(r"^\d{17}[\dX]$"), ("cn.ric",), True),
    # bare digits: many countries share a length, so a column needs 0.9 of its values valid
    (re.compile(r"^\d{11}$"), ("pl.pesel", "no.fodselsnummer", "br.cpf", "de.idnr", "be.nn", "tr.tckimlik",
                               "gr.amka", "hr.oib", "ee.ik", "lt.asmens"), True),
    (re.compile(r"^\d{12}$"), ("in_.aadhaar", "se.personnummer", "ru.inn"), True),
    (re.compile(r"^\d{13}$"), ("za.idnr", "ro.cnp", "si.emso", "th.pin"), True),
    (re.compile(r"^\d{10}$"), ("se.personnummer", "dk.cpr", "gb.nhs", "at.vnr", "ua.rntrc", "bg.egn"), True),
    (re.compile(r"^\d{9}$"), ("nl.bsn", "ca.sin", "il.idnr"), True),
]
_NID_BARE_SHAPES = [entry for entry in _NID_SHAPES if entry[0].pattern.startswith(r"^\d{")
                    and entry[0].pattern.endswith("}$") and entry[0].pattern.count("\\d") == 1]
_ID_SEPARATORS = re.compile(r"[ .\-/]")
_NID_MODULES: dict[str, Any] = {}


def _nid_module(name: str) -> Any:
    mod = _NID_MODULES.get(name)
    if mod is None:
        import importlib

        mod = importlib.import_module("stdnum." + name)
        _NID_MODULES[name] = mod
    return mod


_TW_LETTERS = {ch: v for ch, v in zip("ABCDEFGHJKLMNPQRSTUVXYWZIO", range(10, 36), strict=True)}
_KR_RRN = re.compile(r"^(\d{2})(\d{2})(\d{2})-?[1-8]\d{6}$")
_CN_RIC = re.compile(r"^\d{6}(19|20)(\d{2})(\d{2})(\d{2})\d{3}[\dX]$")
_PH_IDS = re.compile(r"^(?:\d{4}-\d{7}-\d|\d{2}-\d{7}-\d)$")


def _tw_id(u: str) -> bool:
    """Taiwan national ID: letter (region), 1/2 (sex), 8 digits; weighted checksum mod 10."""
    if len(u) != 10 or u[0] not in _TW_LETTERS or u[1] not in "12" or not (u[1:].isdigit() and u.isascii()):
        return False
    code = _TW_LETTERS[u[0]]
    total = code // 10 + (code % 10) * 9 + sum(int(d) * w for d, w in zip(u[1:9], range(8, 0, -1), strict=True))
    return (total + int(u[9])) % 10 == 0


def _cn_ric(u: str) -> bool:
    """PRC resident ID: 6-digit area, birth date, sequence, ISO 7064 MOD 11-2 check character."""
    m = _CN_RIC.match(u)
    if not m or _mk_date(int(m.group(1) + m.group(2)), int(m.group(3)), int(m.group(4))) is None:
        return False
    weights = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
    return "10X98765432"[sum(int(d) * w for d, w in zip(u[:17], weights, strict=True)) % 11] == u[17]


def _structural_id(u: str) -> str | None:
    """Identifiers recognised by their structure where stdnum is stricter than real-world data:
    Korean RRNs (check digit dropped since 2020), PRC IDs with any area code, TW ids, PH SSS/UMID."""
    m = _KR_RRN.match(u)
    if m and _mk_date(2000, int(m.group(2)), int(m.group(3))) is not None:
        return "kr.rrn"
    if len(u) == 18 and _cn_ric(u):
        return "cn.ric"
    if _tw_id(u):
        return "tw.id"
    if _PH_IDS.match(u):
        return "ph.sss_umid"
    return None


def _national_id(s: str, named: bool = False) -> tuple[str | None, bool]:
    """(validator name, strong) when ``s`` is a valid national identifier of some country; a bare
    9-digit US SSN (no check digit) counts only when the column name says national id."""
    if len(s) < 9 or len(s) > 24:
        return None, False
    u = s.upper()
    if _NINO.match(u.replace(" ", "")):
        return "gb.nino", True
    for shape, names, strong in _NID_SHAPES:
        if shape.match(u):
            for name in names:
                try:
                    if _nid_module(name).is_valid(u):
                        return name, strong
                except Exception:
                    continue
    if named and len(u) == 9 and u.isdigit() and _nid_module("us.ssn").is_valid(u):
        return "us.ssn", False
    compact = _ID_SEPARATORS.sub("", u)
    if compact != u and compact.isascii() and compact.isdigit() and 9 <= len(compact) <= 13:
        # bare-digit ids written in groups ("12 345 678 901"): the same checksums on the digits
        for shape, names, strong in _NID_BARE_SHAPES:
            if shape.match(compact):
                for name in names:
                    try:
                        if _nid_module(name).is_valid(compact):
                            return name, strong
                    except Exception:
                        continue
    structural = _structural_id(u)
    return (structural, True) if structural else (None, False)


# --- phone -------------------------------------------------------------------------------------------

_PHONE_EXT = re.compile(r"\s*(?:x|ext\.?|#)\s*(?=\d{1,6}$)", re.IGNORECASE)
_PHONE_REGIONS = ("US", "GB", "DE", "FR", "IN", "NL", "ES", "IT", "BR", "AU")


def _phone_shape(s: str) -> str | None:
    """'intl' (+ or 00 prefix), 'formatted' (separators), 'trunk' (leading 0 national), 'bare'
    (digits only) or None when it cannot be a phone number."""
    if len(s) < 6 or len(s) > 32 or not _PHONE_PRE.match(s):
        return None
    main = _PHONE_EXT.split(s, 1)[0]
    digits = sum(ch.isdigit() for ch in main)
    if digits < 7 or digits > 15:
        return None
    if s[0] == "+" or s.startswith("00"):
        return "intl"
    if s.count(".") == 1 and _is_number_text(s):
        return None  # a decimal number
    if any(ch in s for ch in " ()-/.") or "x" in s.lower():
        return "formatted"
    if s[0] == "0":
        return "trunk"
    return "bare"


class _PhoneChecker:
    """Validates phone numbers with phonenumbers; regions for national formats are learnt from the
    first values (bounded cost)."""

    def __init__(self) -> None:
        import phonenumbers

        self.pn = phonenumbers
        self.regions: list[str] | None = None
        self.tally: Counter[str] = Counter()
        self.seen = 0
        self.valid = 0
        self.intl = 0

    def _parse_ok(self, s: str, region: str | None, lenient: bool = False) -> tuple[bool, bool]:
        try:
            num = self.pn.parse(s, region)
        except Exception:
            return False, False
        possible = bool(self.pn.is_possible_number(num))
        if not possible and lenient:
            # "+<country code> ..." with a real calling code: a phone number even if its length is off
            possible = self.pn.region_code_for_country_code(num.country_code) != "ZZ"
        return possible, possible and bool(self.pn.is_valid_number(num))

    def check(self, s: str, shape: str) -> bool:
        if shape == "intl":
            text = "+" + s[2:] if s.startswith("00") else s
            possible, valid = self._parse_ok(text, None, lenient=True)
            self.intl += 1
        else:
            possible = valid = False
            if self.regions is None and self.seen < 6:
                for region in _PHONE_REGIONS:
                    p, v = self._parse_ok(s, region)
                    if v:
                        self.tally[region] += 1
                    possible = possible or p
                    valid = valid or v
                self.seen += 1
                if self.seen >= 6:
                    self.regions = [r for r, _ in self.tally.most_common(3)] or ["US"]
            else:
                for region in self.regions or ["US"]:
                    p, v = self._parse_ok(s, region)
                    possible = possible or p
                    valid = valid or v
                    if v:
                        break
        if valid:
            self.valid += 1
        return possible


# --- postal codes ------------------------------------------------------------------------------------

#: UK postcode areas (the letters before the first digit)
_UK_AREAS = sorted(_wordset(
    "AB AL B BA BB BD BH BL BN BR BS BT CA CB CF CH CM CO CR CT CV CW DA DD DE DG DH DL DN DT DY E EC EH EN EX FK "
    "FY G GL GU GY HA HD HG HP HR HS HU HX IG IM IP IV JE KA KT KW KY L LA LD LE LL LN LS LU M ME MK ML N NE NG NN "
    "NP NR NW OL OX PA PE PH PL PO PR RG RH RM S SA SE SG SK SL SM SN SO SP SR SS ST SW SY TA TD TF TN TQ TR TS TW "
    "UB W WA WC WD WF WN WR WS WV YO ZE"), key=len, reverse=True)
_POSTAL_STRONG = re.compile(
    r"^(?:\d{5}-\d{4}"                                   # US ZIP+4
    r"|(?:" + "|".join(_UK_AREAS) + r")\d[A-Z\d]? ?\d[A-Z]{2}"  # UK
    r"|[A-Z]\d[A-Z] ?\d[A-Z]\d"                          # CA
    r"|\d{4} ?[A-Z]{2}"                                  # NL
    r"|\d{2}-\d{3}"                                      # PL
    r"|\d{4}-\d{3}"                                      # PT
    r"|\d{3}-\d{4}"                                      # JP
    r"|\d{5}-\d{3}"                                      # BR
    r"|\d{3} \d{2}"                                      # SE, CZ, SK, GR
    r"|[A-Z]\d[\dW] ?[A-Z\d]{4}"                         # IE Eircode
    r"|(?:D|F|A|B|I|E|L|CH|NL|DK|S|N|FI|PL|CZ)-\d{4,5}"  # country-prefixed
    r")$")
_POSTAL_DIGITS = re.compile(r"^\d{4,6}$|^\d{8}$")


def _postal_kind(s: str) -> str | None:
    u = s.upper()
    if _POSTAL_STRONG.match(u):
        return "strong"
    if _POSTAL_DIGITS.match(u):
        return "digits"
    return None


# --- dates -------------------------------------------------------------------------------------------

_MONTHS: dict[str, int] = {}
for _i, _names in enumerate((
        "jan january januar janvier enero gennaio ene gen janeiro januari tammikuu sty",
        "feb february februar février fevrier febrero febbraio fev fév fevereiro februari lut",
        "mar march märz maerz marz mars marzo março mär maart mrt",
        "apr april avril abril aprile avr abr kwi",
        "may mai mayo maggio mag maio mei maj",
        "jun june juni juin junio giugno giu junho cze",
        "jul july juli juillet julio luglio lug julho jui juil lip",
        "aug august août aout agosto ago augustus sie",
        "sep sept september septembre septiembre settembre set setembro wrz",
        "oct october oktober octobre octubre ottobre okt ott outubro out paz",
        "nov november novembre noviembre novembro lis",
        "dec december dezember décembre decembre diciembre dicembre dez dic déc dezembro des gru"), start=1):
    for _n in _names.split():
        _MONTHS.setdefault(_n, _i)

_TIME = (r"(?:[ T,]+(\d{1,2}):(\d{2})(?::(\d{2})(?:[.,]\d+)?)?\s*(?:[AaPp]\.?[Mm]\.?)?"
         r"\s*(?:Z|UTC|GMT|[+-]\d{2}:?\d{2})?)?")
_D_ISO = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})" + _TIME + "$")
_D_YMD = re.compile(r"^(\d{4})[/.](\d{1,2})[/.](\d{1,2})" + _TIME + "$")
_D_DMY = re.compile(r"^(\d{1,2})([/.\-])(\d{1,2})\2(\d{4}|\d{2})" + _TIME + "$")
_WEEKDAY = r"(?:[A-Za-zéè]{2,9}\.?,?\s+)?"
_D_DMONY = re.compile(r"^" + _WEEKDAY + r"(\d{1,2})(?:st|nd|rd|th|\.)?[ \-]([^\W\d_]{3,10})\.?,?[ \-](\d{4})"
                      + _TIME + "$")
_D_MONDY = re.compile(r"^" + _WEEKDAY + r"([^\W\d_]{3,10})\.?\s+(\d{1,2})(?:st|nd|rd|th)?,?\s+(\d{4})" + _TIME + "$")
_D_COMPACT = re.compile(r"^(19\d{2}|20\d{2})(\d{2})(\d{2})$")


def _mk_date(y: int, m: int, d: int) -> date | None:
    if not 1800 <= y <= 2200:
        return None
    try:
        return date(y, m, d)
    except ValueError:
        return None


def _timed(m: re.Match[str], first_time_group: int) -> bool:
    hh = m.group(first_time_group)
    if hh is None:
        return False
    mm, ss = m.group(first_time_group + 1), m.group(first_time_group + 2)
    return not (int(hh) == 0 and int(mm) == 0 and (ss is None or int(ss) == 0))


def _parse_date(s: str, compact: bool = False) -> tuple[date, bool] | None:
    """(date, has a time of day) for a date/time string in a common format, else None."""
    if len(s) < 6 or len(s) > 40:
        return None
    c = s[0]
    if c.isdigit():
        m = _D_ISO.match(s) or _D_YMD.match(s)
        if m:
            d = _mk_date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
            return (d, _timed(m, 4)) if d else None
        m = _D_DMY.match(s)
        if m:
            a, b, y = int(m.group(1)), int(m.group(3)), m.group(4)
            year = int(y)
            if len(y) == 2:
                year += 2000 if year <= date.today().year % 100 else 1900
            d = _mk_date(year, b, a) if a > 12 or m.group(2) == "." else _mk_date(year, a, b) or _mk_date(year, b, a)
            return (d, _timed(m, 5)) if d else None
        m = _D_DMONY.match(s)
        if m:
            mon = _MONTHS.get(m.group(2).lower())
            d = _mk_date(int(m.group(3)), mon, int(m.group(1))) if mon else None
            return (d, _timed(m, 4)) if d else None
        if compact:
            m = _D_COMPACT.match(s)
            if m:
                d = _mk_date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
                return (d, False) if d else None
        return None
    if c.isalpha():
        m = _D_MONDY.match(s)
        if m:
            mon = _MONTHS.get(m.group(1).lower())
            d = _mk_date(int(m.group(3)), mon, int(m.group(2))) if mon else None
            return (d, _timed(m, 4)) if d else None
        m = _D_DMONY.match(s)
        if m:
            mon = _MONTHS.get(m.group(2).lower())
            d = _mk_date(int(m.group(3)), mon, int(m.group(1))) if mon else None
            return (d, _timed(m, 4)) if d else None
    return None


# --- names, addresses, countries, currencies ---------------------------------------------------------

@lru_cache(maxsize=65536)
def _fold(word: str) -> str:
    nfkd = unicodedata.normalize("NFKD", word)
    return "".join(ch for ch in nfkd if not unicodedata.combining(ch))


def _known_name(token: str) -> bool:
    """A first name or surname of the word lists, or a token with a typical surname ending."""
    t = token.lower().strip("'’")
    if t in vocab.FIRST_NAMES or t in vocab.SURNAMES:
        return True
    f = _fold(t)
    if f != t and (f in vocab.FIRST_NAMES or f in vocab.SURNAMES):
        return True
    if "-" in t:
        return any(_known_name(p) for p in t.split("-") if p)
    return len(f) >= 5 and f.endswith(vocab.SURNAME_ENDINGS) and f not in vocab.NOT_NAMES


_NAME_TOKEN = re.compile(r"^[^\W\d_][^\W\d_'’\-]*(?:['’\-][^\W\d_]+)*\.?$")
_CJK = re.compile(r"^[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af]+$")


def _cjk_name(s: str) -> tuple[bool, bool]:
    compact = s.replace(" ", "").replace("\u3000", "")
    if not 2 <= len(compact) <= 5 or not _CJK.match(compact) or s.count(" ") > 1:
        return False, False
    return True, compact[:2] in vocab.CJK_SURNAMES or compact[:1] in vocab.CJK_SURNAMES


def _name_stats(s: str) -> tuple[bool, bool]:
    """(looks like a person's name, has known name tokens) for one value."""
    if len(s) > 80:
        return False, False
    if s[:1] >= "\u3040":
        return _cjk_name(s)
    raw = [t for t in _WS.split(s.replace(",", " ")) if t]
    if not raw or len(raw) > 6:
        return False, False
    real: list[str] = []
    for t in raw:
        if not _NAME_TOKEN.match(t):
            return False, False
        low = t.lower().rstrip(".")
        if low in vocab.NOT_NAMES:
            return False, False  # company forms, place words, connectors ("Smith & Sons", "Lake Timothy")
        if low in vocab.NAME_TITLES or low in vocab.NAME_PARTICLES or len(low) == 1:
            continue
        real.append(t.rstrip("."))
    if not real or len(real) > 4:
        return False, False
    # capitalised tokens (caseless scripts — Arabic, Hebrew, Thai, Devanagari — pass as they are)
    caps = all(not t[0].islower() for t in real) or s.islower() or s.isupper()
    known = sum(1 for t in real if _known_name(t))
    return caps, known >= 1 and known * 3 >= len(real)


_HOUSE_NO = re.compile(r"^(?:\d{1,5}[a-z]?(?:[-/]\d{1,5}[a-z]?)?|\d{1,5}(?:st|nd|rd|th)?|n[°º]?\d{1,5})$")
#: Chinese / Japanese / Korean address markers next to a number (路 街 巷 弄 号 丁目 番地 로 길 ...)
_CJK_ADDRESS = re.compile(
    r"(?:[路街巷弄道][^\s]{0,6}\d|\d+\s*(?:号|號|番地?|丁目|번지|번길)|\d+(?:로|길)\s*\d|[로길가]\s*\d+)")


def _address_kind(s: str) -> str | None:
    """'full' (street word + house number), 'street' (street word only) or None."""
    if len(s) < 5 or len(s) > 160:
        return None
    if (s[:1] >= "\u3040" or (s[:1].isdigit() and s[-1:] >= "\u3040")) and _CJK_ADDRESS.search(s):
        return "full"
    toks = [t.strip(".,;#") for t in _WS.split(s.lower())]
    toks = [t for t in toks if t]
    if len(toks) < 2 or len(toks) > 18:
        return None
    street = number = False
    for t in toks:
        if not street and (t in vocab.STREET_WORDS or (len(t) > 5 and t.endswith(vocab.STREET_SUFFIXES) and any(
                t.endswith(suf) and len(t) > len(suf) + 2 for suf in vocab.STREET_SUFFIXES))
                or t.startswith(vocab.STREET_PREFIXES)):
            street = True
        elif not number and _HOUSE_NO.match(t):
            number = True
    if not street and toks[0] in ("po", "p.o", "postfach", "apartado", "casilla") and any(
            ch.isdigit() for ch in s):
        return "full"
    if street and number:
        return "full"
    if street:
        return "street"
    # "Ostrovského 12", "717 Suzanne Green": words and a house number, no street-type word
    words = toks[:-1] if _HOUSE_NO.match(toks[-1]) else toks[1:] if _HOUSE_NO.match(toks[0]) else None
    if words and len(words) <= 4 and all(w.replace("-", "").isalpha() for w in words):
        return "shape"
    return None


def _is_country(s: str) -> bool:
    low = s.lower()
    if "(" in low:
        low = low.split("(", 1)[0].strip()
    if len(low) == 2:
        return low in vocab.COUNTRY_ALPHA2 and (s.isupper() or s.islower())
    if len(low) == 3 and (s.isupper() or s.islower()) and low in vocab.COUNTRY_ALPHA3:
        return True
    return low in vocab.COUNTRY_NAMES or _fold(low) in vocab.COUNTRY_NAMES


def _is_currency_code(s: str) -> bool:
    return len(s) == 3 and (s.isupper() or s.islower()) and s.upper() in vocab.CURRENCY_CODES


_AMOUNT = re.compile(r"^\(?([-+]?)\s*([^\d\s.,+\-()]{1,4})?\s?([-+]?\d[\d,.\u00a0' ]*)\s?([^\d\s.,+\-()]{1,4})?\)?$")
_CURRENCY_MARKERS = frozenset({"kr", "zł", "zl", "fr", "fr.", "r$", "us$", "c$", "a$", "ch", "lei", "kč", "ft", "р",
                               "руб", "грн", "лв", "kn", "din", "rs", "tl", "rp", "₹", "dh", "sfr"})


def _is_currency_mark(mark: str | None) -> bool:
    if not mark:
        return False
    if mark.lower().rstrip(".") in _CURRENCY_MARKERS:
        return True
    if any(ch in vocab.CURRENCY_SYMBOLS for ch in mark):
        return len(mark) <= 3
    return mark.upper() in vocab.CURRENCY_CODES


def _is_amount(s: str) -> bool:
    if len(s) > 30:
        return False
    if s.endswith(".") and s[-2:-1].isalpha():
        s = s[:-1]  # "519,41 kr."
    m = _AMOUNT.match(s)
    if not m:
        return False
    pre, num, post = m.group(2), m.group(3).strip(), m.group(4)
    if bool(pre) == bool(post):
        return False
    return _is_currency_mark(pre or post) and _is_number_text(num.replace(" ", ""))


_BOOL_TRUE = frozenset({"true", "t", "yes", "y", "1", "ja", "j", "oui", "si", "sí", "on", "x", "wahr", "vrai"})
_BOOL_FALSE = frozenset({"false", "f", "no", "n", "0", "nein", "non", "off", "falsch", "faux", "nee"})

# --------------------------------------------------------------------------------------------- decision


@dataclass
class _Candidate:
    kind: str
    fraction: float
    base: float
    threshold: float
    validators: list[str] = field(default_factory=list)
    rank_bonus: int = 0


@dataclass
class _Context:
    hint: str | None
    person_context: bool
    address_context: bool
    logical_type: str


_SHAPE_TABLE = str.maketrans("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ",
                             "9" * 10 + "A" * 52)


def _shape_signature(s: str) -> str:
    return s[:24].translate(_SHAPE_TABLE)


def _evaluate(p: _Prep, ctx: _Context, fractions: dict[str, float]) -> list[_Candidate]:
    items = p.items
    cands: list[_Candidate] = []
    hint = ctx.hint
    n = p.n_nonnull

    def frac(kind: str, ok: Callable[[str], bool], th: float, limit: int = MAX_DISTINCT,
             subset: Sequence[tuple[str, int]] | None = None) -> float:
        # the type the column name points to is counted exactly (no early exit): its fraction
        # matters even below the threshold (see "name+weak_values" in classify_column)
        f, exact = _fraction(items if subset is None else subset, ok, 0.0 if kind == hint else th, limit)
        if f > 0 and exact:
            fractions[kind] = round(f, 3)
        return f

    numeric_kinds = p.kind_fraction("int", "float", "decimal")
    str_share = p.kind_fraction("str", "other")
    ints_only = p.kind_fraction("int") == 1.0

    # boolean ------------------------------------------------------------------------------------------
    if p.kind_fraction("bool") == 1.0 or ctx.logical_type == "boolean":
        fractions["boolean"] = 1.0
        return [_Candidate("boolean", 1.0, 0.97, 1.0, ["bool"])]
    if p.n_distinct <= 2 and n >= 2:
        lows = {t.lower() for t, _ in items}
        if lows <= (_BOOL_TRUE | _BOOL_FALSE) and not (ints_only and hint in ("numeric", "identifier")):
            mixed = bool(lows & _BOOL_TRUE) and bool(lows & _BOOL_FALSE)
            if mixed or (n >= MIN_VALUES and not ints_only):
                fractions["boolean"] = 1.0
                cands.append(_Candidate("boolean", 1.0, 0.92 if mixed else 0.7, 1.0, ["truth_tokens"]))
    if p.kind_fraction("json") >= 0.9:
        fractions["json"] = round(p.kind_fraction("json"), 3)
        cands.append(_Candidate("json", p.kind_fraction("json"), 0.9, 0.9, ["structured_values"]))

    # temporal values given as objects ------------------------------------------------------------------
    temporal_share = p.kind_fraction("date", "datetime")
    dates: list[date] = []
    timed = 0
    if temporal_share >= 0.9:
        for v in p.temporal:
            if isinstance(v, datetime):
                if v.hour or v.minute or v.second:
                    timed += 1
                dates.append(v.date())
            else:
                dates.append(v)
        fractions["date"] = round(temporal_share, 3)

    # string validators -----------------------------------------------------------------------------
    if str_share >= 0.5:
        sample_lens = [len(t) for t, _ in items[:50]]
        avg_len = sum(sample_lens) / len(sample_lens) if sample_lens else 0
        has_at = any("@" in t for t, _ in items[:20])
        if has_at:
            f = frac("email", _is_email, 0.9)
            if f >= 0.9:
                cands.append(_Candidate("email", f, 0.97, 0.9, ["email_regex"]))
        if 30 <= avg_len <= 40:
            f = frac("uuid", _is_uuid, 0.9)
            if f >= 0.9:
                cands.append(_Candidate("uuid", f, 0.97, 0.9, ["uuid_regex"]))
        f = frac("url", _is_url, 0.9)
        if f >= 0.9:
            cands.append(_Candidate("url", f, 0.93, 0.9, ["url_regex"]))
        if p.kind_fraction("json") < 0.9:
            f = frac("json", _is_json, 0.9)
            if f >= 0.9:
                cands.append(_Candidate("json", f, 0.9, 0.9, ["json.loads"]))
        f = frac("ip_address", _is_ip, 0.9)
        if f >= 0.9:
            cands.append(_Candidate("ip_address", f, 0.95, 0.9, ["ipaddress"]))
        f = frac("domain", _is_domain, 0.9)
        if f >= 0.9:
            cands.append(_Candidate("domain", f, 0.8, 0.9, ["hostname_regex", "tld_list"]))
        f = frac("iban", _is_iban, 0.9)
        if f >= 0.9:
            cands.append(_Candidate("iban", f, 0.98, 0.9, ["stdnum.iban"]))
        # bank identifier codes: keys of banks (not PII); unnamed only when the codes are not plain words
        if 8 <= avg_len <= 11 and (hint == "identifier" or _probe(
                items, lambda t: len(t) == 11 or any(ch.isdigit() for ch in t)) >= 0.3):
            f = frac("bic", _is_bic, 0.9)
            if f >= 0.9:
                cands.append(_Candidate("identifier", f, 0.85, 0.9, ["stdnum.bic"]))
        # version strings (1.2.3, v2.0): an attribute with a few values, not a key
        if _probe(items, lambda t: bool(_VERSION.match(t)), 10) >= 0.5:
            f = frac("version", lambda t: bool(_VERSION.match(t)), 0.9)
            if f >= 0.9:
                cands.append(_Candidate("category", f, 0.6, 0.9, ["version_strings"]))
        # dates in strings
        if not dates:
            compact = hint in ("date", "timestamp", "date_of_birth")
            parsed: list[tuple[date, bool]] = []

            def ok_date(s: str) -> bool:
                r = _parse_date(s, compact)
                if r is None:
                    return False
                parsed.append(r)
                return True

            f = frac("date", ok_date, 0.9)
            if f >= 0.9:
                dates = [d for d, _ in parsed]
                timed = sum(1 for _, t in parsed if t)
                temporal_share = f
        # currency / country codes and amounts
        if avg_len <= 4:
            f = frac("currency_code", _is_currency_code, 0.9)
            if f >= 0.9:
                cands.append(_Candidate("currency_code", f, 0.9, 0.9, ["iso4217"]))
        if avg_len <= 40:
            f = frac("country", _is_country, 0.5)
            coded = all(len(t) <= 3 for t, _ in items[:50])
            if f >= 0.9:
                cands.append(_Candidate("country", f, 0.8 if coded else 0.9, 0.9, ["iso3166", "country_names"]))
            elif f >= 0.5 and not coded and p.n_distinct >= 5:
                # names in a language the list lacks: most values known, the rest proper nouns
                cands.append(_Candidate("country", f, 0.65, 0.5, ["country_names"]))
        f = frac("currency_amount", _is_amount, 0.8)
        if f >= 0.8:
            cands.append(_Candidate("currency_amount", f, 0.85, 0.8, ["amount_with_currency"]))
        # person names / addresses
        if avg_len <= 60 and _probe(items, lambda t: any(_name_stats(t))) >= 0.35:
            looks_w = known_w = total_w = 0
            for t, c in items[:MAX_DISTINCT]:
                looks, known = _name_stats(t)
                total_w += c
                looks_w += c if looks else 0
                known_w += c if known else 0
            if total_w:
                lf, kf = looks_w / total_w, known_w / total_w
                if kf > 0:
                    fractions["person_name"] = round(kf, 3)
                multi = sum(1 for t, _ in items[:50] if " " in t or "," in t) >= 0.5 * min(50, len(items))
                # several tokens: the shape carries weight; one token (first names, surnames): the vocabulary
                single_ok = (not multi and lf >= 0.95 and kf >= 0.2 and p.n_distinct >= 20
                             and p.n_distinct >= 0.1 * n)
                named_ok = hint == "person_name" and lf >= 0.8 and (kf >= 0.1 or lf >= 0.9)
                if (kf >= 0.5 and lf >= 0.6) or (multi and lf >= 0.85 and kf >= 0.25) or single_ok or named_ok:
                    base = 0.85 if kf >= 0.75 else 0.75 if kf >= 0.5 else 0.6 if kf >= 0.3 else 0.5
                    fractions["person_name_shape"] = round(lf, 3)
                    cands.append(_Candidate("person_name", max(kf, lf if multi else kf), base, 0.25 if multi else 0.3,
                                            ["name_vocabulary", "name_shape"]))
        if 5 <= avg_len <= 120 and _probe(items, lambda t: _address_kind(t) not in (None, "shape")) >= 0.4 - (
                0.3 if hint == "address" else 0):
            full_w = street_w = total_w = 0
            for t, c in items[:MAX_DISTINCT]:
                k = _address_kind(t)
                total_w += c
                full_w += c if k == "full" else 0
                street_w += c if k == "street" or (k == "shape" and hint == "address") else 0
            if total_w:
                ff, sf = full_w / total_w, (full_w + street_w) / total_w
                if sf > 0:
                    fractions["address"] = round(ff, 3)
                if ff >= 0.6 or (sf >= 0.8 and hint == "address"):
                    cands.append(_Candidate("address", max(ff, sf if hint == "address" else ff), 0.8, 0.6,
                                            ["street_words", "house_number"]))

    # digit-bearing validators (strings or ints) ----------------------------------------------------------
    digit_share = sum(c for t, c in items if _DIGIT_START.match(t)) / p.weight if p.weight else 0.0
    if digit_share >= 0.5:
        f = frac("credit_card", _is_card, 0.9)
        if f >= 0.9:
            cands.append(_Candidate("credit_card", f, 0.95, 0.9, ["luhn", "iin_prefix"]))
    if str_share >= 0.5 or hint in ("national_id", "phone", "postal_code") or ints_only:
        # national identifiers
        strong_hits: Counter[str] = Counter()

        def ok_nid(s: str) -> bool:
            name, strong = _national_id(s, hint == "national_id")
            if name:
                strong_hits[name] += 1
            return name is not None and (strong or hint == "national_id")

        long_enough = sum(c for t, c in items if len(t) >= 9) >= 0.5 * p.weight
        if long_enough:
            bare = sum(c for t, c in items[:40] if t.isdigit()) >= 0.5 * sum(c for _, c in items[:40])
            th = 0.9 if bare and hint != "national_id" else 0.8
            f = frac("national_id", ok_nid, th, MAX_COSTLY)
            if f >= th and not (ints_only and hint not in ("national_id", None)):
                named = hint == "national_id"
                base = 0.9 if not (ints_only or bare) or named else 0.7 if not ints_only else 0.6
                cands.append(_Candidate("national_id", f, base, th,
                                        sorted(k for k, _ in strong_hits.most_common(4))))
        # phone numbers
        shape_of = {t: _phone_shape(t) for t, _ in items[:MAX_COSTLY]}
        shapes = Counter(shape_of[t] for t, _ in items[:40])
        phone_like = sum(v for k, v in shapes.items() if k in ("intl", "formatted", "trunk"))
        stricter = bool(dates) or any(
            c.kind in ("ip_address", "credit_card", "iban", "national_id") and c.fraction >= 0.95 for c in cands)
        formatted_postal = sum(c for t, c in items[:40] if _postal_kind(t) == "strong")
        stricter = stricter or formatted_postal >= 0.3 * sum(c for _, c in items[:40])
        # bare digit strings count only beside formatted numbers or under a phone-like name
        allow_bare = hint == "phone" or phone_like >= 0.3 * min(40, len(items))
        if not stricter and (phone_like >= 0.3 * min(40, len(items)) or (hint == "phone" and shapes["bare"])):
            checker = _PhoneChecker()

            def ok_phone(s: str) -> bool:
                shape = shape_of.get(s)
                if shape is None or (shape == "bare" and not allow_bare):
                    return False
                return checker.check(s, shape)

            f = frac("phone", ok_phone, 0.8, MAX_COSTLY)
            if f >= 0.8:
                checked = min(len(items), MAX_COSTLY)
                valid_share = checker.valid / checked if checked else 0.0
                intl_share = checker.intl / checked if checked else 0.0
                if valid_share >= 0.3 or intl_share >= 0.5 or hint == "phone":
                    base = 0.9 if valid_share >= 0.7 else 0.75
                    cands.append(_Candidate("phone", f, base, 0.8, ["phonenumbers"]))
        # postal codes
        kinds: Counter[str] = Counter()

        def ok_postal(s: str) -> bool:
            k = _postal_kind(s)
            if k:
                kinds[k] += 1
            return k is not None

        # an integer-typed column is a postal code only under a postal name (4-6 digit integers are
        # as often capacities, personnel numbers or account codes, even next to address columns)
        int_typed = ints_only or ctx.logical_type.startswith(("int", "bigint", "long", "smallint", "short"))
        if all(len(t) <= 10 for t, _ in items[:50]) and (hint == "postal_code" or not int_typed):
            f = frac("postal_code", ok_postal, 0.85)
            if f >= 0.85:
                strong_share = kinds["strong"] / max(1, sum(kinds.values()))
                leading_zero = any(t.startswith("0") for t, _ in items) and not ints_only
                if strong_share >= 0.3:
                    cands.append(_Candidate("postal_code", f, 0.85, 0.85, ["postal_formats"]))
                elif hint == "postal_code":
                    cands.append(_Candidate("postal_code", f, 0.75, 0.85, ["postal_formats"]))
                elif hint is None and (ctx.address_context or leading_zero):
                    cands.append(_Candidate("postal_code", f, 0.5, 0.85, ["postal_formats", "context"],
                                            rank_bonus=-40))
                elif (hint is None and not ints_only and len({len(t) for t, _ in items}) == 1
                      and len(items[0][0]) <= 6 and not all(t.isascii() and t.isdigit() and 1800 <= int(t) <= 2100
                                                              for t, _ in items)):
                    # digit strings of one width (4-6) kept as text: postal codes more often than anything else
                    cands.append(_Candidate("postal_code", f, 0.45, 0.85, ["postal_formats", "uniform_width"],
                                            rank_bonus=-40))

    # dates, timestamps and birth dates ------------------------------------------------------------------
    if not dates and ints_only and hint in ("timestamp", "date") and p.numbers:
        lo, hi = min(p.numbers), max(p.numbers)
        scale = 1.0 if lo >= 9.4e8 and hi <= 4.2e9 else 1000.0 if lo >= 9.4e11 and hi <= 4.2e12 else 0.0
        if scale:  # epoch seconds / milliseconds (2000-2100)
            dates = [datetime.fromtimestamp(x / scale).date() for x in p.numbers[:300]]
            timed = len(dates)
            temporal_share = 1.0
            fractions["timestamp"] = 1.0
    if dates:
        is_ts = timed > 0 or ctx.logical_type == "timestamp" or (p.kind_fraction("datetime") > 0.5 and timed > 0)
        kind = "timestamp" if is_ts else "date"
        cands.append(_Candidate(kind, temporal_share, 0.92, 0.9, ["date_formats"]))
        dob = _dob_evidence(dates, ctx.hint)
        if dob is not None:
            fractions["date_of_birth"] = round(dob, 3)
            if dob >= 0.95:
                named = ctx.hint == "date_of_birth"
                cands.append(_Candidate("date_of_birth", dob, 0.92 if named else 0.6, 0.95, ["age_range"],
                                        rank_bonus=0 if named or timed == 0 else -10))

    # numbers, identifiers, categories, free text -----------------------------------------------------
    numeric_text = numeric_kinds
    if numeric_kinds < 0.95 and str_share >= 0.5:
        numeric_text = frac("numeric", _is_number_text, 0.95)
        numeric_text = max(numeric_text, numeric_kinds) if numeric_kinds else numeric_text
    low_card = n >= 10 and p.n_distinct <= 20 and p.n_distinct <= 0.2 * n
    if numeric_text >= 0.95:
        fractions["numeric"] = round(numeric_text, 3)
        cands.append(_Candidate("numeric", numeric_text, 0.8, 0.95, ["number"]))
        if hint == "currency_amount":
            cands.append(_Candidate("currency_amount", numeric_text, 0.65, 0.95, ["number", "name_hint"]))
        elif hint is None and p.kind_fraction("str", "decimal") >= 0.95:
            # no name: numbers written with exactly two decimals (trailing zeros kept, so the scale was
            # chosen) that vary and are mostly >= 1 are money, the scale of cents
            f = frac("money_scale", lambda t: bool(_MONEY_SCALE.match(t)), 0.97)
            ge_one = sum(c for t, c in items if not t.lstrip("+-").startswith("0")) / p.weight if p.weight else 0
            if f >= 0.97 and p.n_distinct >= 20 and p.n_distinct >= 0.3 * n and ge_one >= 0.5:
                cands.append(_Candidate("currency_amount", f, 0.6, 0.97, ["money_scale"]))
        if low_card and hint == "identifier":
            # a few numbers under a key-like name (reason_code 4837 / 10.4): codes of a code list
            cands.append(_Candidate("category", 1 - p.n_distinct / n, 0.6, 0.8, ["low_cardinality", "code_name"]))
        elif (low_card and hint is None and p.ints_in_order and n >= 50 and p.n_distinct <= 0.05 * n
              and len({len(t) for t, _ in items}) == 1 and len(items[0][0]) >= 3
              and not all(1800 <= int(t) <= 2100 for t, _ in items if t.isdigit())):
            # a few wide integers of one width (4837, 4853, 4863): codes, not measurements
            cands.append(_Candidate("category", 1 - p.n_distinct / n, 0.55, 0.8, ["low_cardinality", "fixed_width"]))
    ident = _identifier_evidence(p, items, hint, numeric_text >= 0.95)
    if ident is not None:
        fractions["identifier"] = round(ident[0], 3)
        cands.append(_Candidate("identifier", ident[0], ident[1], 0.9, [ident[2]]))
    if str_share >= 0.5 and n >= 10:
        ratio = p.n_distinct / n
        if p.n_distinct <= 20 and ratio <= 0.2 and numeric_text < 0.95:
            fractions["category"] = round(1 - ratio, 3)
            cands.append(_Candidate("category", 1 - ratio, 0.65, 0.8, ["low_cardinality"]))
    if str_share >= 0.5:
        words = [len(_WS.split(t)) for t, _ in items[:100]]
        lens = [len(t) for t, _ in items[:100]]
        cjk = sum(1 for t, _ in items[:100] if t[:1] >= "\u3040") >= 0.5 * len(words) if words else False
        long_enough = sum(lens) / len(lens) >= (15 if cjk else 40) if lens else False
        if words and (sum(words) / len(words) >= 4 or long_enough) and p.n_distinct >= 0.5 * n:
            fractions["free_text"] = 1.0
            cands.append(_Candidate("free_text", 1.0, 0.6, 0.5, ["word_count"]))
    return cands


def _dob_evidence(dates: list[date], hint: str | None) -> float | None:
    """Share of dates that fit a birth date (16–100 years ago, none in the future, spread over decades);
    None when the spread or a future date rules it out, or the name says the date is a record time."""
    if not dates or hint in ("timestamp",):
        return None
    today = date.today()
    lo_born = today - timedelta(days=int(365.25 * 100))
    hi_born = today - timedelta(days=int(365.25 * 16))
    if any(d > today for d in dates):
        return None
    years = [d.year for d in dates]
    span = max(years) - min(years)
    if len(dates) >= 20 and (span < 15 or len(set(years)) < 5):
        return None
    if len(dates) < 20 and span < 5 and len(dates) > 2:
        return None
    if hint == "date_of_birth":
        lo_born = today - timedelta(days=int(365.25 * 130))
        hi_born = today
    fit = sum(1 for d in dates if lo_born <= d <= hi_born)
    return fit / len(dates)


def _identifier_evidence(p: _Prep, items: list[tuple[str, int]], hint: str | None,
                         numeric: bool) -> tuple[float, float, str] | None:
    n = p.n_nonnull
    if n < 2:
        return None
    unique = p.n_distinct / n
    if p.kind_fraction("int") == 1.0 or (p.ints_in_order and p.kind_fraction("str") == 1.0
                                         and not any(t.startswith("0") for t, _ in items)):
        ints = p.ints_in_order
        if not ints or min(ints) < 0:
            return None
        if unique < 0.95:
            # repeated keys (foreign keys): a key-like name, or a key-like spread of values
            if hint == "identifier":
                return 1.0, 0.8, "key_name_integers"
            if hint is None and _key_like_integers(ints):
                return 1.0, 0.6, "key_distribution"
            return None
        if hint == "identifier":
            return unique, 0.9, "unique_integers"
        if len(ints) >= MIN_VALUES:
            increasing = all(b > a for a, b in pairwise(ints))
            dense = (max(ints) - min(ints)) <= 20 * len(ints)
            widths = {len(str(i)) for i in ints[:200]}
            # a dense, unordered column is a key only without a single repeat (a primary key never
            # repeats; uniform measurements over a range of 20 x the rows collide a few times)
            if increasing or (dense and hint is None and p.n_distinct == n):
                return unique, 0.75, "unique_sequence"
            if len(widths) == 1 and min(widths) >= 6 and hint is None:
                return unique, 0.5, "unique_fixed_width"
            if hint is None and _key_like_integers(ints):
                return unique, 0.6, "key_distribution"
        return None
    named = hint == "identifier"
    if p.kind_fraction("str") < 0.9 or unique < (0.5 if named else 0.9):
        return None
    # codes: no spaces, mostly one shape, bearing digits (or hex hashes)
    sample = [t for t, _ in items[:200]]
    if not sample or any(" " in t or len(t) > 64 or len(t) < 2 for t in sample):
        return None
    if sum(1 for t in sample if _VERSION.match(t)) >= 0.9 * len(sample):
        return None  # version strings are not keys
    with_digits = sum(1 for t in sample if any(ch.isdigit() for ch in t)) / len(sample)
    shapes = Counter(_shape_signature(t) for t in sample)
    top_shape = shapes.most_common(1)[0][1] / len(sample)
    if sum(1 for t in sample if _TIME_ONLY.match(t)) >= 0.9 * len(sample):
        return None  # times of day are not keys
    hexes = sum(1 for t in sample if len(t) >= 16 and _HEX.match(t)) / len(sample)
    if hexes >= 0.9:
        return unique, 0.8, "hex_key"
    if with_digits >= 0.9 and (top_shape >= 0.8 or hint == "identifier"):
        if numeric and hint != "identifier" and not any(t[:1] == "0" and t[1:2].isdigit() for t in sample):
            return None
        return unique, 0.8 if hint == "identifier" else 0.7, "unique_codes"
    # alphanumeric codes of one length and one letter case (SN4K2J9Q0PX1, 1Z…, SAVE7K2QP)
    if all(_CODE.match(t) for t in sample):
        one_case = all(t.upper() == t for t in sample) or all(t.lower() == t for t in sample)
        fixed = len({len(t) for t in sample}) == 1 and len(sample[0]) >= 6
        if fixed and one_case and unique >= 0.9 and with_digits >= (0.5 if named else 0.8):
            return unique, 0.75 if named else 0.6, "fixed_length_codes"
        if named and with_digits >= 0.5 and (one_case or top_shape >= 0.5):
            return 1.0, 0.7, "named_codes"
    return None


def _key_like_integers(ints: list[int]) -> bool:
    """Unnamed, repeated integers that look like keys rather than measurements: at least 100 distinct
    values, none below 1, not years, and either

    * dense over their range (range <= 3 x distinct: peaked measurements and wide amounts in cents
      fail) and numbered from 1 (max <= 3 x distinct) or all of one width >= 4 (1001-2500), or
    * a narrow block of one width >= 4 sharing its leading digits (range <= 6 x distinct and <= a
      quarter of the smallest value: 50001-52600, 90001-91800), keys sampled sparsely with repeats.

    Measurements spanning an order of magnitude (500-20000) or starting at 0 never pass; uniform small
    counts from 1 with over 100 distinct values can: a known limit."""
    vals = set(ints)
    d = len(vals)
    if d < 100:
        return False
    lo, hi = min(vals), max(vals)
    if lo < 1 or (lo >= 1800 and hi <= 2100):
        return False
    span = hi - lo + 1
    fixed = lo >= 1000 and len(str(lo)) == len(str(hi))
    if span <= 3 * d and (hi <= 3 * d or fixed):
        return True
    return fixed and span <= 6 * d and span <= 0.25 * lo


def _confidence(c: _Candidate, hint: str | None, n: int) -> float:
    span = 1.0 - c.threshold
    q = 1.0 if span <= 0 else min(1.0, max(0.0, (c.fraction - c.threshold) / span))
    conf = c.base * (0.8 + 0.2 * q)
    if _agrees(hint, c.kind):
        conf += (1.0 - conf) * 0.5
    elif hint is not None:
        conf *= 0.9
    if n < MIN_VALUES:
        conf = min(conf, 0.5)
    elif n < 20:
        conf *= 0.9
    return max(0.0, min(1.0, conf))


def _not_names(items: list[tuple[str, int]]) -> bool:
    """Most of the frequent values cannot be a person's name (digits, marketing or product words)."""
    head = items[:50]
    total = sum(c for _, c in head)
    return sum(c for t, c in head if not _name_stats(t)[0]) > 0.5 * total if total else False


def _classifications(kind: str | None) -> list[str]:
    if kind is None:
        return []
    out = ["pii"] if kind in PII_TYPES else []
    out.extend(CLASSIFICATIONS.get(kind, ()))
    return out


def _context(sample: ColumnSample, table: str, siblings: Sequence[str]) -> _Context:
    sib_hints = {_name_hint(s, table) for s in siblings if s and s != sample.name}
    sib_tokens = {t for s in siblings for t in _merge(_tokens(s))}
    person = bool(sib_hints & {"person_name", "email", "phone", "date_of_birth", "national_id"})
    address = bool(sib_tokens & _ADDRESS_WORDS) or bool(sib_hints & {"address"})
    hint = _name_hint(sample.name or "", table or "", person)
    if hint is None and _key_name(sample.name or ""):
        hint = "identifier"
    return _Context(hint, person, address, (sample.logical_type or "").lower())


def classify_column(sample: ColumnSample, *, table: str = "", siblings: Sequence[str] = ()) -> ColumnFinding:
    """Classify one sampled column: semantic type, classifications, confidence and aggregate evidence.

    ``table`` (the dataset name) and ``siblings`` (the other column names of the table) are weak
    context only; the values decide whenever there are enough of them."""
    values = sample.values if isinstance(sample.values, list) else list(sample.values or [])
    p = _prepare(values)
    ctx = _context(sample, table, siblings)
    evidence: dict[str, Any] = {
        "sampled": p.n_total, "non_null": p.n_nonnull,
        "null_fraction": round(p.n_null / p.n_total, 3) if p.n_total else 1.0,
        "distinct": p.n_distinct, "checked_distinct": len(p.items),
        "name_hint": ctx.hint.lstrip("_") if ctx.hint else None,
    }
    fractions: dict[str, float] = {}
    cands = _evaluate(p, ctx, fractions) if p.n_nonnull else []
    evidence["fractions"] = dict(sorted(fractions.items(), key=lambda kv: -kv[1]))
    # a noun naming places or things (city, company, product) vetoes a vocabulary-only person-name reading
    type_hint = ctx.hint if ctx.hint and not ctx.hint.startswith("_") else None
    if ctx.hint and type_hint is None:
        kept = [c for c in cands if not (c.kind == "person_name" and fractions.get("person_name", 0.0) < 0.8)]
        if len(kept) < len(cands):
            evidence["name_veto"] = "person_name"
        cands = kept

    if not cands and type_hint is not None and p.n_nonnull >= MIN_VALUES and fractions.get(type_hint, 0.0) >= 0.1:
        # the values lean the named way without reaching the threshold: the name, with modest confidence
        evidence["decided_by"] = "name+weak_values"
        conf = min(0.5, 0.35 + 0.3 * fractions[type_hint])
        return ColumnFinding(sample.name, sample.logical_type, type_hint, _classifications(type_hint), conf, evidence)
    if not cands:
        unrecognised = max(fractions.values(), default=0.0) < 0.5
        if type_hint == "person_name" and p.n_nonnull >= MIN_VALUES and _not_names(p.items):
            # "Spring Sale 2024", "Launch Webinar": values that do not look like names overrule a name hint
            evidence["decided_by"] = "none"
            evidence["name_veto"] = "values"
            return ColumnFinding(sample.name, sample.logical_type, None, [], 0.0, evidence)
        if type_hint is not None and (p.n_nonnull < MIN_VALUES or unrecognised):
            conf = 0.4 if p.n_nonnull == 0 else 0.3
            if p.n_nonnull >= MIN_VALUES:
                conf = 0.25  # values present but unrecognised: the name alone, weakly
            evidence["decided_by"] = "name"
            return ColumnFinding(sample.name, sample.logical_type, type_hint, _classifications(type_hint), conf,
                                 evidence)
        evidence["decided_by"] = "none"
        return ColumnFinding(sample.name, sample.logical_type, None, [], 0.0, evidence)

    def score(c: _Candidate) -> float:
        return _RANK.get(c.kind, 0) + c.rank_bonus + (_NAME_BONUS if _agrees(ctx.hint, c.kind) else 0) + c.fraction

    best = max(cands, key=score)
    if p.n_nonnull < MIN_VALUES and type_hint is not None and not _agrees(type_hint, best.kind):
        # too few values to overrule the name unless they clearly say otherwise (booleans, strict formats)
        strict = best.kind in ("boolean", "email", "uuid", "iban", "credit_card", "ip_address", "url", "json")
        if not strict:
            evidence["decided_by"] = "name"
            evidence["values_suggest"] = best.kind
            return ColumnFinding(sample.name, sample.logical_type, type_hint, _classifications(type_hint), 0.3,
                                 evidence)
    conf = _confidence(best, ctx.hint, p.n_nonnull)
    evidence["decided_by"] = "values+name" if _agrees(ctx.hint, best.kind) else "values"
    evidence["validators"] = best.validators
    evidence["fraction"] = round(best.fraction, 3)
    runner = sorted((c for c in cands if c is not best), key=score, reverse=True)
    if runner:
        evidence["alternatives"] = [c.kind for c in runner[:3]]
    return ColumnFinding(sample.name, sample.logical_type, best.kind, _classifications(best.kind), conf, evidence)


def classify_columns(samples: Iterable[ColumnSample], *, table: str = "") -> list[ColumnFinding]:
    """Classify every column of one table, giving each the others' names as context."""
    cols = list(samples)
    names = [c.name for c in cols]
    return [classify_column(c, table=table, siblings=[n for n in names if n != c.name]) for c in cols]
