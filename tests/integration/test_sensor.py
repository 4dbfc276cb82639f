"""The events-waiting sensor and its trigger on the real broker: they read lag, never consume."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import pytest
from airflow.sdk.exceptions import AirflowSensorTimeout, TaskDeferred

from loanstream.airflow.sensors import EventsWaitingSensor
from loanstream.airflow.triggers import ConsumerLagTrigger
from loanstream.config import Settings
from loanstream.lag import consumer_lag
from loanstream.producer import EventProducer
from tests.helpers import temp_topic, unique_name

pytestmark = pytest.mark.integration


T = TypeVar("T")


def run_async(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` on a fresh event loop in its own thread, as the triggerer would.

    (The browser tests' Playwright keeps an event loop running in the main thread, where
    ``asyncio.run`` refuses to start another.)
    """
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coro).result()


def test_trigger_fires_when_events_arrive_and_consumes_nothing(
    live_settings: Settings, shared_csv: Path
) -> None:
    group = unique_name("g")
    with temp_topic(live_settings) as topic:
        trigger = ConsumerLagTrigger(
            live_settings.kafka_config(), topic, group, poke_interval=0.5, timeout=60
        )

        async def scenario() -> dict:
            events = trigger.run()
            waiting = asyncio.ensure_future(events.__anext__())
            await asyncio.sleep(2)
            assert not waiting.done()  # nothing waits yet: the trigger keeps polling
            await asyncio.to_thread(
                EventProducer(live_settings.kafka_config(), topic).produce_csv,
                shared_csv,
                max_events=30,
            )
            event = await asyncio.wait_for(waiting, timeout=30)
            return event.payload

        payload = run_async(scenario())
        assert payload["status"] == "ready" and sum(payload["lag"].values()) == 30
        # the trigger only read offsets: the group still has all 30 events waiting
        assert sum(consumer_lag(live_settings.kafka_config(), topic, group).values()) == 30


def test_trigger_times_out_with_a_timeout_event(live_settings: Settings) -> None:
    with temp_topic(live_settings) as topic:
        trigger = ConsumerLagTrigger(
            live_settings.kafka_config(), topic, unique_name("g"), poke_interval=0.2, timeout=1
        )

        async def first() -> dict:
            return (await trigger.run().__anext__()).payload

        assert run_async(first())["status"] == "timeout"


def test_trigger_round_trips_through_serialize(live_settings: Settings) -> None:
    trigger = ConsumerLagTrigger({"bootstrap.servers": "b:9092"}, "t", "g", 3.0, 90.0)
    path, kwargs = trigger.serialize()
    assert path == "loanstream.airflow.triggers.ConsumerLagTrigger"
    assert ConsumerLagTrigger(**kwargs).serialize() == (path, kwargs)


def test_sensor_defers_to_the_triggerer_when_nothing_waits(live_settings: Settings) -> None:
    with temp_topic(live_settings) as topic:
        sensor = EventsWaitingSensor(task_id="wait", topic=topic, poke_interval=2, timeout=30)
        with pytest.raises(TaskDeferred) as deferred:
            sensor.execute(context={})
    assert isinstance(deferred.value.trigger, ConsumerLagTrigger)
    assert deferred.value.method_name == "execute_complete"


def test_sensor_opens_at_once_when_events_wait(live_settings: Settings, shared_csv: Path) -> None:
    with temp_topic(live_settings) as topic:
        EventProducer(live_settings.kafka_config(), topic).produce_csv(shared_csv, max_events=12)
        sensor = EventsWaitingSensor(task_id="wait", topic=topic, group=unique_name("g"))
        assert sensor.execute(context={})["waiting"] == 12


def test_sensor_timeout_explains_what_to_check() -> None:
    sensor = EventsWaitingSensor(task_id="wait", topic="t", group="g", timeout=5)
    with pytest.raises(AirflowSensorTimeout, match="Did produce_events deliver anything"):
        sensor.execute_complete({}, {"status": "timeout", "timeout": 5, "last_error": ""})
