"""``progressive run FILE.py [--rollout NAME] -p image=...``: run a rollout from here, without Tekton.

For a laptop or another CI system: the rollout's stages run one after another on this machine against
the current kube context (``KUBECONFIG``, else ``~/.kube/config``) and the rollout's Prometheus, each as
the same ``progressive step`` command line the Pipeline would run (``progressive.compile.
stage_invocations``), so a local run and a Tekton run cannot drift apart. Stages stop at the first
failure; then ``finally`` runs as Tekton runs it: the rollback when a stage failed, timed out or was
interrupted, then the report and any post-rollout webhooks (details: ``progressive.commands._local``).

* ``-p`` params are checked as ``progressive start`` checks them against the Pipeline: the same names
  (``image``, or ``image-<container>``), unknown -> ``param 'x' not present in spec``, none missing.
* The run id (``--run-id``, default ``<rollout>-local-<5 random characters>``) plays the PipelineRun
  name: the state record keys evidence to it. Running again with the same ``--run-id`` after a crash
  resumes where the steps left off, as a Tekton retry would.
* Secrets the Tasks mount (notifications, the Prometheus token) are read with your credentials and
  given to the steps as files in a private temporary folder (``progressive.commands._mounts``).
  ``--prometheus-url`` replaces the rollout's Prometheus URL, e.g. to go through ``kubectl
  port-forward`` from a laptop.
* Hooks (``Run`` steps) are containers, which this command does not run. With ``--local-hooks`` each
  hook's ``command`` + ``args`` runs on this machine with the hook's ``env`` added to yours (a hook
  without ``command`` relies on its image's entrypoint and cannot run here). Without ``--local-hooks`` a
  rollout with hooks is refused before anything changes in the cluster, naming each hook stage: failing
  only when that stage came up would mean shifting traffic for nothing and rolling it back.
* Progress is live: on a terminal one screen updates in place (``progressive.commands._live``): every stage
  with its state and time spent against its budget, the weights as last read back from the routing object,
  the judge's evidence per metric in plain words, a gate waiting for someone; in a log or a pipe, plain
  lines (``progressive.commands._progress``).
* Ctrl-C (or SIGTERM) stops the running stage and rolls back before exiting; a second Ctrl-C says the
  rollback is still running (it is never abandoned: killing ``progressive run`` with SIGKILL is the only
  way to leave traffic where it is, and the next ``--run-id`` run or a manual ``progressive step
  rollback`` puts it right).

Exit codes: 0 promoted; the failed stage's exit code when it failed and the rollback succeeded (1 the
canary was judged bad, 2-9 as ``progressive.contract.ExitCode``: e.g. 6 a stage timed out, 7 a gate said
no); 130 interrupted and rolled back; 10 the rollback itself failed (traffic may still reach the canary:
the last line says what to run); 2 bad input before anything started.
"""

from __future__ import annotations

import argparse
import secrets
import shlex
import sys
import tempfile
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit

from progressive.commands._connection import add_cluster_arguments, child_environment, connect_to_cluster
from progressive.commands._local import EXIT_INTERRUPTED, LocalRun, Outcome, Signals
from progressive.commands._params import ParamSpec, add_param_argument, check_params, parse_params
from progressive.commands._pick import pick_rollout
from progressive.commands._progress import Progress, ProgressView
from progressive.compile import StageInvocation, stage_invocations
from progressive.duration import format_duration, parse_duration
from progressive.errors import ConfigError, StepError
from progressive.model import Rollout
from progressive.naming import is_dns_label

__all__ = ["EXIT_ROLLBACK_FAILED", "add_arguments", "local_invocations", "run"]

EXIT_ROLLBACK_FAILED = 10
"""A stage failed and so did the rollback: traffic may still reach the canary. Above every step exit code
(``progressive.contract.ExitCode``), which a failed stage passes through."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``progressive run``."""
    parser.add_argument("file", metavar="FILE.py", help="Python file that defines the Rollout.")
    parser.add_argument("--rollout", default="", help="Rollout to run when the file defines several.")
    add_param_argument(parser)
    parser.add_argument(
        "--run-id", default="", help="Run id (default: ROLLOUT-local-xxxxx); the same id again resumes that run."
    )
    parser.add_argument(
        "--local-hooks", action="store_true", help="Run each hook's command on this machine (hooks are containers)."
    )
    parser.add_argument("--prometheus-url", default="", help="Use this Prometheus URL instead of the rollout's.")
    add_cluster_arguments(parser)


