"""The native (Rust) CSV reader yields exactly the batches the Python path yields.

Its contract (``loanstream.native.open_event_reader``): it reads the producer's file and, for
each record, either writes the event Python would (id, ``_to_json_body`` bytes, row) or leaves
the record to ``csv.reader`` and Python through the same cursor, so events, rows, skipped
lines (with their file lines), rejections and errors are Python's. Checked on both samples,
on the bad-input corpus, on LendingClub's export shapes (every field quoted, ``%`` rates,
banner, totals, blank lines, CRLF, embedded newlines), on records across the reader's 1 MiB
reads and on hypothesis input (any cell text, and raw bytes with stray quotes, line breaks,
NUL and bytes that are not UTF-8). ``make setup`` builds the reader; these tests fail, not
skip, when it is missing.
"""

from __future__ import annotations

import csv
import io
import logging
import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from loanstream.native import NativeScoringUnavailable, open_event_reader
from loanstream.produce.events import EventSourceError, iter_event_batches
from tests.lendingclub_exports import write_download, write_kaggle

pytestmark = pytest.mark.unit

REPO = Path(__file__).resolve().parents[2]
SHIPPED = REPO / "include" / "data" / "loan_applications_sample.csv"
CORPUS = REPO / "tests" / "data" / "bad_inputs"


def batches(path: Path, native: str, **kwargs: Any) -> Any:
    """Everything iter_event_batches yields for ``path`` (or the error it raises)."""
    try:
        return [
            (b.keys, b.bodies, b.rows, b.rejections, b.skipped)
            for b in iter_event_batches(path, native=native, **kwargs)
        ]
    except EventSourceError as exc:
        return ("error", str(exc))


def same(path: Path, **kwargs: Any) -> Any:
    """Assert both paths yield the same; what they yield."""
    try:
        native = batches(path, "on", **kwargs)
    except NativeScoringUnavailable as exc:
        pytest.fail(f"{exc} (cargo must be installed; `make setup` builds it)")
    assert native == batches(path, "off", **kwargs)
    return native


def read_by_python(caplog: pytest.LogCaptureFixture) -> int:
    """How many records after the header the last native run left to csv.reader (its log)."""
    lines = [r.getMessage() for r in caplog.records if "(the rest natively)" in r.getMessage()]
    return int(re.search(r"(\d+) of them by csv.reader", lines[-1]).group(1))


