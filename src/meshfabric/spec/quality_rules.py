"""Quality rules as declared in a product spec's ``quality:`` list, and what each one means.

Every rule is a pydantic model with ``extra="forbid"``, told apart by ``type``, so a typo in a
spec file is reported with its file and line like any other spec error. The models only
describe; :mod:`.compile` turns them into SQL for the product's source and :mod:`.run` judges
the measurements.

Semantics (the same in every source; the tests check them on each source kind):

* **Thresholds are fractions** of the rows a rule checks: ``threshold: 0.95`` passes when at
  least 95 % of them pass. Row-level rules default to ``1.0`` (every row must pass).
* **Nulls are excluded from validity rules** (accepted values, range, regex, format, length,
  referential integrity, uniqueness): a null is neither valid nor invalid, it is missing, and
  missing values are what completeness rules measure. The rows a rule checks are therefore its
  non-null rows; ``total_rows`` in a result counts them.
* **Completeness** = non-null rows / all rows (an empty table is complete). ``not_null`` is
  completeness with the default threshold 1.0.
* **Uniqueness**: rows whose key (one column or several; a row with a null in its key is not
  checked) appears more than once are *rows involved in duplicates*: the keys 1, 1, 1, 2 give
  three failing rows and one *duplicated value*. Observed = 1 - failing / checked.
* **Range** is inclusive at both ends unless ``inclusive: false``.
* **Regex** patterns are *searched* (anchor them with ``^…$`` to match whole values) and should
  keep to the syntax PostgreSQL, MariaDB (PCRE), RE2 (DuckDB) and Python share. Named formats
  are anchored patterns written in that subset. Matching is case-sensitive everywhere.
* **Length** counts characters, not bytes, inclusive bounds.
* **Freshness**: age = run start - the newest value of a timestamp column; timestamps without
  a time zone are read as UTC. Passes when age <= ``max_age``.
* **String comparisons are exact** (byte-wise): a case-insensitive MariaDB collation or SQLite
  ``NOCASE`` column is compared as binary, so ``'a'`` is not an accepted ``'A'``.
* **NaN and infinities** (float columns of PostgreSQL, DuckDB, Parquet; ±∞ also in SQLite,
  which stores NaN as NULL; MariaDB holds neither). NaN is a value, not a null: it fails every
  range bound (a min-only and a max-only range too) and every accepted-values list, and it is
  counted among the failing rows and shown in their sample alike. ±∞ are ordered values: −∞
  fails any ``min``, +∞ any ``max``. Statistics (mean, stddev, min, max, sum, median,
  quantiles) are computed over the *finite* values, and a statistic rule over a column that
  holds NaN or ±∞ fails whatever its bounds, with the count in ``extra.nonfinite_rows`` and its
  detail; a distinct count counts NaN as one value. Profiles count NaN, +∞ and −∞ apart
  (``nan_count``, ``posinf_count``, ``neginf_count``) and describe the finite values.
* **Literals match the column**: ``values``/``min``/``max`` of accepted-values and range rules
  must be numbers for numeric columns, text for string columns, booleans for booleans and ISO
  dates/times for temporal ones (``accepted_values: [10001]`` on a text column is refused at
  apply: quote it). A rule that still cannot be measured in a run is recorded with status
  ``error`` and its message; the other rules keep their results.
* **Anomaly** (``contamination: auto``): a row is flagged when its IsolationForest score is below
  the 0.1 % quantile of the scores the same forest settings give a standard Gaussian sample of
  the same size and dimension, so clean data flags about 0.1 % (well under ``max_share``) and
  rows far outside the data are flagged; rows with NaN or ±∞ are flagged without scoring.

>>> CompletenessRule(type="not_null", column="id").label
'not_null_id'
>>> parse_duration("36h"), parse_duration("P1DT12H")
(datetime.timedelta(days=1, seconds=43200), datetime.timedelta(days=1, seconds=43200))
"""

