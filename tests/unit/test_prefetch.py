"""``Prefetched``: the producer's read-ahead thread keeps order, raises the reader's errors where
the next batch is asked for, and stops when left early."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from loanstream.produce.prefetch import Prefetched

pytestmark = pytest.mark.unit


def test_items_come_out_in_order_and_all_of_them() -> None:
    with Prefetched(iter(range(1000)), depth=2) as ahead:
        assert list(ahead) == list(range(1000))


def test_an_error_of_the_reader_is_raised_where_the_next_item_is_asked_for() -> None:
    class LineTooLong(ValueError):
        pass

    def items() -> Iterator[int]:
        yield 1
        yield 2
        raise LineTooLong("row 3: line longer than 1048576 bytes")

    got = []
    with Prefetched(items()) as ahead, pytest.raises(LineTooLong, match="row 3"):
        for item in ahead:
            got.append(item)
    assert got == [1, 2]


def test_leaving_early_stops_the_reader_and_closes_it_in_its_thread() -> None:
    read: list[int] = []
    closed_in: list[str] = []

    def items() -> Iterator[int]:
        try:
            for i in range(1_000_000):
                read.append(i)
                yield i
        finally:
            closed_in.append(threading.current_thread().name)

    with Prefetched(items(), depth=2) as ahead:
        for item in ahead:
            if item == 3:
                break
    assert closed_in == ["loanstream-read-ahead"]  # the generator's own cleanup ran
    assert len(read) <= 3 + 1 + 2 + 1  # at most depth (+ the one in hand) ahead of the reader
    assert not [t for t in threading.enumerate() if t.name == "loanstream-read-ahead"]


def test_the_next_item_is_read_while_this_one_is_used() -> None:
    reading_ahead = threading.Event()

    def items() -> Iterator[int]:
        yield 0
        reading_ahead.set()  # reached while the reader still holds item 0
        yield 1

    with Prefetched(items()) as ahead:
        it = iter(ahead)
        assert next(it) == 0
        assert reading_ahead.wait(10), "item 1 was not read ahead"
        assert next(it) == 1
