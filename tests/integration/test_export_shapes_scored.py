"""Both real LendingClub export shapes validate, stream and score every loan (real services).

The exports are built at test time from the real 2,000-row sample (``tests/lendingclub_exports``):
LendingClub's download with CRLF line endings, the Kaggle export with LF. Each is validated,
produced to a fresh topic and scored by the sink into a fresh Postgres schema; validation and
the producer report the same non-loan lines, every loan is scored once and nothing is
dead-lettered (``%`` rates included).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from confluent_kafka.admin import AdminClient

from loanstream.config import Settings
from loanstream.produce.producer import EventProducer
from loanstream.sink import ScoringSink
from loanstream.validation import validate_csv
from tests.helpers import query, temp_schema, temp_topic, unique_name
from tests.lendingclub_exports import write_download, write_kaggle

pytestmark = pytest.mark.integration


@pytest.mark.parametrize(
    ("writer", "newline"),
    [(write_download, "\r\n"), (write_kaggle, "\n")],
    ids=["download", "kaggle"],
)
def test_export_is_validated_streamed_and_every_loan_scored(
    writer, newline: str, live_settings: Settings, shared_csv: Path, tmp_path: Path
) -> None:
    export = writer(shared_csv, tmp_path / "export.csv", newline)
    expected = export.skipped_lines()

    result = validate_csv(export.path, report_dir=tmp_path)
    assert result.success, result.summary_lines()
    assert (result.rows, result.skipped_lines) == (2000, expected)

    group = unique_name("g")
    with temp_topic(live_settings, partitions=2) as topic, temp_schema(live_settings) as dsn:
        produced = EventProducer(live_settings.kafka_config(), topic).produce_csv(
            export.path, run_id="lc-export"
        )
        assert (produced.sent, produced.delivered, produced.rejected) == (2000, 2000, 0)
        assert produced.to_dict()["skipped_lines"] == expected
        try:
            sink = ScoringSink(
                live_settings.kafka_config(),
                dsn,
                topic,
                group=group,
            )
            stats = sink.run(idle_timeout=20)
        finally:
            AdminClient(live_settings.kafka_config()).delete_consumer_groups([group])
        assert (stats.consumed, stats.scored, stats.dead_lettered) == (2000, 2000, 0)
        ((scored, loans, with_rate, with_util, dead),) = query(
            dsn,
            "SELECT count(*), count(DISTINCT loan_id), count(int_rate), count(revol_util), "
            "(SELECT count(*) FROM dead_letters) FROM risk_scored WHERE run_id = 'lc-export'",
        )
        stored = {loan_id for (loan_id,) in query(dsn, "SELECT loan_id FROM risk_scored")}
    assert (scored, loans, dead) == (2000, 2000, 0)
    assert stored == set(export.ids)
    assert with_rate == 2000 and with_util >= 1990  # '%' stripped: every rate parsed


def test_produce_cli_reports_the_skipped_lines(
    live_settings: Settings, shared_csv: Path, tmp_path: Path
) -> None:
    export = write_download(shared_csv, tmp_path / "LoanStats3a.csv", "\r\n", rows=50)
    with temp_topic(live_settings, partitions=1) as topic:
        done = subprocess.run(
            [sys.executable, "-m", "loanstream.cli", "produce", "--csv", str(export.path),
             "--topic", topic, "--bootstrap", live_settings.bootstrap_servers, "--allow-any-path"],
            capture_output=True, text=True, env=os.environ, timeout=120, check=False,
        )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    payload = json.loads(done.stdout.strip().splitlines()[-1])
    assert (payload["sent"], payload["rejected"]) == (50, 0)
    assert payload["skipped_lines"] == export.skipped_lines()
    assert payload["skipped_lines"]["banner"] == {"count": 1, "lines": [1]}
    assert "skipped 7 non-loan lines" in done.stderr and "3 blank lines (lines" in done.stderr
