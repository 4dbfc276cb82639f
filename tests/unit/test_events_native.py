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

With ``typed=True`` the same holds for the typed ``loan_application`` bodies
(:mod:`loanstream.produce.typed`), their rejections and the dropped-column counts: the reader
writes the forms it models byte for byte (floats as orjson writes them) and declines the rest
to Python, and no plain sample row is declined.
"""

from __future__ import annotations

import csv
import io
import logging
import os
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
            (b.keys, b.bodies, b.rows, b.rejections, b.skipped, b.dropped)
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


TYPED = pytest.mark.parametrize("typed", [False, True], ids=["untyped", "typed"])


@TYPED
@pytest.mark.parametrize("sample", ["real", "shipped"])
def test_every_sample_row_is_read_natively_and_identically(
    sample: str, typed: bool, shared_csv: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = shared_csv if sample == "real" else SHIPPED
    with caplog.at_level(logging.INFO, logger="loanstream.produce.events"):
        events = same(path, chunk_rows=700, typed=typed)
        assert read_by_python(caplog) == 0  # plain loan rows only: nothing left to Python
    assert sum(len(keys) for keys, *_ in events) == (2000 if sample == "real" else 5000)
    assert not any(rejections for *_, rejections, _, _ in events)
    if typed:  # every event leaves out the columns outside the contract
        assert all(dropped.get("loan_status") == len(keys) for keys, *_, dropped in events)
    same(path, skip=1234, max_events=77, chunk_rows=50, typed=typed)


@TYPED
@pytest.mark.parametrize("name", sorted(p.name for p in CORPUS.glob("*.csv")))
def test_bad_input_corpus_same_events_rejections_and_errors(name: str, typed: bool) -> None:
    path = CORPUS / name
    same(path, typed=typed)
    same(path, skip=2, max_events=3, typed=typed)
    same(path, chunk_rows=2, typed=typed)


def test_typed_rejections_name_row_and_field() -> None:
    events = same(CORPUS / "text_in_numeric.csv", typed=True)
    assert [(r.row, r.reason) for *_, rejections, _, _ in events for r in rejections] == [
        (2, "field 'annual_inc': cannot parse 'fifty thousand' as a number"),
        (5, "field 'int_rate': cannot parse 'n/a' as a percentage"),
    ]


def test_decoding_errors_name_the_record_that_holds_the_bad_byte() -> None:
    assert same(CORPUS / "latin1.csv")[1].startswith(f"{CORPUS / 'latin1.csv'}, row 3: not UTF-8")


@TYPED
@pytest.mark.parametrize("newline", ["\n", "\r\n"], ids=["lf", "crlf"])
@pytest.mark.parametrize("write", [write_download, write_kaggle], ids=["download", "kaggle"])
def test_lendingclub_export_shapes(
    write: Any, newline: str, typed: bool, shared_csv: Path, tmp_path: Path
) -> None:
    export = write(shared_csv, tmp_path / "export.csv", newline)
    events = same(export.path, chunk_rows=300, typed=typed)
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


@TYPED
@pytest.mark.parametrize("newline", ["\r\n", "\n", "\r"], ids=["crlf", "lf", "cr"])
def test_quoted_fields_and_line_breaks_inside(
    newline: str, typed: bool, shared_csv: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = lendingclub_quoted(shared_csv, tmp_path / "LoanStats.csv", newline)
    with caplog.at_level(logging.INFO, logger="loanstream.produce.events"):
        events = same(path, typed=typed)
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
    assert open_event_reader(0, 1024, "off") == (None, "Python (LOANSTREAM_NATIVE_ENCODING=off)")
    with pytest.raises(ValueError, match="LOANSTREAM_NATIVE_ENCODING"):
        open_event_reader(0, 1024, "fast")
    closed = os.open(tmp_path, os.O_RDONLY)
    os.close(closed)
    with pytest.raises(OSError):  # the reader reads a descriptor, never a path
        open_event_reader(closed, 1024, "on")
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
    typed=st.booleans(),
)
def test_any_cell_text_reads_identically(
    rows: list[tuple[str, list[str]]],
    quoting: int,
    newline: str,
    bom: bool,
    typed: bool,
    tmp_path_factory: Any,
) -> None:
    """Files ``csv.writer`` writes (any text, ragged rows, blank ids) read the same natively."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, quoting=quoting, lineterminator=newline)
    writer.writerow(["id", "a", "b"])
    for key, cells in rows:
        writer.writerow([key, *cells])
    path = tmp_path_factory.mktemp("cells") / "any.csv"
    path.write_bytes(("\ufeff" if bom else "").encode() + buffer.getvalue().encode())
    same(path, typed=typed)
    same(path, skip=1, max_events=2, chunk_rows=1, typed=typed)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    body=st.lists(
        st.sampled_from(
            ["1", "23", ",", '"', '""', "\r", "\n", "\r\n", "a", " ", "é", "\x00", "\xff", "\xc3"]
        ),
        max_size=40,
    ),
    typed=st.booleans(),
)
def test_any_bytes_read_identically(body: list[str], typed: bool, tmp_path_factory: Any) -> None:
    """Raw bytes (stray and unbalanced quotes, text after a closing quote, bare CR, NUL,
    bytes that are not UTF-8) after a header: the same events, rows, lines and errors."""
    raw = b"".join(
        part.encode("latin-1") if part in ("\xff", "\xc3") else part.encode() for part in body
    )
    path = tmp_path_factory.mktemp("bytes") / "any.csv"
    path.write_bytes(b"id,a\n" + raw)
    same(path, typed=typed)
    same(path, skip=1, chunk_rows=1, typed=typed)


