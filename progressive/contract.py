"""The step's command line: the one contract between the compiler and the container step.

The compiler turns every :class:`Command` into a reusable Tekton Task whose params are the command's flags
and whose step runs ``progressive step <command> --flag=$(params.flag) ...``. The step CLI builds its
``argparse`` parser from the same objects. A test holds both sides to this module, so a flag cannot be
added on one side only.

Conventions every command follows:

* every flag takes a value and is passed as ``--flag=VALUE`` (one argv element), so empty values and
  values that start with ``-`` survive; an empty value means "not set" for optional flags;
* booleans are spelled ``true`` or ``false``;
* durations are Go/Tekton strings (``90s``, ``5m``, ``1h30m``);
* a result is written to the file named by ``--result-<name>`` (Tekton passes ``$(results.<name>.path)``);
* secrets never travel as flags: only paths of files mounted from Secrets do.

This module is pure standard library: the step imports it on every cold start.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

__all__ = [
    "COMMANDS",
    "FLAG_SOURCES",
    "METRIC_PROVIDERS",
    "ROLLOUT_METRIC_PROVIDERS",
    "ROUTER_NAMES",
    "VERSION_METRIC_PROVIDERS",
    "WEBHOOK_TYPES",
    "Command",
    "ExitCode",
    "Flag",
    "Result",
    "command",
]

ROUTER_NAMES: tuple[str, ...] = ("gateway-api", "istio", "nginx", "traefik", "smi", "contour", "replicas")
"""Every ``--router`` value the step accepts, in documentation order."""

ROLLOUT_METRIC_PROVIDERS: tuple[str, ...] = ("istio", "linkerd", "nginx", "envoy-gateway", "generic", "openfeature")
"""The query families a user names in ``Analysis.provider``."""

VERSION_METRIC_PROVIDERS: tuple[str, ...] = ("istio-versions", "linkerd-versions", "generic-versions")
"""The families an App's analysis compiles to: one version (the canary) against the app's other versions."""

METRIC_PROVIDERS: tuple[str, ...] = ROLLOUT_METRIC_PROVIDERS + VERSION_METRIC_PROVIDERS
"""Every ``--provider`` value ``analyze`` accepts: the built-in PromQL template families."""

FLAG_SOURCES: tuple[str, ...] = ("featureflag", "configmap")
"""Every ``--source`` value ``flag-set`` accepts (mirrored by ``progressive.flags.FLAG_SOURCES``)."""

WEBHOOK_TYPES: tuple[str, ...] = (
    "confirm-rollout",
    "pre-rollout",
    "confirm-traffic-increase",
    "confirm-promotion",
    "post-rollout",
    "rollback",
)
"""Webhook gate types, as Flagger names them."""


class ExitCode(enum.IntEnum):
    """Exit codes of ``progressive step``; Tekton turns any non-zero code into a failed TaskRun."""

    OK = 0
    """Done: the change is in place and verified, or the analysis passed."""
    CANARY_FAILED = 1
    """The canary was judged bad (analysis failed, or a rollback webhook asked for it)."""
    USAGE = 2
    """Bad input: a flag is missing or malformed. The message names the flag and the value."""
    NOT_FOUND = 3
    """The routing object, a backend or a Deployment does not exist. Nothing was written."""
    INCONCLUSIVE = 4
    """The analysis ended without enough evidence and ``--on-inconclusive=hold`` was asked for."""
    INFRASTRUCTURE = 5
    """The Kubernetes API or Prometheus kept failing after bounded retries."""
    DEADLINE = 6
    """A wait ran out of time: progress deadline, approval timeout, data plane not accepting a change."""
    REJECTED = 7
    """A gate said no: the rollout was aborted, or a confirm webhook never answered 2xx."""
    UNSAFE = 8
    """The step refused a change that would hurt traffic (e.g. routing to a stable that is not available)."""
    INTERNAL = 9
    """A bug in progressive: an unexpected exception. The traceback is on stderr; please report it."""


@dataclass(frozen=True, slots=True)
class Flag:
    """One ``--flag=VALUE`` of a step command, and the Task param that feeds it."""

    name: str
    """Flag name without dashes; also the Tekton param name."""
    help: str
    """One sentence; becomes the argparse help and the Task param description."""
    default: str | None = None
    """Default as the string Tekton would pass; ``None`` makes the flag (and the param) required."""
    choices: tuple[str, ...] = ()
    """Allowed values, if the set is closed. Empty string is allowed too when the flag is optional."""
    kind: str = "string"
    """How the step parses it: ``string``, ``int``, ``float``, ``bool``, ``duration``, ``weight``, ``json``."""

    @property
    def required(self) -> bool:
        """A flag without default must be given."""
        return self.default is None

    @property
    def option(self) -> str:
        """The option as written on the command line."""
        return f"--{self.name}"


@dataclass(frozen=True, slots=True)
class Result:
    """A Tekton result a command writes; the path arrives as ``--result-<name>=$(results.<name>.path)``."""

    name: str
    help: str

    @property
    def flag(self) -> str:
        """Flag name (without dashes) that carries the result file path."""
        return f"result-{self.name}"


@dataclass(frozen=True, slots=True)
class Command:
    """One ``progressive step <name>`` subcommand."""

    name: str
    summary: str
    """One line, for ``--help`` and the Task's display name."""
    description: str
    """A paragraph, for ``--help`` and the Task's ``spec.description``."""
    flags: tuple[Flag, ...]
    results: tuple[Result, ...] = field(default=())

    def flag(self, name: str) -> Flag:
        """Return the flag called ``name``; a typo is a programming error."""
        for candidate in self.flags:
            if candidate.name == name:
                return candidate
        raise KeyError(f"step {self.name} has no flag --{name}")


