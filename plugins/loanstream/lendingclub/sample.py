"""Generate LendingClub-format loan application CSVs (the shipped sample and load-test files).

``generate_sample(path, rows, seed)`` writes exactly the 151 columns, in order, of LendingClub's
public "accepted loans 2007-2018" export, with its quirks: " 36 months" (leading space), plain
``int_rate``/``revol_util`` numbers, counts written as "1.0", "Aug-1998" dates, trailing spaces
and commas (hence quoting) in ``emp_title``, "10+ years"/"< 1 year"/blank ``emp_length``, rare
ANY/NONE/OTHER home ownership, ``dti`` 999 outliers, zero incomes, ``revol_util`` above 100 and
the per-column blank rates of the real file. ``loan_status`` depends on the risk features, so
scoring the sample is meaningful.

Nothing is copied from real rows: the core fields come from a small generative model, the other
columns from the profile in ``include/profiles/accepted_loans.json`` (per column: blank rate
plus quantiles or value frequencies, summarised once from the 2,000-row real sample). Output is
deterministic for a given ``seed`` and ``rows``; it is written in vectorised chunks, so memory
stays flat for millions of rows.

Besides the plain file, ``shape`` writes the two layouts real LendingClub files come in
(:mod:`loanstream.lendingclub.layout`): the Kaggle export at its real size and layout, and
LendingClub's own download with its banner, quoted fields, ``%`` rates, section title and
footers.
"""

from __future__ import annotations

import functools
import json
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from loanstream.lendingclub.layout import SHAPES, LineFormat, plan_export
from loanstream.lendingclub.lines import MONTHS, TOTAL, csv_cell

__all__ = ["SHAPES", "generate_sample", "load_profile", "plan_export"]  # + COLUMNS

CHUNK_ROWS = 20_000
PROFILE_FILE = "accepted_loans.json"

_GRADES = "ABCDEFG"
_POLICY = "Does not meet the credit policy. Status:"


@dataclass(frozen=True)
class Profile:
    """The distributions the generator draws from (``include/profiles/accepted_loans.json``)."""

    columns: tuple[str, ...]
    quantiles: tuple[float, ...]
    sub_grade_weights: dict[str, int]
    sub_grade_rates: dict[str, list[float]]
    purposes: dict[str, tuple[str, int]]  # purpose -> (title, weight)
    states: dict[str, int]
    emp_length: dict[str, int]
    home_ownership: dict[str, int]
    verification_status: dict[str, int]
    issue_years: dict[str, int]
    emp_titles: tuple[str, ...]
    emp_titles_with_commas: tuple[str, ...]
    descriptions: tuple[str, ...]
    # column -> (blank family, blank rate, kind, (decimals, quantiles) | (values, counts))
    other_columns: dict[str, tuple]


@functools.cache
def load_profile(path: Path | None = None) -> Profile:
    """The generator's profile tables, read once."""
    from loanstream.config import Settings

    path = path or Settings.from_env().profiles_dir / PROFILE_FILE
    data = json.loads(path.read_text(encoding="utf-8"))
    other = {}
    for column, spec in data["other_columns"].items():
        if spec["kind"] == "num":
            params: tuple = (spec["decimals"], spec["quantiles"])
        else:
            params = (spec["values"], spec["counts"])
        other[column] = (spec["family"], spec["blank_rate"], spec["kind"], params)
    return Profile(
        columns=tuple(data["columns"]),
        quantiles=tuple(data["quantiles"]),
        sub_grade_weights=data["sub_grade_weights"],
        sub_grade_rates=data["sub_grade_rates"],
        purposes={p: (v["title"], v["weight"]) for p, v in data["purposes"].items()},
        states=data["states"],
        emp_length=data["emp_length"],
        home_ownership=data["home_ownership"],
        verification_status=data["verification_status"],
        issue_years=data["issue_years"],
        emp_titles=tuple(data["emp_titles"]),
        emp_titles_with_commas=tuple(data["emp_titles_with_commas"]),
        descriptions=tuple(data["descriptions"]),
        other_columns=other,
    )