from __future__ import annotations

import difflib
import math
import re
from datetime import date, datetime, timedelta
from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidatorFunctionWrapHandler,
    field_validator,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

Severity = Literal["error", "warning"]
Dimension = Literal["completeness", "uniqueness", "validity", "timeliness", "accuracy", "consistency"]

#: Named formats: anchored patterns in the regex subset every supported source understands (no
#: backslashes, so no dialect's string escaping can change them).
FORMATS: dict[str, str] = {
    "email": r"^[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+[.][A-Za-z]{2,}$",
    "uuid": r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$",
    "url": r"^https?://[A-Za-z0-9.-]+(:[0-9]+)?(/[^ ]*)?$",
    "iso_date": r"^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$",
    "iso_datetime": (
        r"^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])[T ]([01][0-9]|2[0-3]):[0-5][0-9]"
        r"(:[0-5][0-9]([.][0-9]+)?)?(Z|[+-][0-9]{2}(:?[0-9]{2})?)?$"
    ),
    "ipv4": (
        r"^((25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])[.]){3}"
        r"(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])$"
    ),
    "phone_e164": r"^[+][1-9][0-9]{1,14}$",
    "country_code": r"^[A-Z]{2}$",
    "currency_code": r"^[A-Z]{3}$",
}
FormatName = Literal[
    "email", "uuid", "url", "iso_date", "iso_datetime", "ipv4", "phone_e164", "country_code", "currency_code"
]

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|sec|m|min|h|hr|d|day|days|w|week|weeks)\s*$", re.IGNORECASE)
_DURATION_SECONDS = {
    "ms": 0.001, "s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "hr": 3600,
    "d": 86400, "day": 86400, "days": 86400, "w": 604800, "week": 604800, "weeks": 604800,
}  # fmt: skip
_ISO_DURATION = re.compile(
    r"^P(?:(?P<w>\d+(?:\.\d+)?)W)?(?:(?P<d>\d+(?:\.\d+)?)D)?"
    r"(?:T(?:(?P<h>\d+(?:\.\d+)?)H)?(?:(?P<m>\d+(?:\.\d+)?)M)?(?:(?P<s>\d+(?:\.\d+)?)S)?)?$"
)


def parse_duration(text: str) -> timedelta:
    """``90s``, ``15m``, ``36h``, ``7d``, ``2w`` or ISO 8601 without years/months (``P1DT12H``).

    Years and months are refused: their length varies, and a freshness limit should not.
    """
    raw = str(text).strip()
    m = _DURATION.match(raw)
    if m:
        return timedelta(seconds=float(m.group(1)) * _DURATION_SECONDS[m.group(2).lower()])
    iso = _ISO_DURATION.match(raw.upper())
    if iso and raw.upper() not in ("P", "PT") and not raw.upper().endswith("T"):
        parts = {k: float(v) for k, v in iso.groupdict().items() if v is not None}
        if parts:
            return timedelta(weeks=parts.get("w", 0), days=parts.get("d", 0), hours=parts.get("h", 0),
                             minutes=parts.get("m", 0), seconds=parts.get("s", 0))
    raise ValueError(f"'{text}' is not a duration; write e.g. 90s, 15m, 36h, 7d or ISO 8601 like P1DT12H")


