"""Offline evaluation of the risk rules on a LendingClub CSV with known outcomes.

Labels: "Charged Off" is bad (1) and "Fully Paid" is good (0), including the
"Does not meet the credit policy. Status:..." variants; every other status (Current, Late, In
Grace Period, ...) has no final outcome and is excluded. Rows that fail ``preprocess_event`` are
counted as ``skipped``, not fatal.

Each CSV row becomes an event exactly as the producer would send it (raw text, blanks as
None); its ``event_time`` is the first day of the row's ``issue_d`` month, so credit history is
measured at application time (falling back to now when ``issue_d`` is blank or odd).
"""

from __future__ import annotations

import csv
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from loanstream.scoring import RuleSet, ScoringError, apply_rules, load_rules, preprocess_event

_POLICY_PREFIX = "Does not meet the credit policy. Status:"
_SUB_GRADES = {f"{g}{i}": n * 5 + i - 1 for n, g in enumerate("ABCDEFG") for i in range(1, 6)}
_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")


def outcome_label(status: str | None) -> int | None:
    """1 for Charged Off, 0 for Fully Paid (policy variants included), None otherwise."""
    if not status:
        return None
    status = status.strip()
    if status.startswith(_POLICY_PREFIX):
        status = status[len(_POLICY_PREFIX) :].strip()
    return {"Charged Off": 1, "Fully Paid": 0}.get(status)


def _scores_and_labels(
    scores: Sequence[float] | np.ndarray, labels: Sequence[int] | np.ndarray
) -> tuple[np.ndarray, np.ndarray, int, int]:
    s = np.asarray(scores, dtype=float)
    y = np.asarray(labels, dtype=int)
    n_bad = int(y.sum())
    return s, y, n_bad, len(y) - n_bad


def roc_auc(scores: Sequence[float] | np.ndarray, labels: Sequence[int] | np.ndarray) -> float:
    """ROC AUC via Mann-Whitney U with average ranks for ties (1 = bad scores higher)."""
    s, y, n_bad, n_good = _scores_and_labels(scores, labels)
    if n_bad == 0 or n_good == 0:
        return float("nan")
    order = np.argsort(s, kind="mergesort")
    sorted_s = s[order]
    ranks = np.empty(len(s), dtype=float)
    # average rank of each run of tied scores
    _, first, counts = np.unique(sorted_s, return_index=True, return_counts=True)
    avg = first + (counts + 1) / 2.0
    ranks[order] = np.repeat(avg, counts)
    u = ranks[y == 1].sum() - n_bad * (n_bad + 1) / 2.0
    return float(u / (n_bad * n_good))


def ks_statistic(scores: Sequence[float] | np.ndarray, labels: Sequence[int] | np.ndarray) -> float:
    """Kolmogorov-Smirnov: the largest gap between the bad and good score CDFs."""
    s, y, n_bad, n_good = _scores_and_labels(scores, labels)
    if n_bad == 0 or n_good == 0:
        return float("nan")
    thresholds = np.unique(s)
    cdf_bad = np.searchsorted(np.sort(s[y == 1]), thresholds, side="right") / n_bad
    cdf_good = np.searchsorted(np.sort(s[y == 0]), thresholds, side="right") / n_good
    return float(np.max(np.abs(cdf_bad - cdf_good)))


def _issue_time(issue_d: str | None) -> datetime:
    """First day of "Sep-2016" (UTC), or now if blank or unparseable."""
    text = (issue_d or "").strip()
    try:
        month = _MONTHS.index(text[:3].lower()) + 1
        return datetime(int(text[4:]), month, 1, tzinfo=UTC)
    except ValueError:
        return datetime.now(UTC)


def row_to_event(row: dict[str, str | None]) -> dict[str, Any]:
    """A CSV row as the producer sends it: raw text, blanks as None, plus ``event_time``."""
    event: dict[str, Any] = {k: (v if v != "" else None) for k, v in row.items()}
    event["event_time"] = _issue_time(row.get("issue_d")).isoformat()
    return event


def iter_rows(path: str | Path) -> Iterator[dict[str, str | None]]:
    with open(path, newline="", encoding="utf-8") as handle:
        yield from csv.DictReader(handle)


def evaluate_csv(path: str | Path, rules: RuleSet | None = None) -> dict[str, Any]:
    """Score every labelled row of ``path`` and measure AUC, KS and bad rate per band."""
    ruleset = rules if rules is not None else load_rules()
    scores: list[int] = []
    labels: list[int] = []
    bands: list[str] = []
    sub_grades: list[float] = []
    skipped = 0
    unlabelled = 0
    for row in iter_rows(path):
        label = outcome_label(row.get("loan_status"))
        if label is None:
            unlabelled += 1
            continue
        try:
            score = apply_rules(preprocess_event(row_to_event(row)), ruleset)
        except ScoringError:
            skipped += 1
            continue
        scores.append(score.risk_score)
        labels.append(label)
        bands.append(score.risk_band)
        sub_grades.append(_SUB_GRADES.get((row.get("sub_grade") or "").strip(), np.nan))
    y = np.asarray(labels, dtype=int)
    grade = np.asarray(sub_grades, dtype=float)
    has_grade = ~np.isnan(grade)
    by_band: dict[str, dict[str, float | int]] = {}
    band_arr = np.asarray(bands)
    for band, _ in ruleset.bands:
        mask = band_arr == band
        n = int(mask.sum())
        by_band[band] = {"n": n, "bad_rate": round(float(y[mask].mean()), 4) if n else None}
    return {
        "rows": len(labels),
        "bad": int(y.sum()),
        "auc": round(roc_auc(scores, y), 4),
        "ks": round(ks_statistic(scores, y), 4),
        "bad_rate_by_band": by_band,
        "lc_sub_grade_auc": round(roc_auc(grade[has_grade], y[has_grade]), 4),
        "skipped": skipped,
        "unlabelled": unlabelled,
        "rules_version": ruleset.version,
    }