def __getattr__(name: str) -> Any:
    if name == "COLUMNS":  # the 151 columns of the real export, in order
        return load_profile().columns
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


_TABLE_SIZE = 200_000
_FIRST_YEAR = 1900


def _weights(table: dict) -> tuple[np.ndarray, np.ndarray]:
    keys = np.array([csv_cell(str(k)) for k in table], dtype=object)
    probs = np.array(list(table.values()), dtype=float)
    return keys, probs / probs.sum()


@functools.cache
def _number_table(decimals: int) -> np.ndarray:
    """Text of ``i / 10**decimals`` for every code ``i`` below ``_TABLE_SIZE`` ("7.0", "18.1")."""
    scale = 10**decimals
    return np.array([repr(i / scale) for i in range(_TABLE_SIZE)], dtype=object)


@functools.cache
def _integer_table() -> np.ndarray:
    return np.array([str(i) for i in range(_TABLE_SIZE)], dtype=object)


@functools.cache
def _fraction_table(decimals: int) -> np.ndarray:
    """ ".0", ".01" .. ".99" for 2 decimals: the fraction part as ``repr`` writes it."""
    scale = 10**decimals
    return np.array([repr(i / scale)[1:] for i in range(max(scale, 1))], dtype=object)


@functools.cache
def _month_table() -> np.ndarray:
    """ "Jan-1900" .. "Dec-2199", indexed by months since January 1900."""
    return np.array(
        [f"{m}-{y}" for y in range(_FIRST_YEAR, _FIRST_YEAR + 300) for m in MONTHS], dtype=object
    )


def _pick(rng: np.random.Generator, table: dict, n: int) -> np.ndarray:
    keys, probs = _weights(table)
    return keys[rng.choice(len(keys), n, p=probs)]


def _num_text(values: np.ndarray, decimals: int) -> np.ndarray:
    """Numbers as LendingClub writes them ("7.0", "18.1", "6714.54"), via lookup tables."""
    numbers = np.asarray(values, dtype=float)
    scale = 10**decimals
    codes = np.rint(numbers * scale).astype(np.int64)
    if codes.size == 0:
        return np.empty(0, dtype=object)
    if codes.min() >= 0 and codes.max() < _TABLE_SIZE:
        return _number_table(decimals)[codes]
    text = np.empty(len(codes), dtype=object)
    whole, fraction = np.divmod(codes, scale)
    small = (codes >= 0) & (whole < _TABLE_SIZE)
    text[small] = _integer_table()[whole[small]] + _fraction_table(decimals)[fraction[small]]
    if not small.all():
        big = ~small
        text[big] = np.round(numbers[big], decimals).astype(str).astype(object)
    return text


def _month_text(month_index: np.ndarray) -> np.ndarray:
    """Months since year 0 -> "Aug-1998"."""
    first, table = _FIRST_YEAR * 12, _month_table()
    return table[np.clip(month_index - first, 0, len(table) - 1)]


def _blank(values: np.ndarray, mask: np.ndarray) -> np.ndarray:
    return np.where(mask, "", values).astype(object)


def _profile_column(
    rng: np.random.Generator, spec: tuple, n: int, family_u: dict[str, np.ndarray]
) -> np.ndarray:
    """One profiled column: blank at its real rate, else drawn from its quantiles/frequencies."""
    family, blank_rate, kind, params = spec
    if family == "bureau" and not (blank_rate <= 0.08 or 0.39 <= blank_rate <= 0.48):
        u = rng.random(n)  # independent of the other bureau columns
    else:
        u = family_u[family]  # shared: columns of one family are blank together
    present = u >= blank_rate
    m = int(present.sum())
    column = np.full(n, "", dtype=object)
    if kind == "num":
        decimals, quantiles = params
        column[present] = _num_text(
            np.interp(rng.random(m), load_profile().quantiles, quantiles), decimals
        )
    else:
        labels, counts = params
        column[present] = _pick(rng, dict(zip(labels, counts)), m)
    return column


