"""Each file opened once: a run's CSV is checked, opened once and read only through that
descriptor (``loanstream.paths.open_data_csv``); a file changed after validation is refused.

Covers a symlink swapped in for the file or for a parent directory after the path check, a
FIFO (refused at once, not waited on), every reader reading the descriptor and not the name,
and ``produce_events`` refusing a file whose SHA-256 or size is not the validated one.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import loanstream.paths
from loanstream.paths import CsvFile, Digest, FileChanged, PathNotAllowed, open_data_csv

pytestmark = [pytest.mark.security, pytest.mark.unit]

REPO = Path(__file__).resolve().parents[2]
SHIPPED = REPO / "include" / "data" / "loan_applications_sample.csv"
SMALL = "id,loan_amnt,term\n1,1000, 36 months\n2,2000, 60 months\n"
PRIVATE = "id,note\n1,the-private-value\n"


@pytest.fixture
def dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    """A data directory with a sub-directory, and a private place outside it."""
    landing, private = tmp_path / "landing", tmp_path / "private"
    (landing / "sub").mkdir(parents=True)
    private.mkdir()
    (private / "loans.csv").write_text(PRIVATE)
    monkeypatch.setenv("LOANSTREAM_DATA_DIRS", str(landing))
    return {"landing": landing, "private": private}


@contextlib.contextmanager
def within(seconds: int) -> Iterator[None]:
    """Fail instead of hanging if the block takes longer than ``seconds``."""

    def hung(*_: Any) -> None:
        raise TimeoutError(f"still blocked after {seconds}s")

    previous = signal.signal(signal.SIGALRM, hung)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def swap_after_check(monkeypatch: pytest.MonkeyPatch, swap: Any) -> None:
    """Run ``swap`` right after ``data_file`` approved the path (the race an attacker wins)."""
    checked = loanstream.paths.data_file

    def then_swap(*args: Any, **kwargs: Any) -> Path:
        resolved = checked(*args, **kwargs)
        swap()
        return resolved

    monkeypatch.setattr(loanstream.paths, "data_file", then_swap)


def test_a_file_swapped_for_a_symlink_after_the_check_is_refused(
    dirs: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    target = dirs["landing"] / "loans.csv"
    target.write_text(SMALL)

    def swap() -> None:
        target.unlink()
        target.symlink_to(dirs["private"] / "loans.csv")

    swap_after_check(monkeypatch, swap)
    with pytest.raises(PathNotAllowed, match="became a symbolic link after it was checked") as info:
        open_data_csv(target)
    assert "the-private-value" not in str(info.value)


def test_a_parent_directory_swapped_for_a_symlink_after_the_check_is_refused(
    dirs: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    sub = dirs["landing"] / "sub"
    (sub / "loans.csv").write_text(SMALL)

    def swap() -> None:
        sub.rename(dirs["landing"] / "sub.old")
        sub.symlink_to(dirs["private"], target_is_directory=True)

    swap_after_check(monkeypatch, swap)
    with pytest.raises(PathNotAllowed, match="moved or replaced after it was checked") as info:
        open_data_csv(sub / "loans.csv")
    assert "the-private-value" not in str(info.value)


def test_a_file_outside_reached_through_the_descriptor_is_refused(dirs: dict[str, Path]) -> None:
    """Even if the name led inside, the descriptor's real location is what is checked."""
    with CsvFile(os.open(dirs["private"] / "loans.csv", os.O_RDONLY), Path("x")) as outside:
        real = loanstream.paths._descriptor_path(outside.fd)
    assert real == dirs["private"] / "loans.csv"


@pytest.mark.parametrize(
    "reader", ["open", "operator", "validate_cli", "produce_cli", "evaluate_cli", "row_count"]
)
def test_a_fifo_is_refused_at_once(reader: str, dirs: dict[str, Path]) -> None:
    from airflow.sdk.exceptions import AirflowFailException

    from loanstream.airflow.operators import ValidateCsvOperator
    from loanstream.cli import main

    fifo = dirs["landing"] / "loans.csv"
    os.mkfifo(fifo)  # nobody ever writes to it: an open without O_NONBLOCK would hang
    started = time.monotonic()  # imports done: what is timed is the refusal
    with within(10):
        if reader == "open":
            with pytest.raises(PathNotAllowed, match="not a regular file"):
                open_data_csv(fifo)
        elif reader == "operator":
            task = ValidateCsvOperator(task_id="validate_csv", csv_path=str(fifo))
            with pytest.raises(AirflowFailException, match="not a regular file"):
                task.execute({"run_id": "manual__fifo"})  # type: ignore[arg-type]
        elif reader == "row_count":  # the replay Dag's slice, from the file's rows
            from loanstream.paths import CsvOpenError
            from loanstream.runs.params import count_data_rows

            with pytest.raises(CsvOpenError, match="not a regular file"):
                count_data_rows(fifo)
        else:
            command = reader.removesuffix("_cli")
            assert main([command, "--csv", str(fifo), "--bootstrap", "127.0.0.1:1"]
                        if command == "produce" else [command, "--csv", str(fifo)]) == 2  # fmt: skip
    assert time.monotonic() - started < 5