def _plain_scalar(value: Any) -> Any:
    """YAML dates and times as ISO text, the form the catalog stores them in."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


Scalar = str | bool | int | float


def _reserved_metric(metric: str, rule_type: str) -> bool:
    """Series every run or profile writes itself (``row_count``, ``score``, ``score.<dimension>``,
    ``profile.<statistic>``): a rule may not write into them — a row count rule excepted, whose
    measure is the run's row count.

    >>> _reserved_metric("row_count", "custom_sql"), _reserved_metric("row_count", "row_count")
    (True, False)
    """
    if metric == "row_count":
        return rule_type != "row_count"
    return metric == "score" or metric.startswith(("score.", "profile."))


def literal_problem(value: Any, type_name: str) -> str | None:
    """Why a rule literal cannot be compared with a column of logical type ``type_name``
    (``bigint``, ``string``, ``date``, ...), or None when it can.

    >>> literal_problem(10001, "string")
    "10001 is a number but the column is string: write it as text ('10001')"
    >>> literal_problem("12.5", "double") is None, literal_problem("2024-01-31", "date") is None
    (True, True)
    """
    from meshfabric.types import NUMERIC_TYPES, parse_type

    try:
        name = parse_type(type_name).name
    except (ValueError, TypeError):
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return f"{value} cannot be compared: NaN and infinities fail every bound by themselves"
    if name == "boolean":
        return None if isinstance(value, bool) else f"{value!r} is not a boolean, and the column is boolean"
    if isinstance(value, bool):
        return f"{value} is a boolean but the column is {name}"
    if name in NUMERIC_TYPES:
        if isinstance(value, int | float):
            return None
        try:
            float(str(value))
        except ValueError:
            return f"'{value}' is not a number, and the column is {name}"
        return None
    if name == "string" and isinstance(value, int | float):
        return f"{value} is a number but the column is string: write it as text ('{value}')"
    if name in ("date", "timestamp", "timestamptz"):
        if isinstance(value, int | float):
            return f"{value} is a number but the column is {name}: write an ISO date or time"
        try:
            datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        except ValueError:
            return f"'{value}' is not an ISO date or time, and the column is {name}"
    return None


def literal_problems(rule: _Rule, types: dict[str, str]) -> list[tuple[str, str]]:
    """(field, message) for each literal of ``rule`` that does not fit its column's type;
    ``types`` maps lower-case column names to declared types."""
    column = getattr(rule, "column", None)
    if not isinstance(rule, AcceptedValuesRule | RangeRule) or column is None or column.lower() not in types:
        return []
    type_name = types[column.lower()]
    out = []
    if isinstance(rule, AcceptedValuesRule):
        for j, v in enumerate(rule.values):
            problem = literal_problem(v, type_name)
            if problem:
                out.append((f"values.{j}", f"column '{column}': {problem}"))
    else:
        for bound in ("min", "max"):
            v = getattr(rule, bound)
            problem = None if v is None else literal_problem(v, type_name)
            if problem:
                out.append((bound, f"column '{column}': {problem}"))
    return out


def _bound(value: float | None) -> str:
    return "" if value is None else f"{value:g}"


class _Rule(BaseModel):
    """What every rule has: a name, a severity and a quality dimension."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    #: the rule's dimension when the spec does not say (set per rule type)
    default_dimension: ClassVar[str] = "validity"
    #: whether the rule's verdict is a share of rows (so its score is 1 - failing / checked)
    row_level: ClassVar[bool] = True

    type: str
    name: str | None = Field(None, description="unique within the product; default derived from type and columns")
    severity: Severity = Field("error", description="error fails the run (exit 1); warning is reported only")
    dimension: Dimension | None = Field(None, description="default depends on the rule type")
    description: str = ""
    metric: str | None = Field(
        None, description="metric name of the series this rule writes (default: the rule type)"
    )

    @field_validator("name", "metric")
    @classmethod
    def _simple_name(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^[A-Za-z0-9_.:-]{1,120}$", value):
            raise ValueError(f"'{value}' may use letters, digits, '_', '.', ':' and '-' only (at most 120)")
        return value

    # -- derived -----------------------------------------------------------------------------
    def column_names(self) -> list[str]:
        """The product columns the rule reads, in the order written."""
        return []

    @property
    def label(self) -> str:
        """The rule's name: as given, else ``<type>_<columns>``."""
        if self.name:
            return self.name
        cols = "_".join(self.column_names())
        return f"{self.type}_{cols}" if cols else self.type

    @property
    def effective_dimension(self) -> str:
        return self.dimension or self.default_dimension

    @property
    def metric_name(self) -> str:
        return self.metric or self.type

    @property
    def series_column(self) -> str:
        """The column part of the rule's series: its columns joined by ``,``; ``*`` for the table."""
        return ",".join(self.column_names()) or "*"

    def threshold_text(self) -> str:
        return ""


class _Threshold(BaseModel):
    threshold: float = Field(1.0, ge=0.0, le=1.0, description="minimum share of checked rows that must pass")


class CompletenessRule(_Rule, _Threshold):
    """Share of non-null values; ``not_null`` is the same rule (threshold 1.0 unless given)."""

    default_dimension: ClassVar[str] = "completeness"
    type: Literal["completeness", "not_null"]
    column: str

    def column_names(self) -> list[str]:
        return [self.column]

    def threshold_text(self) -> str:
        return f">= {self.threshold:g}"


class UniquenessRule(_Rule, _Threshold):
    """No key (one column, or ``columns`` for a compound key) appears on more than one row."""

    default_dimension: ClassVar[str] = "uniqueness"
    type: Literal["uniqueness"]
    column: str | None = None
    columns: list[str] | None = Field(None, min_length=1)

    @model_validator(mode="after")
    def _one_key(self) -> UniquenessRule:
        if (self.column is None) == (self.columns is None):
            raise ValueError("give exactly one of 'column' or 'columns' (a compound key)")
        return self

    def column_names(self) -> list[str]:
        return [self.column] if self.column is not None else list(self.columns or [])

    def threshold_text(self) -> str:
        return f">= {self.threshold:g}"


class AcceptedValuesRule(_Rule, _Threshold):
    """Every non-null value is one of ``values``."""

    type: Literal["accepted_values"]
    column: str
    values: list[Scalar] = Field(..., min_length=1)

    _plain = field_validator("values", mode="before")(
        classmethod(lambda cls, v: [_plain_scalar(x) for x in v] if isinstance(v, list) else v)
    )

    def column_names(self) -> list[str]:
        return [self.column]

    def threshold_text(self) -> str:
        return f">= {self.threshold:g} in {self.values!r}"


class RangeRule(_Rule, _Threshold):
    """Non-null values between ``min`` and ``max`` (inclusive unless ``inclusive: false``)."""

    type: Literal["range"]
    column: str
    min: Scalar | None = None
    max: Scalar | None = None
    inclusive: bool = True

    _plain = field_validator("min", "max", mode="before")(classmethod(lambda cls, v: _plain_scalar(v)))

    @model_validator(mode="after")
    def _bounds(self) -> RangeRule:
        if self.min is None and self.max is None:
            raise ValueError("a range needs 'min', 'max' or both")
        return self

    def column_names(self) -> list[str]:
        return [self.column]

    def threshold_text(self) -> str:
        lo, hi = ("[", "]") if self.inclusive else ("(", ")")
        bounds = f"{lo}{'' if self.min is None else self.min}, {'' if self.max is None else self.max}{hi}"
        return f">= {self.threshold:g} in {bounds}"


class RegexRule(_Rule, _Threshold):
    """Non-null values (as text) in which ``pattern`` is found."""

    type: Literal["regex"]
    column: str
    pattern: str = Field(..., min_length=1)

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, value: str) -> str:
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"not a regular expression: {exc}") from None
        return value

    def column_names(self) -> list[str]:
        return [self.column]

    @property
    def regex(self) -> str:
        return self.pattern

    def threshold_text(self) -> str:
        return f">= {self.threshold:g} match {self.pattern}"


