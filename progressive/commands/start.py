"""``progressive start ROLLOUT -p image=... [-n NS] [--follow]``: start a rollout, as ``tkn pipeline start`` does.

Reads the rollout's Pipeline (installed by ``progressive apply``) from the cluster, checks the ``-p``
params against the Pipeline's (``progressive.commands._params``: split at the first ``=``; unknown ->
``param 'x' not present in spec``; a param without default must be given, nothing is prompted), and
creates a PipelineRun with ``generateName: <rollout>-`` (``--prefix-name P``: ``P-``), the rollout's
ServiceAccount (``progressive-<rollout>``; ``-s`` for another), and explicit ``timeouts`` that leave
``finally`` (the rollback) a budget of its own. Prints the PipelineRun's name; ``--follow`` then watches it
(``progressive.commands._follow``) and exits 0 when it succeeded, 1 when it failed.

Timeouts, each overridable by its flag:

* the Pipeline's annotations ``progressive.dev/timeouts-pipeline``, ``-tasks`` and ``-finally`` (what the
  rollout's ``Timeouts`` compile to);
* without them (a Pipeline compiled before they existed, or written by hand), derived from the Pipeline
  itself: ``tasks`` = the sum of the stages' ``timeout``, ``finally`` = the longest ``finally`` task
  ``timeout``, ``pipeline`` = both together; a task without ``timeout`` makes the derivation impossible,
  and the model's defaults apply (pipeline ``2h``, finally ``15m``, tasks the difference);
* ``--pipeline-timeout`` alone gives the stages what ``finally`` leaves; ``--tasks-timeout`` or
  ``--finally-timeout`` alone grow ``pipeline`` to fit. ``tasks`` + ``finally`` may not exceed ``pipeline``
  (Tekton's rule) and none may be 0 (Tekton reads 0 as "no limit"; a rollout always has one).

Creating with ``generateName`` cannot be retried blindly: a lost answer may hide a PipelineRun that was
created, and a second one would fight the first over the traffic weights. Every PipelineRun carries a
unique label ``progressive.dev/start-id``; before sending the create again after an unclear failure,
start looks for a PipelineRun with that label and takes it if it is there.

``--dry-run`` reads the Pipeline and checks everything the same way, then prints the PipelineRun
(``-o yaml``, the default, or ``-o json``) instead of creating it.

Exit codes: 0 started (with ``--follow``: succeeded), 1 the followed run failed, 2 bad input, 3 the
Pipeline or ServiceAccount does not exist, 5 the API kept failing, 130 interrupted.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from progressive.commands._connection import add_cluster_arguments, connect_to_cluster, kube_context
from progressive.commands._params import add_param_argument, check_params, param_specs, param_value, parse_params
from progressive.commands._tekton import PIPELINERUNS, PIPELINES
from progressive.duration import format_duration, parse_duration
from progressive.errors import ConfigError, NotFoundError, StepError
from progressive.kube.resources import Resource
from progressive.naming import TASK_RUN_SPECS_ANNOTATION, is_dns_label, rbac_name

if TYPE_CHECKING:
    from progressive.kube.objects import JSON, Objects

__all__ = [
    "DEFAULT_TIMEOUTS",
    "START_ID_LABEL",
    "TIMEOUT_ANNOTATIONS",
    "Timeouts",
    "add_arguments",
    "create_once",
    "default_timeouts",
    "pipeline_run",
    "resolve_timeouts",
    "run",
]

TIMEOUT_ANNOTATIONS: Mapping[str, str] = {
    "pipeline": "progressive.dev/timeouts-pipeline",
    "tasks": "progressive.dev/timeouts-tasks",
    "finally": "progressive.dev/timeouts-finally",
}
"""Pipeline annotations holding the rollout's PipelineRun timeouts (Go durations)."""

START_ID_LABEL = "progressive.dev/start-id"
"""Label that makes a PipelineRun created with ``generateName`` findable after a lost answer."""

_SERVICEACCOUNTS = Resource("v1", "ServiceAccount", "serviceaccounts")
_GENERATED_SUFFIX = 5
"""Characters the API server appends to ``generateName``."""


@dataclass(frozen=True, slots=True)
class Timeouts:
    """PipelineRun ``timeouts`` as Go durations, and where the defaults came from."""

    pipeline: str
    tasks: str
    finally_: str
    source: str = ""
    """``annotations``, ``derived`` or ``defaults``: where the values not given as flags came from."""

    def to_json(self) -> dict[str, str]:
        """``spec.timeouts`` of the PipelineRun."""
        return {"pipeline": self.pipeline, "tasks": self.tasks, "finally": self.finally_}


