"""``Prefetched``: read the next batches of events in a thread while the current one is sent.

The producer's loop is one thread: reading and encoding a chunk of rows (the native reader,
which releases the GIL while it parses and encodes) and handing each event to librdkafka took
turns. Reading ahead in a thread, a bounded number of batches, lets the two overlap: the batches
come out in their order, an error of the reader is raised where the next batch is asked for
(its type and message unchanged), and leaving early (a stop, an error of the loop) stops the
reader and closes it in its own thread.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from types import TracebackType
from typing import Generic, TypeVar

T = TypeVar("T")

_ITEM, _END, _ERROR = 0, 1, 2


class Prefetched(Generic[T]):
    """Iterate ``items`` in a thread, at most ``depth`` items ahead of the reader.

    Use as a context manager (``with Prefetched(batches) as ahead: for batch in ahead: ...``):
    leaving it stops the thread, whatever was read.
    """

    def __init__(self, items: Iterator[T], depth: int = 2) -> None:
        self._queue: queue.Queue[tuple[int, object]] = queue.Queue(maxsize=max(1, depth))
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._read, args=(items,), name="loanstream-read-ahead", daemon=True
        )
        self._thread.start()

    def _read(self, items: Iterator[T]) -> None:
        try:
            for item in items:
                if not self._put((_ITEM, item)):
                    return
            self._put((_END, None))
        except BaseException as exc:  # noqa: BLE001 - handed to the reader, raised there
            self._put((_ERROR, exc))
        finally:
            close = getattr(items, "close", None)
            if close is not None:
                close()  # a generator's own cleanup (its file), in the thread that ran it

    def _put(self, entry: tuple[int, object]) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(entry, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def __iter__(self) -> Iterator[T]:
        while True:
            kind, value = self._queue.get()
            if kind == _ITEM:
                yield value  # type: ignore[misc]
            elif kind == _END:
                return
            else:
                raise value  # type: ignore[misc]

    def close(self) -> None:
        """Stop reading ahead and wait for the thread (it finishes the item in hand)."""
        self._stop.set()
        while self._thread.is_alive():
            try:
                self._queue.get(timeout=0.1)  # unblocks a waiting put
            except queue.Empty:
                pass

    def __enter__(self) -> Prefetched[T]:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
