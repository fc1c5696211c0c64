"""The benchmark's output: the long table (and its CSV), the per-policy scoreboard, decision.md §7's criteria.

Numbers are printed with fixed decimals, so the same seed gives byte-identical output.
"""

from __future__ import annotations

import csv
import io
import math
import statistics
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from benchmarks._floor import harm_floor, time_floor
from benchmarks._model import DOCS_PEERS, POLICIES, STRICT_PEERS, Cell, slow_probability
from benchmarks._sim import Outcome

__all__ = ["CSV_HEADER", "criteria", "floor", "scoreboard", "settings_of", "table", "write_csv"]

CSV_HEADER = (
    "kind,p0,effect,rps,policy,n,rollback_pct,ci95,promote_pct,ttd_mean,ttd_p90,"
    "t_promote,harm_canary,harm_total,t_star,h_star"
)
ALPHA = 0.05
FEASIBLE_MINUTES = 10.0
"""A regression is feasible when its time floor T* is at most 10 minutes."""
SEQUENTIAL = ("seq-5m", "seq-1m", "seq-10s", "seq-5m-hold", "seq-5m-tempered", "seq-1m-tempered", "seq-10s-tempered")
POLL_MINUTES = {
    "flagger": 1.0,
    "argo-fl0": 1.0,
    "argo-fl1": 1.0,
    "kayenta": 5.0,
    "kayenta-peek": 1.0,
    "seq-5m": 1.0,
    "seq-1m": 1.0,
    "seq-10s": 1 / 6,
    "seq-5m-hold": 1.0,
    "seq-5m-tempered": 1.0,
    "seq-1m-tempered": 1.0,
    "seq-10s-tempered": 1 / 6,
    "flagger-docs": 1.0,
    "argo-docs": 5.0,
    "kayenta-docs": 5.0,
}
"""Delta of ``TTD / (T* + Delta)``: the policy's decision interval, minutes."""
EQUAL_BUDGET: tuple[tuple[str, str], ...] = (
    ("seq-1m", "flagger"),
    ("seq-5m", "argo-fl0"),
    ("seq-5m", "argo-fl1"),
    ("seq-5m", "kayenta"),
    ("seq-1m", "flagger-docs"),
    ("seq-5m", "argo-docs"),
    ("seq-5m", "kayenta-docs"),
)
"""Criteria 2 and 5: (ours, peer) at equal budget, the strict set then the docs set (``flagger-docs``
takes 10 minutes, between seq-1m's 4 and seq-5m's 20; it is held to seq-1m, its poll cadence)."""
HARM_PEERS: tuple[str, ...] = ("kayenta", "flagger", "kayenta-docs", "flagger-docs")
"""Criterion 4's peers, in both sets."""


def settings_of(policy: str) -> str:
    """``strict`` (decision.md §5's peers), ``docs`` (the peers' documented settings) or ``ours``."""
    if policy in STRICT_PEERS or policy == "kayenta-peek":
        return "strict"
    if policy in DOCS_PEERS:
        return "docs"
    return "ours"


@dataclass(frozen=True, slots=True)
class Floor:
    """Wald's limits for a regression: time (minutes, ``inf`` beyond the schedule) and harm (requests)."""

    t_star: float
    h_star: float

    @property
    def feasible(self) -> bool:
        """T* within 10 minutes."""
        return self.t_star <= FEASIBLE_MINUTES


def floor(cell: Cell) -> Floor | None:
    """T* and H* of a bad cell; ``None`` for a good one."""
    if cell.kind == "good":
        return None
    if cell.effect.startswith("lat"):
        p0, p1 = slow_probability(1.0), slow_probability(cell.latency_factor)
    else:
        p0, p1 = cell.p0, cell.p0 * cell.error_ratio
    return Floor(time_floor(p0, p1, cell.rps) / 60.0, harm_floor(p0, p1))


def _fixed(value: float, decimals: int) -> str:
    return "" if math.isnan(value) else f"{value:.{decimals}f}"


def _ci95(rate: float, n: int) -> float:
    return 196.0 * math.sqrt(rate * (1.0 - rate) / n)


