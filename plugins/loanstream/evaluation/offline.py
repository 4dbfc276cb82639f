"""Offline evaluation of the risk rules on a LendingClub CSV with known outcomes.

Labels: "Charged Off" is bad (1) and "Fully Paid" is good (0), including the
"Does not meet the credit policy. Status:..." variants; every other status (Current, Late, In
Grace Period, ...) has no final outcome and is excluded. Rows that fail ``preprocess_event`` (or
cannot become an event at all) are counted as ``skipped``, not fatal.

Each CSV row becomes the event the producer sends (``loanstream.produce.events``: the same JSON body,
``event_time`` appended) and is read back as the sink reads it, so ``evaluate`` computes
exactly the features the live pipeline computes for the row: time-dependent ones are measured
as of the row's ``issue_d`` in both (``loanstream.scoring.features``), whenever it is scored.

Figures, out-of-sample first:

- **out of sample** (:func:`cross_validate`): stratified k-fold cross-validation. In each
  fold the points of the rules are refitted on the other folds (logistic regression on the
  rule indicators, ridge-penalised), mapped onto the 0..100 score scale on those folds (least
  squares against the rule set's own score) and banded with the rule set's bands; AUC, KS and
  bad rate per band are measured on the held-out fold only. This measures the rule *structure*
  (which conditions, which cut-offs) on rows its points were not fitted to.
- **in sample**: the rule set as written, on every labelled row. The shipped points and
  thresholds were chosen by looking at the real sample, so on that file this overstates them.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from loanstream.paths import CsvFile
from loanstream.produce.events import finish_event, iter_event_batches, utc_now_iso
from loanstream.scoring import (
    Features,
    RuleSet,
    Score,
    ScoringError,
    apply_rules,
    load_rules,
    preprocess_event,
)

_POLICY_PREFIX = "Does not meet the credit policy. Status:"
_SUB_GRADES = {f"{g}{i}": n * 5 + i - 1 for n, g in enumerate("ABCDEFG") for i in range(1, 6)}
DEFAULT_FOLDS = 5
DEFAULT_SEED = 0
RIDGE = 1.0  # L2 penalty on the refitted points (not on the intercept)


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


def iter_events(path: str | Path | CsvFile, event_time: str | None = None) -> Iterator[dict[str, Any] | None]:
    """Each data row of ``path`` as the sink receives it from the producer (the same JSON
    body, ``event_time`` appended, decoded again); None for a row that is no event."""
    stamp = event_time or utc_now_iso()
    for batch in iter_event_batches(path):
        rows = [(r.row, None) for r in batch.rejections]
        rows += zip(batch.rows, batch.bodies, strict=True)
        for _, body in sorted(rows, key=lambda item: item[0]):  # in file order
            yield None if body is None else orjson.loads(finish_event(body, stamp))


def score_events(
    path: str | Path | CsvFile, rules: RuleSet, event_time: str | None = None
) -> Iterator[tuple[dict[str, Any] | None, Features | ScoringError | None, Score | None]]:
    """(event, its features or the ScoringError, its score) for each row of ``path``."""
    for event in iter_events(path, event_time):
        if event is None:
            yield None, None, None
            continue
        try:
            features = preprocess_event(event)
        except ScoringError as exc:
            yield event, exc, None
            continue
        yield event, features, apply_rules(features, rules)


def _bad_rate_by_band(
    bands: np.ndarray, labels: np.ndarray, ruleset: RuleSet
) -> dict[str, dict[str, float | int | None]]:
    by_band: dict[str, dict[str, float | int | None]] = {}
    for band, _ in ruleset.bands:
        mask = bands == band
        n = int(mask.sum())
        by_band[band] = {"n": n, "bad_rate": round(float(labels[mask].mean()), 4) if n else None}
    return by_band


def _fit_logistic(x: np.ndarray, y: np.ndarray, ridge: float = RIDGE) -> np.ndarray:
    """Weights (intercept first) of a ridge-penalised logistic regression, by Newton steps."""
    design = np.column_stack([np.ones(len(x)), x])
    penalty = np.full(design.shape[1], ridge)
    penalty[0] = 0.0
    w = np.zeros(design.shape[1])
    for _ in range(100):
        p = 1.0 / (1.0 + np.exp(-(design @ w)))
        gradient = design.T @ (y - p) - penalty * w
        hessian = (design * (p * (1 - p))[:, None]).T @ design + np.diag(penalty)
        step = np.linalg.solve(hessian, gradient)
        w += step
        if np.max(np.abs(step)) < 1e-9:
            break
    return w


def stratified_folds(labels: np.ndarray, folds: int, seed: int) -> np.ndarray:
    """The fold (0..folds-1) of each row: bad and good rows dealt out separately, shuffled."""
    fold = np.empty(len(labels), dtype=int)
    rng = np.random.default_rng(seed)
    for value in (0, 1):
        rows = rng.permutation(np.flatnonzero(labels == value))
        fold[rows] = np.arange(len(rows)) % folds
    return fold


def cross_validate(
    fired: np.ndarray,
    scores: np.ndarray,
    labels: np.ndarray,
    sub_grades: np.ndarray,
    ruleset: RuleSet,
    folds: int = DEFAULT_FOLDS,
    seed: int = DEFAULT_SEED,
) -> dict[str, Any]:
    """Out-of-sample figures: see the module docstring. ``fired[i, j]``: rule j held for row i;
    ``scores``: the rule set's own scores (the scale refitted scores are mapped onto)."""
    fold_of = stratified_folds(labels, folds, seed)
    held_out = np.empty(len(labels), dtype=int)
    aucs, kss, grade_aucs = [], [], []
    for k in range(folds):
        test, train = fold_of == k, fold_of != k
        w = _fit_logistic(fired[train], labels[train])
        logit = w[0] + fired @ w[1:]
        # onto the 0..100 scale of the rule set, fitted on the training folds only
        slope, intercept = np.polyfit(logit[train], scores[train], 1)
        held_out[test] = np.clip(np.rint(intercept + slope * logit[test]), 0, 100)
        aucs.append(roc_auc(logit[test], labels[test]))
        kss.append(ks_statistic(logit[test], labels[test]))
        graded = test & ~np.isnan(sub_grades)
        grade_aucs.append(roc_auc(sub_grades[graded], labels[graded]))
    bands = np.asarray([ruleset.band(int(s)) for s in held_out])
    return {
        "method": (
            f"{folds}-fold stratified cross-validation (seed {seed}): rule points refitted "
            "(ridge logistic regression on the rule indicators) on the other folds, measured "
            "on the held-out fold"
        ),
        "folds": folds,
        "auc": round(float(np.mean(aucs)), 4),
        "auc_by_fold": [round(a, 4) for a in aucs],
        "ks": round(float(np.mean(kss)), 4),
        "ks_by_fold": [round(k, 4) for k in kss],
        "bad_rate_by_band": _bad_rate_by_band(bands, labels, ruleset),
        "lc_sub_grade_auc": round(float(np.nanmean(grade_aucs)), 4),
    }


