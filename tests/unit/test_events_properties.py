"""Property tests of CSV -> events (``iter_event_batches``).

* any text or bytes as a file: only ``EventSourceError``, never another exception;
* any table written by the csv module: every row either becomes an event, is rejected with
  its row number, or is one of LendingClub's non-loan lines (:mod:`loanstream.lendingclub.lines`,
  e.g. a blank line) skipped and counted, and every event round-trips: its JSON parses, holds every header key, and
  each value equals the csv module's own parse of the file with "" -> None.
"""

from __future__ import annotations

import csv
import io
import tempfile
from pathlib import Path

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from loanstream.lendingclub.lines import body_kind, preamble_kind
from loanstream.produce.events import (
    EVENT_TIME_FIELD,
    EventSourceError,
    finish_event,
    iter_event_batches,
)

pytestmark = pytest.mark.unit

T = "2026-01-01T00:00:00+00:00"
# Text a UTF-8 file can hold (no surrogates), with the characters CSV cares about made likely.
CHARS = st.characters(blacklist_categories=("Cs",))
CELL = st.one_of(
    st.text(CHARS, max_size=12),
    st.text(st.sampled_from([",", '"', "\n", "\r", " ", "\t", "a", "1", "\x00", "é", "🚀"]), max_size=6),
    st.just(""),
)  # fmt: skip
NAME = st.text(CHARS, min_size=1, max_size=8).filter(
    lambda s: s.strip() not in ("id", EVENT_TIME_FIELD)
)


def _tmp_file(data: bytes) -> Path:
    handle = tempfile.NamedTemporaryFile(suffix=".csv", delete=False)  # noqa: SIM115
    handle.write(data)
    handle.close()
    return Path(handle.name)


def _drain(path: Path, chunk_rows: int, skipped: list | None = None):
    events, rejected = [], []
    for batch in iter_event_batches(path, chunk_rows=chunk_rows):
        assert len(batch.keys) == len(batch.bodies) == len(batch.rows)
        for key, body, row in zip(batch.keys, batch.bodies, batch.rows):
            events.append((row, key, orjson.loads(finish_event(body, T))))
        rejected += [r.row for r in batch.rejections]
        if skipped is not None:
            skipped += batch.skipped
    return events, rejected


@st.composite
def tables(draw):
    names = draw(st.lists(NAME, min_size=0, max_size=5, unique_by=lambda s: s.strip()))
    header = list(names)
    header.insert(draw(st.integers(0, len(header))), draw(st.sampled_from(["id", " id", "id "])))
    width = len(header)
    rows = draw(
        st.lists(
            st.one_of(
                st.lists(CELL, min_size=width, max_size=width),  # well-formed
                st.lists(CELL, min_size=0, max_size=width + 2),  # any field count
            ),
            max_size=12,
        )
    )
    return header, rows


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tables(), st.integers(1, 5), st.sampled_from(["\r\n", "\n"]))
def test_every_row_round_trips_or_is_rejected(table, chunk_rows: int, terminator: str) -> None:
    header, rows = table
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, lineterminator=terminator)
    writer.writerow(header)
    writer.writerows(rows)
    text = buffer.getvalue()
    path = _tmp_file(text.encode("utf-8"))
    # the csv module's own reading of the same text is the reference
    parsed = list(csv.reader(io.StringIO(text, newline="")))
    preamble = 0
    while parsed and preamble_kind(parsed[0]):  # blank (or banner) lines above the header
        parsed.pop(0)
        preamble += 1
    skipped: list = []
    try:
        events, rejected = _drain(path, chunk_rows, skipped)
    except EventSourceError:
        # allowed only when the text does not read back as a header with one 'id' column
        # (e.g. a bare "\r" in a header cell, which csv.writer leaves unquoted under "\n")
        first = [n.strip() for n in parsed[0]] if parsed else []
        assert first.count("id") != 1 or len(set(first)) != len(first), first
        return
    finally:
        path.unlink()
    names = [n.strip() for n in parsed[0]]
    data = parsed[1:]
    key_at = names.index("id")
    non_loan = [r for r, v in enumerate(data, 1) if body_kind(v, len(names), key_at)]
    assert len(skipped) == preamble + len(non_loan), (skipped, preamble, non_loan)
    assert len(events) + len(rejected) + len(skipped) - preamble == len(data), "every row"
    loan_rows = sorted(set(range(1, len(data) + 1)) - set(non_loan))
    assert sorted([r for r, *_ in events] + rejected) == loan_rows
    for row, key, event in events:
        values = data[row - 1]
        assert len(values) == len(names)
        assert key == values[key_at].strip() and key
        assert set(event) == set(names) | {EVENT_TIME_FIELD}
        for name, value in zip(names, values):
            assert event[name] == (value if value != "" else None), (name, value)
        assert event[EVENT_TIME_FIELD] == T
    for row in rejected:
        values = data[row - 1]
        assert len(values) != len(names) or not values[key_at].strip()


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300), st.integers(1, 4))
def test_any_bytes_only_ever_raise_event_source_error(data: bytes, chunk_rows: int) -> None:
    path = _tmp_file(data)
    try:
        _drain(path, chunk_rows)
    except EventSourceError as exc:
        assert str(path) in str(exc)
    finally:
        path.unlink()


@settings(max_examples=300, deadline=None)
@given(st.text(CHARS, max_size=300), st.integers(1, 4))
def test_any_text_only_ever_raises_event_source_error(text: str, chunk_rows: int) -> None:
    path = _tmp_file(("id,x\n" if len(text) % 2 else "").encode() + text.encode("utf-8"))
    try:
        events, _ = _drain(path, chunk_rows)
    except EventSourceError as exc:
        assert exc.reason
    else:
        for _row, key, event in events:
            assert key and event["id"].strip() == key