def _emp_titles(rng: np.random.Generator, n: int) -> np.ndarray:
    profile = load_profile()
    titles = np.array(profile.emp_titles, dtype=object)
    titles = titles[rng.integers(0, len(titles), n)]
    u = rng.random(n)
    commas = np.array([csv_cell(t) for t in profile.emp_titles_with_commas], dtype=object)
    titles = np.where(u < 0.03, commas[rng.integers(0, len(commas), n)], titles)
    titles = np.where((u >= 0.03) & (u < 0.13), titles + " ", titles)  # trailing spaces
    titles = np.where((u >= 0.13) & (u < 0.15), titles + "  ", titles)
    return _blank(titles, rng.random(n) < 0.081)


def _last_fico(rng: np.random.Generator, fico_low: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Latest FICO range: drifts from the original; LendingClub writes 0/499 for no score."""
    n = len(fico_low)
    low = np.clip(5 * np.round((fico_low + rng.normal(0, 45, n)) / 5), 500, 845)
    none = rng.random(n) < 0.025
    high = np.where(none, 499.0, np.where(low >= 845, 850.0, low + 4))
    return _num_text(np.where(none, 0.0, low), 1), _num_text(high, 1)


def _chunk(
    rng: np.random.Generator,
    start: int,
    n: int,
    issue: np.ndarray | None = None,
    fails_policy: bool | None = None,
) -> dict[str, Sequence[str]]:
    """``n`` rows as column -> list of CSV texts.

    ``issue``: the rows' issue months (months since year 0) instead of random ones;
    ``fails_policy``: every row (True) or none (False) is a loan that does not meet the
    credit policy; None: a few, at random (the plain file).
    """
    profile = load_profile()
    out: dict[str, Sequence[str]] = {}
    family_u = {f: rng.random(n) for f in ("bureau", "joint", "hardship", "settlement")}

    ids = 10_000_000 + (start + np.arange(n, dtype=np.int64)) * 97 + rng.integers(0, 97, n)
    id_text = ids.astype(str).astype(object)
    out["id"] = id_text
    out["member_id"] = [""] * n

    sg_keys, sg_probs = _weights(profile.sub_grade_weights)
    k = rng.choice(len(sg_keys), n, p=sg_probs)  # 0 = A1 .. 34 = G5
    risk = (k - 12) / 8.0
    rate_table = np.array([(list(r) + [r[0]] * 5)[:5] for r in profile.sub_grade_rates.values()])
    rate_counts = np.array([len(r) for r in profile.sub_grade_rates.values()])
    int_rate = rate_table[k, (rng.random(n) * rate_counts[k]).astype(int)]
    out["int_rate"] = _num_text(int_rate, 2)
    out["grade"] = np.array(list(_GRADES), dtype=object)[k // 5]
    out["sub_grade"] = sg_keys[k]

    amount = np.exp(rng.normal(np.log(12_000), 0.65, n))
    step = np.select([rng.random(n) < 0.7, rng.random(n) < 0.65], [1000, 500], 25)
    amount = np.clip(np.round(amount / step) * step, 1000, 40_000)
    out["loan_amnt"] = out["funded_amnt"] = _num_text(amount, 1)
    inv = amount - np.where(rng.random(n) < 0.0645, 25 * rng.integers(1, 40, n), 0)
    out["funded_amnt_inv"] = _num_text(np.maximum(inv, amount / 2), 1)

    term60 = rng.random(n) < 1 / (1 + np.exp(-(-1.6 + 1.4 * (amount > 20_000) + 0.5 * risk)))
    months = np.where(term60, 60, 36)
    out["term"] = np.where(term60, " 60 months", " 36 months").astype(object)
    r = int_rate / 1200
    out["installment"] = _num_text(amount * r / (1 - (1 + r) ** -months), 2)

    income = np.exp(rng.normal(np.log(66_000) - 0.08 * risk, 0.55, n))
    income *= np.where(rng.random(n) < 0.01, 3.0, 1.0)  # long right tail
    income = np.where(rng.random(n) < 0.75, np.round(income, -3), np.round(income))
    income = np.where(rng.random(n) < 0.001, 0.0, np.minimum(income, 9_500_000))
    out["annual_inc"] = _num_text(income, 1)

    dti = np.clip(rng.gamma(4.0, 4.4, n) + 2.0 * risk, 0, 60)
    dti = np.where(rng.random(n) < 0.002, 999.0, dti)
    out["dti"] = _blank(_num_text(dti, 2), rng.random(n) < 0.001)

    fico_low = np.clip(5 * np.round((697 - 14 * risk + rng.normal(0, 30, n)) / 5), 660, 845)
    out["fico_range_low"] = _num_text(fico_low, 1)
    out["fico_range_high"] = _num_text(np.where(fico_low >= 845, 850, fico_low + 4), 1)

    revol = np.clip(rng.normal(50 + 6 * risk, 24, n), 0, 99.9)
    revol = np.where(rng.random(n) < 0.004, rng.uniform(100, 130, n), revol)
    out["revol_util"] = _num_text(revol, 1)

    inq = rng.poisson(np.clip(0.6 + 0.2 * risk, 0.1, None))
    out["inq_last_6mths"] = _num_text(inq, 1)
    out["delinq_2yrs"] = _num_text(rng.poisson(0.32, n), 1)
    out["pub_rec"] = _num_text(rng.poisson(0.2, n), 1)
    open_acc = 1 + rng.poisson(10.5, n)
    out["open_acc"] = _num_text(open_acc, 1)
    out["total_acc"] = _num_text(open_acc + rng.poisson(12, n), 1)

    home = _pick(rng, profile.home_ownership, n)
    out["home_ownership"] = home
    purpose = _pick(rng, {p: w for p, (_, w) in profile.purposes.items()}, n)
    out["purpose"] = purpose
    title_of = {p: csv_cell(t) for p, (t, _) in profile.purposes.items()}
    title = np.array([title_of[p] for p in purpose], dtype=object)
    out["title"] = _blank(title, rng.random(n) < 0.007)
    out["emp_title"] = _emp_titles(rng, n)
    out["emp_length"] = _pick(rng, profile.emp_length, n)
    out["verification_status"] = _pick(rng, profile.verification_status, n)
    out["addr_state"] = _pick(rng, profile.states, n)
    zips = np.array([f"{i:03d}xx" for i in range(1000)], dtype=object)
    out["zip_code"] = zips[rng.integers(10, 1000, n)]

    if issue is None:
        issue = _pick(rng, profile.issue_years, n).astype(int) * 12 + rng.integers(0, 12, n)
    out["issue_d"] = _month_text(issue)
    out["last_fico_range_low"], out["last_fico_range_high"] = _last_fico(rng, fico_low)
    joint = family_u["joint"] >= 0.945
    sec_low = np.clip(5 * np.round(rng.normal(690, 35, n) / 5), 540, 845)
    sec_missing = family_u["joint"] < 0.948
    out["sec_app_fico_range_low"] = _blank(_num_text(sec_low, 1), sec_missing)
    out["sec_app_fico_range_high"] = _blank(_num_text(sec_low + 4, 1), sec_missing)
    history = np.minimum(36 + rng.gamma(2.5, 70, n).astype(int), 70 * 12)
    out["earliest_cr_line"] = _month_text(issue - history)

    logit = (
        -1.75
        + 0.75 * risk
        + 0.5 * term60
        + 0.03 * (np.minimum(dti, 60) - 18)
        + 0.2 * np.minimum(inq, 4)
        + 0.25 * (home == "RENT")
        - 0.006 * (fico_low - 700)
        + 0.3 * np.isin(purpose, ("small_business", "medical", "wedding"))
    )
    bad = rng.random(n) < 1 / (1 + np.exp(-logit))
    u = rng.random(n)
    status = np.select(
        [u < 0.373, u < 0.3835, u < 0.386, u < 0.389],
        ["Current", "Late (31-120 days)", "Late (16-30 days)", "In Grace Period"],
        np.where(bad, "Charged Off", "Fully Paid"),
    ).astype(object)
    finished = u >= 0.389
    policy = finished & (rng.random(n) < 0.0065)
    if fails_policy is None:
        status = np.where(policy, _POLICY + status, status)
    elif fails_policy:
        status = np.where(bad, _POLICY + "Charged Off", _POLICY + "Fully Paid").astype(object)
    out["loan_status"] = status
    outstanding = np.where(finished, 0.0, amount * rng.uniform(0.05, 0.95, n))
    out["out_prncp"] = out["out_prncp_inv"] = _num_text(outstanding, 2)

    out["pymnt_plan"] = np.where(rng.random(n) < 0.0005, "y", "n").astype(object)
    out["url"] = [f"https://lendingclub.com/browse/loanDetail.action?loan_id={i}" for i in id_text]
    descriptions = np.array([csv_cell(d) for d in profile.descriptions], dtype=object)
    desc = descriptions[rng.integers(0, len(descriptions), n)]
    out["desc"] = _blank(desc, rng.random(n) < 0.937)
    out["initial_list_status"] = np.where(rng.random(n) < 0.689, "w", "f").astype(object)
    out["policy_code"] = ["1.0"] * n
    out["application_type"] = np.where(joint, "Joint App", "Individual").astype(object)
    out["hardship_flag"] = np.where(family_u["hardship"] >= 0.998, "Y", "N").astype(object)
    settled = family_u["settlement"] >= 0.988
    out["debt_settlement_flag"] = np.where(settled, "Y", "N").astype(object)
    direct = rng.random(n) < 0.036
    out["disbursement_method"] = np.where(direct, "DirectPay", "Cash").astype(object)

    for column, spec in profile.other_columns.items():
        if column not in out:
            out[column] = _profile_column(rng, spec, n, family_u)
    return {c: v.tolist() if isinstance(v, np.ndarray) else v for c, v in out.items()}


def generate_sample(
    path: str | Path,
    rows: int,
    seed: int = 42,
    chunk_rows: int = CHUNK_ROWS,
    shape: str = "plain",
    newline: str = "\n",
) -> Path:
    """Write a ``shape`` file of ``rows`` synthetic rows to ``path`` (atomically, through a
    private temporary file in its directory; the file is the owner's only, mode 0600).

    Deterministic per seed. ``rows`` counts data rows: loans plus, for the export shapes,
    their summary rows (see :func:`plan_export`). Written in chunks: memory stays flat.
    """
    if newline not in ("\n", "\r\n"):
        raise ValueError("newline must be LF or CRLF")
    plan = plan_export(shape, rows)
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    fmt = LineFormat(shape, load_profile().columns)
    # a private temporary file beside the target (O_EXCL, mode 0600, an unpredictable name:
    # no symlink planted at a guessable name is followed), renamed over it when complete
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    tmp = Path(tmp_name)
    try:
        with open(fd, "w", newline="", encoding="utf-8") as handle:
            handle.write("".join(line + newline for line in fmt.head(plan)))
            written = funded = 0
            for part in plan.parts:
                if part.line:
                    handle.write(fmt.line(part, funded) + newline)
                    if part.line == TOTAL and part.policy_code == 2:
                        funded = 0  # the next section starts
                    continue
                span = part.last - part.first + 1
                for offset in range(0, part.loans, chunk_rows):
                    n = min(chunk_rows, part.loans - offset)
                    issue = None
                    if part.last:  # from the newest month back: the section's order
                        position = offset + np.arange(n, dtype=np.int64)
                        issue = part.last - position * span // part.loans
                    fails = part.fails_policy if plan.shape != "plain" else None
                    columns = _chunk(rng, written, n, issue, fails)
                    if plan.shape != "plain":
                        funded += int(sum(map(float, columns["funded_amnt"])))
                    # values are pre-quoted (csv_cell), so a plain join is valid CSV
                    handle.write(newline.join(fmt.loans(columns)))
                    handle.write(newline)
                    written += n
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    return target
