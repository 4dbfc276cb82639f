"""The native (Rust) event encoder writes exactly the bytes the Python encoder writes, or declines.

Its contract (``loanstream.native.load_body_encoder``): for each CSV record it either returns
``loanstream.events._to_json_body(names, values)`` byte for byte, or None, and Python encodes
that record. Checked on every row of both samples, on the bad-input corpus, on LendingClub's
export shapes (every field quoted, ``%`` rates, CRLF, embedded newlines) and on hypothesis
input (any text, control characters, quotes, backslashes, non-ASCII, lone surrogates).
``make setup`` builds the encoder; these tests fail, not skip, when it is missing.
"""

from __future__ import annotations

import csv
import functools
import io
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from loanstream.events import EventSourceError, _to_json_body, iter_event_batches
from loanstream.native import NativeScoringUnavailable, load_body_encoder

pytestmark = pytest.mark.unit

REPO = Path(__file__).resolve().parents[2]
SHIPPED = REPO / "include" / "data" / "loan_applications_sample.csv"
CORPUS = REPO / "tests" / "data" / "bad_inputs"


@functools.cache
def encoder(names: tuple[str, ...]) -> Any:
    try:
        native, _ = load_body_encoder(list(names), "on")
    except NativeScoringUnavailable as exc:
        pytest.fail(f"{exc} (cargo must be installed; `make setup` builds it)")
    return native


def check(names: list[str], rows: list[list[Any]]) -> int:
    """Assert the contract; the number of records declined."""
    bodies = encoder(tuple(names)).encode(rows)
    assert len(bodies) == len(rows)
    declined = 0
    for body, values in zip(bodies, rows, strict=True):
        if body is None:
            declined += 1
            continue
        assert body == _to_json_body(names, values), values
    return declined


def batches(path: Path, native: str, **kwargs: Any) -> Any:
    """Everything iter_event_batches yields for ``path`` (or the error it raises)."""
    try:
        return [
            (b.keys, b.bodies, b.rows, b.rejections)
            for b in iter_event_batches(path, native=native, **kwargs)
        ]
    except EventSourceError as exc:
        return ("error", str(exc))


@pytest.mark.parametrize("sample", ["real", "shipped"])
def test_every_sample_row_encodes_natively_and_identically(sample: str, shared_csv: Path) -> None:
    path = shared_csv if sample == "real" else SHIPPED
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        names = [name.strip() for name in next(reader)]
        rows = list(reader)
    assert check(names, rows) == 0  # real files hold only text: nothing declined
    assert batches(path, "on", chunk_rows=700) == batches(path, "off", chunk_rows=700)


@pytest.mark.parametrize("name", sorted(p.name for p in CORPUS.glob("*.csv")))
def test_bad_input_corpus_same_events_rejections_and_errors(name: str) -> None:
    path = CORPUS / name
    assert batches(path, "on") == batches(path, "off")
    assert batches(path, "on", skip=2, max_events=3) == batches(path, "off", skip=2, max_events=3)


def lendingclub_download(source: Path, target: Path, newline: str) -> Path:
    """LendingClub's own export shape: every field quoted, % rates, the given line ends."""
    with source.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    header = rows[0]
    percent = [header.index("int_rate"), header.index("revol_util")]
    for row in rows[1:]:
        for i in percent:
            row[i] = f"{row[i]}%" if row[i] else row[i]
    desc = header.index("desc")
    rows[1][desc] = 'multi\nline "quoted" \\ desc,\twith a tab'
    buffer = io.StringIO()
    csv.writer(buffer, quoting=csv.QUOTE_ALL, lineterminator=newline).writerows(rows)
    target.write_text(buffer.getvalue(), encoding="utf-8", newline="")
    return target


@pytest.mark.parametrize("newline", ["\r\n", "\n"])
def test_lendingclub_export_shape(newline: str, shared_csv: Path, tmp_path: Path) -> None:
    path = lendingclub_download(shared_csv, tmp_path / "LoanStats.csv", newline)
    native, python = batches(path, "on"), batches(path, "off")
    assert native == python
    assert sum(len(keys) for keys, *_ in native) == 2000


def test_records_it_declines() -> None:
    names = ["id", "desc"]
    rows: list[Any] = [
        ["1", "ok"],
        ["2", "lone \ud800 surrogate"],  # orjson refuses it: declined, Python raises as before
        ["3"],  # wrong width
        ["4", None],  # not text
        ("5", "a tuple"),
        ["6", ""],
    ]
    bodies = encoder(tuple(names)).encode(rows)
    assert [b is None for b in bodies] == [False, True, True, True, True, False]
    assert bodies[0] == _to_json_body(names, rows[0])
    assert bodies[5] == b'{"id":"6","desc":null'


def test_modes() -> None:
    assert load_body_encoder(["id"], "off") == (None, "Python (LOANSTREAM_NATIVE_ENCODING=off)")
    with pytest.raises(ValueError, match="LOANSTREAM_NATIVE_ENCODING"):
        load_body_encoder(["id"], "fast")
    scorer, why = load_body_encoder(["id", "id"], "auto")
    assert scorer is None and "repeated" in why


text = st.text(
    alphabet=st.characters(codec=None, exclude_categories=()), max_size=30
) | st.sampled_from(["", " 36 months", '"', "\\", "\x00", "\x1f\x7f", "é", "\u2028", "\U0001f600"])


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    names=st.lists(text, min_size=1, max_size=6, unique=True),
    data=st.data(),
)
def test_any_text_encodes_identically_or_is_declined(names: list[str], data: Any) -> None:
    rows = data.draw(st.lists(st.lists(text, min_size=len(names), max_size=len(names)), max_size=5))
    if any("\ud800" <= c <= "\udfff" for name in names for c in name):
        assert load_body_encoder(names, "auto")[0] is None  # no such header from a UTF-8 file
        return
    bodies = encoder(tuple(names)).encode(rows)
    for body, values in zip(bodies, rows, strict=True):
        surrogate = any("\ud800" <= c <= "\udfff" for v in values for c in v)
        if body is None:
            assert surrogate, values  # the only text it declines
        else:
            assert body == _to_json_body(names, values)