# --- flag groups shared by several commands ------------------------------------------------------------

_TARGET = (
    Flag("namespace", "Namespace of the rollout's objects (routing object, Deployments, state ConfigMap)."),
    Flag("rollout", "Rollout name; the state record is the ConfigMap progressive-<rollout>."),
    Flag(
        "run-id",
        "Identifies this run of the rollout (the PipelineRun name); evidence and stages reset when it changes.",
        default="",
    ),
    Flag("stage", "Name of the stage this step belongs to, for the state record and events.", default=""),
)

_NOTIFY = (
    Flag(
        "notify-dir",
        "Folder with files slack-url and/or webhook-url (mounted from a Secret); empty sends nothing.",
        default="",
    ),
)

_API = (
    Flag(
        "api-timeout",
        "Overall time limit for retrying one Kubernetes API call on conflicts, 429, 5xx and dropped connections.",
        default="2m",
        kind="duration",
    ),
)

_WORKLOAD = (
    Flag("stable-deployment", "Deployment that serves the stable version."),
    Flag("canary-deployment", "Deployment that serves the canary version."),
)


def _router(*, required: bool) -> tuple[Flag, ...]:
    """Flags that select and address the routing object."""
    need: str | None = None if required else ""
    return (
        Flag(
            "router",
            "Traffic router: " + ", ".join(ROUTER_NAMES) + ".",
            default=need,
            choices=ROUTER_NAMES,
        ),
        Flag(
            "name",
            "Routing object: HTTPRoute, VirtualService, stable Ingress, TraefikService, TrafficSplit or "
            "HTTPProxy; for replicas, the stable Deployment.",
            default=need,
        ),
        Flag(
            "stable",
            "Stable backend: Service name (Istio host, short or FQDN), Istio subset, or Deployment for replicas.",
            default=need,
        ),
        Flag(
            "canary",
            "Canary backend: Service name (Istio host, short or FQDN), Istio subset, or Deployment for replicas.",
            default=need,
        ),
        Flag(
            "istio-subsets",
            "Istio only: --stable and --canary are subset names of one destination host.",
            default="false",
            kind="bool",
        ),
        Flag(
            "routes",
            "Istio only: comma-separated names of the http routes to change; empty changes every route "
            "that has both backends.",
            default="",
        ),
        Flag(
            "api-version",
            "apiVersion of the routing object when it differs from the router's default "
            "(e.g. networking.istio.io/v1beta1, traefik.containo.us/v1alpha1, split.smi-spec.io/v1alpha1).",
            default="",
        ),
        Flag(
            "annotation-prefix",
            "NGINX only: annotation prefix of the ingress controller.",
            default="nginx.ingress.kubernetes.io",
        ),
        Flag(
            "wait-accepted",
            "Gateway API and Contour: wait until the route is reported accepted (Accepted, Valid) at its "
            "current generation.",
            default="true",
            kind="bool",
        ),
        Flag(
            "accepted-timeout",
            "How long to wait for the data plane to accept a change (replicas: for both Deployments to be available).",
            default="2m",
            kind="duration",
        ),
    )


