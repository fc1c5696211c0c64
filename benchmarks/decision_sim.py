"""Decision benchmark: the sequential judge against Flagger, Argo Rollouts and Kayenta (decision.md §5).

Usage::

    python benchmarks/decision_sim.py --quick            # 200 good / 100 bad replications, < 60 s
    python benchmarks/decision_sim.py                    # the full grid, 2000 / 500 replications
    python benchmarks/decision_sim.py --csv out.csv      # also write the long table as CSV

Robustness variants: ``--p0 0.005`` (other baseline error rates), ``--tight-latency`` (peers' p99
threshold 352 ms), ``--burst 1`` (retries in bursts; adds the tempered sequential policies),
``--drift`` (R and p0 follow a shared +-50% sinusoid), ``--kayenta-equal-baseline``; ``--policies all``
adds ``kayenta-peek`` and ``seq-5m-hold``.

Each peer runs twice: with decision.md §5's strict settings (``flagger``, ``argo-fl0``, ``argo-fl1``,
``kayenta``) and at its documentation's settings (``flagger-docs``, ``argo-docs``, ``kayenta-docs``; the
pages are cited in ``benchmarks/_peers.py``). The scoreboard and the criteria show both sets.

The output (stdout) is a pure function of the options and the seed: byte-identical across runs, whatever
``--jobs``. Wall time goes to stderr.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import multiprocessing
import os
import platform
import shlex
import sys
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np

from benchmarks._model import DOCS_PEERS, POLICIES, SEED, STRICT_PEERS, Cell, grid
from benchmarks._peers import ARGO_DOCS, FLAGGER_DOCS, KAYENTA_DOCS, P99_DOCS, P99_TIGHT, Argo, Flagger, Kayenta
from benchmarks._report import criteria, ordered, scoreboard, table, write_csv
from benchmarks._seq import Sequential, pre_rollout_dispersion
from benchmarks._sim import Outcome, Policy, Scenario, arrivals, policy_rng, simulate, summarise
from progressive.judge.sequential import SequentialSettings

__all__ = ["MAIN_POLICIES", "main", "make_policy", "run_cell"]

MAIN_POLICIES = (*STRICT_PEERS, "seq-5m", "seq-1m", "seq-10s", *DOCS_PEERS)
"""The default run: both sets of peers (benchmarks/_model.py names them) and our three judges."""
OPTIONAL_POLICIES = ("kayenta-peek", "seq-5m-hold")
TEMPERED = {"seq-5m": "seq-5m-tempered", "seq-1m": "seq-1m-tempered", "seq-10s": "seq-10s-tempered"}
_SEQ = {
    "seq-5m": (SequentialSettings(min_dwell=60, max_dwell=300), 60),
    "seq-1m": (SequentialSettings(min_dwell=60, max_dwell=60), 60),
    "seq-10s": (SequentialSettings(min_dwell=60, max_dwell=300), 10),
    "seq-5m-hold": (SequentialSettings(min_dwell=60, max_dwell=300, suspicious_e=3.0), 60),
}


def make_policy(name: str, cell: Cell, reps: int, scenario: Scenario, rng: np.random.Generator) -> Policy:
    """A fresh policy for ``reps`` replications of ``cell``."""
    p99_max = P99_TIGHT if scenario.tight_latency else P99_DOCS
    if name == "flagger":
        return Flagger(reps, p99_max=p99_max)
    if name in ("argo-fl0", "argo-fl1"):
        return Argo(reps, failure_limit=int(name[-1]), p99_max=p99_max)
    if name in ("kayenta", "kayenta-peek"):
        return Kayenta(reps, peek=name == "kayenta-peek", equal_baseline=scenario.kayenta_equal_baseline, rng=rng)
    if name == "flagger-docs":
        return Flagger(reps, p99_max=p99_max, settings=FLAGGER_DOCS, name=name)
    if name == "argo-docs":
        return Argo(reps, p99_max=p99_max, settings=ARGO_DOCS, name=name)
    if name == "kayenta-docs":
        return Kayenta(reps, rng=rng, settings=KAYENTA_DOCS, name=name)
    if name in _SEQ:
        settings, poll_every = _SEQ[name]
        return Sequential(name, reps, settings, poll_every=poll_every)
    if name.endswith("-tempered"):
        settings, poll_every = _SEQ[name.removesuffix("-tempered")]
        dispersion = pre_rollout_dispersion(rng, reps, cell.rps, cell.p0, scenario.burst)
        return Sequential(name, reps, settings, poll_every=poll_every, dispersion=dispersion)
    raise ValueError(f"unknown policy {name!r}; known: {', '.join(POLICIES)}")


def run_cell(cell: Cell, policies: tuple[str, ...], reps: int, scenario: Scenario) -> list[Outcome]:
    """Every policy on one cell, with the cell's shared arrivals."""
    shared = arrivals(cell, reps, scenario)
    outcomes = []
    for name in policies:
        rng = policy_rng(cell, name)
        policy = make_policy(name, cell, reps, scenario, rng)
        outcomes.append(summarise(cell, name, simulate(cell, policy, rng, shared, scenario)))
    return outcomes


def _cpu() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return f"{line.split(':', 1)[1].strip()} x{os.cpu_count()}"
    except OSError:
        pass
    return f"{platform.processor() or platform.machine()} x{os.cpu_count()}"