def _params(rollout: Rollout, given: list[str]) -> dict[str, str]:
    params = parse_params(given)
    specs = [ParamSpec(name) for name in rollout.workload.image_params()]
    check_params(params, specs, pipeline=f"{rollout.namespace}/{rollout.name}")
    return params


def _check_hooks(invocations: list[StageInvocation], *, local_hooks: bool) -> None:
    hooks = [invocation for invocation in invocations if invocation.hook is not None]
    if not hooks:
        return
    if not local_hooks:
        listed = "; ".join(f"stage {hook.name} runs container {hook.hook.image}" for hook in hooks if hook.hook)
        raise ConfigError(
            f"{listed}: progressive run does not run containers; pass --local-hooks to run each hook's command "
            "on this machine, or run the rollout on Tekton (progressive apply + progressive start)"
        )
    for invocation in hooks:
        assert invocation.hook is not None
        if not invocation.hook.command:
            raise ConfigError(
                f"stage {invocation.name}: hook {invocation.hook.name} has no command (its image's entrypoint runs), "
                "which --local-hooks cannot run here; give the Run step a command"
            )


def local_invocations(
    rollout: Rollout, params: dict[str, str], run_id: str, *, prometheus_url: str = ""
) -> list[StageInvocation]:
    """The rollout's invocations with every Tekton variable resolved but ``$(tasks.status)`` (see ``_local``)."""
    variables = {f"params.{name}": value for name, value in params.items()}
    variables |= {
        "context.pipelineRun.name": run_id,
        "context.pipelineRun.namespace": rollout.namespace,
        "context.pipelineRun.uid": str(uuid.uuid5(uuid.NAMESPACE_URL, f"progressive-run:{rollout.namespace}/{run_id}")),
        "tasks.status": "$(tasks.status)",  # resolved again once the stages are done
    }
    resolved = [invocation.resolve(variables) for invocation in stage_invocations(rollout)]
    if not prometheus_url:
        return resolved
    import dataclasses  # noqa: PLC0415
    from types import MappingProxyType  # noqa: PLC0415

    return [
        dataclasses.replace(invocation, flags=MappingProxyType({**invocation.flags, "prometheus-url": prometheus_url}))
        if "prometheus-url" in invocation.flags
        else invocation
        for invocation in resolved
    ]


def _check_url(url: str) -> None:
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"} or not parts.netloc:
        raise ConfigError(f"--prometheus-url: {url!r} is not an http(s) URL such as http://localhost:9090")


def _run_id(rollout: Rollout, given: str) -> str:
    if given:
        if not is_dns_label(given):
            raise ConfigError(f"--run-id: {given!r} is not a DNS label (lower-case letters, digits, '-'; at most 63)")
        return given
    alphabet = "bcdfghjklmnpqrstvwxz2456789"  # the alphabet Kubernetes uses for generated names
    # at most ROLLOUT_NAME_MAX + 12 = 63 characters: a DNS label, like a PipelineRun name
    return f"{rollout.name}-local-{''.join(secrets.choice(alphabet) for _ in range(5))}"


def _summary(rollout: Rollout, run_id: str, local: LocalRun, seconds: float) -> tuple[int, str]:
    """Exit code and the last line: how the run ended."""
    name = f"rollout {rollout.name}"
    took = format_duration(seconds)
    failed = local.failed_stage
    rollback = local.rollback
    if failed is None and not local.interrupted:
        return 0, f"{name}: promoted in {took} (run {run_id})"
    if rollback is not None and not rollback.ok:
        again = next(invocation for invocation in local.invocations if invocation.stage.kind == "rollback")
        command = " ".join(shlex.quote(arg) for arg in again.argv() if not arg.startswith("--notify-dir="))
        cause = f"stage {failed.stage} {failed.reason.lower()}" if failed is not None else "interrupted"
        return EXIT_ROLLBACK_FAILED, (
            f"{name}: {cause}, then the ROLLBACK FAILED ({rollback.reason}, exit {rollback.code}): {rollback.error}; "
            "traffic may still "
            f"reach the canary (see `progressive status {rollout.name} -n {rollout.namespace}`); fix the cause, then "
            f"roll back with: {command}"
        )
    if failed is None or failed.reason == "Interrupted":
        where = f" during stage {failed.stage}" if failed is not None else ""
        return EXIT_INTERRUPTED, f"{name}: interrupted{where}; rolled back in {took} (run {run_id})"
    evidence = failed.results.get("summary", "")
    because = f"stage {failed.stage} {failed.reason.lower()} (exit {failed.code}): {failed.error}"
    if evidence and evidence not in failed.error:
        because += f"; evidence: {evidence}"
    return failed.code, f"{name}: rolled back after {took}: {because} (run {run_id})"