_EVENT_TARGET = Flag(
    "canary-deployment",
    "Canary Deployment, the object Kubernetes Events are recorded on; empty: the routing object if any, "
    "else the state ConfigMap.",
    default="",
)

_PROGRESS_DEADLINE = Flag(
    "progress-deadline",
    "How long a Deployment may take to become available before the step gives up and reports why.",
    default="10m",
    kind="duration",
)

_PROMETHEUS_ACCESS = (
    Flag(
        "prometheus-token-file",
        "File holding a bearer token (mounted from a Secret); empty: no token.",
        default="",
    ),
    Flag(
        "prometheus-ca-file",
        "CA bundle to verify Prometheus' TLS certificate; empty: the system trust store.",
        default="",
    ),
    Flag("query-timeout", "Timeout of one Prometheus query.", default="30s", kind="duration"),
)
"""How a step reaches Prometheus besides its URL: shared by ``analyze`` and ``deploy``'s preflight."""


_PREFLIGHT_PROMETHEUS = (
    Flag(
        "prometheus-url",
        "Preflight: base URL of the Prometheus HTTP API the analysis reads; empty: Prometheus is not checked.",
        default="",
    ),
    *_PROMETHEUS_ACCESS,
)

_ROLLBACK_WEBHOOK = Flag(
    "rollback-webhook",
    "URL polled while waiting; a 2xx answer fails the stage so the pipeline rolls back. Empty: none.",
    default="",
)

# --- the commands ---------------------------------------------------------------------------------------

