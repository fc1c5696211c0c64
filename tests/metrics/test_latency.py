"""Choosing the slow-request bucket: auto (smallest bound >= p99) and a given bound."""

from __future__ import annotations

import pytest

from progressive.metrics.latency import Bucket, choose_auto, find_bucket, parse_le

SECONDS = ["0.05", "0.1", "0.25", "0.5", "1", "+Inf"]
MILLIS = ["50", "100", "250", "500", "1000", "+Inf"]


def test_auto_picks_the_smallest_bound_at_or_above_p99() -> None:
    assert choose_auto(SECONDS, 0.32, unit=1.0) == Bucket("0.5", 0.5)
    assert choose_auto(SECONDS, 0.25, unit=1.0) == Bucket("0.25", 0.25)
    assert choose_auto(reversed(SECONDS), 0.01, unit=1.0) == Bucket("0.05", 0.05)


def test_auto_beyond_the_last_finite_bound_takes_the_last() -> None:
    assert choose_auto(SECONDS, 7.0, unit=1.0) == Bucket("1", 1.0)


def test_auto_in_milliseconds_keeps_the_label_spelling() -> None:
    assert choose_auto(MILLIS, 0.32, unit=0.001) == Bucket("500", 0.5)


def test_auto_without_finite_bounds_is_an_error() -> None:
    with pytest.raises(ValueError, match="no finite bucket bounds"):
        choose_auto(["+Inf"], 0.1, unit=1.0)


def test_find_bucket_matches_numerically() -> None:
    assert find_bucket(["0.250", "+Inf"], 0.25, unit=1.0) == Bucket("0.250", 0.25)
    assert find_bucket(MILLIS, 0.25, unit=0.001) == Bucket("250", 0.25)
    assert find_bucket(["1e+06", "+Inf"], 1000.0, unit=0.001) == Bucket("1e+06", 1000.0)


def test_find_bucket_names_the_buckets_there_are() -> None:
    with pytest.raises(ValueError, match=r"no bucket at 0.3s; its buckets: 0.05s, 0.1s, 0.25s, 0.5s, 1s"):
        find_bucket(SECONDS, 0.3, unit=1.0)


def test_parse_le() -> None:
    assert parse_le("+Inf") == float("inf")
    assert parse_le("0.25") == 0.25
    with pytest.raises(ValueError, match="NaN"):
        parse_le("NaN")
    with pytest.raises(ValueError, match="could not convert"):
        parse_le("fast")
