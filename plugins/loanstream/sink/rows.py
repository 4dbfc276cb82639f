"""What the sink stores for one event: the ``risk_scored`` row, built from a Kafka message.

``score_message`` is the definition of a row (the native scorer writes exactly its rows or
declines); ``csv_lines`` turns rows into the text ``COPY ... WITH (FORMAT csv)`` reads. An
event is a JSON object: as it is (the untyped events), or framed with the id of a version of
the ``loan_application`` contract (``schema_ids``); the republish payload is a
``risk_decision`` event (``loanstream.contract.decision``).
"""

from __future__ import annotations

import csv
import io
import operator
from collections.abc import Iterable
from typing import Any

import orjson
from confluent_kafka import Message

from loanstream.kafka.registry import unframe
from loanstream.scoring import ScoringError, apply_rules, preprocess_event
from loanstream.sink.schema_ids import ContractSchemaIds

FEATURE_COLUMNS = (
    "loan_id", "loan_amnt", "term_months", "int_rate", "annual_inc", "dti", "revol_util",
    "emp_length_years", "credit_history_months", "fico", "inq_last_6mths", "delinq_2yrs",
    "pub_rec", "home_ownership", "purpose", "features_as_of", "features_as_of_basis",
)  # fmt: skip
SCORE_COLUMNS = ("risk_score", "risk_band", "decision", "reasons", "rules_version")
META_COLUMNS = ("event_time", "run_id", "src_topic", "src_partition", "src_offset")
ROW_COLUMNS = FEATURE_COLUMNS + SCORE_COLUMNS + META_COLUMNS
BAND_OF_ROW = operator.itemgetter(ROW_COLUMNS.index("risk_band"))
DECISION_OF_ROW = operator.itemgetter(ROW_COLUMNS.index("decision"))

_FEATURE_VALUES = operator.attrgetter(*FEATURE_COLUMNS)  # one C call for the 15 columns
_reasons_json: dict[tuple[str, ...], str] = {}  # few distinct reason lists: dump each once


def csv_lines(rows: Iterable[tuple]) -> str:
    """``risk_scored`` rows as the CSV text ``COPY ... WITH (FORMAT csv)`` reads (None -> NULL)."""
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(rows)
    return buffer.getvalue()


def kafka_text(raw: bytes) -> str:
    """Kafka key/header bytes as text Postgres can store: bad UTF-8 and NUL become U+FFFD."""
    return raw.decode("utf-8", "replace").replace("\x00", "\ufffd")


def header(headers: list[tuple[str, bytes]] | None, name: str) -> str | None:
    """The text of header ``name`` (the first one), or None."""
    for key, value in headers or ():
        if key == name and value is not None:
            return kafka_text(value)
    return None


def _dump_reasons(reasons: list[str]) -> str:
    key = tuple(reasons)
    text = _reasons_json.get(key)
    if text is None:
        if len(_reasons_json) >= 4096:
            _reasons_json.clear()
        text = _reasons_json[key] = orjson.dumps(reasons).decode()
    return text


def score_message(
    msg: Message,
    rules: Any,
    *,
    payload: bool = True,
    schema_ids: ContractSchemaIds | None = None,
) -> tuple[tuple, dict | None] | str:
    """One message -> (row for risk_scored, republish payload) or the dead-letter reason.

    With ``payload=False`` (no republishing) the payload is not built and is None.
    ``schema_ids`` resolves the schema id of a framed value (without it, framed values are
    dead-lettered: this reader knows no registry).
    """
    return score_value(
        msg.value(),
        rules,
        topic=msg.topic(),
        partition=msg.partition(),
        offset=msg.offset(),
        run_id=header(msg.headers(), "run_id"),
        payload=payload,
        schema_ids=schema_ids,
    )


def score_value(
    value: bytes | None,
    rules: Any,
    *,
    topic: str,
    partition: int,
    offset: int,
    run_id: str | None,
    payload: bool = True,
    schema_ids: ContractSchemaIds | None = None,
) -> tuple[tuple, dict | None] | str:
    """An event's bytes and source position -> (row, payload) or the dead-letter reason: what
    ``score_message`` does for a Kafka message, and the dead-letter redrive for a stored one
    (a framed one too: its raw bytes are stored whole)."""
    if not value:
        return "empty value"
    schema_id, value = unframe(value)
    if schema_id is not None:
        if schema_ids is None:
            return f"framed with schema id {schema_id}: this reader resolves no schema ids"
        reason = schema_ids.refusal(schema_id)
        if reason is not None:
            return reason
    try:
        event = orjson.loads(value)
    except orjson.JSONDecodeError as exc:
        return f"not JSON: {exc}"
    if not isinstance(event, dict):
        return f"not a JSON object: got {type(event).__name__}"
    try:
        features = preprocess_event(event)
        score = apply_rules(features, rules)
    except ScoringError as exc:
        return str(exc)
    event_time = features.event_time.isoformat()
    row = (
        *_FEATURE_VALUES(features),
        score.risk_score, score.risk_band, score.decision,
        _dump_reasons(score.reasons), score.rules_version,
        event_time, run_id, topic, partition, offset,
    )  # fmt: skip
    if not payload:
        return row, None
    return row, {
        "loan_id": features.loan_id,
        "risk_score": score.risk_score,
        "risk_band": score.risk_band,
        "decision": score.decision,
        "reasons": list(score.reasons),
        "rules_version": score.rules_version,
        "event_time": event_time,
    }