class FormatRule(_Rule, _Threshold):
    """Non-null values in a named format (email, uuid, url, iso_date, iso_datetime, ipv4...)."""

    type: Literal["format"]
    column: str
    format: FormatName

    def column_names(self) -> list[str]:
        return [self.column]

    @property
    def regex(self) -> str:
        return FORMATS[self.format]

    def threshold_text(self) -> str:
        return f">= {self.threshold:g} {self.format}"


class LengthRule(_Rule, _Threshold):
    """Non-null values whose length in characters is within ``min``..``max`` (inclusive)."""

    type: Literal["length"]
    column: str
    min: int | None = Field(None, ge=0)
    max: int | None = Field(None, ge=0)

    @model_validator(mode="after")
    def _bounds(self) -> LengthRule:
        if self.min is None and self.max is None:
            raise ValueError("a length rule needs 'min', 'max' or both")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"'min' ({self.min}) is greater than 'max' ({self.max})")
        return self

    def column_names(self) -> list[str]:
        return [self.column]

    def threshold_text(self) -> str:
        return f">= {self.threshold:g} length in [{'' if self.min is None else self.min}, " \
               f"{'' if self.max is None else self.max}]"


class FreshnessRule(_Rule):
    """The newest value of a timestamp column is at most ``max_age`` old."""

    default_dimension: ClassVar[str] = "timeliness"
    row_level: ClassVar[bool] = False
    type: Literal["freshness"]
    column: str
    max_age: str = Field(..., description="e.g. 36h, 7d, P1D")

    @field_validator("max_age", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> str:
        parse_duration(str(value))
        return str(value)

    @property
    def max_age_seconds(self) -> float:
        return parse_duration(self.max_age).total_seconds()

    def column_names(self) -> list[str]:
        return [self.column]

    def threshold_text(self) -> str:
        return f"age <= {self.max_age} ({self.max_age_seconds:g} s)"


class RowCountRule(_Rule):
    """The number of rows is within ``min``..``max`` (inclusive)."""

    default_dimension: ClassVar[str] = "completeness"
    row_level: ClassVar[bool] = False
    type: Literal["row_count"]
    min: int | None = Field(None, ge=0)
    max: int | None = Field(None, ge=0)

    @model_validator(mode="after")
    def _bounds(self) -> RowCountRule:
        if self.min is None and self.max is None:
            raise ValueError("a row_count rule needs 'min', 'max' or both")
        return self

    def threshold_text(self) -> str:
        return f"in [{'' if self.min is None else self.min}, {'' if self.max is None else self.max}]"


class ReferentialRule(_Rule, _Threshold):
    """Every non-null key of this product exists in ``reference`` (another product's column)."""

    default_dimension: ClassVar[str] = "consistency"
    type: Literal["referential"]
    column: str | None = None
    columns: list[str] | None = Field(None, min_length=1)
    reference: str = Field(..., description="the referenced product, domain.product")
    reference_column: str | None = None
    reference_columns: list[str] | None = Field(None, min_length=1)

    @model_validator(mode="after")
    def _keys(self) -> ReferentialRule:
        if (self.column is None) == (self.columns is None):
            raise ValueError("give exactly one of 'column' or 'columns' (a compound key)")
        if self.reference_column is not None and self.reference_columns is not None:
            raise ValueError("give 'reference_column' or 'reference_columns', not both")
        if len(self.reference_names()) != len(self.column_names()):
            raise ValueError("the key and the referenced key need the same number of columns")
        if not re.match(r"^[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*$", self.reference):
            raise ValueError(f"'{self.reference}' is not a product name: write domain.product")
        return self

    def column_names(self) -> list[str]:
        return [self.column] if self.column is not None else list(self.columns or [])

    def reference_names(self) -> list[str]:
        if self.reference_column is not None:
            return [self.reference_column]
        return list(self.reference_columns) if self.reference_columns is not None else self.column_names()

    def threshold_text(self) -> str:
        return f">= {self.threshold:g} in {self.reference}({', '.join(self.reference_names())})"


class CustomSqlRule(_Rule, _Threshold):
    """A query in the source's dialect over ``{table}`` (the product's relation).

    ``returns: failing_rows`` (default): the query selects the rows that fail; the rule passes
    when the failing share of all rows is at most ``1 - threshold``. ``returns: metric``: the
    query returns one number, which must lie within ``min``..``max`` (inclusive).
    """

    type: Literal["custom_sql"]
    sql: str = Field(..., min_length=1)
    returns: Literal["failing_rows", "metric"] = "failing_rows"
    min: float | None = None
    max: float | None = None

    @model_validator(mode="after")
    def _shape(self) -> CustomSqlRule:
        if "{table}" not in self.sql:
            raise ValueError("the sql must read the product as {table}")
        if self.returns == "metric" and self.min is None and self.max is None:
            raise ValueError("a metric needs 'min', 'max' or both")
        if self.returns == "failing_rows" and (self.min is not None or self.max is not None):
            raise ValueError("'min'/'max' bound a metric: set 'returns: metric' or use 'threshold'")
        return self

    @property
    def row_level(self) -> bool:  # type: ignore[override]
        return self.returns == "failing_rows"

    @property
    def effective_dimension(self) -> str:
        return self.dimension or ("validity" if self.returns == "failing_rows" else "accuracy")

    @property
    def metric_name(self) -> str:
        """Custom rules measure different things: each is its own series, named like the rule."""
        return self.metric or self.label

    def threshold_text(self) -> str:
        if self.returns == "metric":
            return f"in [{_bound(self.min)}, {_bound(self.max)}]"
        return f">= {self.threshold:g}"


Statistic = Literal["mean", "stddev", "min", "max", "sum", "distinct_count", "median", "quantile"]


class StatisticRule(_Rule):
    """A statistic of a column within bounds: mean, sample stddev, min, max, sum, distinct
    count, median or ``quantile`` (continuous, linear interpolation like ``percentile_cont``)."""

    default_dimension: ClassVar[str] = "accuracy"
    row_level: ClassVar[bool] = False
    type: Literal["statistic"]
    column: str
    statistic: Statistic
    quantile: float | None = Field(None, ge=0.0, le=1.0)
    min: float | None = None
    max: float | None = None

    @model_validator(mode="after")
    def _shape(self) -> StatisticRule:
        if self.min is None and self.max is None:
            raise ValueError("a statistic rule needs 'min', 'max' or both")
        if (self.statistic == "quantile") != (self.quantile is not None):
            raise ValueError("'quantile' (0..1) goes with 'statistic: quantile' and only with it")
        return self

    @property
    def q(self) -> float | None:
        return 0.5 if self.statistic == "median" else self.quantile

    @property
    def metric_name(self) -> str:
        if self.metric:
            return self.metric
        if self.statistic == "quantile":
            return f"quantile_{self.quantile:g}"
        return self.statistic

    @property
    def label(self) -> str:
        return self.name or f"{self.metric_name}_{self.column}"

    def column_names(self) -> list[str]:
        return [self.column]

    def threshold_text(self) -> str:
        return f"in [{_bound(self.min)}, {_bound(self.max)}]"


class SchemaRule(_Rule):
    """The real columns of the output port conform to the declared schema: every declared column
    exists with a matching type (``check_types``), no undeclared column unless
    ``allow_extra_columns``, and (``check_nullability``) no nullable column declared not null."""

    default_dimension: ClassVar[str] = "consistency"
    type: Literal["schema"]
    allow_extra_columns: bool = True
    check_types: bool = True
    check_nullability: bool = False

    def threshold_text(self) -> str:
        return "every declared column conforms"


class AnomalyRule(_Rule):
    """Row-level outliers over numeric ``columns`` with scikit-learn's IsolationForest.

    At most ``sample_size`` rows with no null in the columns are read from the source (all of
    them when there are fewer; a random sample otherwise) and the result says how many. The
    rule fails when the share of rows flagged anomalous exceeds ``max_share``. With
    ``contamination: auto`` a row is flagged when it is more isolated than all but 0.1 % of the
    rows of a standard Gaussian sample of the same shape would be (see
    :func:`meshfabric.quality.run.gaussian_threshold`; the paper's threshold flagged ~20 % of
    clean Gaussian rows), so clean data passes and the share flagged is a property of the data;
    a number instead fixes the share flagged, leaving only the list of the most anomalous rows
    as information. Rows holding NaN or ±∞ are flagged without being scored. Needs
    ``pip install 'meshfabric[quality]'``; without it the rule alone is recorded as an error.
    """

    default_dimension: ClassVar[str] = "accuracy"
    type: Literal["anomaly"]
    severity: Severity = "warning"
    columns: list[str] = Field(..., min_length=1)
    contamination: Literal["auto"] | float = "auto"
    sample_size: int = Field(10_000, ge=10, le=1_000_000)
    max_share: float = Field(0.05, ge=0.0, le=1.0)
    top: int = Field(5, ge=0, le=100, description="how many of the most anomalous rows to report")
    seed: int = 0

    @field_validator("contamination")
    @classmethod
    def _contamination(cls, value: Any) -> Any:
        if value != "auto" and not (0.0 < float(value) <= 0.5):
            raise ValueError("contamination is 'auto' or a share in (0, 0.5]")
        return value

    def column_names(self) -> list[str]:
        return list(self.columns)

    def threshold_text(self) -> str:
        return f"anomaly share <= {self.max_share:g}"


RULE_MODELS: tuple[type[_Rule], ...] = (
    CompletenessRule, UniquenessRule, AcceptedValuesRule, RangeRule, RegexRule, FormatRule, LengthRule,
    FreshnessRule, RowCountRule, ReferentialRule, CustomSqlRule, StatisticRule, SchemaRule, AnomalyRule,
)  # fmt: skip

Rule = Annotated[
    CompletenessRule | UniquenessRule | AcceptedValuesRule | RangeRule | RegexRule | FormatRule | LengthRule
    | FreshnessRule | RowCountRule | ReferentialRule | CustomSqlRule | StatisticRule | SchemaRule | AnomalyRule,
    Field(discriminator="type"),
]
AnyRule = _Rule


def _model_for(type_name: str) -> type[_Rule] | None:
    for model in RULE_MODELS:
        literal = model.model_fields["type"].annotation
        if type_name in getattr(literal, "__args__", ()):
            return model
    return None


def rule_types() -> list[str]:
    out: list[str] = []
    for model in RULE_MODELS:
        out.extend(getattr(model.model_fields["type"].annotation, "__args__", ()))
    return out


def _problem(loc: tuple[Any, ...], message: str, value: Any) -> InitErrorDetails:
    return InitErrorDetails(
        type=PydanticCustomError("value_error", "Value error, {error}", {"error": message}), loc=loc, input=value
    )


def validate_quality(
    value: Any, handler: ValidatorFunctionWrapHandler, declared: list[str] | list[tuple[str, str]] | None
) -> list[_Rule] | None:
    """Validate a ``quality:`` list with errors located at the offending rule and field.

    pydantic puts the union tag in error locations (``quality.0.range.min``) and the spec
    loader's 'did you mean' would look in the wrong model; this re-raises every error at
    ``quality.<i>.<field>`` with the hint computed from the rule's own model. It then checks
    what no single rule can: names and series unique in the product, and columns that the
    product declares (when it declares any); ``declared`` as (name, type) pairs also has each
    literal checked against its column's type (:func:`literal_problems`).
    """
    if value is None:
        return None
    try:
        rules: list[_Rule] = handler(value)
    except ValidationError as exc:
        raise ValidationError.from_exception_data("quality", [_relocate(e, value) for e in exc.errors()]) from None
    problems: list[InitErrorDetails] = []
    names: dict[str, int] = {}
    series: dict[tuple[str, str], int] = {}
    pairs = [(c, "") if isinstance(c, str) else (str(c[0]), str(c[1])) for c in declared or []]
    known = {name.lower(): name for name, _ in pairs}
    types = {name.lower(): kind for name, kind in pairs if kind}
    for i, rule in enumerate(rules):
        if rule.label in names:
            problems.append(_problem((i, "name"), f"rule name '{rule.label}' is also used by rule {names[rule.label]}; "
                                     "give one of them another 'name'", rule.label))
        names.setdefault(rule.label, i)
        key = (rule.metric_name, rule.series_column)
        if _reserved_metric(rule.metric_name, rule.type):
            problems.append(_problem((i, "metric"), f"the series '{rule.metric_name}' is written by every run and "
                                     "profile; give the rule another 'metric' or 'name'", rule.metric_name))
        if key in series:
            problems.append(_problem((i, "metric"), f"rules {series[key]} and {i} would both write the series "
                                     f"'{key[0]}/{key[1]}'; set 'metric' on one of them", rule.metric_name))
        series.setdefault(key, i)
        for col in rule.column_names() if known else []:
            if col.lower() not in known:
                close = difflib.get_close_matches(col.lower(), list(known), n=1)
                hint = f"; did you mean '{known[close[0]]}'?" if close else ""
                where = "column" if getattr(rule, "column", None) == col else "columns"
                problems.append(_problem((i, where), f"column '{col}' is not in the product's schema{hint}", col))
        for where, message in literal_problems(rule, types):
            path = tuple(int(p) if p.isdigit() else p for p in where.split("."))
            problems.append(_problem((i, *path), message, None))
    if problems:
        raise ValidationError.from_exception_data("quality", problems)
    return rules


def _relocate(err: Any, value: Any) -> InitErrorDetails:
    loc = tuple(err["loc"])
    item = value[loc[0]] if loc and isinstance(loc[0], int) and isinstance(value, list) else None
    type_name = item.get("type") if isinstance(item, dict) else None
    if len(loc) >= 2 and isinstance(loc[1], str) and loc[1] == type_name:
        loc = (loc[0], *loc[2:])
    kind = err["type"]
    if kind == "union_tag_invalid":
        close = difflib.get_close_matches(str(type_name), rule_types(), n=1)
        hint = f"did you mean '{close[0]}'?" if close else f"known types: {', '.join(rule_types())}"
        return _problem((*loc, "type"), f"unknown rule type '{type_name}' — {hint}", type_name)
    if kind == "union_tag_not_found":
        return _problem(loc, f"a rule needs 'type:' (one of {', '.join(rule_types())})", err.get("input"))
    if kind == "extra_forbidden":
        model = _model_for(str(type_name))
        known = [n for n in (model.model_fields if model else {}) if n != "type"]
        close = difflib.get_close_matches(str(loc[-1]), known, n=1)
        hint = f"did you mean '{close[0]}'?" if close else f"known fields: {', '.join(known)}"
        return _problem(loc, f"unknown field '{loc[-1]}' in a {type_name} rule — {hint}", err.get("input"))
    details = InitErrorDetails(type=kind, loc=loc, input=err.get("input"))
    if err.get("ctx"):
        ctx = dict(err["ctx"])
        if "error" in ctx and not isinstance(ctx["error"], str | Exception):
            ctx["error"] = str(ctx["error"])
        details["ctx"] = ctx
    if kind == "value_error":
        return _problem(loc, str(err["msg"]).removeprefix("Value error, "), err.get("input"))
    return details


def parse_rules(doc: list[dict[str, Any]] | None) -> list[_Rule]:
    """Rules from their stored JSON form (a product spec's ``quality`` as the catalog keeps it)."""
    from pydantic import TypeAdapter

    if not doc:
        return []
    return list(TypeAdapter(list[Rule]).validate_python(doc))

