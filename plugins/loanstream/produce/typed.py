"""Typed event bodies: a CSV row as its ``loan_application`` v1 event (:mod:`loanstream.contract`).

The definition of a typed body is ``orjson.dumps(Layout.of(header).typed(values, year))[:-1]``
(the JSON object without its closing brace; :func:`~loanstream.produce.events.finish_event`
appends ``event_time``). A row with a cell that cannot be typed is rejected with its row number
and the :class:`~loanstream.contract.convert.ContractError` (which names the field). Columns
outside the contract are dropped; each batch counts, per dropped column, the events of the
batch whose row had a non-empty cell in it (``EventBatch.dropped``; a cell of only spaces counts,
as it is not empty: the count is a cheap byte test, the same natively and in Python).

The native reader (``CsvEvents.typed_columns``) writes the same bytes for the forms it models
(``native/src/encoder/typed.rs``) and leaves every other record to :meth:`TypedRows.add`, so
Python stays the definition.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import orjson

from loanstream.contract.convert import ContractError, Layout, forms_are_default
from loanstream.contract.fields import FIELDS


def reference_year() -> int:
    """The year two-digit months are read against: the current UTC year."""
    return datetime.now(UTC).year


class TypedRows:
    """One file's header as typed events: :meth:`add` types a row into a batch."""

    def __init__(self, header: Sequence[str], year: int) -> None:
        self.layout = Layout.of(header)
        self.year = year
        dropped = set(self.layout.dropped())
        self.dropped = [(i, name) for i, name in enumerate(header) if name in dropped]

    def add(self, batch: Any, key: str, values: list[str], row: int) -> str | None:
        """Append the row's event to ``batch`` (an ``EventBatch``), or say why it cannot be
        typed (the ``ContractError``, which names the field: the row's rejection)."""
        try:
            body = orjson.dumps(self.layout.typed(values, self.year))[:-1]
        except ContractError as exc:
            return str(exc)
        batch.keys.append(key)
        batch.bodies.append(body)
        batch.rows.append(row)
        counts = batch.dropped
        for i, name in self.dropped:
            if values[i]:
                counts[name] = counts.get(name, 0) + 1
        return None

    def configure(self, fast: Any) -> None:
        """Hand the contract's fields and the dropped columns to a native ``CsvEvents`` (which
        leaves every record to Python when the limits on forms are not the defaults)."""
        fast.typed_columns(
            [
                (f.name, f.kind, f.unit == "percent", f.nullable, position)
                for f, position in zip(FIELDS, self.layout.positions, strict=True)
            ],
            self.year,
            [(name, i) for i, name in self.dropped],
            forms_are_default(),
        )