DEFAULT_TIMEOUTS = Timeouts(pipeline="2h", tasks="1h45m", finally_="15m", source="defaults")
"""The rollout model's defaults (``progressive.model.Timeouts``), for Pipelines that tell nothing."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``progressive start``."""
    parser.add_argument("rollout", metavar="ROLLOUT", help="Rollout name (the Pipeline's name).")
    add_param_argument(parser)
    parser.add_argument("-n", "--namespace", default="", help="Namespace (default: the current context's, or default).")
    parser.add_argument("-s", "--serviceaccount", default="", help="ServiceAccount (default: progressive-ROLLOUT).")
    parser.add_argument("--prefix-name", default="", help="PipelineRun name prefix (default: ROLLOUT).")
    parser.add_argument("--pipeline-timeout", default="", help="Whole run (default: see the Pipeline).")
    parser.add_argument("--tasks-timeout", default="", help="The stages (default: pipeline minus finally).")
    parser.add_argument("--finally-timeout", default="", help="Rollback and report (default: see the Pipeline).")
    parser.add_argument("--dry-run", action="store_true", help="Print the PipelineRun instead of creating it.")
    parser.add_argument(
        "-o",
        "--output",
        choices=("yaml", "json", "name"),
        default="",
        help="--dry-run: yaml (default) or json; otherwise 'name' prints only the PipelineRun's name.",
    )
    parser.add_argument("--follow", action="store_true", help="Watch the run; exit 0 if it succeeds, 1 if it fails.")
    parser.add_argument("--poll-interval", default="2s", help="--follow: time between two reads (default 2s).")
    parser.add_argument(
        "--api-timeout", default="30s", help="Time limit for retrying one API call (Go duration, default 30s)."
    )
    add_cluster_arguments(parser)


def _seconds(flag: str, text: str) -> float:
    try:
        seconds = parse_duration(text)
    except ValueError:
        raise ConfigError(f"{flag}: {text!r} is not a Go duration such as 90s, 45m or 1h30m") from None
    if seconds <= 0:
        raise ConfigError(f"{flag}: {text!r} must be more than 0 (Tekton reads 0 as no limit; a rollout needs one)")
    return seconds


def default_timeouts(pipeline: Mapping[str, Any]) -> Timeouts:
    """The run's timeouts when no flag says otherwise; see the module docstring for the order of sources."""
    annotations = (pipeline.get("metadata") or {}).get("annotations") or {}
    if all(annotations.get(key) for key in TIMEOUT_ANNOTATIONS.values()):
        values = {name: str(annotations[key]) for name, key in TIMEOUT_ANNOTATIONS.items()}
        for name, value in values.items():
            _seconds(f"Pipeline annotation {TIMEOUT_ANNOTATIONS[name]}", value)
        return Timeouts(values["pipeline"], values["tasks"], values["finally"], source="annotations")
    spec = pipeline.get("spec") or {}
    stages = [task.get("timeout") for task in spec.get("tasks") or []]
    final = [task.get("timeout") for task in spec.get("finally") or []]
    if stages and all(stages) and all(final):
        try:
            tasks = sum(parse_duration(str(value)) for value in stages)
            finally_ = max((parse_duration(str(value)) for value in final), default=0.0)
        except ValueError:
            return DEFAULT_TIMEOUTS
        if tasks > 0 and finally_ > 0:
            return Timeouts(
                format_duration(tasks + finally_), format_duration(tasks), format_duration(finally_), source="derived"
            )
    return DEFAULT_TIMEOUTS


def resolve_timeouts(defaults: Timeouts, *, pipeline: str, tasks: str, finally_: str) -> Timeouts:
    """Combine the flags (``""`` = not given) with the defaults; check Tekton's rules on the result."""
    if not (pipeline or tasks or finally_):
        chosen = defaults
    else:
        final = finally_ or defaults.finally_
        final_s = _seconds("--finally-timeout", final)
        if pipeline:
            whole = pipeline
            stages = tasks or format_duration(math.floor(_seconds("--pipeline-timeout", pipeline) - final_s))
        else:
            stages = tasks or defaults.tasks
            whole = format_duration(_seconds("--tasks-timeout", stages) + final_s)
        chosen = Timeouts(whole, stages, final, source=defaults.source)
    whole_s = _seconds("--pipeline-timeout", chosen.pipeline)
    stages_s = _seconds("--tasks-timeout", chosen.tasks)
    final_s = _seconds("--finally-timeout", chosen.finally_)
    if stages_s + final_s > whole_s:
        raise ConfigError(
            f"timeouts: tasks {chosen.tasks} + finally {chosen.finally_} exceed pipeline {chosen.pipeline}; "
            "Tekton rejects that (give --pipeline-timeout at least their sum)"
        )
    return chosen


