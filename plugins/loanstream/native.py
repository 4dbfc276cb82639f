"""The compiled hot paths (Rust, ``native/``): the sink's batch scorer and the producer's
event encoder.

**The scorer** scores whole batches of plain events.

``make setup`` builds it with cargo into ``plugins/loanstream/_scoring_and_encoding.abi3.so``.
For each message it either writes exactly the ``risk_scored`` row the Python path
(:func:`loanstream.sink.score_message`) builds, as a CSV line, or *declines* it, and the sink
scores that message in Python. It only accepts the plain forms the loanstream producer writes
(a flat JSON object of strings, nulls and numbers, printable ASCII in the fields scoring reads,
plain decimals as text or JSON numbers without an exponent, UTC ``event_time``: the untyped
events and the typed ``loan_application`` events of :mod:`loanstream.contract` alike), so
Python stays the definition: every dead letter and every
``ScoringError`` message comes from Python. ``tests/unit/test_native_scorer.py`` holds the
two to the same rows on both samples, on hypothesis input and on the hostile-event corpus.

The scorer holds no bound of its own: the limits in force
(:func:`loanstream.scoring.limits.current`) are handed to it when it is built, as the rules are.

``LOANSTREAM_NATIVE_SCORING``: ``auto`` (default: native when built and the rule set is one it
models, else Python), ``on`` (fail if it cannot be used), ``off`` (Python only).

**The reader** (:func:`open_event_reader`) reads the producer's CSV file and turns its plain
loan rows into events in one pass, without the GIL: the id, exactly the bytes of
:func:`loanstream.produce.events._to_json_body` and the row. It parses with the ``csv`` crate's parser
(``csv-core``) and takes a record only when its bytes are written in the one unambiguous form
both parsers read alike (fields as they are or quoted with doubled quotes, commas, a line
break) and it is valid UTF-8 with the header's field count and an id of plain digits. Every
other record (blank lines, LendingClub's totals, stray quotes, bad bytes, ragged rows) it
leaves to ``csv.reader`` and Python, which read it through the same cursor
(``CsvEvents.next_line``), so rows, file lines, skips, rejections and errors are Python's.
``tests/unit/test_events_native.py`` holds the two paths to the same batches on both samples,
on hypothesis input, on the bad-input corpus and on LendingClub's export shapes.
With ``iter_event_batches(..., typed=True)`` (``CsvEvents.typed_columns``) it writes the typed
``loan_application`` bodies of :mod:`loanstream.produce.typed` for the forms it models and leaves
every other record to Python, which types or rejects it.
``LOANSTREAM_NATIVE_ENCODING``: ``auto`` (default), ``on``, ``off``, as for the scorer.
"""

from __future__ import annotations

from typing import Any

MODES = ("auto", "on", "off")


class NativeScoringUnavailable(RuntimeError):
    """``LOANSTREAM_NATIVE_SCORING=on`` (or ``LOANSTREAM_NATIVE_ENCODING=on``) but the compiled
    code cannot be used; says why."""


def import_compiled() -> Any:
    """The compiled module: beside this file (``make setup``), else on ``PYTHONPATH`` (the
    Docker image puts it there, as compose mounts ./plugins over the package)."""
    try:
        from loanstream import _scoring_and_encoding
    except ImportError:
        import _scoring_and_encoding  # type: ignore[import-not-found, no-redef]
    return _scoring_and_encoding


def open_event_reader(fd: int, max_line: int, mode: str = "auto") -> tuple[Any | None, str]:
    """(a native ``CsvEvents`` reading the open file ``fd`` or None, a few words on which).

    The reader reads the descriptor the caller opened and checked
    (:class:`loanstream.paths.CsvFile`), from offset 0 with its own cursor, never a path; it
    takes no line longer than ``max_line`` bytes (``LOANSTREAM_MAX_LINE_BYTES``) and hands at
    most ``max_line + 1`` bytes of one to Python, which refuses it."""
    if mode not in MODES:
        raise ValueError(f"LOANSTREAM_NATIVE_ENCODING must be one of {MODES}, got {mode!r}")
    if mode == "off":
        return None, "Python (LOANSTREAM_NATIVE_ENCODING=off)"
    try:
        reader = import_compiled().CsvEvents(fd, max_line)
    except ImportError as exc:
        why = f"the native reader is not built ({exc}); `make setup` builds it with cargo"
    except (AttributeError, TypeError):
        why = "the native module predates this native reader; `make setup` rebuilds it"
    else:
        return reader, "native (Rust), csv.reader and Python for any record it leaves"
    if mode == "on":
        raise NativeScoringUnavailable(why)
    return None, f"Python ({why})"