def evaluate_csv(
    path: str | Path | CsvFile,
    rules: RuleSet | None = None,
    *,
    folds: int = DEFAULT_FOLDS,
    seed: int = DEFAULT_SEED,
) -> dict[str, Any]:
    """Score every labelled row of ``path``: out-of-sample figures first, then in-sample."""
    ruleset = rules if rules is not None else load_rules()
    codes = {rule.code: j for j, rule in enumerate(ruleset.rules)}
    scores: list[int] = []
    labels: list[int] = []
    bands: list[str] = []
    fired: list[list[bool]] = []
    sub_grades: list[float] = []
    as_of: dict[str, int] = {}
    skipped = unlabelled = 0
    # event_time only matters for rows without issue_d: one fixed stamp for the whole run
    stamp = datetime.now(UTC).isoformat()
    for event, features, score in score_events(path, ruleset, stamp):
        if event is None:  # a row that is no event (no id, wrong field count)
            skipped += 1
            continue
        if outcome_label(event.get("loan_status")) is None:
            unlabelled += 1
            continue
        if score is None or not isinstance(features, Features):
            skipped += 1
            continue
        label = outcome_label(event.get("loan_status"))
        scores.append(score.risk_score)
        labels.append(label)
        bands.append(score.risk_band)
        row = [False] * len(codes)
        for code in score.reasons:
            row[codes[code]] = True
        fired.append(row)
        sub_grades.append(_SUB_GRADES.get((event.get("sub_grade") or "").strip(), np.nan))
        as_of[features.features_as_of_basis] = as_of.get(features.features_as_of_basis, 0) + 1
    y = np.asarray(labels, dtype=int)
    s = np.asarray(scores, dtype=float)
    grade = np.asarray(sub_grades, dtype=float)
    has_grade = ~np.isnan(grade)
    enough = len(y) >= 2 * folds and folds >= 2 and 0 < y.sum() < len(y)
    return {
        "rows": len(labels),
        "bad": int(y.sum()),
        "out_of_sample": (
            cross_validate(np.asarray(fired, dtype=float), s, y, grade, ruleset, folds, seed)
            if enough
            else {"method": f"too few labelled rows of each outcome for {folds} folds"}
        ),
        "in_sample": {
            "method": "the rule set as written, on every labelled row (its points and "
            "thresholds were chosen on the real sample: optimistic there)",
            "auc": round(roc_auc(s, y), 4),
            "ks": round(ks_statistic(s, y), 4),
            "bad_rate_by_band": _bad_rate_by_band(np.asarray(bands), y, ruleset),
            "lc_sub_grade_auc": round(roc_auc(grade[has_grade], y[has_grade]), 4),
        },
        "features_as_of": as_of,
        "skipped": skipped,
        "unlabelled": unlabelled,
        "rules_version": ruleset.version,
    }