def pipeline_run(
    pipeline: Mapping[str, Any],
    params: Mapping[str, str],
    *,
    namespace: str,
    prefix: str,
    service_account: str,
    timeouts: Timeouts,
    start_id: str,
) -> dict[str, Any]:
    """The PipelineRun that starts ``pipeline`` (whose params ``params`` were checked against)."""
    name = str(pipeline["metadata"]["name"])
    specs = {spec.name: spec for spec in param_specs(pipeline)}
    labels = {**((pipeline.get("metadata") or {}).get("labels") or {}), START_ID_LABEL: start_id}
    spec: dict[str, Any] = {"pipelineRef": {"name": name}}
    if params:
        spec["params"] = [{"name": key, "value": param_value(specs[key], value)} for key, value in params.items()]
    spec["taskRunTemplate"] = {"serviceAccountName": service_account}
    hook_specs = _hook_task_run_specs(pipeline)
    if hook_specs:
        spec["taskRunSpecs"] = hook_specs
    spec["timeouts"] = timeouts.to_json()
    return {
        "apiVersion": "tekton.dev/v1",
        "kind": "PipelineRun",
        "metadata": {"generateName": f"{prefix}-", "namespace": namespace, "labels": labels},
        "spec": spec,
    }


def _hook_task_run_specs(pipeline: Mapping[str, Any]) -> list[Any]:
    """The ``taskRunSpecs`` the compiler put on the Pipeline: hooks never run as the rollout's account.

    ``--serviceaccount`` is for the steps only.
    """
    annotations = (pipeline.get("metadata") or {}).get("annotations") or {}
    text = annotations.get(TASK_RUN_SPECS_ANNOTATION)
    if not text:
        return []
    try:
        specs = json.loads(text)
    except ValueError:
        specs = None
    if not isinstance(specs, list):
        raise ConfigError(
            f"Pipeline annotation {TASK_RUN_SPECS_ANNOTATION}: not a JSON list; apply the compiled pipeline.yaml again"
        )
    return specs


def _check_prefix(prefix: str) -> None:
    if not is_dns_label(prefix) or len(prefix) + 1 + _GENERATED_SUFFIX > 63:
        raise ConfigError(
            f"--prefix-name: {prefix!r} must be lower-case letters, digits and '-', at most "
            f"{63 - 1 - _GENERATED_SUFFIX} characters (the API server appends '-' and {_GENERATED_SUFFIX} more)"
        )


def _read_pipeline(objects: Objects, namespace: str, rollout: str) -> JSON:
    found = objects.find(PIPELINES.ref(namespace, rollout))
    if found is None:
        raise NotFoundError(
            f"Pipeline {namespace}/{rollout} not found: install the rollout first with "
            f"`progressive apply FILE.py` (or kubectl apply -f the compiled folder), or check -n"
        )
    return found


def _check_service_account(objects: Objects, namespace: str, name: str) -> None:
    """A missing ServiceAccount fails every TaskRun later with a less clear message; say it now."""
    try:
        found = objects.find(_SERVICEACCOUNTS.ref(namespace, name))
    except StepError:
        return  # e.g. 403: the user may start runs without reading ServiceAccounts; Tekton will tell
    if found is None:
        raise NotFoundError(
            f"ServiceAccount {namespace}/{name} not found: the rollout's steps run as it; apply the rollout's "
            "RBAC with `progressive apply FILE.py`, or pass -s with an existing one"
        )


def create_once(objects: Objects, body: dict[str, Any], start_id: str) -> JSON:
    """Create ``body`` (which uses ``generateName``) at most once, even when an answer is lost."""
    from progressive.kube.retry import Deadline, fail, retrying  # noqa: PLC0415

    namespace = body["metadata"]["namespace"]
    what = f"create PipelineRun {namespace}/{body['metadata']['generateName']}*"
    deadline = Deadline.start(objects.api_timeout)
    sent = False
    try:
        for attempt in retrying(what, objects.api_timeout, conflicts=False):
            with attempt:
                if sent:
                    found = objects.list(PIPELINERUNS, namespace, label_selector=f"{START_ID_LABEL}={start_id}")
                    if found:
                        return found[0]
                sent = True
                created: JSON = objects.request(
                    "POST", PIPELINERUNS.collection(namespace), body=body, timeout=deadline.request_timeout()
                )
                return created
    except StepError:
        raise
    except Exception as exc:
        raise fail(what, exc) from exc
    raise AssertionError("unreachable")


