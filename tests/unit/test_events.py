"""CSV -> events: every field kept, blanks -> null, keys, rejections, streaming."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest

from loanstream.produce.events import (
    EventSourceError,
    finish_event,
    finish_event_now,
    iter_event_batches,
    read_header,
)

pytestmark = pytest.mark.unit


def write(tmp_path: Path, text: str | bytes, name: str = "loans.csv") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    return path


def events(path: Path, **kwargs) -> list[dict]:
    out = []
    for batch in iter_event_batches(path, **kwargs):
        for body in batch.bodies:
            out.append(orjson.loads(finish_event(body, "2026-01-01T00:00:00+00:00")))
    return out


def test_row_becomes_event_with_every_field_as_text_and_blanks_as_null(tmp_path: Path) -> None:
    path = write(tmp_path, 'id,term,emp_title,annual_inc,desc\n7, 36 months,Nurse  ,,"a, b"\n')
    (event,) = events(path)
    assert event == {
        "id": "7",
        "term": " 36 months",
        "emp_title": "Nurse  ",
        "annual_inc": None,
        "desc": "a, b",
        "event_time": "2026-01-01T00:00:00+00:00",
    }


def test_text_that_pandas_would_read_as_nan_is_kept(tmp_path: Path) -> None:
    (event,) = events(write(tmp_path, "id,emp_length,x\n1,n/a,NA\n"))
    assert event["emp_length"] == "n/a" and event["x"] == "NA"


def test_keys_rows_and_rejections(tmp_path: Path) -> None:
    path = write(tmp_path, "id,a\n1,x\n,y\n3,z,extra\n4,w\n")
    (batch,) = list(iter_event_batches(path))
    assert batch.keys == ["1", "4"]
    assert batch.rows == [1, 4]
    assert [(r.row, r.reason) for r in batch.rejections] == [
        (2, "no loan 'id'"),
        (3, "has 3 fields, header has 2"),
    ]


def test_chunks_skip_and_max(tmp_path: Path) -> None:
    rows = "".join(f"{i},v{i}\n" for i in range(1, 101))
    path = write(tmp_path, "id,a\n" + rows)
    batches = list(iter_event_batches(path, chunk_rows=30, skip=10, max_events=50))
    assert [len(b) for b in batches] == [30, 20]
    assert batches[0].keys[0] == "11" and batches[-1].keys[-1] == "60"


@pytest.mark.parametrize("newline", ["\r\n", "\r"])
def test_crlf_and_cr_only_line_endings(tmp_path: Path, newline: str) -> None:
    path = write(tmp_path, newline.join(["id,a", "1,x", "2,y"]) + newline)
    assert [e["a"] for e in events(path)] == ["x", "y"]


def test_quoted_newline_is_one_field(tmp_path: Path) -> None:
    path = write(tmp_path, 'id,desc\n1,"line one\nline two"\n2,z\n')
    assert [e["desc"] for e in events(path)] == ["line one\nline two", "z"]


def test_own_event_time_column_is_replaced(tmp_path: Path) -> None:
    (event,) = events(write(tmp_path, "id,event_time\n1,yesterday\n"))
    assert event["event_time"] == "2026-01-01T00:00:00+00:00"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "file is empty"),
        (b"a;b;id\n1;2;3\n", "another delimiter"),
        (b"loan,amount\n1,2\n", "has no 'id' column"),
        (b"id,a\n1,\xff\xfe\n", "not UTF-8 text: byte 0xff"),
    ],
)
def test_unreadable_sources_name_the_file_and_reason(tmp_path: Path, content: bytes, message: str) -> None:
    path = write(tmp_path, content)
    with pytest.raises(EventSourceError, match=message) as info:
        list(iter_event_batches(path))
    assert str(path) in str(info.value)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(EventSourceError, match="file not found"):
        read_header(tmp_path / "nope.csv")


def test_real_lending_club_rows_keep_all_151_columns(shared_csv: Path) -> None:
    header = read_header(shared_csv)
    evts = events(shared_csv, max_events=50)
    assert len(header) == 151 and len(evts) == 50
    assert all(set(e) == set(header) | {"event_time"} for e in evts)
    assert evts[0]["term"] in (" 36 months", " 60 months")


def test_finish_event_now_is_finish_event_with_the_current_time() -> None:
    before = datetime.now(UTC)
    value = finish_event_now(b'{"id":"1"')
    stamp = orjson.loads(value)["event_time"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}\+00:00", stamp)
    assert value == finish_event(b'{"id":"1"', stamp)
    assert before <= datetime.fromisoformat(stamp) <= datetime.now(UTC)
    framed = finish_event_now(b'{"id":"1"', b"\x00\x00\x00\x00\x07")  # a framing prefix
    assert framed == b"\x00\x00\x00\x00\x07" + finish_event(b'{"id":"1"', orjson.loads(framed[5:])["event_time"])
