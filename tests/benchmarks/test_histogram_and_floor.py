"""decision.md §5 unit tests (d) and (e): ``histogram_quantile`` as Prometheus computes it, and Wald's floor.

(d) runs the real ``promtool test rules`` (Debian's prometheus package) on hand-made buckets and asks it to
agree bit for bit with the benchmark's vectorised implementation.
"""

from __future__ import annotations

import math
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from benchmarks._floor import WALD_C, expected_requests, harm_floor, time_floor
from benchmarks._histogram import histogram_quantile
from benchmarks._model import BUCKETS, bucket_probabilities, slow_probability

# Hand-made cases: finite bounds, per-bucket counts (the last is the +Inf bucket), quantile.
CASES: list[tuple[str, list[float], list[int], float]] = [
    ("middle", [0.1, 0.2, 0.4], [2, 3, 1, 1], 0.5),
    ("first-bucket", [0.1, 0.2, 0.4], [8, 1, 1, 0], 0.5),
    ("only-inf-reaches", [0.1, 0.2, 0.4], [1, 1, 1, 7], 0.99),
    ("exact-boundary", [0.1, 0.2, 0.4], [5, 5, 0, 0], 0.5),
    ("empty-middle", [0.1, 0.2, 0.4, 0.8], [3, 0, 0, 7, 0], 0.9),
    ("p99-bounds", list(BUCKETS), [0] * 10 + [40, 200, 300, 200, 100, 60, 40, 20, 10, 9, 3, 2] + [0] * 9, 0.99),
    ("p99-tail", list(BUCKETS), [0] * 12 + [500] + [0] * 16 + [4, 2], 0.99),
]


def test_histogram_quantile_hand_computed() -> None:
    # middle: cumulative 2, 5, 6, 7; rank 3.5 lies in (0.1, 0.2]: 0.1 + 0.1 * (1.5 / 3) = 0.15
    value = histogram_quantile(0.5, np.array([[2, 3, 1, 1]]), [0.1, 0.2, 0.4])
    assert value[0] == pytest.approx(0.15)
    # first bucket starts at 0: rank 5 of 10, 8 in (0, 0.1]: 0.1 * 5 / 8
    assert histogram_quantile(0.5, np.array([[8, 1, 1, 0]]), [0.1, 0.2, 0.4])[0] == pytest.approx(0.0625)
    # only +Inf reaches the rank: the highest finite bound
    assert histogram_quantile(0.99, np.array([[1, 1, 1, 7]]), [0.1, 0.2, 0.4])[0] == 0.4
    # no observation: NaN
    assert math.isnan(histogram_quantile(0.99, np.array([[0, 0, 0, 0]]), [0.1, 0.2, 0.4])[0])
    with pytest.raises(ValueError, match="expected 4"):
        histogram_quantile(0.5, np.array([[1, 2]]), [0.1, 0.2, 0.4])


def _series(name: str, bounds: list[float], counts: list[int]) -> list[str]:
    lines = []
    cumulative = np.cumsum(counts)
    for le, total in zip([*(repr(b) for b in bounds), "+Inf"], cumulative, strict=True):
        lines.append(f"      - series: '{name}{{le=\"{le}\"}}'\n        values: '{int(total)}'")
    return lines