def _fields(outcome: Outcome) -> list[str]:
    cell = outcome.cell
    limit = floor(cell)
    t_star = "" if limit is None or math.isinf(limit.t_star) else f"{limit.t_star:.2f}"
    h_star = "" if limit is None else f"{limit.h_star:.2f}"
    return [
        cell.kind,
        f"{cell.p0:g}",
        cell.effect,
        str(cell.rps),
        outcome.policy,
        str(outcome.n),
        f"{100 * outcome.rollback:.2f}",
        f"{_ci95(outcome.rollback, outcome.n):.2f}",
        f"{100 * outcome.promote:.2f}",
        _fixed(outcome.ttd_mean, 2),
        _fixed(outcome.ttd_p90, 2),
        _fixed(outcome.t_promote, 2),
        f"{outcome.harm_canary:.1f}",
        f"{outcome.harm_total:.1f}",
        t_star,
        h_star,
    ]


def ordered(outcomes: Iterable[Outcome]) -> list[Outcome]:
    """Sorted by kind, p0, effect, R, then policy in report order."""
    return sorted(outcomes, key=lambda o: (o.cell.sort_key, POLICIES.index(o.policy)))


def write_csv(path: Path, outcomes: Iterable[Outcome]) -> None:
    """The long table as CSV, header ``CSV_HEADER``, ``\\n`` line ends."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_HEADER.split(","))
    for outcome in ordered(outcomes):
        writer.writerow(_fields(outcome))
    path.write_text(buffer.getvalue(), encoding="utf-8")


def table(outcomes: Iterable[Outcome]) -> str:
    """The long table, aligned; ``-`` where undefined, ``>20`` for a T* beyond the schedule."""
    head = (
        f"{'kind':<5} {'p0':>6} {'effect':<7} {'rps':>5} {'policy':<17} {'n':>5} {'rollback%':>9} {'+-95':>5} "
        f"{'promote%':>8} {'timeout%':>8} {'TTD_mean':>8} {'TTD_p90':>8} {'T_promote':>9} {'harm_canary':>11} "
        f"{'harm_total':>11} {'T*':>6} {'H*':>5}"
    )
    lines = [head]
    for outcome in ordered(outcomes):
        cell = outcome.cell
        limit = floor(cell)
        if limit is None:
            t_star = h_star = "-"
        else:
            t_star = ">20" if math.isinf(limit.t_star) else f"{limit.t_star:.1f}"
            h_star = f"{limit.h_star:.1f}"

        def minutes(value: float) -> str:
            return "-" if math.isnan(value) else f"{value:.2f}"

        lines.append(
            f"{cell.kind:<5} {100 * cell.p0:>5.2f}% {cell.effect:<7} {cell.rps:>5} {outcome.policy:<17} "
            f"{outcome.n:>5} {100 * outcome.rollback:>9.1f} {_ci95(outcome.rollback, outcome.n):>5.1f} "
            f"{100 * outcome.promote:>8.1f} {100 * outcome.timeout:>8.1f} {minutes(outcome.ttd_mean):>8} "
            f"{minutes(outcome.ttd_p90):>8} {minutes(outcome.t_promote):>9} {outcome.harm_canary:>11.1f} "
            f"{outcome.harm_total:>11.1f} {t_star:>6} {h_star:>5}"
        )
    return "\n".join(lines)


def _by(outcomes: Sequence[Outcome]) -> dict[tuple[int, str], Outcome]:
    return {(o.cell.index, o.policy): o for o in outcomes}


def _good_match(outcomes: Sequence[Outcome], cell: Cell, policy: str) -> Outcome | None:
    for o in outcomes:
        if o.policy == policy and o.cell.kind == "good" and o.cell.p0 == cell.p0 and o.cell.rps == cell.rps:
            return o
    return None


def _median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else math.nan


def _ttd_ratio(o: Outcome) -> float | None:
    limit = floor(o.cell)
    if limit is None or not limit.feasible or math.isnan(o.ttd_mean):
        return None
    return o.ttd_mean / (limit.t_star + POLL_MINUTES[o.policy])


def _harm_ratios(outcomes: Sequence[Outcome], policy: str, *, min_rps: int) -> list[float]:
    index = _by(outcomes)
    ratios = []
    for o in outcomes:
        if o.policy != policy or o.cell.kind != "bad" or o.cell.rps < min_rps:
            continue
        reference = index.get((o.cell.index, "seq-5m"))
        if reference is not None and reference.harm_total > 0:
            ratios.append(o.harm_total / reference.harm_total)
    return ratios


def _fmt(value: float, pattern: str = "{:.2f}") -> str:
    return "-" if math.isnan(value) else pattern.format(value)


def scoreboard(outcomes: Sequence[Outcome]) -> str:
    """Per policy: worst FRR, detection over feasible cells, TTD / (T* + Delta), harm vs seq-5m, T_promote.

    ``set`` says whose settings: ``strict`` (decision.md §5's peers), ``docs`` (the peers' documentation) or
    ``ours``.
    """
    policies = [p for p in POLICIES if any(o.policy == p for o in outcomes)]
    head = (
        f"{'policy':<17} {'set':<6} {'max FRR%':>8} {'(cell)':<18} {'mean DR% feasible':>17} {'med TTD/(T*+D)':>14} "
        f"{'med harm x seq-5m':>17} {'(R>=100)':>8} {'mean T_promote':>14}"
    )
    lines = [head]
    for policy in policies:
        mine = [o for o in outcomes if o.policy == policy]
        good = [o for o in mine if o.cell.kind == "good"]
        bad = [o for o in mine if o.cell.kind == "bad"]
        worst = max(good, key=lambda o: o.rollback, default=None)
        feasible = [o for o in bad if (limit := floor(o.cell)) is not None and limit.feasible]
        detection = statistics.fmean([o.rollback for o in feasible]) if feasible else math.nan
        ratios = [r for o in bad if (r := _ttd_ratio(o)) is not None]
        promote = [o.t_promote for o in good if not math.isnan(o.t_promote)]
        where = "-" if worst is None else f"{100 * worst.cell.p0:g}% {worst.cell.rps} rps"
        lines.append(
            f"{policy:<17} {settings_of(policy):<6} "
            f"{_fmt(100 * worst.rollback if worst else math.nan, '{:.1f}'):>8} {where:<18} "
            f"{_fmt(100 * detection, '{:.1f}'):>17} {_fmt(_median(ratios)):>14} "
            f"{_fmt(_median(_harm_ratios(outcomes, policy, min_rps=0))):>17} "
            f"{_fmt(_median(_harm_ratios(outcomes, policy, min_rps=100))):>8} "
            f"{_fmt(statistics.fmean(promote) if promote else math.nan, '{:.1f}'):>14}"
        )
    return "\n".join(lines)


def _verdict(ok: bool | None) -> str:
    return "n/a " if ok is None else ("PASS" if ok else "FAIL")


def criteria(outcomes: Sequence[Outcome]) -> str:
    """decision.md §7 criteria 1-5, each PASS / FAIL / n/a with the numbers behind it."""
    present = {o.policy for o in outcomes}
    lines: list[str] = []

    # 1. Accuracy: FRR <= alpha + 3 SE in every good cell, every sequential variant.
    for policy in [p for p in SEQUENTIAL if p in present]:
        good = [o for o in outcomes if o.policy == policy and o.cell.kind == "good"]
        over = [o for o in good if o.rollback > ALPHA + 3 * math.sqrt(ALPHA * (1 - ALPHA) / o.n)]
        worst = max((o.rollback for o in good), default=math.nan)
        detail = ", ".join(f"{100 * o.cell.p0:g}%/{o.cell.rps}rps {100 * o.rollback:.1f}%" for o in over)
        lines.append(
            f"[{_verdict(None if not good else not over)}] 1 accuracy  {policy}: max FRR {_fmt(100 * worst, '{:.1f}')}%"
            f" over {len(good)} good cells (bound alpha + 3 SE)" + (f"; above: {detail}" if detail else "")
        )
    # The peers against the same bound, both sets (decision.md: "no peer achieves this").
    for policy in [p for p in (*STRICT_PEERS, *DOCS_PEERS) if p in present]:
        good = [o for o in outcomes if o.policy == policy and o.cell.kind == "good"]
        over = [o for o in good if o.rollback > ALPHA + 3 * math.sqrt(ALPHA * (1 - ALPHA) / o.n)]
        worst = max((o.rollback for o in good), default=math.nan)
        lines.append(
            f"[info] 1 accuracy  peer {policy} ({settings_of(policy)}): max FRR {_fmt(100 * worst, '{:.1f}')}%, "
            f"above the bound in {len(over)} of {len(good)} good cells"
        )

    # 2. Detection at equal budget.
    for mine, peer in EQUAL_BUDGET:
        if mine not in present or peer not in present:
            continue
        index = _by(outcomes)
        cells = []
        for o in outcomes:
            limit = floor(o.cell)
            if o.policy != peer or limit is None or not limit.feasible:
                continue
            matching = _good_match(outcomes, o.cell, peer)
            if matching is None or matching.rollback > 0.10:
                continue
            ours = index.get((o.cell.index, mine))
            if ours is not None:
                cells.append((ours, o))
        if not cells:
            lines.append(f"[n/a ] 2 detection {mine} vs {peer}: no feasible cell where {peer}'s FRR <= 10%")
            continue
        share = sum(1 for ours, theirs in cells if ours.rollback >= theirs.rollback - 0.05) / len(cells)
        harm_ours = _median([ours.harm_total for ours, _ in cells])
        harm_theirs = _median([theirs.harm_total for _, theirs in cells])
        ok = share >= 0.9 and harm_ours <= harm_theirs
        lines.append(
            f"[{_verdict(ok)}] 2 detection {mine} vs {peer}: DR >= peer - 5pp in {100 * share:.0f}% of "
            f"{len(cells)} cells (need 90%); median harm {harm_ours:.1f} vs {harm_theirs:.1f}"
        )

    # 3. Near the limit.
    if "seq-5m" in present:
        ratios = [r for o in outcomes if o.policy == "seq-5m" and (r := _ttd_ratio(o)) is not None]
        value = _median(ratios)
        lines.append(
            f"[{_verdict(None if not ratios else value <= 2.0)}] 3 limit     seq-5m median TTD/(T*+D) "
            f"{_fmt(value)} over {len(ratios)} feasible cells (need <= 2; no peer in it: the same against both sets)"
        )

    # 4. Harm at R >= 100.
    for peer in HARM_PEERS:
        if peer not in present or "seq-5m" not in present:
            continue
        ratios = _harm_ratios(outcomes, peer, min_rps=100)
        value = _median(ratios)
        lines.append(
            f"[{_verdict(None if not ratios else value >= 3.0)}] 4 harm      {peer} / seq-5m median harm_total "
            f"ratio {_fmt(value)} over {len(ratios)} bad cells with R >= 100 (need >= 3)"
        )

    # 5. Good releases: promotion time.
    def mean_promote(policy: str, keep: Callable[[Cell], bool] = lambda cell: True) -> float:
        values = [
            o.t_promote
            for o in outcomes
            if o.policy == policy and o.cell.kind == "good" and keep(o.cell) and not math.isnan(o.t_promote)
        ]
        return statistics.fmean(values) if values else math.nan

    for mine, peer in EQUAL_BUDGET:
        if mine in present and peer in present:
            ours_promote, theirs_promote = mean_promote(mine), mean_promote(peer)
            faster = None if math.isnan(ours_promote) or math.isnan(theirs_promote) else ours_promote <= theirs_promote
            lines.append(
                f"[{_verdict(faster)}] 5 promote   {mine} mean T_promote {_fmt(ours_promote)} min vs {peer} "
                f"{_fmt(theirs_promote)} min"
            )
    if "seq-5m" in present:
        busy = mean_promote("seq-5m", lambda cell: cell.rps >= 100)
        lines.append(
            f"[{_verdict(None if math.isnan(busy) else busy < 20.0)}] 5 promote   seq-5m mean T_promote at "
            f">= 100 rps {_fmt(busy)} min (need < 20)"
        )
    return "\n".join(lines)
