"""Replica ratio: whole replicas as close to W as possible, effective weight reported."""

from __future__ import annotations

from fractions import Fraction

import pytest

from progressive.routers.replicas import ReplicaPlace, effective_weight, split_replicas


@pytest.mark.parametrize(
    ("total", "weight", "stable", "canary", "effective"),
    [
        (10, 0, 10, 0, 0),
        (10, 30, 7, 3, 30),
        (10, 100, 0, 10, 100),
        (4, 10, 4, 0, 0),  # 0.4 replicas rounds to none
        (4, 13, 3, 1, 25),  # 0.52 rounds to one
        (3, 50, 1, 2, 67),  # half rounds up
        (7, 25, 5, 2, 29),
        (1, 49, 1, 0, 0),
        (1, 50, 0, 1, 100),
    ],
)
def test_split(total: int, weight: int, stable: int, canary: int, effective: int) -> None:
    assert split_replicas(total, weight) == (stable, canary)
    assert effective_weight(stable, canary) == effective


def test_every_weight_is_as_close_as_whole_replicas_allow() -> None:
    for total in range(1, 25):
        for weight in range(101):
            stable, canary = split_replicas(total, weight)
            assert stable + canary == total
            best = min(range(total + 1), key=lambda c: (abs(c * 100 - weight * total), -c))
            assert canary == best, (total, weight)


def test_place_at_means_the_exact_replica_counts() -> None:
    place = ReplicaPlace("spec.replicas", Fraction(4), Fraction(0), 4)
    assert place.at(10) and place.at(0) and not place.at(13)