def test_histogram_quantile_matches_promtool_bit_for_bit(tmp_path: Path) -> None:
    promtool = shutil.which("promtool")
    assert promtool is not None, "promtool is needed (Debian package prometheus; .ci/run installs it)"
    series: list[str] = []
    checks: list[str] = []
    for index, (name, bounds, counts, q) in enumerate(CASES):
        metric = f"case{index}_bucket"
        series += _series(metric, bounds, counts)
        value = float(histogram_quantile(q, np.array([counts]), bounds)[0])
        assert math.isfinite(value), name
        checks.append(
            f"      - expr: histogram_quantile({q}, {metric})\n        eval_time: 0m\n"
            f"        exp_samples:\n          - labels: '{{}}'\n            value: {value!r}"
        )
    # No observation: Prometheus answers NaN, which a promtool test can only see as NaN != NaN.
    series += _series("empty_bucket", [0.1, 0.2], [0, 0, 0])
    assert math.isnan(histogram_quantile(0.99, np.array([[0, 0, 0]]), [0.1, 0.2])[0])
    checks.append(
        "      - expr: histogram_quantile(0.99, empty_bucket) != bool histogram_quantile(0.99, empty_bucket)\n"
        "        eval_time: 0m\n        exp_samples:\n          - labels: '{}'\n            value: 1"
    )
    test_file = tmp_path / "quantiles.yml"
    test_file.write_text(
        "rule_files: []\nevaluation_interval: 1m\ntests:\n  - interval: 1m\n    input_series:\n"
        + "\n".join(series)
        + "\n    promql_expr_test:\n"
        + "\n".join(checks)
        + "\n",
        encoding="utf-8",
    )
    result = subprocess.run([promtool, "test", "rules", str(test_file)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_latency_model_matches_the_spec() -> None:
    assert BUCKETS[19] == pytest.approx(0.3195, abs=5e-5)
    assert slow_probability(1.0) == pytest.approx(0.0101, abs=5e-5)
    assert slow_probability(1.2) == pytest.approx(0.0251, abs=5e-5)
    assert slow_probability(1.5) == pytest.approx(0.0653, abs=5e-5)
    for factor in (1.0, 1.2, 1.5):
        probabilities = bucket_probabilities(factor)
        assert len(probabilities) == 31
        assert sum(probabilities) == pytest.approx(1.0)
        assert sum(probabilities[20:]) == pytest.approx(slow_probability(factor))


# (e) The floor against decision.md §4's table: p0, ratio, E1[N], H*, T* at 1/10/100/1000 rps (None: > 20 min).
FLOOR_TABLE = [
    (0.001, 2, 6851, 6.9, (None, None, 11.6, 2.3)),
    (0.001, 5, 653, 2.6, (None, 11.4, 2.2, 0.2)),
    (0.001, 20, 64, 1.2, (11.3, 2.1, 0.2, 0.0)),
    (0.01, 2, 677, 6.8, (None, 11.5, 2.3, 0.2)),
    (0.01, 5, 64, 2.6, (11.3, 2.1, 0.2, 0.0)),
    (0.01, 20, 6, 1.2, (2.1, 0.2, 0.0, 0.0)),
]


@pytest.mark.parametrize(("p0", "ratio", "requests", "harm", "times"), FLOOR_TABLE)
def test_wald_floor_matches_the_spec_table(
    p0: float, ratio: float, requests: int, harm: float, times: tuple[float | None, ...]
) -> None:
    assert abs(WALD_C - 2.65) < 0.005
    p1 = p0 * ratio
    assert expected_requests(p0, p1) == pytest.approx(requests, abs=0.5 if requests < 100 else 1)
    assert harm_floor(p0, p1) == pytest.approx(harm, abs=0.05)
    for rps, minutes in zip((1, 10, 100, 1000), times, strict=True):
        floor = time_floor(p0, p1, rps) / 60
        if minutes is None:
            assert math.isinf(floor)
        else:
            assert floor == pytest.approx(minutes, abs=0.05 if minutes > 0 else 0.1)


def test_latency_floor_matches_the_spec_table() -> None:
    q0 = slow_probability(1.0)
    for factor, requests, harm, times in ((1.2, 332, 5.0, (None, 8.0, 1.1, 0.1)), (1.5, 39, 2.1, (9.0, 1.3, 0.1, 0.0))):
        q1 = slow_probability(factor)
        assert expected_requests(q0, q1) == pytest.approx(requests, abs=1.5)
        assert harm_floor(q0, q1) == pytest.approx(harm, abs=0.05)
        for rps, minutes in zip((1, 10, 100, 1000), times, strict=True):
            floor = time_floor(q0, q1, rps) / 60
            assert math.isinf(floor) if minutes is None else floor == pytest.approx(minutes, abs=0.06)


def test_floor_rejects_nonsense() -> None:
    with pytest.raises(ValueError, match="need 0 < p0 < p1 < 1"):
        expected_requests(0.01, 0.005)
