"""The stored offsets' topic: a topic deleted and created again under the same name is refused."""

from __future__ import annotations

import pytest

from loanstream.sink.topic_identity import TopicRecreatedError, partitions_to_adopt

pytestmark = pytest.mark.unit


def test_the_same_topic_resumes_and_offsets_stored_without_an_id_take_it() -> None:
    stored = {0: (20, "idA"), 1: (5, None), 2: (0, None)}
    assert partitions_to_adopt("t", "g", "idA", stored, {0: 20, 1: 9, 2: 0}) == [1, 2]
    assert partitions_to_adopt("t", "g", "idA", {0: (20, "idA")}, {0: 25}) == []


def test_another_topic_id_is_refused_naming_both_and_what_to_do() -> None:
    with pytest.raises(TopicRecreatedError) as caught:
        # the new topic holds as many events as the old: only the id tells them apart
        partitions_to_adopt("loans", "scorer", "idB", {0: (20, "idA")}, {0: 20})
    message = str(caught.value)
    assert "topic 'loans' was deleted and created again" in message
    assert "idB" in message and "idA" in message and "'scorer'" in message
    assert "new topic name" in message and "make clean" in message


def test_another_groups_offsets_of_the_old_topic_are_refused_too() -> None:
    """A new group would repeat the old topic's positions in risk_decisions."""
    with pytest.raises(TopicRecreatedError, match="offsets are stored for idA"):
        partitions_to_adopt("t", "new-group", "idB", {0: (0, "idB")}, {0: 3}, {"idA"})
    assert partitions_to_adopt("t", "new-group", "idB", {0: (0, "idB")}, {0: 3}, {"idB"}) == []


def test_offsets_without_an_id_past_the_topics_end_are_refused() -> None:
    with pytest.raises(TopicRecreatedError, match=r"lie past its end offsets \{1: 4\}"):
        partitions_to_adopt("t", "g", "idB", {0: (3, None), 1: (9, None)}, {0: 3, 1: 4})


def test_a_cluster_without_topic_ids_is_checked_by_its_offsets_alone() -> None:
    assert partitions_to_adopt("t", "g", None, {0: (3, "idA"), 1: (2, None)}, {0: 3, 1: 2}) == []
    with pytest.raises(TopicRecreatedError, match="lie past its end"):
        partitions_to_adopt("t", "g", None, {0: (4, "idA")}, {0: 3})
