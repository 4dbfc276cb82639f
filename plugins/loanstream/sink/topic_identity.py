"""Is the topic the one the stored offsets belong to?

Offsets stored in Postgres say where each partition resumes. A topic deleted and created again
under the same name (to start over, or a broker whose data was wiped) restarts its offsets at 0:
resuming at the stored offsets would take its events for ones already scored and skip them,
silently. Kafka gives a topic a new id each time it is created (KIP-516), so the sink stores the
id beside the offsets (migration 0004) and, on start, refuses a topic whose id is not the stored
one. Offsets stored before the id was kept (id NULL) are adopted when they can belong to the
topic, and refused when they lie past its end (the old topic held more events than this one).
"""

from __future__ import annotations

from loanstream.sink.errors import SinkError


class TopicRecreatedError(SinkError):
    """The topic is not the one the stored offsets belong to: consuming it would skip events."""


def partitions_to_adopt(
    topic: str,
    group: str,
    current_id: str | None,
    stored: dict[int, tuple[int, str | None]],
    end_offsets: dict[int, int],
    other_groups_ids: set[str] = frozenset(),  # type: ignore[assignment]
) -> list[int]:
    """The partitions whose stored offsets should take ``current_id`` (stored without an id);
    ``TopicRecreatedError`` if any partition's offsets belong to another topic of this name.

    :param current_id: the topic's id now (None: the cluster keeps none; only the offsets tell).
    :param stored: per partition, (next offset stored in Postgres, topic id stored with it).
    :param end_offsets: per partition, the topic's end offset now.
    :param other_groups_ids: the topic ids other consumer groups stored offsets of this topic
        name with: their decisions hold the old topic's positions, which the new one's repeat.
    """
    known = {tid for _, tid in stored.values() if tid is not None} | set(other_groups_ids)
    other_ids = sorted(known - {current_id}) if current_id is not None else []
    past_end = {
        p: offset for p, (offset, tid) in stored.items()
        if offset > end_offsets.get(p, 0) and (tid is None or current_id is None)
    }  # fmt: skip
    if other_ids or past_end:
        if other_ids:
            why = f"its topic id is {current_id}; offsets are stored for {', '.join(other_ids)}"
        else:
            why = (
                f"the stored offsets {dict(sorted(past_end.items()))} lie past its end offsets "
                f"{ {p: end_offsets.get(p, 0) for p in sorted(past_end)} }"
            )
        raise TopicRecreatedError(
            f"topic '{topic}' was deleted and created again since offsets were stored for it "
            f"({why}). Its events start again at offset 0: consumer group '{group}' would take "
            "them for ones already scored and skip them, and their decisions would repeat the "
            "old topic's positions; nothing was consumed. Produce to a new topic name (the run "
            "form's topic, --topic), or start Kafka and Postgres both afresh (`make clean`); "
            "the old topic's scores and decisions stay in Postgres"
        )
    if current_id is None:
        return []
    return sorted(p for p, (_, tid) in stored.items() if tid is None)
