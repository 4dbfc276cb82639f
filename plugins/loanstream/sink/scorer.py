"""The batch scorer: a batch of Kafka messages -> rows, dead letters and republish payloads.

Plain events go through the native scorer (``loanstream.native``) when it is built, the rest
through Python's ``score_message``, with the same rows either way; a message that cannot be
parsed or scored becomes a dead letter, whole (raw bytes) with the reason. A framed event's
schema id is Python's to resolve (``schema_ids``): the native scorer declines a framed event
until Python has accepted its id, and is handed each id Python accepts, for later batches.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import orjson
import psycopg2
from confluent_kafka import Message

from loanstream.native import NativeScoringUnavailable
from loanstream.scoring import RuleSet
from loanstream.scoring.native import load_batch_scorer
from loanstream.sink.errors import SinkError
from loanstream.sink.rows import (
    BAND_OF_ROW,
    DECISION_OF_ROW,
    header,
    kafka_text,
    score_message,
)
from loanstream.sink.schema_ids import ContractSchemaIds


@dataclass
class Batch:
    """One batch of consumed messages on its way to Postgres."""

    rows: list[tuple] = field(default_factory=list)  # scored in Python
    messages: list[Message] = field(default_factory=list)  # waiting for the native scorer
    native_csv: bytes = b""  # rows the native scorer wrote, as CSV lines
    native_rows: int = 0
    native_scores: list[int] = field(default_factory=list)  # rows per risk_score 0..100
    dead: list[tuple] = field(default_factory=list)
    republish: list[tuple[str, bytes, list]] = field(default_factory=list)
    end: dict[int, int] = field(default_factory=dict)  # partition -> next offset after batch

    @property
    def scored(self) -> int:
        return len(self.rows) + self.native_rows

    def add(self, msg: Message) -> None:
        """Take ``msg`` into the batch (scored later, by ``BatchScorer.score``)."""
        self.end[msg.partition()] = msg.offset() + 1
        self.messages.append(msg)


class BatchScorer:
    """Scores batches with the native scorer where it can, Python where it cannot.

    :param rules: the rule set.
    :param native: ``auto``, ``on`` or ``off`` (``LOANSTREAM_NATIVE_SCORING``).
    :param republish: also build the JSON payload republishing sends (Python path only).
    :param schema_ids: resolves the schema ids of framed events (default: none are read).
    """

    def __init__(
        self,
        rules: RuleSet,
        native: str = "auto",
        *,
        republish: bool = False,
        schema_ids: ContractSchemaIds | None = None,
    ) -> None:
        self.rules = rules
        self.republish = republish
        self.schema_ids = schema_ids
        self._native_ids = 0  # how many accepted ids the native scorer holds
        try:
            self._native, self.path = load_batch_scorer(rules, native)
        except (NativeScoringUnavailable, ValueError) as exc:
            raise SinkError(str(exc)) from None
        if republish and self._native is not None:
            # the compiled scorer writes CSV only, not the JSON payload republishing needs
            self._native = None
            self.path = "Python (republishing builds a JSON payload per event)"
        self._band_of, self._decision_of = rules.score_table()

    def score(self, batch: Batch) -> None:
        """Score ``batch.messages`` into rows or dead letters (the native scorer first)."""
        messages, batch.messages = batch.messages, []
        if self._native is None:
            for msg in messages:
                self._score_in_python(msg, batch)
            return
        self._hand_over_accepted_ids()  # ids primed before the first batch
        batch.native_csv, declined, batch.native_scores = self._native.score(messages)
        batch.native_rows = len(messages) - len(declined)
        for index in declined:
            self._score_in_python(messages[index], batch)
        self._hand_over_accepted_ids()  # ids first accepted in this batch

    def _hand_over_accepted_ids(self) -> None:
        """Give the native scorer the ids Python accepted since it last did."""
        if self.schema_ids is None or self._native is None:
            return
        accepted = self.schema_ids.accepted()
        if len(accepted) > self._native_ids:
            self._native.accept_schema_ids(accepted)
            self._native_ids = len(accepted)

    def prime(self, topic: str) -> None:
        """Resolve ``topic``'s current schema id before the first batch (best effort), so
        that its framed events are scored natively from the start."""
        if self.schema_ids is not None and self._native is not None:
            self.schema_ids.prime(topic)

    def mix(self, batch: Batch) -> tuple[Counter, Counter]:
        """(bands, decisions) of the batch's scored rows."""
        bands = Counter(map(BAND_OF_ROW, batch.rows))
        decisions = Counter(map(DECISION_OF_ROW, batch.rows))
        for score, n in enumerate(batch.native_scores):
            if n:
                bands[self._band_of[score]] += n
                decisions[self._decision_of[score]] += n
        return bands, decisions

    def _score_in_python(self, msg: Message, batch: Batch) -> None:
        """Score one message in Python: a row, or a dead letter with the reason."""
        partition, offset = msg.partition(), msg.offset()
        result = score_message(
            msg, self.rules, payload=self.republish, schema_ids=self.schema_ids
        )
        if isinstance(result, str):
            key = msg.key()
            batch.dead.append(
                (msg.topic(), partition, offset,
                 kafka_text(key) if key is not None else None,
                 psycopg2.Binary(msg.value() or b""), result, header(msg.headers(), "run_id"))
            )  # fmt: skip
            return
        row, payload = result
        batch.rows.append(row)
        if self.republish:
            headers = [
                ("src_topic", msg.topic().encode()),
                ("src_partition", b"%d" % partition),
                ("src_offset", b"%d" % offset),
            ]
            batch.republish.append((row[0], orjson.dumps(payload), headers))
