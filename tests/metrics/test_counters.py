"""Per-poll increments from raw counters: differences, resets, new and vanished units, the cursor."""

from __future__ import annotations

import json

import pytest

from progressive.metrics.counters import MAX_UNITS, Cursor, derive_slow, increments, reading, unit_key
from progressive.metrics.prometheus import Sample

A = unit_key({"pod": "a"})
B = unit_key({"pod": "b"})


def test_first_poll_only_records_the_cursor() -> None:
    result, cursor = increments(None, {"requests": {A: 100.0, B: 50.0}}, at=10.0)
    assert result == {"requests": 0.0}
    assert cursor.values == {"requests": {A: 100.0, B: 50.0}}
    assert cursor.at == 10.0


def test_difference_per_unit() -> None:
    _, cursor = increments(None, {"requests": {A: 100.0, B: 50.0}}, at=0)
    result, cursor = increments(cursor, {"requests": {A: 130.0, B: 55.0}}, at=1)
    assert result == {"requests": 35.0}
    result, _ = increments(cursor, {"requests": {A: 130.0, B: 55.0}}, at=2)
    assert result == {"requests": 0.0}


def test_reset_counts_the_new_value() -> None:
    _, cursor = increments(None, {"requests": {A: 100.0}}, at=0)
    result, cursor = increments(cursor, {"requests": {A: 7.0}}, at=1)
    assert result == {"requests": 7.0}
    assert cursor.values["requests"][A] == 7.0


def test_new_unit_counts_from_zero() -> None:
    """A lazily created series (a pod's first 5xx) or a new pod: its whole value is new."""
    _, cursor = increments(None, {"errors": {A: 3.0}}, at=0)
    result, _ = increments(cursor, {"errors": {A: 3.0, B: 1.0}}, at=1)
    assert result == {"errors": 1.0}


def test_a_counter_read_for_the_first_time_only_sets_its_cursor() -> None:
    """Not read before is not "read and empty": its lifetime value is not an increment."""
    _, cursor = increments(None, {"requests": {A: 10.0}}, at=0)
    result, cursor = increments(cursor, {"requests": {A: 12.0}, "errors": {A: 7.0}}, at=1)
    assert result == {"requests": 2.0, "errors": 0.0}
    result, _ = increments(cursor, {"requests": {A: 12.0}, "errors": {A: 8.0}}, at=2)
    assert result == {"requests": 0.0, "errors": 1.0}


def test_an_empty_reading_is_remembered_so_a_later_series_counts_from_zero() -> None:
    _, cursor = increments(None, {"errors": {}}, at=0)
    assert cursor.values == {"errors": {}}
    result, _ = increments(cursor, {"errors": {A: 2.0}}, at=1)
    assert result == {"errors": 2.0}


def test_vanished_unit_is_remembered_and_not_counted_twice() -> None:
    _, cursor = increments(None, {"requests": {A: 100.0, B: 50.0}}, at=0)
    result, cursor = increments(cursor, {"requests": {A: 110.0}}, at=1)  # b missed a scrape
    assert result == {"requests": 10.0}
    assert cursor.values["requests"][B] == 50.0
    result, _ = increments(cursor, {"requests": {A: 110.0, B: 60.0}}, at=2)  # b is back
    assert result == {"requests": 10.0}


def test_cursor_round_trips_through_json() -> None:
    _, cursor = increments(None, {"requests": {A: 1.5, B: 2.0}, "errors": {}}, at=12.25)
    again = Cursor.from_dict(json.loads(json.dumps(cursor.to_dict())))
    assert again == Cursor(at=12.25, values={"requests": {A: 1.5, B: 2.0}, "errors": {}})


@pytest.mark.parametrize("bad", [{}, {"at": 1}, {"at": "x", "values": {}}, {"at": 1, "values": {"r": {"a": "x"}}}])
def test_malformed_cursor_is_a_value_error(bad: dict[str, object]) -> None:
    with pytest.raises(ValueError, match="malformed counter cursor"):
        Cursor.from_dict(bad)


def test_cursor_is_bounded() -> None:
    many = {unit_key({"pod": str(i)}): float(i) for i in range(MAX_UNITS + 10)}
    _, cursor = increments(None, {"requests": many}, at=0)
    assert len(cursor.values["requests"]) == MAX_UNITS
    assert unit_key({"pod": "0"}) not in cursor.values["requests"]


def test_reading_keys_units_by_labels_and_drops_non_finite_values() -> None:
    samples = [
        Sample({"pod": "a", "job": "x"}, 3.0),
        Sample({"job": "x", "pod": "b"}, float("nan")),
        Sample({"pod": "c"}, float("inf")),
    ]
    assert reading(samples) == {unit_key({"job": "x", "pod": "a"}): 3.0}


def test_derive_slow_only_for_units_with_both_buckets() -> None:
    count = {A: 100.0, B: 40.0}
    below = {A: 90.0}
    total, slow = derive_slow(count, below)
    assert total == {A: 100.0}
    assert slow == {A: 10.0}
