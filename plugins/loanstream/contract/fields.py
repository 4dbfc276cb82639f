"""``loan_application`` v1: the fields of an application event, each defined once.

An application event carries what is known when the loan is applied for (and listed): the
applicant's declarations, the credit report pulled for the application, and LendingClub's
own assessment at listing (grade, rate, instalment). It never carries what is known only
later: the loan's status, payments, recoveries, hardship and settlement records, or the
credit pulls made while the loan is serviced. The evaluation keeps reading outcomes from the
CSV, never from the stream.

Each :class:`Field` names its event field (the LendingClub column it comes from, under the
same name), its kind (how the cell's text becomes a typed value), unit, nullability and why
it is known at application time. The JSON Schema (:mod:`loanstream.contract.schema`) and
``docs/EVENTS.md`` are generated from this table; nothing else lists the fields.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Kind = Literal["id", "number", "integer", "term_months", "years", "month", "category", "text"]

NAME = "loan_application"
VERSION = 1
KEY_FIELD = "id"
EVENT_TIME_FIELD = "event_time"

# How each kind is written in the event (JSON type, and what the value looks like).
KIND_JSON: dict[str, tuple[str, str]] = {
    "id": ("string", "the loan id, digits only"),
    "number": ("number", "a JSON number; a percentage as its number (11.53 for 11.53%)"),
    "integer": ("integer", "a whole JSON number"),
    "term_months": ("integer", "the term in months (36 or 60 in LendingClub's files)"),
    "years": ("integer", "whole years 0-10 (LendingClub's 10+ is 10, < 1 is 0, n/a is null)"),
    "month": ("string", "ISO year-month, YYYY-MM (LendingClub's 'Aug-1998' is 1998-08)"),
    "category": ("string", "one of LendingClub's values, as LendingClub writes it"),
    "text": ("string", "free text, trimmed"),
}


@dataclass(frozen=True)
class Field:
    """One field of the event: ``name`` (also the CSV column it comes from), ``kind``,
    ``unit``, ``nullable``, and ``known``: why it is known when the loan is applied for."""

    name: str
    kind: Kind
    unit: str
    nullable: bool
    known: str
    description: str


_APPLICANT = "declared by the applicant on the application"
_REPORT = "from the credit report pulled for the application"
_LISTING = "set by LendingClub when it listed the application, before any outcome"

FIELDS: tuple[Field, ...] = (
    Field("id", "id", "", False, "assigned when the application is received", "the loan id"),
    Field("loan_amnt", "number", "USD", False, _APPLICANT, "amount applied for"),
    Field("term", "term_months", "months", False, _APPLICANT, "term of the loan"),
    Field("int_rate", "number", "percent", True, _LISTING, "interest rate offered"),
    Field("installment", "number", "USD/month", True, _LISTING, "monthly payment if funded"),
    Field("grade", "category", "", True, _LISTING, "LendingClub grade, A-G"),
    Field("sub_grade", "category", "", True, _LISTING, "LendingClub sub-grade, A1-G5"),
    Field("emp_title", "text", "", True, _APPLICANT, "job title"),
    Field("emp_length", "years", "years", True, _APPLICANT, "years in employment"),
    Field("home_ownership", "category", "", True, _APPLICANT, "RENT, MORTGAGE, OWN, ..."),
    Field("annual_inc", "number", "USD/year", True, _APPLICANT, "self-reported annual income"),
    Field(
        "verification_status", "category", "", True, _LISTING,
        "whether LendingClub verified the income",
    ),  # fmt: skip
    Field(
        "issue_d", "month", "month", True,
        "the month of the application's listing and issue (the as-of month of the features)",
        "month the loan was issued",
    ),  # fmt: skip
    Field("purpose", "category", "", True, _APPLICANT, "purpose of the loan"),
    Field("title", "text", "", True, _APPLICANT, "the loan's title, as given"),
    Field("zip_code", "text", "", True, _APPLICANT, "first three digits of the ZIP code"),
    Field("addr_state", "category", "", True, _APPLICANT, "two-letter US state"),
    Field("dti", "number", "percent", True, _REPORT, "debt payments / monthly income"),
    Field("delinq_2yrs", "integer", "count", True, _REPORT, "30+ day delinquencies, 2 years"),
    Field("earliest_cr_line", "month", "month", True, _REPORT, "first credit line opened"),
    Field("fico_range_low", "number", "score", True, _REPORT, "FICO range, low end"),
    Field("fico_range_high", "number", "score", True, _REPORT, "FICO range, high end"),
    Field("inq_last_6mths", "integer", "count", True, _REPORT, "inquiries in 6 months"),
    Field(
        "mths_since_last_delinq", "integer", "months", True, _REPORT,
        "months since the last delinquency",
    ),  # fmt: skip
    Field(
        "mths_since_last_record", "integer", "months", True, _REPORT,
        "months since the last public record",
    ),  # fmt: skip
    Field("open_acc", "integer", "count", True, _REPORT, "open credit lines"),
    Field("pub_rec", "integer", "count", True, _REPORT, "derogatory public records"),
    Field("revol_bal", "number", "USD", True, _REPORT, "revolving balance"),
    Field("revol_util", "number", "percent", True, _REPORT, "revolving line utilisation"),
    Field("total_acc", "integer", "count", True, _REPORT, "credit lines ever"),
    Field("initial_list_status", "category", "", True, _LISTING, "w (whole) or f (fractional)"),
    Field("application_type", "category", "", True, _APPLICANT, "Individual or Joint App"),
    Field("annual_inc_joint", "number", "USD/year", True, _APPLICANT, "joint annual income"),
    Field("dti_joint", "number", "percent", True, _REPORT, "joint debt-to-income"),
    Field(
        "verification_status_joint", "category", "", True, _LISTING,
        "whether the joint income was verified",
    ),  # fmt: skip
    Field("acc_now_delinq", "integer", "count", True, _REPORT, "accounts now delinquent"),
    Field("tot_coll_amt", "number", "USD", True, _REPORT, "total collection amounts owed"),
    Field("tot_cur_bal", "number", "USD", True, _REPORT, "total current balance"),
    Field("total_rev_hi_lim", "number", "USD", True, _REPORT, "total revolving credit limit"),
    Field("mort_acc", "integer", "count", True, _REPORT, "mortgage accounts"),
    Field(
        "pub_rec_bankruptcies", "integer", "count", True, _REPORT, "public record bankruptcies"
    ),
    Field("tax_liens", "integer", "count", True, _REPORT, "tax liens"),
)

FIELD_NAMES: tuple[str, ...] = tuple(f.name for f in FIELDS)
BY_NAME: dict[str, Field] = {f.name: f for f in FIELDS}
REQUIRED: tuple[str, ...] = tuple(f.name for f in FIELDS if not f.nullable)

# Known only after the loan is applied for: never part of an application event. Listed so
# that the docs and the drop report can say why a column is dropped; any other column that
# is not a field is dropped too ("not in the contract").
OUTCOME_COLUMNS: frozenset[str] = frozenset(
    {
        "loan_status", "pymnt_plan", "funded_amnt", "funded_amnt_inv", "out_prncp",
        "out_prncp_inv", "total_pymnt", "total_pymnt_inv", "total_rec_prncp", "total_rec_int",
        "total_rec_late_fee", "recoveries", "collection_recovery_fee", "last_pymnt_d",
        "last_pymnt_amnt", "next_pymnt_d", "last_credit_pull_d", "last_fico_range_high",
        "last_fico_range_low", "hardship_flag", "hardship_type", "hardship_reason",
        "hardship_status", "deferral_term", "hardship_amount", "hardship_start_date",
        "hardship_end_date", "payment_plan_start_date", "hardship_length", "hardship_dpd",
        "hardship_loan_status", "orig_projected_additional_accrued_interest",
        "hardship_payoff_balance_amount", "hardship_last_payment_amount",
        "debt_settlement_flag", "debt_settlement_flag_date", "settlement_status",
        "settlement_date", "settlement_amount", "settlement_percentage", "settlement_term",
    }
)  # fmt: skip


def why_dropped(column: str) -> str:
    """Why a CSV column is not in an application event (for the drop report)."""
    if column in OUTCOME_COLUMNS:
        return "known only after application (outcome or servicing)"
    return "not in the loan_application contract"
