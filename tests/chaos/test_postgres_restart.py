"""Postgres crashes (SIGKILL of the private cluster) while ``loanstream consume`` writes.

The consume must fail cleanly (exit 1, a last JSON line whose error says Postgres went away
and to re-run; no traceback), and after Postgres is back a re-run must leave every event
stored exactly once. Figures: ``$LOANSTREAM_REPORTS_DIR/chaos/postgres_restart.json``.
"""

from __future__ import annotations

import dataclasses
import json
import random
import time
from pathlib import Path

import pytest

from loanstream.config import Settings
from tests.chaos.chaos_common import (
    build_mixed_topic,
    check_database,
    consume_args,
    delete_topic,
    env_seed,
    record,
    slow_batches,
)
from tests.chaos.services import PrivatePostgres, chaos_trials, run_cli, start_cli
from tests.helpers import query, temp_schema, unique_name

pytestmark = pytest.mark.chaos

TRIALS = max(1, chaos_trials() // 5)


@pytest.mark.timeout(180 + 60 * TRIALS)
def test_postgres_sigkill_while_consuming_fails_cleanly_and_rerun_is_exact(
    chaos_settings: Settings, pg_up: PrivatePostgres, shared_csv: Path, tmp_path: Path
) -> None:
    settings = chaos_settings
    mixed = build_mixed_topic(settings, shared_csv, tmp_path)
    rng = random.Random(seed := env_seed())
    trials = []
    try:
        with temp_schema(settings) as dsn:  # baseline: what an undisturbed run stores
            base = run_cli(
                dataclasses.replace(settings, pg_dsn=dsn),
                *consume_args(mixed.topic, unique_name("base")),
            )
            assert base.returncode == 0, base.stderr[-3000:]
            expected_ids = {r[0] for r in query(dsn, "SELECT loan_id FROM risk_scored")}
            expected_dead = {tuple(r) for r in query(dsn, 'SELECT partition, "offset" FROM dead_letters')}  # fmt: skip
        for trial in range(TRIALS):
            with temp_schema(settings) as dsn:
                slow_batches(dsn)
                run_settings = dataclasses.replace(settings, pg_dsn=dsn)
                group = unique_name("pgkill")
                log = tmp_path / f"consume{trial}.log"
                proc = start_cli(run_settings, *consume_args(mixed.topic, group), log=log)
                target = rng.randint(100, len(expected_ids) - 500)
                while proc.poll() is None:
                    if query(dsn, "SELECT count(*) FROM risk_scored")[0][0] >= target:
                        break
                    time.sleep(0.01)
                assert proc.poll() is None, "the consumer finished before Postgres was killed"
                pg_up.kill()
                killed_at = time.monotonic()
                rc = proc.wait(60)
                failed_after = time.monotonic() - killed_at
                restart_s = pg_up.start()
                output = log.read_text()
                print(output[-4000:])
                last = json.loads(output.strip().splitlines()[-1])
                t0 = time.monotonic()
                rerun = run_cli(run_settings, *consume_args(mixed.topic, group))
                rerun_s = time.monotonic() - t0
                assert rerun.returncode == 0, rerun.stderr[-3000:]
                outcome = check_database(
                    dsn, mixed.topic, group, expected_ids, expected_dead, mixed.ends
                )
                result = {
                    "trial": trial,
                    "killed_at_stored": target,
                    "consumer_rc": rc,
                    "consumer_failed_after_s": round(failed_after, 2),
                    "error": last.get("error"),
                    "traceback": "Traceback" in output,
                    "pg_restart_s": round(restart_s, 2),
                    "rerun_s": round(rerun_s, 2),
                    "rerun_already_decided": rerun.last_json["already_decided"],
                    **outcome.to_dict(),
                }
                trials.append(result)
                assert rc == 1, output[-3000:]
                assert "Traceback" not in output, output[-3000:]
                assert "lost the connection to Postgres" in last["error"], last
                assert "re-run" in last["error"], last
                assert failed_after < 30, result
                assert outcome.exact and result["rerun_already_decided"] == 0, result
    finally:
        if pg_up.proc is None or pg_up.proc.poll() is not None:
            pg_up.start()
        delete_topic(settings, mixed.topic)
    record(
        "postgres_restart",
        {
            "seed": seed,
            "trials": len(trials),
            "events": mixed.total,
            "exact": sum(t["exact"] for t in trials),
            "per_trial": trials,
        },
    )