def _dump(document: Mapping[str, Any], output: str) -> str:
    if output == "json":
        return json.dumps(document, indent=2)
    import yaml  # noqa: PLC0415

    return yaml.safe_dump(dict(document), sort_keys=False, default_flow_style=False).rstrip("\n")


def run(args: argparse.Namespace) -> int:
    """Start the rollout's Pipeline; see the module docstring."""
    rollout: str = args.rollout
    if not is_dns_label(rollout):
        raise ConfigError(f"ROLLOUT: {rollout!r} is not a rollout name (lower-case DNS label)")
    if args.output in {"yaml", "json"} and not args.dry_run:
        raise ConfigError(f"-o {args.output}: only with --dry-run (without it, -o name prints the run's name)")
    if args.output == "name" and args.dry_run:
        raise ConfigError("-o name: a dry run has no name yet; use -o yaml or -o json")
    if args.dry_run and args.follow:
        raise ConfigError("--follow: a dry run creates nothing to follow")
    api_timeout = _seconds("--api-timeout", args.api_timeout)
    poll = _seconds("--poll-interval", args.poll_interval)
    prefix = args.prefix_name or rollout
    _check_prefix(prefix)
    given = parse_params(args.param)
    namespace = args.namespace or kube_context(args).namespace or "default"
    service_account = args.serviceaccount or rbac_name(rollout)

    from progressive.kube.objects import Objects  # noqa: PLC0415 - slow import, only when running

    try:
        kube = connect_to_cluster(args)
        try:
            objects = Objects(kube, api_timeout)
            pipeline = _read_pipeline(objects, namespace, rollout)
            check_params(given, param_specs(pipeline), pipeline=f"{namespace}/{rollout}")
            timeouts = resolve_timeouts(
                default_timeouts(pipeline),
                pipeline=args.pipeline_timeout,
                tasks=args.tasks_timeout,
                finally_=args.finally_timeout,
            )
            _warn_short_finally(pipeline, timeouts)
            start_id = uuid.uuid4().hex
            body = pipeline_run(
                pipeline,
                given,
                namespace=namespace,
                prefix=prefix,
                service_account=service_account,
                timeouts=timeouts,
                start_id=start_id,
            )
            if args.dry_run:
                print(_dump(body, args.output or "yaml"))
                return 0
            _check_service_account(objects, namespace, service_account)
            created = create_once(objects, body, start_id)
            name = str(created["metadata"]["name"])
            if args.output == "name":
                print(name, flush=True)
            else:
                print(f"pipelinerun.tekton.dev/{name} created", flush=True)
            if not args.follow:
                print(
                    f"watch it: progressive status {rollout} -n {namespace}   "
                    f"(or: tkn pipelinerun logs {name} -f -n {namespace})",
                    file=sys.stderr,
                )
                return 0
            from progressive.commands._follow import follow  # noqa: PLC0415
            from progressive.compile import catalog_task_name  # noqa: PLC0415 - the compiler is slow to import

            final = (pipeline.get("spec") or {}).get("finally") or []
            rollback = catalog_task_name("rollback")
            return follow(
                objects,
                namespace,
                name,
                poll_interval=poll,
                finally_tasks={str(task.get("name")) for task in final},
                rollback_task=next(
                    (str(task["name"]) for task in final if (task.get("taskRef") or {}).get("name") == rollback), ""
                ),
                rollout=rollout,
                live=sys.stdout.isatty(),
            )
        finally:
            kube.close()
    except StepError as exc:
        print(f"progressive start: {exc}", file=sys.stderr)
        return int(exc.exit_code)


def _warn_short_finally(pipeline: Mapping[str, Any], timeouts: Timeouts) -> None:
    """A ``finally`` budget shorter than the rollback's own timeout may cut a slow rollback off: say so."""
    longest = 0.0
    for task in (pipeline.get("spec") or {}).get("finally") or []:
        try:
            longest = max(longest, parse_duration(str(task.get("timeout") or "0")))
        except ValueError:
            continue
    if longest > parse_duration(timeouts.finally_):
        print(
            f"warning: finally timeout {timeouts.finally_} is shorter than the longest finally task's own timeout "
            f"{format_duration(longest)}; a slow rollback may be cut off",
            file=sys.stderr,
        )