def test_without_the_native_module_python_reads_and_the_log_says_so(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    import loanstream.native

    def not_built() -> Any:
        raise ImportError("No module named 'loanstream._scoring_and_encoding'")

    monkeypatch.setattr(loanstream.native, "import_compiled", not_built)
    with pytest.raises(NativeScoringUnavailable, match="make setup"):
        open_event_reader(0, 1024, "on")
    with caplog.at_level(logging.INFO, logger="loanstream.produce.events"):
        events = batches(SHIPPED, "auto")
    assert "encoding events in Python (the native reader is not built" in caplog.text
    monkeypatch.undo()
    assert events == batches(SHIPPED, "on")


TYPED_HEADER = [
    "id", "loan_amnt", "term", "int_rate", "emp_length", "issue_d", "earliest_cr_line",
    "delinq_2yrs", "title", "url",
]  # fmt: skip


def write_rows(path: Path, rows: list[list[str]], header: list[str] = TYPED_HEADER) -> Path:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows([header, *rows])
    path.write_text(buffer.getvalue(), encoding="utf-8", newline="")
    return path


def test_typed_floats_are_written_as_orjson_writes_them(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Plain decimals of every magnitude and precision: read natively (no record declined)
    into the bytes orjson writes (5000.0, 1e+16, 0.1, 1e-7, 17 significant digits...)."""
    import random

    rng = random.Random(22)
    amounts = ["5000", "10000000000000000", "0.1", "123456789.123", "0.0000001", "-0", "1."]
    for _ in range(3000):
        value = rng.choice([-1, 1]) * 10 ** rng.uniform(-9, 24)
        amounts.append(f"{value:.{rng.randint(0, 25)}f}"[:64])
    rates = [
        f"{rng.uniform(0, 40):.{rng.randint(0, 6)}f}{rng.choice(['', '%', ' %'])}" for _ in amounts
    ]
    rows = [
        [str(i + 1), amount, " 36 months", rate, "10+ years", "Dec-2015", "Aug-98", "0", "t", "u"]
        for i, (amount, rate) in enumerate(zip(amounts, rates, strict=True))
    ]
    path = write_rows(tmp_path / "floats.csv", rows)
    with caplog.at_level(logging.INFO, logger="loanstream.produce.events"):
        events = same(path, typed=True)
        assert read_by_python(caplog) == 0
    bodies = [body for _, chunk, *_ in events for body in chunk]
    assert len(bodies) == len(amounts)
    assert b'"loan_amnt":5000.0,' in bodies[0] and b'"loan_amnt":1e+16,' in bodies[1]
    assert b'"loan_amnt":1e-7,' in bodies[4] and b'"loan_amnt":-0.0,' in bodies[5]


FORMS = {
    "loan_amnt": ["5000", "1e5", " 12.5 ", "1,000", "abc", "", "\u00a07", "+.5", "-3."],
    "term": [" 36 months", "60", "36\tmonths", "036 MONTHS", "1234", "", "x months", "36 mo"],
    "int_rate": ["11.53%", "11.53 %", "11.53", "%", "n/a", "", "1e1%", "7\u00a0%"],
    "emp_length": ["10+ years", "< 1 year", "n/a", "N/A", "3 yrs", "42", "ten", "", "+5"],
    "issue_d": ["Dec-2015", "dec-15", "2015-12", "2015-12-01", "Foo-15", "2015-13", "", "15"],
    "earliest_cr_line": ["Aug-98", "Aug-1998", "1998-8", "1998-08-32", "", "Aug 1998"],
    "delinq_2yrs": ["0", "1.0", "1.5", "-2", "1234567890123456", "", "x", "\u0663"],
    "title": ["Car", ' "q" ', "\x1f t \x0b", "caf\u00e9", "\u2028x", "", "a\\b\nc"],
}


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    rows=st.lists(
        st.fixed_dictionaries(
            {name: st.sampled_from(forms) | text for name, forms in FORMS.items()}
        ),
        min_size=1,
        max_size=6,
    )
)
def test_typed_forms_read_identically(rows: list[dict[str, str]], tmp_path_factory: Any) -> None:
    """The forms the reader models, their near misses and any text: the same typed bodies,
    rejections (row and field) and dropped counts natively and in Python."""
    cells = [
        [str(i + 1), *(row[name] for name in TYPED_HEADER[1:-1]), "u" * (i % 2)]
        for i, row in enumerate(rows)
    ]
    path = write_rows(tmp_path_factory.mktemp("typed") / "forms.csv", cells)
    same(path, typed=True)
    same(path, typed=True, skip=1, chunk_rows=1)


@pytest.mark.parametrize(
    "changes",
    [{"max_short_chars": 5}, {"emp_length_cap": 5}, {"emp_length_blanks": ("n/a",)}],
    ids=["short-chars", "emp-cap", "emp-blanks"],
)
def test_typed_forms_follow_the_limits_in_force(
    changes: dict[str, Any], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Limits on forms other than the defaults: the reader leaves every record to Python."""
    from loanstream.scoring.limits import override

    rows = [[str(i), "5000", " 36 months", "9%", "10+ years", "Dec-15", "Aug-98", "0", "t", ""]
            for i in (1, 2)] + [["3", "1", "36", "", "none", "", "", "", "", ""]]  # fmt: skip
    path = write_rows(tmp_path / "limits.csv", rows)
    with override(**changes), caplog.at_level(logging.INFO, logger="loanstream.produce.events"):
        same(path, typed=True)
        assert read_by_python(caplog) == 3
    same(path, typed=True)
