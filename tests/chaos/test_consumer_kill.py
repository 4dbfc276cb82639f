"""SIGKILL the consumer at random moments: every event stored exactly once, poison dead-lettered.

Each trial: a fresh Postgres schema and consumer group on the private stack, ``loanstream
consume`` as a subprocess (small ``--batch-size`` so a kill lands between or inside batch
transactions), SIGKILL after a random delay, a second run to completion, then the database is
compared with the topic. Figures: ``$LOANSTREAM_REPORTS_DIR/chaos/consumer_kill.json``.
"""

from __future__ import annotations

import dataclasses
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
    percentile,
    record,
    slow_batches,
    wait_sink_sessions_gone,
)
from tests.chaos.services import chaos_trials, run_cli, start_cli
from tests.helpers import query, temp_schema, unique_name

pytestmark = pytest.mark.chaos

TRIALS = chaos_trials()


def _dsn_settings(settings: Settings, dsn: str) -> Settings:
    return dataclasses.replace(settings, pg_dsn=dsn)


@pytest.mark.timeout(120 + 25 * TRIALS)
def test_consumer_sigkill_at_random_moments_is_exactly_once(
    chaos_settings: Settings, shared_csv: Path, tmp_path: Path
) -> None:
    settings = chaos_settings
    mixed = build_mixed_topic(settings, shared_csv, tmp_path)
    rng = random.Random(seed := env_seed())
    try:
        # Baseline: one uninterrupted run says which events score and which are dead letters.
        with temp_schema(settings) as dsn:
            slow_batches(dsn)
            group = unique_name("base")
            t0 = time.monotonic()
            base = run_cli(_dsn_settings(settings, dsn), *consume_args(mixed.topic, group))
            full_run = time.monotonic() - t0
            assert base.returncode == 0, base.stderr[-3000:]
            expected_ids = {r[0] for r in query(dsn, "SELECT loan_id FROM risk_scored")}
            dead_rows = query(dsn, 'SELECT key, partition, "offset", error FROM dead_letters')
        expected_dead = {(p, o) for _k, p, o, _e in dead_rows}
        dead_keys = {k for k, *_ in dead_rows}
        assert set(mixed.poison_keys) <= dead_keys, "every poison message is a dead letter"
        assert expected_ids <= mixed.good_keys
        assert len(expected_ids) + len(expected_dead) == mixed.total
        assert base.last_json["consumed"] == mixed.total

        trials = []
        for trial in range(TRIALS):
            with temp_schema(settings) as dsn:
                slow_batches(dsn)
                run_settings = _dsn_settings(settings, dsn)
                group = unique_name("kill")
                log = tmp_path / f"trial{trial}.log"
                proc = start_cli(run_settings, *consume_args(mixed.topic, group), log=log)
                t_start = time.monotonic()
                if trial % 4 == 0:
                    # a blind delay: may land in start-up, mid-stream or after the end
                    mode = "random-delay"
                    time.sleep(rng.uniform(0.2, full_run))
                else:
                    # at a random point of progress, plus jitter inside a batch (~40 ms)
                    mode = "random-progress"
                    target = rng.randint(1, len(expected_ids) - 1)
                    while proc.poll() is None and time.monotonic() - t_start < 60:
                        if query(dsn, "SELECT count(*) FROM risk_scored")[0][0] >= target:
                            break
                        time.sleep(0.01)
                    time.sleep(rng.uniform(0, 0.06))
                delay = time.monotonic() - t_start
                killed = proc.poll() is None
                if killed:
                    proc.kill()  # SIGKILL: no handler, no flush, no goodbye
                proc.wait(30)
                wait_sink_sessions_gone(dsn)
                (stored_at_kill,) = query(dsn, "SELECT count(*) FROM risk_scored")[0]
                t0 = time.monotonic()
                rerun = run_cli(run_settings, *consume_args(mixed.topic, group))
                recover = time.monotonic() - t0
                assert rerun.returncode == 0, rerun.stderr[-3000:]
                stats = rerun.last_json
                outcome = check_database(
                    dsn, mixed.topic, group, expected_ids, expected_dead, mixed.ends
                )
                trials.append(
                    {
                        "trial": trial,
                        "mode": mode,
                        "kill_after_s": round(delay, 3),
                        "killed": killed,
                        "stored_at_kill": stored_at_kill,
                        "mid_stream": killed and 0 < stored_at_kill < len(expected_ids),
                        "rerun_consumed": stats["consumed"],
                        "rerun_already_decided": stats["already_decided"],
                        "rerun_seconds": round(recover, 2),
                        **outcome.to_dict(),
                    }
                )
                assert outcome.exact, trials[-1]
                # nothing was scored twice: the re-run met no event decided before
                assert stats["already_decided"] == 0, trials[-1]
                assert stored_at_kill + stats["scored"] == len(expected_ids), trials[-1]
    finally:
        delete_topic(settings, mixed.topic)
    record(
        "consumer_kill",
        {
            "seed": seed,
            "trials": len(trials),
            "events": mixed.total,
            "expected_scored": len(expected_ids),
            "expected_dead": len(expected_dead),
            "poison": len(mixed.poison_keys),
            "uninterrupted_run_s": round(full_run, 2),
            "killed_mid_stream": sum(t["mid_stream"] for t in trials),
            "killed_before_first_commit": sum(
                t["killed"] and t["stored_at_kill"] == 0 for t in trials
            ),
            "finished_before_kill": sum(not t["killed"] for t in trials),
            "exact": sum(t["exact"] for t in trials),
            "duplicates_total": sum(t["duplicates"] for t in trials),
            "missing_total": sum(t["missing"] for t in trials),
            "rerun_seconds_p50": percentile([t["rerun_seconds"] for t in trials], 0.5),
            "rerun_seconds_max": max(t["rerun_seconds"] for t in trials),
            "per_trial": trials,
        },
    )
    assert sum(t["mid_stream"] for t in trials) >= max(1, TRIALS // 2), "kills missed the stream"
