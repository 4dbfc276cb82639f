"""The LendingClub loan-file expectation suite, as plain data.

Each :class:`Check` names one Great Expectations (GX Core 1.x) expectation class, its
arguments, and whether a failure is ``critical`` (the file is rejected, nothing is produced)
or a ``warning`` (logged and shown in the report only). Nothing here imports GX: the
validation module turns these rows into GX expectations when a file is validated.

The CSV is read with every column as text, so a check on numbers (``parsed=True``) runs on
the numeric parse of the column (``"11.53%"`` -> 11.53); text that does not parse is caught
by the column's regex check, not silently dropped.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from loanstream.lendingclub.lines import MONTHS

Kind = Literal["critical", "warning"]

CRITICAL: Kind = "critical"
WARNING: Kind = "warning"

SUITE_NAME = "loanstream_lending_club_loans"

REQUIRED_COLUMNS: tuple[str, ...] = (
    "id",
    "loan_amnt",
    "term",
    "int_rate",
    "installment",
    "grade",
    "sub_grade",
    "emp_length",
    "home_ownership",
    "annual_inc",
    "verification_status",
    "issue_d",
    "loan_status",
    "purpose",
    "addr_state",
    "dti",
    "earliest_cr_line",
    "revol_util",
)

LOAN_STATUSES: tuple[str, ...] = (
    "Fully Paid",
    "Charged Off",
    "Current",
    "Default",
    "In Grace Period",
    "Late (16-30 days)",
    "Late (31-120 days)",
    "Issued",
    "Does not meet the credit policy. Status:Fully Paid",
    "Does not meet the credit policy. Status:Charged Off",
)

PURPOSES: tuple[str, ...] = (
    "car",
    "credit_card",
    "debt_consolidation",
    "educational",
    "home_improvement",
    "house",
    "major_purchase",
    "medical",
    "moving",
    "other",
    "renewable_energy",
    "small_business",
    "vacation",
    "wedding",
)

HOME_OWNERSHIPS: tuple[str, ...] = ("RENT", "MORTGAGE", "OWN", "ANY", "NONE", "OTHER")

EMP_LENGTHS: tuple[str, ...] = (
    "< 1 year",
    "1 year",
    *(f"{n} years" for n in range(2, 10)),
    "10+ years",
    "n/a",
)

GRADES: tuple[str, ...] = ("A", "B", "C", "D", "E", "F", "G")

VERIFICATION_STATUSES: tuple[str, ...] = ("Not Verified", "Source Verified", "Verified")

# A plain decimal number, optionally negative (the range check reports the sign).
NUMBER_RE = r"^\s*-?\d+(?:\.\d+)?\s*$"
# A percentage as LendingClub exports write it: "11.53", "11.53%" or " 11.53 %".
PERCENT_RE = r"^\s*-?\d+(?:\.\d+)?\s*%?\s*$"
TERM_RE = r"^\s*(?:36|60) months\s*$"
_MONTHS = "(?:" + "|".join(MONTHS) + ")"
# LendingClub month dates: "Aug-1998" (current exports), "Aug-98" (old LoanStats),
# "1998-08-01" (database dumps, optionally with a time) and "8/1/1998" (spreadsheet saves).
LC_DATE_RE = (
    rf"^\s*(?:{_MONTHS}-(?:\d{{4}}|\d{{2}})"
    r"|\d{4}-\d{2}-\d{2}(?:[ T]\d{2}:\d{2}(?::\d{2})?)?"
    r"|\d{1,2}/\d{1,2}/\d{4})\s*$"
)


@dataclass(frozen=True)
class Check:
    """One expectation of the suite, tagged critical or warning."""

    name: str
    expectation: str
    column: str | None
    kind: Kind
    rule: str
    kwargs: dict[str, Any] = field(default_factory=dict)
    parsed: bool = False

    @property
    def gx_column(self) -> str | None:
        """The DataFrame column GX validates: the numeric parse for ``parsed`` checks."""
        if self.column is None:
            return None
        return parsed_column(self.column) if self.parsed else self.column


def parsed_column(column: str) -> str:
    """Name of the helper column holding the numeric parse of ``column``."""
    return f"{column}__parsed"


def _not_null(column: str, kind: Kind = CRITICAL) -> Check:
    return Check(f"{column}_present", "ExpectColumnValuesToNotBeNull", column, kind, "not blank")


def _regex(column: str, regex: str, rule: str, kind: Kind = CRITICAL) -> Check:
    return Check(
        f"{column}_format", "ExpectColumnValuesToMatchRegex", column, kind, rule, {"regex": regex}
    )


def _in_set(column: str, values: tuple[str, ...], kind: Kind = CRITICAL) -> Check:
    return Check(
        f"{column}_known",
        "ExpectColumnValuesToBeInSet",
        column,
        kind,
        f"one of {len(values)} known values",
        {"value_set": list(values)},
    )


def _between(
    name: str,
    column: str,
    kind: Kind,
    rule: str,
    **bounds: float | bool,
) -> Check:
    return Check(name, "ExpectColumnValuesToBeBetween", column, kind, rule, dict(bounds), True)


SUITE: tuple[Check, ...] = (
    Check(
        "required_columns",
        "ExpectTableColumnsToMatchSet",
        None,
        CRITICAL,
        "all required LendingClub columns present",
        {"column_set": list(REQUIRED_COLUMNS), "exact_match": False},
    ),
    # id
    _not_null("id"),
    Check("id_unique", "ExpectColumnValuesToBeUnique", "id", CRITICAL, "unique within a chunk"),
    _regex("id", r"^\s*\d+\s*$", "digits only", WARNING),
    # amounts and rates
    _not_null("loan_amnt"),
    _regex("loan_amnt", NUMBER_RE, "a number"),
    _between(
        "loan_amnt_range",
        "loan_amnt",
        CRITICAL,
        "500 <= loan_amnt <= 100000",
        min_value=500,
        max_value=100_000,
    ),
    _not_null("term"),
    _regex("term", TERM_RE, "'36 months' or '60 months' (leading space allowed)"),
    _not_null("int_rate"),
    _regex("int_rate", PERCENT_RE, "a number, '%' optional"),
    _between(
        "int_rate_range", "int_rate", CRITICAL, "0 <= int_rate <= 100", min_value=0, max_value=100
    ),
    _regex("installment", NUMBER_RE, "a number"),
    _between("installment_range", "installment", CRITICAL, "installment >= 0", min_value=0),
    # borrower
    _not_null("annual_inc", WARNING),
    _regex("annual_inc", NUMBER_RE, "a number"),
    _between("annual_inc_non_negative", "annual_inc", CRITICAL, "annual_inc >= 0", min_value=0),
    _between(
        "annual_inc_positive",
        "annual_inc",
        WARNING,
        "annual_inc > 0 (zero income is real but rare)",
        min_value=0,
        strict_min=True,
    ),
    _not_null("dti", WARNING),
    _regex("dti", NUMBER_RE, "a number"),
    _between("dti_non_negative", "dti", CRITICAL, "dti >= 0", min_value=0),
    _between(
        "dti_plausible", "dti", WARNING, "dti <= 100 (LendingClub writes up to 999)", max_value=100
    ),
    _not_null("revol_util", WARNING),
    _regex("revol_util", PERCENT_RE, "a number, '%' optional"),
    _between("revol_util_non_negative", "revol_util", CRITICAL, "revol_util >= 0", min_value=0),
    _between(
        "revol_util_plausible",
        "revol_util",
        WARNING,
        "revol_util <= 100 (over-limit is real)",
        max_value=100,
    ),
    _not_null("earliest_cr_line", WARNING),
    _regex("earliest_cr_line", LC_DATE_RE, "a date like 'Aug-1998', 'Aug-98', '1998-08-01'"),
    _regex("issue_d", LC_DATE_RE, "a date like 'Sep-2016', 'Sep-16', '2016-09-01'"),
    # categories
    _not_null("loan_status"),
    _in_set("loan_status", LOAN_STATUSES),
    _not_null("purpose"),
    _in_set("purpose", PURPOSES),
    _not_null("home_ownership"),
    _in_set("home_ownership", HOME_OWNERSHIPS),
    _in_set("emp_length", EMP_LENGTHS),
    _in_set("grade", GRADES),
    _regex("sub_grade", r"^[A-G][1-5]$", "A1 .. G5"),
    _in_set("verification_status", VERIFICATION_STATUSES),
    _regex("addr_state", r"^[A-Z]{2}$", "two capital letters", WARNING),
)

PARSED_COLUMNS: tuple[str, ...] = tuple(
    dict.fromkeys(check.column for check in SUITE if check.parsed and check.column)
)

# Checks loanstream runs itself and reports like expectations (GX sees one chunk at a time).
ID_UNIQUE_ACROSS_CHUNKS = Check(
    "id_unique_across_chunks",
    "expect_column_values_to_be_unique",
    "id",
    CRITICAL,
    "no id repeats one from an earlier chunk of the file",
)
ROW_FIELD_COUNT = Check(
    "row_field_count",
    "expect_row_field_count_to_equal_header",
    None,
    CRITICAL,
    "every row has as many fields as the header (an unquoted comma or a cut row?)",
)
HAS_ROWS = Check(
    "has_rows",
    "expect_table_row_count_to_be_between",
    None,
    CRITICAL,
    "at least one data row after the header",
)
