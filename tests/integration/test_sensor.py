"""The consumer gate (sensor and trigger) on the real broker and Postgres: it reads the run
ledger and the lag from Postgres offsets, and never consumes."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import pytest
from airflow.sdk.exceptions import AirflowSensorTimeout, AirflowSkipException, TaskDeferred

from loanstream.airflow.sensors import EventsWaitingSensor
from loanstream.airflow.triggers import RunGateTrigger
from loanstream.config import Settings
from loanstream.produce.producer import EventProducer
from loanstream.runs.gate import check_gate
from loanstream.runs.lag import stored_lag
from loanstream.store.connect import pg_connect
from loanstream.store.ledger import RunLedger
from tests.helpers import temp_schema, temp_topic, unique_name

pytestmark = pytest.mark.integration
NO_CONN = {"kafka_conn_id": "no_such_kafka_conn", "postgres_conn_id": "no_such_pg_conn"}


T = TypeVar("T")


def run_async(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` on a fresh event loop in its own thread, as the triggerer would.

    (The browser tests' Playwright keeps an event loop running in the main thread, where
    ``asyncio.run`` refuses to start another.)
    """
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coro).result()


@pytest.fixture
def env_dsn(live_settings: Settings, monkeypatch: pytest.MonkeyPatch):
    """A private schema, used by the sensor/trigger through LOANSTREAM_PG_DSN: connection ids
    that do not exist (``NO_CONN`` below) with the environment chosen as their fallback."""
    with temp_schema(live_settings) as dsn:
        monkeypatch.setenv("LOANSTREAM_PG_DSN", dsn)
        monkeypatch.setenv("LOANSTREAM_CONNECTION_FALLBACK", "env")
        yield dsn


def ledger(dsn: str, run_id: str, topic: str) -> RunLedger:
    return RunLedger(lambda: pg_connect(dsn), run_id, topic)


def test_trigger_opens_when_the_run_delivers_and_consumes_nothing(
    live_settings: Settings, shared_csv: Path, env_dsn: str
) -> None:
    group, run_id = unique_name("g"), unique_name("run")
    with temp_topic(live_settings) as topic:
        trigger = RunGateTrigger(
            topic, group, run_id, "no_such_kafka_conn", "no_such_pg_conn", 0.3, 60
        )

        async def scenario() -> dict:
            events = trigger.run()
            waiting = asyncio.ensure_future(events.__anext__())
            await asyncio.sleep(2)
            assert not waiting.done()  # nothing landed yet: the trigger keeps polling
            await asyncio.to_thread(
                EventProducer(live_settings.kafka_config(), topic).produce_csv,
                shared_csv,
                max_events=30,
                run_id=run_id,
                ledger=ledger(env_dsn, run_id, topic),
            )
            event = await asyncio.wait_for(waiting, timeout=30)
            return event.payload

        payload = run_async(scenario())
        # it opens as soon as the run's first events have landed, maybe before the last one
        assert payload["status"] == "open" and 1 <= payload["waiting"] <= 30
        assert payload["run_state"] in ("producing", "complete")
        # the gate only read offsets: all 30 events still wait in Postgres terms
        lag = stored_lag(live_settings.kafka_config(), env_dsn, topic, group)
        assert sum(lag.values()) == 30


def test_trigger_times_out_with_a_timeout_event(live_settings: Settings, env_dsn: str) -> None:
    with temp_topic(live_settings) as topic:
        trigger = RunGateTrigger(topic, unique_name("g"), unique_name("run"), "k", "p", 0.2, 1)

        async def first() -> dict:
            return (await trigger.run().__anext__()).payload

        assert run_async(first())["status"] == "timeout"


def test_trigger_serialises_connection_ids_never_credentials() -> None:
    trigger = RunGateTrigger("t", "g", "run1", "loanstream_kafka_sink", "loanstream_postgres", 3.0, 90.0)
    path, kwargs = trigger.serialize()
    assert path == "loanstream.airflow.triggers.RunGateTrigger"
    assert RunGateTrigger(**kwargs).serialize() == (path, kwargs)
    assert "password" not in repr(kwargs).lower() and "bootstrap" not in repr(kwargs)


def test_sensor_defers_to_the_triggerer_while_the_run_has_not_delivered(
    live_settings: Settings, env_dsn: str
) -> None:
    run_id = unique_name("run")
    with temp_topic(live_settings) as topic:
        ledger(env_dsn, run_id, topic).producing("x.csv")  # started, nothing delivered yet
        sensor = EventsWaitingSensor(
            task_id="wait", topic=topic, poke_interval=2, timeout=30, **NO_CONN
        )
        with pytest.raises(TaskDeferred) as deferred:
            sensor.execute(context={"run_id": run_id})
    trigger = deferred.value.trigger
    assert isinstance(trigger, RunGateTrigger) and trigger.run_id == run_id
    assert deferred.value.method_name == "execute_complete"


def test_sensor_opens_at_once_when_the_run_delivered(
    live_settings: Settings, shared_csv: Path, env_dsn: str
) -> None:
    run_id = unique_name("run")
    with temp_topic(live_settings) as topic:
        EventProducer(live_settings.kafka_config(), topic).produce_csv(
            shared_csv, max_events=12, run_id=run_id, ledger=ledger(env_dsn, run_id, topic)
        )
        sensor = EventsWaitingSensor(task_id="wait", topic=topic, group=unique_name("g"), **NO_CONN)
        opened = sensor.execute(context={"run_id": run_id})
    assert opened["status"] == "open" and opened["waiting"] == 12 and opened["delivered"] == 12


def test_a_run_that_delivered_nothing_skips_the_consumers_with_the_reason(
    live_settings: Settings, shared_csv: Path, env_dsn: str
) -> None:
    run_id = unique_name("run")
    with temp_topic(live_settings) as topic:
        # skip past the end of the file: the producer sends nothing and says so
        EventProducer(live_settings.kafka_config(), topic).produce_csv(
            shared_csv, skip=10_000, run_id=run_id, ledger=ledger(env_dsn, run_id, topic)
        )
        gate = check_gate(live_settings.kafka_config(), env_dsn, topic, "g", run_id)
        assert gate.status == "empty" and "none delivered" in gate.detail
        sensor = EventsWaitingSensor(task_id="wait", topic=topic, **NO_CONN)
        with pytest.raises(AirflowSkipException, match="nothing to score"):
            sensor.execute(context={"run_id": run_id})


def test_sensor_timeout_explains_what_to_check() -> None:
    sensor = EventsWaitingSensor(task_id="wait", topic="t", group="g", timeout=5)
    with pytest.raises(AirflowSensorTimeout, match="Did produce_events start"):
        sensor.execute_complete({}, {"status": "timeout", "timeout": 5, "last_error": ""})