def _policies(text: str, burst: float) -> tuple[str, ...]:
    if text == "main":
        chosen = list(MAIN_POLICIES)
    elif text == "all":
        chosen = [*MAIN_POLICIES, *OPTIONAL_POLICIES]
    else:
        chosen = [name.strip() for name in text.split(",") if name.strip()]
        for name in chosen:
            if name not in POLICIES:
                raise SystemExit(f"--policies: {name!r} is not one of {', '.join(POLICIES)}, main, all")
    if burst > 0:
        chosen += [TEMPERED[name] for name in chosen if name in TEMPERED and TEMPERED[name] not in chosen]
    return tuple(sorted(set(chosen), key=POLICIES.index))


def _floats(flag: str, text: str) -> tuple[float, ...]:
    try:
        values = tuple(float(part) for part in text.split(","))
    except ValueError:
        raise SystemExit(f"{flag}: {text!r} is not a comma-separated list of numbers") from None
    return values


def parse(argv: list[str]) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(prog="decision_sim.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="200 good / 100 bad replications (CI).")
    parser.add_argument("--reps-good", type=int, help="Replications per good cell (default 2000; quick 200).")
    parser.add_argument("--reps-bad", type=int, help="Replications per bad cell (default 500; quick 100).")
    parser.add_argument("--csv", type=Path, help="Also write the long table here.")
    parser.add_argument("--policies", default="main", help="Comma list, 'main' (default) or 'all'.")
    parser.add_argument("--p0", default="0.001,0.01", help="Baseline error rates of the error cells.")
    parser.add_argument("--rps", default="1,10,100,1000", help="Request rates (requests per second).")
    parser.add_argument("--kind", choices=("good", "bad", "both"), default="both", help="Which cells.")
    parser.add_argument("--effects", default="", help="Comma list of effects to keep (default all).")
    parser.add_argument("--tight-latency", action="store_true", help="Peers' p99 threshold 352 ms.")
    parser.add_argument("--burst", type=float, default=0.0, help="Poisson(b) failing retries per bad request.")
    parser.add_argument("--drift", action="store_true", help="R and p0 follow a shared +-50%% sinusoid.")
    parser.add_argument("--kayenta-equal-baseline", action="store_true", help="Kayenta baseline = canary's share.")
    parser.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1), help="Worker processes.")
    args = parser.parse_args(argv)
    if args.burst < 0:
        parser.error(f"--burst: {args.burst} is below 0")
    if args.jobs < 1:
        parser.error(f"--jobs: {args.jobs} is below 1")
    return args


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; print the table, scoreboard and criteria; exit 0."""
    argv = sys.argv[1:] if argv is None else argv
    args = parse(argv)
    started = time.perf_counter()
    reps_good = args.reps_good or (200 if args.quick else 2000)
    reps_bad = args.reps_bad or (100 if args.quick else 500)
    p0s = _floats("--p0", args.p0)
    rates = tuple(int(value) for value in _floats("--rps", args.rps))
    effects = {e.strip() for e in args.effects.split(",") if e.strip()}
    cells = [
        cell
        for cell in grid(p0s, (1, 10, 100, 1000))
        if cell.rps in rates
        and (args.kind == "both" or cell.kind == args.kind)
        and (not effects or cell.effect in effects)
    ]
    if not cells:
        raise SystemExit("no cell left after --rps/--kind/--effects")
    policies = _policies(args.policies, args.burst)
    scenario = Scenario(
        drift=args.drift,
        burst=args.burst,
        tight_latency=args.tight_latency,
        kayenta_equal_baseline=args.kayenta_equal_baseline,
    )
    jobs = [(cell, policies, reps_good if cell.kind == "good" else reps_bad, scenario) for cell in cells]
    outcomes: list[Outcome] = []
    if args.jobs == 1:
        for job in jobs:
            outcomes += run_cell(*job)
    else:
        # Big cells first, so the two workers finish together; results are sorted afterwards.
        jobs.sort(key=lambda job: -job[2] * (job[0].rps + 50))
        # "spawn": workers start clean (no forked threads), in any caller, pytest included.
        context = multiprocessing.get_context("spawn")
        with concurrent.futures.ProcessPoolExecutor(max_workers=args.jobs, mp_context=context) as pool:
            for result in pool.map(run_cell, *zip(*jobs, strict=True)):
                outcomes += result
    outcomes = ordered(outcomes)
    print(
        f"# decision_sim seed={SEED} numpy={np.__version__} python={platform.python_version()} cpu={_cpu()}\n"
        f"# command: python benchmarks/decision_sim.py {shlex.join(argv)}".rstrip()
    )
    print(
        f"# replications: {reps_good} per good cell, {reps_bad} per bad cell; cells: {len(cells)}; "
        f"policies: {', '.join(policies)}; times in minutes, harm in excess bad requests"
    )
    print()
    print(table(outcomes))
    print()
    print("Scoreboard (feasible: T* <= 10 min; harm ratios are medians over bad cells of policy / seq-5m)")
    print(scoreboard(outcomes))
    print()
    print("decision.md section 7 criteria")
    print(criteria(outcomes))
    if args.csv is not None:
        write_csv(args.csv, outcomes)
    print(f"decision_sim: {len(cells)} cells in {time.perf_counter() - started:.1f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
