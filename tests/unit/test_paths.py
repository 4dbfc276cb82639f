"""Files only from the data directories, and nothing of a refused or non-data file in any output.

Covers ``loanstream.paths`` (absolute paths, ``..``, symlinks, the Airflow password file,
``/etc/shadow``), the CLI (``validate``/``produce --csv``, ``--allow-any-path``), the
operators' ``csv_path`` handling, and the error messages of ``validation``/``events`` for
files that are not known to be data (no byte of them quoted).
"""

from __future__ import annotations

import json
import logging
import os
import uuid
from pathlib import Path

import pytest

from loanstream.cli import main
from loanstream.config import Settings
from loanstream.paths import PathNotAllowed, data_csvs, data_file

pytestmark = pytest.mark.unit


def secret() -> str:
    return "Sx" + uuid.uuid4().hex  # built at run time


@pytest.fixture
def dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    """Two data directories (``LOANSTREAM_DATA_DIRS``) and a private place outside them."""
    data, landing, private = tmp_path / "data", tmp_path / "landing", tmp_path / "private"
    for d in (data, landing, private):
        d.mkdir()
    monkeypatch.setenv("LOANSTREAM_DATA_DIRS", f"{data}{os.pathsep}{landing}")
    return {"data": data, "landing": landing, "private": private}


@pytest.fixture
def private_file(dirs: dict[str, Path]) -> tuple[Path, str]:
    """A file that must never be read: its only line is a secret (like a passwords file)."""
    value = secret()
    path = dirs["private"] / "simple_auth_manager_passwords.json"
    path.write_text(json.dumps({"admin": value}) + "\n")
    return path, value


def refused(path: str | Path) -> PathNotAllowed:
    with pytest.raises(PathNotAllowed) as info:
        data_file(path)
    return info.value


def test_a_csv_in_a_data_dir_is_allowed_and_returned_resolved(dirs: dict[str, Path]) -> None:
    csv = dirs["landing"] / "loans.csv"
    csv.write_text("id\n1\n")
    assert data_file(csv) == csv.resolve()
    assert data_file(dirs["data"] / ".." / "landing" / "loans.csv") == csv.resolve()
    assert data_file(dirs["data"] / "not_yet_there.csv").name == "not_yet_there.csv"