@pytest.mark.parametrize("sample", ["real", "shipped"])
def test_every_sample_row_is_read_natively_and_identically(
    sample: str, shared_csv: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = shared_csv if sample == "real" else SHIPPED
    with caplog.at_level(logging.INFO, logger="loanstream.produce.events"):
        events = same(path, chunk_rows=700)
        assert read_by_python(caplog) == 0  # plain loan rows only: nothing left to Python
    assert sum(len(keys) for keys, *_ in events) == (2000 if sample == "real" else 5000)
    same(path, skip=1234, max_events=77, chunk_rows=50)


@pytest.mark.parametrize("name", sorted(p.name for p in CORPUS.glob("*.csv")))
def test_bad_input_corpus_same_events_rejections_and_errors(name: str) -> None:
    path = CORPUS / name
    same(path)
    same(path, skip=2, max_events=3)
    same(path, chunk_rows=2)


def test_decoding_errors_name_the_record_that_holds_the_bad_byte() -> None:
    assert same(CORPUS / "latin1.csv")[1].startswith(f"{CORPUS / 'latin1.csv'}, row 3: not UTF-8")


@pytest.mark.parametrize("newline", ["\n", "\r\n"], ids=["lf", "crlf"])
@pytest.mark.parametrize("write", [write_download, write_kaggle], ids=["download", "kaggle"])
def test_lendingclub_export_shapes(
    write: Any, newline: str, shared_csv: Path, tmp_path: Path
) -> None:
    export = write(shared_csv, tmp_path / "export.csv", newline)
    events = same(export.path, chunk_rows=300)
    assert [key for keys, *_ in events for key in keys] == export.ids


def lendingclub_quoted(source: Path, target: Path, newline: str) -> Path:
    """Every field quoted, a field with a line break, quotes, a backslash, a comma and a tab."""
    with source.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    rows[1][rows[0].index("desc")] = 'multi\nline "quoted" \\ desc,\twith a tab\r\nand CRLF'
    buffer = io.StringIO()
    csv.writer(buffer, quoting=csv.QUOTE_ALL, lineterminator=newline).writerows(rows)
    target.write_text(buffer.getvalue(), encoding="utf-8", newline="")
    return target


@pytest.mark.parametrize("newline", ["\r\n", "\n", "\r"], ids=["crlf", "lf", "cr"])
def test_quoted_fields_and_line_breaks_inside(
    newline: str, shared_csv: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = lendingclub_quoted(shared_csv, tmp_path / "LoanStats.csv", newline)
    with caplog.at_level(logging.INFO, logger="loanstream.produce.events"):
        events = same(path)
        assert read_by_python(caplog) == 0
    assert sum(len(keys) for keys, *_ in events) == 2000
    assert events[0][2][:2] == [1, 2]  # rows count records, not lines


@pytest.mark.parametrize(
    "marker",
    ['\r\n2,"', '""', "\r\r", '"\r\n', "é"],
    ids=["crlf", "doubled-quote", "cr-blank", "quoted-break", "utf8"],
)
def test_records_across_the_readers_1mib_reads(marker: str, tmp_path: Path) -> None:
    """The marker's first byte lands on the last byte of the first read, then on the first of
    the second (a CRLF, a doubled quote, a blank CR line, a multi-byte character split)."""
    from loanstream import _scoring_and_encoding

    READ_BYTES = _scoring_and_encoding.READ_BYTES  # noqa: N806 (bytes read at a time)
    for shift in (1, 0):
        head = 'id,desc\r\n1,"'
        tail = '"\r\n2,"a ""b""\r\nc"\r\r3,é\r\n4,x\r\n'
        at = tail.index(marker)
        pad = READ_BYTES - shift - len(head.encode()) - len(tail[:at].encode())
        path = tmp_path / f"cross_{shift}.csv"
        path.write_bytes((head + "p" * pad + tail).encode())
        assert (
            path.read_bytes()[READ_BYTES - shift : READ_BYTES - shift + 1] == (marker.encode()[:1])
        )
        events = same(path)
        assert [key for keys, *_ in events for key in keys] == ["1", "2", "3", "4"]


def test_modes(tmp_path: Path) -> None:
    assert open_event_reader(tmp_path / "x.csv", "off") == (
        None,
        "Python (LOANSTREAM_NATIVE_ENCODING=off)",
    )
    with pytest.raises(ValueError, match="LOANSTREAM_NATIVE_ENCODING"):
        open_event_reader(tmp_path / "x.csv", "fast")
    with pytest.raises(FileNotFoundError):
        open_event_reader(tmp_path / "x.csv", "on")
    assert same(tmp_path / "x.csv") == ("error", f"{tmp_path / 'x.csv'}: file not found")


def test_records_over_the_field_limit_are_pythons(tmp_path: Path) -> None:
    path = tmp_path / "long.csv"
    path.write_text("id,desc\n1,short\n2," + "x" * 5000 + "\n3,short\n", encoding="utf-8")
    before = csv.field_size_limit(4096)
    try:
        assert same(path) == (
            "error",
            f"{path}, row 2: malformed CSV: field larger than field limit (4096)",
        )
    finally:
        csv.field_size_limit(before)


def test_event_time_column_and_ids_python_strips(tmp_path: Path) -> None:
    path = tmp_path / "own_time.csv"
    path.write_text("id,event_time,x\n1,2020,a\n 2 ,2021,b\n\n,2022,c\n3,,\n", encoding="utf-8")
    events = same(path)
    assert events[0][0] == ["1", "2", "3"]
    assert events[0][3][0].row == 4  # the blank line is row 3


text = st.text(
    alphabet=st.characters(codec=None, exclude_categories=("Cs",)), max_size=12
) | st.sampled_from(
    ["", " 36 months", '"', '""', "\\", "\x00", "\x1f\x7f", "é", "\u2028", "\r\n", "\r", "a,b"]
)
ids = st.from_regex(r"[0-9]{1,4}", fullmatch=True) | st.sampled_from(["", " 7", "x", "٣"])


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    rows=st.lists(st.tuples(ids, st.lists(text, min_size=0, max_size=4)), min_size=0, max_size=8),
    quoting=st.sampled_from([csv.QUOTE_MINIMAL, csv.QUOTE_ALL]),
    newline=st.sampled_from(["\n", "\r\n", "\r"]),
    bom=st.booleans(),
)
def test_any_cell_text_reads_identically(
    rows: list[tuple[str, list[str]]], quoting: int, newline: str, bom: bool, tmp_path_factory: Any
) -> None:
    """Files ``csv.writer`` writes (any text, ragged rows, blank ids) read the same natively."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, quoting=quoting, lineterminator=newline)
    writer.writerow(["id", "a", "b"])
    for key, cells in rows:
        writer.writerow([key, *cells])
    path = tmp_path_factory.mktemp("cells") / "any.csv"
    path.write_bytes(("\ufeff" if bom else "").encode() + buffer.getvalue().encode())
    same(path)
    same(path, skip=1, max_events=2, chunk_rows=1)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    body=st.lists(
        st.sampled_from(
            ["1", "23", ",", '"', '""', "\r", "\n", "\r\n", "a", " ", "é", "\x00", "\xff", "\xc3"]
        ),
        max_size=40,
    )
)
def test_any_bytes_read_identically(body: list[str], tmp_path_factory: Any) -> None:
    """Raw bytes (stray and unbalanced quotes, text after a closing quote, bare CR, NUL,
    bytes that are not UTF-8) after a header: the same events, rows, lines and errors."""
    raw = b"".join(
        part.encode("latin-1") if part in ("\xff", "\xc3") else part.encode() for part in body
    )
    path = tmp_path_factory.mktemp("bytes") / "any.csv"
    path.write_bytes(b"id,a\n" + raw)
    same(path)
    same(path, skip=1, chunk_rows=1)


def test_without_the_native_module_python_reads_and_the_log_says_so(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    import loanstream.native

    def not_built() -> Any:
        raise ImportError("No module named 'loanstream._scoring_and_encoding'")

    monkeypatch.setattr(loanstream.native, "import_compiled", not_built)
    with pytest.raises(NativeScoringUnavailable, match="make setup"):
        open_event_reader(SHIPPED, "on")
    with caplog.at_level(logging.INFO, logger="loanstream.produce.events"):
        events = batches(SHIPPED, "auto")
    assert "encoding events in Python (the native reader is not built" in caplog.text
    monkeypatch.undo()
    assert events == batches(SHIPPED, "on")