COMMANDS: dict[str, Command] = {
    c.name: c
    for c in (
        Command(
            name="set-weight",
            summary="Shift a share of traffic to the canary and verify it.",
            description=(
                "Sets the canary backend's weight to W and the stable's to 100-W on the routing object, "
                "with a minimal in-place edit, then reads it back and waits until the data plane accepted it. "
                "Already at W: nothing is written. A missing object or backend fails with nothing written."
            ),
            flags=(
                *_TARGET,
                *_router(required=True),
                Flag("weight", "Canary weight in percent, 0 to 100.", kind="weight"),
                Flag(
                    "canary-deployment",
                    "Canary Deployment, the object Kubernetes Events are recorded on; empty: the routing object.",
                    default="",
                ),
                *_API,
                *_NOTIFY,
            ),
            results=(Result("weight", "Canary weight now in effect (the effective weight for replicas)."),),
        ),
        Command(
            name="deploy",
            summary="Roll the new image(s) out to the canary Deployment and wait until it is available.",
            description=(
                "First a preflight that changes nothing: the stable and canary Deployments exist; with --router, "
                "the routing object exists and references both backends, each backend exists (Services; "
                "Gateway API: no ResolvedRefs=False); with --prometheus-url, Prometheus answers and accepts every "
                "query of --queries. A failed preflight exits 3 (missing) or 8 (unsafe) with nothing changed. "
                "Then it sets the canary Deployment's container image(s), scales it and waits until it is available "
                "within the progress deadline. On failure it reports the pods' reasons "
                "(ImagePullBackOff, CrashLoopBackOff, unschedulable, ...)."
            ),
            flags=(
                *_TARGET,
                *_WORKLOAD,
                Flag(
                    "images",
                    "New image for a single-container canary, or container=image pairs separated by commas.",
                ),
                Flag(
                    "replicas",
                    "Canary replicas; empty: as many as the stable Deployment has.",
                    default="",
                ),
                _PROGRESS_DEADLINE,
                *_router(required=False),
                *_PREFLIGHT_PROMETHEUS,
                Flag(
                    "queries",
                    'Preflight: JSON list [{"where", "query"}] of the queries the analysis will run; each must '
                    "be accepted by Prometheus before the canary changes. Empty list: none.",
                    default="[]",
                    kind="json",
                ),
                *_API,
                *_NOTIFY,
            ),
        ),
        Command(
            name="analyze",
            summary="Judge the canary from Prometheus: pass, fail or inconclusive.",
            description=(
                "Polls Prometheus and judges the canary against the concurrent baseline (sequential judge) or "
                "against fixed thresholds (threshold judge). Exits 0 on pass, 1 when the canary is bad, "
                "4 on an inconclusive hold. Evidence carries over between stages in the state record."
            ),
            flags=(
                *_TARGET,
                Flag("prometheus-url", "Base URL of the Prometheus HTTP API, e.g. http://prometheus:9090."),
                *_PROMETHEUS_ACCESS,
                Flag(
                    "provider",
                    "Built-in query family: " + ", ".join(METRIC_PROVIDERS) + ".",
                    default="generic",
                    choices=METRIC_PROVIDERS,
                ),
                Flag("judge", "Decision rule.", default="sequential", choices=("sequential", "threshold")),
                Flag("canary-workload", "Template variable canary (and target): the canary workload."),
                Flag("stable-workload", "Template variable stable: the stable (baseline) workload."),
                Flag("service", "Template variable service.", default=""),
                Flag(
                    "route-name",
                    "Template variable route (e.g. the HTTPRoute, or the Envoy route).",
                    default="",
                ),
                Flag("ingress", "Template variable ingress.", default=""),
                Flag(
                    "flag-key",
                    "Template variable flag: the feature flag whose variants are compared (provider openfeature: "
                    "canary-workload and stable-workload are then the variants).",
                    default="",
                ),
                Flag(
                    "canary-cluster",
                    "Envoy Gateway: Envoy cluster of the canary backendRef, e.g. httproute/NS/ROUTE/rule/0/backend/1 "
                    "(template variable canary_cluster).",
                    default="",
                ),
                Flag(
                    "stable-cluster",
                    "Envoy Gateway: Envoy cluster of the stable backendRef, e.g. httproute/NS/ROUTE/rule/0/backend/0 "
                    "(template variable stable_cluster).",
                    default="",
                ),
                Flag("interval", "Time between polls.", default="30s", kind="duration"),
                Flag(
                    "min-duration",
                    "Earliest time the stage may pass (sequential judge, healthy evidence).",
                    default="1m",
                    kind="duration",
                ),
                Flag(
                    "max-duration",
                    "Stage budget; at its end --on-inconclusive decides (sequential judge).",
                    default="5m",
                    kind="duration",
                ),
                Flag("alpha", "Bound on the false-rollback probability.", default="0.05", kind="float"),
                Flag(
                    "beta",
                    "Bound on passing early a canary at least rho1 times worse.",
                    default="0.1",
                    kind="float",
                ),
                Flag(
                    "rho1-errors",
                    "Error-rate ratio the early pass guards against.",
                    default="2",
                    kind="float",
                ),
                Flag(
                    "rho1-slow",
                    "Slow-request ratio the early pass guards against.",
                    default="1.5",
                    kind="float",
                ),
                Flag(
                    "latency-threshold",
                    "Histogram bucket (seconds) above which a request counts as slow; 'auto' picks the smallest "
                    "bucket at or above the stable's p99 over the last hour; empty disables the latency metric.",
                    default="auto",
                ),
                Flag(
                    "on-inconclusive",
                    "What to do when the stage budget ends without conclusive evidence.",
                    default="advance",
                    choices=("advance", "hold", "fail"),
                ),
                Flag(
                    "on-no-data",
                    "What no data counts as: threshold judge, a query without data (empty, NaN, Inf); sequential "
                    "judge, a stage whose canary or baseline served no request (wait: inconclusive). Never a pass.",
                    default="fail",
                    choices=("fail", "inconclusive", "wait"),
                ),
                Flag(
                    "checks",
                    "Threshold judge: JSON list of checks "
                    '[{"name", "metric"|"query", "min", "max", "interval", "count", "initial_delay", '
                    '"failure_limit", "inconclusive_limit", "consecutive_error_limit"}].',
                    default="[]",
                    kind="json",
                ),
                _ROLLBACK_WEBHOOK,
                _EVENT_TARGET,
                *_API,
                *_NOTIFY,
            ),
            results=(
                Result("verdict", "pass, fail or inconclusive."),
                Result("summary", "One line of evidence behind the verdict (< 1 KB)."),
            ),
        ),
        Command(
            name="promote",
            summary="Make the canary the new stable and send all traffic back to stable.",
            description=(
                "Copies the canary's pod template to the stable Deployment (saving the old one in the state "
                "record), waits until stable is available, moves the weight to stable 100 and scales the "
                "canary down."
            ),
            flags=(
                *_TARGET,
                *_router(required=True),
                *_WORKLOAD,
                _PROGRESS_DEADLINE,
                Flag(
                    "scale-down-canary",
                    "Scale the canary to 0 once stable serves all traffic.",
                    default="true",
                    kind="bool",
                ),
                *_API,
                *_NOTIFY,
            ),
        ),
        Command(
            name="rollback",
            summary="Send all traffic back to stable and scale the canary down; safe when nothing shifted yet.",
            description=(
                "Checks that the stable Deployment is available (restoring its saved template first if a "
                "promotion was interrupted), sets the canary weight to 0 at once or in steps, verifies it "
                "and scales the canary down. Refuses to route traffic to a stable that is not available."
            ),
            flags=(
                *_TARGET,
                *_router(required=True),
                *_WORKLOAD,
                Flag("mode", "instant or stepped.", default="instant", choices=("instant", "stepped")),
                Flag(
                    "step-weight",
                    "Stepped mode: canary weight removed per step.",
                    default="10",
                    kind="weight",
                ),
                Flag("step-interval", "Stepped mode: time between steps.", default="30s", kind="duration"),
                _PROGRESS_DEADLINE,
                *_API,
                *_NOTIFY,
            ),
        ),
        Command(
            name="approve",
            summary="Wait until someone approves or aborts the rollout.",
            description=(
                "Waits until `progressive approve ROLLOUT` approves this stage (in the Secret "
                "progressive-ROLLOUT-approvals, which this step may only read) or `progressive abort ROLLOUT` "
                "marks the state record. Approved: exit 0 and the approver (the user the API server "
                "authenticated) as a result; aborted: exit 7; timeout: exit 6; no approvals Secret: exit 3."
            ),
            flags=(
                *_TARGET,
                Flag("timeout", "How long to wait for a decision.", default="1h", kind="duration"),
                Flag(
                    "poll-interval", "How often to read the state record and approvals.", default="5s", kind="duration"
                ),
                _EVENT_TARGET,
                *_API,
                *_NOTIFY,
            ),
            results=(Result("approved-by", "Who approved the stage, as the API server authenticated them."),),
        ),
        Command(
            name="pause",
            summary="Hold the current weight for a while.",
            description=(
                "Waits for the given duration, recording the stage in the state record; fails early when the "
                "rollout is aborted or the rollback webhook answers 2xx."
            ),
            flags=(
                *_TARGET,
                Flag("duration", "How long to hold.", kind="duration"),
                Flag("poll-interval", "How often to check for an abort.", default="5s", kind="duration"),
                _ROLLBACK_WEBHOOK,
                _EVENT_TARGET,
                *_API,
                *_NOTIFY,
            ),
        ),
        Command(
            name="webhook",
            summary="Call an HTTP webhook gate, Flagger style.",
            description=(
                "POSTs a JSON body describing the rollout. confirm-* gates retry until a 2xx answer or the gate "
                "timeout; pre-rollout fails on a non-2xx answer after retries; post-rollout only logs; "
                "rollback fails the stage on a 2xx answer."
            ),
            flags=(
                *_TARGET,
                Flag("type", "Gate type.", choices=WEBHOOK_TYPES),
                Flag("url", "Webhook URL."),
                Flag("timeout", "Timeout of one request.", default="10s", kind="duration"),
                Flag("retries", "Retries after a failed request.", default="2", kind="int"),
                Flag("gate-timeout", "confirm-* gates: how long to keep asking.", default="1h", kind="duration"),
                Flag(
                    "poll-interval",
                    "confirm-* gates: time between two asks while the answer is not 2xx.",
                    default="10s",
                    kind="duration",
                ),
                Flag("metadata", "JSON object sent as metadata.", default="{}", kind="json"),
                _EVENT_TARGET,
                *_API,
                *_NOTIFY,
            ),
        ),
        Command(
            name="report",
            summary="Report how the rollout ended; always runs in finally.",
            description=(
                "Prints the rollout's final state (weights, last verdict, evidence), records an Event and sends "
                "the configured notifications."
            ),
            flags=(
                *_TARGET,
                Flag(
                    "status",
                    "Aggregate status of the pipeline's tasks ($(tasks.status)).",
                    choices=("Succeeded", "Failed", "Completed", "None"),
                ),
                Flag(
                    "rollback-wait",
                    "Failed runs: how long to wait for the rollback (a finally task running alongside) to "
                    "finish before reporting.",
                    default="90s",
                    kind="duration",
                ),
                *_router(required=False),
                _EVENT_TARGET,
                *_API,
                *_NOTIFY,
            ),
        ),
        Command(
            name="flag-set",
            summary="Set a feature flag's split between its variants and verify flagd serves it.",
            description=(
                "Rewrites one flagd flag's top-level fractional rule (FeatureFlag custom resource or flagd "
                "document in a ConfigMap) to the given percentages, with the resourceVersion read; one variant at "
                "100 removes the rule and makes it the default. Already there: nothing is written. With "
                "--evaluation-url it then asks flagd (OFREP) for probe keys until each gets the variant the split "
                "implies; on timeout it restores the previous split and fails. A missing flag or variant, "
                "targeting it does not manage, or percentages not summing to 100 fail with nothing written."
            ),
            flags=(
                *_TARGET,
                Flag("source", "Where the flag is stored: featureflag or configmap.", choices=FLAG_SOURCES),
                Flag("name", "The FeatureFlag (core.openfeature.dev/v1beta1) or ConfigMap holding the flag."),
                Flag(
                    "configmap-key",
                    "configmap source: the data key holding the flagd JSON document.",
                    default="flags.flagd.json",
                ),
                Flag("flag", "Flag key."),
                Flag("split", "Percent per managed variant, summing to 100, e.g. on=25,off=75."),
                Flag(
                    "baseline",
                    "Variant served to evaluations without a targeting key while the split is partial (e.g. off).",
                ),
                Flag(
                    "evaluation-url",
                    "flagd's OFREP base URL (e.g. http://flagd.shop:8016); empty: no probe verification.",
                    default="",
                ),
                Flag(
                    "verify-timeout",
                    "How long flagd may take to serve the new split before it is restored.",
                    default="2m",
                    kind="duration",
                ),
                *_API,
                *_NOTIFY,
            ),
        ),
        Command(
            name="status",
            summary="Print where the rollout stands, as JSON.",
            description="Reads the state record and, when a router is given, the live weights.",
            flags=(
                Flag("namespace", "Namespace of the rollout's objects."),
                Flag("rollout", "Rollout name."),
                *_router(required=False),
                *_API,
            ),
        ),
    )
}


def command(name: str) -> Command:
    """Return the contract of ``progressive step <name>``."""
    try:
        return COMMANDS[name]
    except KeyError:
        known = ", ".join(COMMANDS)
        raise KeyError(f"unknown step command {name!r}; known: {known}") from None