def _view(rollout: Rollout, run_id: str, invocations: list[StageInvocation]) -> ProgressView:
    """The live screen on a terminal (when ``rich`` is there), plain lines anywhere else."""
    if not sys.stdout.isatty():
        return Progress(sys.stdout, tty=False)
    try:
        from progressive.commands._live import LiveScreen, PlannedStage  # noqa: PLC0415
    except ImportError:  # rich is left out of the step image, where no one watches a terminal
        return Progress(sys.stdout, tty=True)
    stages = [invocation for invocation in invocations if not invocation.final]
    planned = [PlannedStage(f"[{index}/{len(stages)}]", stage.name) for index, stage in enumerate(stages, start=1)]
    planned += [PlannedStage("[fin]", invocation.name) for invocation in invocations if invocation.final]
    return LiveScreen(sys.stdout, f"rollout {rollout.namespace}/{rollout.name}, run {run_id}", planned)


def run(args: argparse.Namespace) -> int:
    """Run the rollout's stages locally; see the module docstring."""
    loaded = pick_rollout(args.file, args.rollout)
    rollout = loaded.rollout
    params = _params(rollout, args.param)
    run_id = _run_id(rollout, args.run_id)
    if args.prometheus_url:
        _check_url(args.prometheus_url)
    invocations = local_invocations(rollout, params, run_id, prometheus_url=args.prometheus_url)
    _check_hooks(invocations, local_hooks=args.local_hooks)
    progress = _view(rollout, run_id, invocations)
    try:
        from progressive.kube.objects import Objects  # noqa: PLC0415 - slow import, only when running

        with tempfile.TemporaryDirectory(prefix="progressive-run-") as scratch:
            workdir = Path(scratch)
            workdir.chmod(0o700)
            try:
                kube = connect_to_cluster(args)
                try:
                    from progressive.commands._mounts import mount_secrets  # noqa: PLC0415

                    objects = Objects(kube, parse_duration("30s"))
                    invocations = mount_secrets(
                        objects,
                        rollout.namespace,
                        invocations,
                        workdir / "secrets",
                        lambda text: progress.line(f"warning: {text}"),
                    )
                finally:
                    kube.close()
            except StepError as exc:
                print(f"progressive run: {exc}", file=sys.stderr)
                return int(exc.exit_code)
            stages = [invocation.name for invocation in invocations if not invocation.final]
            finals = [
                invocation.name + (" (unless promoted)" if invocation.unless_succeeded is not None else "")
                for invocation in invocations
                if invocation.final
            ]
            progress.line(
                f"progressive run: rollout {rollout.namespace}/{rollout.name}, run {run_id}: {len(stages)} stages "
                f"({', '.join(stages)}), then finally: {', '.join(finals)}"
            )
            began = time.monotonic()
            with Signals() as signals:
                local = LocalRun(
                    invocations=invocations,
                    env=child_environment(args, workdir),
                    workdir=workdir,
                    progress=progress,
                    signals=signals,
                    tasks_budget=rollout.timeouts.tasks_seconds,
                    finally_budget=parse_duration(rollout.timeouts.finally_),
                )
                local.execute()
            code, line = _summary(rollout, run_id, local, time.monotonic() - began)
            report = next((outcome for outcome in local.final if outcome.kind == "report"), None)
            if isinstance(report, Outcome) and not report.ok:
                progress.line(f"warning: the report stage failed ({report.error}); the outcome below stands")
            progress.line(line)
            return code
    finally:
        progress.close()