@pytest.mark.skipif(os.geteuid() != 0, reason="making a device node needs CAP_MKNOD")
def test_a_device_is_refused_without_reading_it(dirs: dict[str, Path]) -> None:
    """A character device named like a CSV (here /dev/zero's numbers: reading it never ends)."""
    import stat as stat_module

    device = dirs["landing"] / "loans.csv"
    os.mknod(device, stat_module.S_IFCHR | 0o600, os.makedev(1, 5))
    started = time.monotonic()
    with within(10), pytest.raises(PathNotAllowed, match="not a regular file"):
        open_data_csv(device)
    assert time.monotonic() - started < 5


@pytest.mark.parametrize("native", ["on", "off"])
def test_every_reader_reads_the_descriptor_not_the_name(
    native: str, dirs: dict[str, Path], tmp_path: Path
) -> None:
    """Once opened, replacing the file by name changes nothing of what is read."""
    from loanstream.produce.events import iter_event_batches
    from loanstream.validation import validate_csv

    path = dirs["landing"] / "loans.csv"
    path.write_bytes(SHIPPED.read_bytes())
    with open_data_csv(path) as csv_file:
        validated_before = csv_file.digest()
        replacement = dirs["landing"] / "other.csv"
        replacement.write_text(PRIVATE)
        replacement.replace(path)  # the name now leads to another file
        result = validate_csv(csv_file, report_dir=tmp_path, run_id="r")
        events = [k for b in iter_event_batches(csv_file, native=native) for k in b.keys]
        assert csv_file.digest() == validated_before
    assert result.success and result.rows == 5000
    assert (result.sha256, result.size) == (validated_before.sha256, validated_before.size)
    assert len(events) == 5000


def test_validation_records_the_files_sha256_and_size(tmp_path: Path) -> None:
    import hashlib

    from loanstream.validation import validate_csv

    result = validate_csv(SHIPPED, report_dir=tmp_path, run_id="r").to_dict()
    data = SHIPPED.read_bytes()
    assert result["sha256"] == hashlib.sha256(data).hexdigest()
    assert result["size"] == len(data)


def _produce_task(path: Path, validated: dict[str, Any]) -> Any:
    from loanstream.airflow.operators import ProduceEventsOperator

    return ProduceEventsOperator(
        task_id="produce_events", csv_path=str(path), topic="never", validated=validated
    )


@pytest.mark.parametrize("change", ["appended", "same_size"])
def test_produce_refuses_a_file_changed_after_validation(
    change: str, dirs: dict[str, Path], tmp_path: Path
) -> None:
    from airflow.sdk.exceptions import AirflowFailException

    from loanstream.validation import validate_csv

    path = dirs["landing"] / "loans.csv"
    path.write_bytes(SHIPPED.read_bytes())
    with open_data_csv(path) as csv_file:
        validated = validate_csv(csv_file, report_dir=tmp_path, run_id="r").to_dict()
    data = bytearray(path.read_bytes())
    if change == "appended":
        data += b"99999999,unvalidated\n"
    else:
        data[-3:-1] = b"ZZ"  # the same size, another hash
    path.write_bytes(bytes(data))
    task = _produce_task(path, validated)
    with pytest.raises(AirflowFailException, match="the file changed after validation") as info:
        task.execute({"run_id": "manual__changed"})  # type: ignore[arg-type]
    assert "nothing was produced" in str(info.value)
    assert ("bytes now" in str(info.value)) is (change == "appended")
    assert task._producer is None  # refused before any Kafka client or ledger


def test_check_digest_passes_the_validated_file() -> None:
    with loanstream.paths.open_csv(SHIPPED) as csv_file:
        digest = csv_file.digest()
        assert csv_file.check_digest(digest) == digest
        with pytest.raises(FileChanged, match="after validation"):
            csv_file.check_digest(Digest("0" * 64, digest.size))


def test_a_file_written_to_while_read_is_noticed(dirs: dict[str, Path]) -> None:
    path = dirs["landing"] / "loans.csv"
    path.write_text(SMALL)
    with open_data_csv(path) as csv_file:
        csv_file.check_unchanged()
        with path.open("a") as more:
            more.write("3,3000, 36 months\n")
        with pytest.raises(FileChanged, match="changed while it was being read"):
            csv_file.check_unchanged()
