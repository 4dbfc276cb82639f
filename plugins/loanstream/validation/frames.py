"""The file as pandas DataFrames: the wanted columns as text, chunk by chunk.

LendingClub's non-loan lines found by the scan are cut out of the byte stream pandas reads
(:class:`~loanstream.validation.scan.SpanSkippingReader`), so pandas sees the header and the
loan rows only; its 0-based index counts loan rows, which
:meth:`~loanstream.validation.scan.FileScan.data_rows` turns back into the file's data rows.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from typing import TYPE_CHECKING

from loanstream.paths import CsvFile
from loanstream.validation.expectations import PARSED_COLUMNS, parsed_column
from loanstream.validation.scan import CsvReadError, FileScan, SpanSkippingReader

if TYPE_CHECKING:
    import pandas as pd


def read_chunks(
    csv_file: CsvFile, scan: FileScan, columns: list[str], chunk_rows: int
) -> Iterator[pd.DataFrame]:
    """The wanted columns as strings (blank -> NaN), indexed by 0-based loan row; read from
    the file's descriptor (never its name)."""
    import io

    import pandas as pd

    path = csv_file.path
    wanted = set(columns)
    try:
        with ExitStack() as stack:
            source = stack.enter_context(csv_file.reader())
            if scan.skipped_spans:
                raw = stack.enter_context(SpanSkippingReader(source, scan.skipped_spans))
                source = io.BufferedReader(raw, buffer_size=1 << 20)
            reader = pd.read_csv(
                source,
                dtype=str,
                usecols=lambda name: name.strip() in wanted,
                keep_default_na=False,
                na_values=[""],
                encoding="utf-8-sig",
                chunksize=chunk_rows,
            )
            with reader:
                for frame in reader:
                    frame.columns = [name.strip() for name in frame.columns]
                    yield frame
    except pd.errors.ParserError as exc:
        raise CsvReadError(path, f"malformed CSV: {_parser_message(exc)}") from exc
    except pd.errors.EmptyDataError as exc:
        raise CsvReadError(path, "no columns to parse: the file has no header") from exc


def _parser_message(exc: Exception) -> str:
    message = str(exc).strip().splitlines()[-1]
    return message.replace("Error tokenizing data. C error: ", "")


def add_parsed_columns(frame: pd.DataFrame, present: list[str]) -> None:
    """Add ``<column>__parsed`` numeric columns; text that does not parse becomes NaN."""
    import pandas as pd

    for column in PARSED_COLUMNS:
        if column in present:
            text = frame[column].str.strip().str.rstrip("%")
            frame[parsed_column(column)] = pd.to_numeric(text, errors="coerce")