def test_defaults_are_the_shipped_data_and_the_landing_dir(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LOANSTREAM_DATA_DIRS", raising=False)
    settings = Settings.from_env()
    assert settings.allowed_data_dirs == (
        settings.home / "include" / "data",
        settings.home / "data" / "landing",
    )
    assert data_file(settings.sample_csv) == settings.sample_csv.resolve()


@pytest.mark.parametrize(
    "target",
    [
        "/etc/shadow",
        "/etc/passwd",
        "/proc/self/environ",
        "/",
        "",
        "relative/elsewhere.csv",
    ],
)
def test_paths_outside_are_refused(dirs: dict[str, Path], target: str) -> None:
    error = refused(target)
    assert str(dirs["data"]) in str(error) and str(dirs["landing"]) in str(error)


def test_dot_dot_out_of_a_data_dir_is_refused(
    dirs: dict[str, Path], private_file: tuple[Path, str]
) -> None:
    path, value = private_file
    sneaky = f"{dirs['data']}/../private/{path.name}"
    error = refused(sneaky)
    assert value not in str(error)
    refused(f"{dirs['data']}/../../../../etc/shadow")
    refused(dirs["data"])  # the directory itself is not a file in it


def test_symlinks_out_of_a_data_dir_are_refused_without_naming_the_target(
    dirs: dict[str, Path], private_file: tuple[Path, str]
) -> None:
    path, value = private_file
    link = dirs["landing"] / "innocent.csv"
    link.symlink_to(path)
    error = refused(link)
    assert value not in str(error)
    assert str(path) not in str(error) and "private" not in str(error)
    (dirs["landing"] / "dir").symlink_to(dirs["private"], target_is_directory=True)
    refused(dirs["landing"] / "dir" / path.name)
    # a link inside the data directories to a CSV there is fine
    real = dirs["data"] / "real.csv"
    real.write_text("id\n1\n")
    (dirs["landing"] / "alias.csv").symlink_to(real)
    assert data_file(dirs["landing"] / "alias.csv") == real.resolve()


def test_only_csv_files_are_read_even_inside(dirs: dict[str, Path]) -> None:
    (dirs["landing"] / "notes.json").write_text("{}")
    assert "only .csv" in str(refused(dirs["landing"] / "notes.json"))
    refused(f"{dirs['landing']}/x.csv\x00.json")


def test_the_message_names_the_dirs_and_is_the_same_whether_or_not_the_file_exists(
    dirs: dict[str, Path], private_file: tuple[Path, str]
) -> None:
    path, _ = private_file
    missing = path.with_name("missing.json")
    there, absent = str(refused(path)), str(refused(missing))
    assert there.replace(path.name, "X") == absent.replace(missing.name, "X")
    assert "LOANSTREAM_DATA_DIRS" in there


def test_form_choices_list_the_csvs_in_the_data_dirs(
    dirs: dict[str, Path], private_file: tuple[Path, str]
) -> None:
    (dirs["data"] / "a.csv").write_text("id\n")
    (dirs["landing"] / "b.csv").write_text("id\n")
    (dirs["landing"] / "c.txt").write_text("id\n")
    (dirs["landing"] / "out.csv").symlink_to(private_file[0])
    assert data_csvs() == [str(dirs["data"] / "a.csv"), str(dirs["landing"] / "b.csv")]


# -- the CLI ---------------------------------------------------------------------------------


def run(argv: list[str], capsys: pytest.CaptureFixture, caplog: pytest.LogCaptureFixture):
    caplog.set_level(logging.DEBUG)
    code = main(argv)
    out = capsys.readouterr()
    return code, out.out + out.err + caplog.text


@pytest.mark.parametrize("command", ["validate", "produce", "evaluate"])
def test_cli_refuses_outside_paths_and_prints_nothing_of_the_file(
    command: str,
    dirs: dict[str, Path],
    private_file: tuple[Path, str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture,
    caplog: pytest.LogCaptureFixture,
) -> None:
    path, value = private_file
    argv = [command, "--csv", str(path)]
    if command == "validate":
        argv += ["--report-dir", str(tmp_path / "reports")]
    elif command == "produce":
        argv += ["--bootstrap", "127.0.0.1:1", "--topic", "never"]
    code, output = run(argv, capsys, caplog)
    assert code == 2
    assert "outside the data directories" in output and str(dirs["landing"]) in output
    assert value not in output
    assert not (tmp_path / "reports").exists()


def test_cli_allow_any_path_reads_elsewhere_but_quotes_nothing_of_a_non_csv(
    dirs: dict[str, Path],
    private_file: tuple[Path, str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture,
    caplog: pytest.LogCaptureFixture,
) -> None:
    path, value = private_file
    argv = ["validate", "--allow-any-path", "--csv", str(path), "--report-dir", str(tmp_path)]
    code, output = run(argv, capsys, caplog)
    assert code == 2
    assert "only 1 column detected" in output
    assert value not in output and value[:8] not in output


def test_shadow_like_file_quotes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture, caplog: pytest.LogCaptureFixture
) -> None:
    value = secret()
    shadow = tmp_path / "shadow"
    shadow.write_text(f"root:$6${value}:19000:0:99999:7:::\ndaemon:*:19000:0:99999:7:::\n")
    code, output = run(
        ["validate", "--csv", str(shadow), "--report-dir", str(tmp_path)], capsys, caplog
    )
    assert code == 2 and value not in output and "$6$" not in output
    code, output = run(
        ["validate", "--allow-any-path", "--csv", str(shadow), "--report-dir", str(tmp_path)],
        capsys,
        caplog,
    )
    assert code == 2 and value not in output and "$6$" not in output


@pytest.mark.parametrize(
    "content",
    [
        b"%s\xe9 more\n1,2\n",  # a non-UTF-8 byte in the first line
        b"%s\nsecond\xe9line\n",  # after a first line that is not a CSV header
        b"%s;%s\n\xff\n",  # looks like another delimiter
    ],
)
def test_non_data_files_are_not_quoted_by_validation_or_events(
    tmp_path: Path, content: bytes
) -> None:
    from loanstream.produce.events import EventSourceError, iter_event_batches
    from loanstream.validation import CsvReadError, scan_file

    value = secret().encode()
    path = tmp_path / "x.csv"
    path.write_bytes(content.replace(b"%s", value))
    with pytest.raises(CsvReadError) as validation:
        scan_file(path)
    with pytest.raises(EventSourceError) as events:
        list(iter_event_batches(path))
    for message in (str(validation.value), str(events.value)):
        assert value.decode() not in message
        assert "0xe9" not in message and "0xff" not in message, message


def test_a_bad_byte_after_a_real_header_is_still_named(tmp_path: Path) -> None:
    """Once the header is read the file is data: the byte helps find a Latin-1 export."""
    from loanstream.produce.events import EventSourceError, iter_event_batches

    path = tmp_path / "x.csv"
    path.write_bytes(b"id,a\n1,\xe9\n")
    with pytest.raises(EventSourceError, match="byte 0xe9"):
        list(iter_event_batches(path))


# -- the operators ---------------------------------------------------------------------------


@pytest.mark.parametrize("operator", ["validate", "produce"])
def test_operators_refuse_outside_paths_before_reading(
    operator: str, dirs: dict[str, Path], private_file: tuple[Path, str]
) -> None:
    from airflow.sdk.exceptions import AirflowFailException

    from loanstream.airflow.operators import ProduceEventsOperator, ValidateCsvOperator

    path, value = private_file
    if operator == "validate":
        task = ValidateCsvOperator(task_id="validate_csv", csv_path=str(path))
    else:
        task = ProduceEventsOperator(task_id="produce_events", csv_path=str(path), topic="never")
    with pytest.raises(AirflowFailException) as info:
        task.execute({"run_id": "manual__test"})  # type: ignore[arg-type]
    assert "outside the data directories" in str(info.value)
    assert str(dirs["landing"]) in str(info.value) and value not in str(info.value)
    assert task._producer is None if operator == "produce" else True  # no Kafka client made
