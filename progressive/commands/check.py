"""``progressive check FILE.py [--rollout NAME] [-n NS] [--kubeconfig PATH] [--context NAME]``: preflight from here.

Runs, against the cluster of the current (or given) kube context, the very checks the first stage's
``deploy`` runs before it changes anything (:mod:`progressive.step.preflight`): the Deployments exist, the
routing object exists and references both backends, every backend Service exists (Gateway API: no
``ResolvedRefs=False``), Prometheus answers and accepts every query the analysis will run. The rollouts are
loaded and compiled as ``progressive compile`` does (a query that cannot render is exit 2) and, with
``promtool`` on ``PATH``, every query is parsed first.

Prints one line per check, ``ok`` or ``FAILED`` with why, and exits 0 when all pass; otherwise the step's
code for the most basic failure: 2 a bad input, 3 something missing, 8 unsafe to start (a route the data
plane refuses, Prometheus down, a query Prometheus refuses). The Prometheus Secret is read with your own
credentials into a private temporary folder, as ``progressive run`` does. Nothing is written to the cluster.
"""

from __future__ import annotations

import argparse
import dataclasses
import re
import sys
import tempfile
from pathlib import Path
from types import MappingProxyType

from progressive.commands._connection import add_cluster_arguments, connect_to_cluster
from progressive.commands._promtool import MISSING_NOTE, PromtoolError, check_promql
from progressive.commands._rollouts import LoadedRollout, load_rollouts
from progressive.compile import StageInvocation, analysis_queries, stage_invocations
from progressive.contract import ExitCode
from progressive.errors import ConfigError, StepError

__all__ = ["add_arguments", "run"]

_API_TIMEOUT = 30.0
_VARIABLE = re.compile(r"\$\(([^()]+)\)")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``progressive check``."""
    parser.add_argument("file", metavar="FILE.py", help="Python file that defines the Rollouts.")
    parser.add_argument("--rollout", default="", help="Check only this Rollout (default: every one in the file).")
    parser.add_argument("-n", "--namespace", default="", help="Look in this namespace instead of each Rollout's own.")
    parser.add_argument("--prometheus-url", default="", help="Use this Prometheus URL instead of the rollout's.")
    add_cluster_arguments(parser)


def _chosen(args: argparse.Namespace) -> list[LoadedRollout]:
    loaded = load_rollouts([args.file])
    if not args.rollout:
        return loaded
    chosen = [entry for entry in loaded if entry.rollout.name == args.rollout]
    if not chosen:
        names = ", ".join(entry.rollout.name for entry in loaded)
        raise ConfigError(f"--rollout: {args.file} has no Rollout named {args.rollout!r} (it has: {names})")
    return chosen


def _deploy(invocations: list[StageInvocation], namespace: str, prometheus_url: str) -> StageInvocation:
    """The first stage's deploy, its run-time values filled in (the checks do not use them)."""
    deploy = next(invocation for invocation in invocations if invocation.command == "deploy")
    values = (*deploy.flags.values(), *deploy.task_params.values())
    resolved = deploy.resolve({match.group(1): "check" for value in values for match in _VARIABLE.finditer(value)})
    overrides = {"namespace": namespace} if namespace else {}
    if prometheus_url and "prometheus-url" in resolved.flags:
        overrides["prometheus-url"] = prometheus_url
    return dataclasses.replace(resolved, flags=MappingProxyType({**resolved.flags, **overrides}))


def _promql(loaded: LoadedRollout) -> tuple[bool, str]:
    queries = analysis_queries(loaded.rollout)
    if not queries:
        return True, "no queries"
    try:
        problems = check_promql(queries)
    except PromtoolError as exc:
        return True, f"note: {exc}"
    if problems is None:
        return True, MISSING_NOTE
    if problems:
        return False, "; ".join(problems)
    return True, f"{len(queries)} queries parse (promtool)"


def _line(rollout: str, ok: bool, check: str, detail: str) -> None:
    print(f"{'ok' if ok else 'FAILED':<7} {rollout}: {check}: {detail}", flush=True)


def run(args: argparse.Namespace) -> int:
    """Check every chosen Rollout; see the module docstring."""
    loaded = _chosen(args)
    planned = [(entry, stage_invocations(entry.rollout)) for entry in loaded]  # compile errors first, exit 2

    from progressive.commands._mounts import mount_secrets  # noqa: PLC0415 - slow imports, only when checking
    from progressive.kube.objects import Objects  # noqa: PLC0415
    from progressive.step.cli import parse  # noqa: PLC0415
    from progressive.step.preflight import failure, findings  # noqa: PLC0415

    codes: list[int] = []
    with tempfile.TemporaryDirectory(prefix="progressive-check-") as scratch:
        Path(scratch).chmod(0o700)
        try:
            kube = connect_to_cluster(args)
        except StepError as exc:
            print(f"progressive check: {exc}", file=sys.stderr)
            return int(exc.exit_code)
        try:
            objects = Objects(kube, _API_TIMEOUT)
            for entry, invocations in planned:
                name = entry.rollout.name
                parsed, detail = _promql(entry)
                _line(name, parsed, "promql", detail)
                if not parsed:
                    codes.append(int(ExitCode.USAGE))
                deploy = _deploy(invocations, args.namespace, args.prometheus_url)
                try:
                    (deploy,) = mount_secrets(
                        objects,
                        deploy.flags["namespace"],
                        [deploy],
                        Path(scratch) / name,
                        lambda text: print(f"progressive check: warning: {text}", file=sys.stderr),
                    )
                    found = findings(parse(deploy.argv()[2:]), objects)
                except StepError as exc:
                    _line(name, False, "preflight", str(exc))
                    codes.append(int(exc.exit_code))
                    continue
                for finding in found:
                    _line(name, finding.ok, finding.check, finding.detail)
                error = failure(found)
                if error is not None:
                    codes.append(int(error.exit_code))
        finally:
            kube.close()
    return min(codes) if codes else 0
