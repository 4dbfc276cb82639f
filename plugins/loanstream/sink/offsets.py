"""The offset store: where each (group, topic, partition) resumes, kept in Postgres.

Offsets are written in the same transaction as the rows (``move``), with a fence: a partition's
offset moves only if it still holds the offset this consumer started the batch at, so a second
consumer of the same partition (a zombie task) is stopped instead of writing twice. Leases
(session advisory locks, one per partition) keep two live consumers from working a partition at
the same time in the first place: a consumer that finds its partition leased waits its turn.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable
from typing import Any

from loanstream.sink.errors import FencedError
from loanstream.sink.topic_identity import partitions_to_adopt

# The fence and the new offsets, in one statement: lock the batch's partitions' offset rows (in
# partition order), move each one only if it still holds the offset this consumer started the
# batch at, and report every row as (partition, stored offset, moved). A row another consumer
# moved meanwhile is not moved here: the caller raises FencedError and the transaction rolls
# back. (Under READ COMMITTED the lock waits for that consumer's commit, then sees its offset.)
MOVE_OFFSETS_SQL = """
WITH fence AS (
    SELECT partition, next_offset FROM consumer_offsets
    WHERE consumer_group = %(group)s AND topic = %(topic)s AND partition = ANY(%(partitions)s)
    ORDER BY partition FOR UPDATE
), moved AS (
    UPDATE consumer_offsets AS c SET next_offset = t.next_offset, updated_at = now()
    FROM fence AS f,
         unnest(%(partitions)s::integer[], %(expected)s::bigint[], %(next)s::bigint[])
             AS t(partition, expected, next_offset)
    WHERE c.consumer_group = %(group)s AND c.topic = %(topic)s AND c.partition = f.partition
      AND t.partition = f.partition AND f.next_offset = t.expected
    RETURNING c.partition
)
SELECT f.partition, f.next_offset, m.partition IS NOT NULL
FROM fence AS f LEFT JOIN moved AS m USING (partition)
"""
REGISTER_SQL = (
    "INSERT INTO consumer_offsets (consumer_group, topic, partition, next_offset, topic_id) "
    "VALUES (%s, %s, %s, %s, %s) ON CONFLICT DO NOTHING"
)
STORED_IDS_SQL = (
    "SELECT partition, next_offset, topic_id FROM consumer_offsets "
    "WHERE consumer_group = %s AND topic = %s AND partition = ANY(%s)"
)
OTHER_GROUPS_IDS_SQL = (
    "SELECT DISTINCT topic_id FROM consumer_offsets "
    "WHERE topic = %s AND consumer_group <> %s AND topic_id IS NOT NULL"
)
ADOPT_ID_SQL = (
    "UPDATE consumer_offsets SET topic_id = %s WHERE consumer_group = %s AND topic = %s "
    "AND partition = ANY(%s) AND topic_id IS NULL"
)
STORED_SQL = (
    "SELECT partition, next_offset FROM consumer_offsets "
    "WHERE consumer_group = %s AND topic = %s AND partition = ANY(%s)"
)
TOUCH_SQL = (
    "UPDATE consumer_offsets SET updated_at = now() "
    "WHERE consumer_group = %s AND topic = %s AND partition = ANY(%s)"
)
TRY_LEASE_SQL = "SELECT pg_try_advisory_lock(%s, %s)"
RELEASE_SQL = "SELECT pg_advisory_unlock(%s, %s)"


class OffsetStore:
    """Stored offsets, the fence and the partition leases of one (group, topic).

    :param group: the consumer group (offsets are kept per group).
    :param topic: the topic consumed.
    """

    def __init__(self, group: str, topic: str) -> None:
        self.group = group
        self.topic = topic
        # advisory locks take two int4 keys: (group and topic), partition
        self._lease_key = zlib.crc32(f"{group}\x00{topic}".encode()) - (1 << 31)

    def register(
        self,
        conn: Any,
        partitions: Iterable[int],
        lows: dict[int, int],
        ends: dict[int, int],
        topic_id: str | None,
    ) -> dict[int, int]:
        """Stored next offsets; a partition seen for the first time is registered at ``lows``
        with the topic's id. ``TopicRecreatedError`` if the offsets stored belong to another
        topic of this name (``sink.topic_identity``, against the topic's ``ends``).

        Registering makes every later batch lock an existing row, which is what fences a
        second consumer of the same partition.
        """
        partitions = list(partitions)
        with conn, conn.cursor() as cur:
            cur.executemany(
                REGISTER_SQL, [(self.group, self.topic, p, lows[p], topic_id) for p in partitions]
            )
            cur.execute(STORED_IDS_SQL, (self.group, self.topic, partitions))
            stored = {p: (offset, tid) for p, offset, tid in cur.fetchall()}
            cur.execute(OTHER_GROUPS_IDS_SQL, (self.topic, self.group))
            others = {tid for (tid,) in cur.fetchall()}
            adopt = partitions_to_adopt(
                self.topic, self.group, topic_id, stored, ends, others
            )  # raises inside `with conn`: the registration is rolled back
            if adopt:
                cur.execute(ADOPT_ID_SQL, (topic_id, self.group, self.topic, adopt))
        return {p: offset for p, (offset, _) in stored.items()}

    def stored(self, conn: Any, partitions: Iterable[int]) -> dict[int, int]:
        """The next offsets stored for ``partitions`` (registered ones only)."""
        with conn, conn.cursor() as cur:
            cur.execute(STORED_SQL, (self.group, self.topic, list(partitions)))
            return dict(cur.fetchall())

    def move(self, cur: Any, expected: dict[int, int | None], next_offsets: dict[int, int]) -> None:
        """Inside the batch's transaction: move each partition from ``expected`` to
        ``next_offsets``, or raise ``FencedError`` (the caller's transaction rolls back)."""
        partitions = sorted(next_offsets)
        cur.execute(
            MOVE_OFFSETS_SQL,
            {
                "group": self.group,
                "topic": self.topic,
                "partitions": partitions,
                "expected": [expected.get(p) for p in partitions],
                "next": [next_offsets[p] for p in partitions],
            },
        )
        stored = {p: (offset, moved) for p, offset, moved in cur.fetchall()}
        for partition in partitions:
            found, moved = stored.get(partition, (None, False))
            if not moved:
                raise FencedError(
                    f"partition {partition}: stored offset is {found} but this consumer is at "
                    f"{expected.get(partition)}; another consumer of group '{self.group}' is "
                    "working this partition. Stopped without writing; re-run to resume from "
                    "Postgres"
                )

    def touch(self, cur: Any, partitions: list[int]) -> None:
        """Inside the caller's transaction: mark ``partitions``' offsets as confirmed now (a
        write, without moving them)."""
        cur.execute(TOUCH_SQL, (self.group, self.topic, partitions))

    def try_lease(self, conn: Any, partition: int) -> bool:
        """Take ``partition``'s lease for ``conn``'s session (held until released or closed)."""
        with conn, conn.cursor() as cur:
            cur.execute(TRY_LEASE_SQL, (self._lease_key, partition))
            return bool(cur.fetchone()[0])

    def release(self, conn: Any, partition: int) -> None:
        with conn, conn.cursor() as cur:
            cur.execute(RELEASE_SQL, (self._lease_key, partition))
