"""The command line of ``progressive step version <verb>``: flags and results, shared by the step and the compiler.

Same conventions as :mod:`progressive.contract` (``--flag=VALUE``, empty = unset, ``true``/``false``, Go
durations). Pure standard library.
"""

from __future__ import annotations

from progressive.contract import Command, Flag, Result

__all__ = ["VERSION_COMMANDS"]

_APP = (
    Flag("namespace", "Namespace of the app's versions, routing object and state record."),
    Flag("app", "App name; versions are <app>-<sha7>, the state record progressive-<app>-versions."),
    Flag(
        "run-id",
        "Who holds the app's Lease progressive-<app> while this runs (the PipelineRun name); empty: version-<app>.",
        default="",
    ),
    Flag(
        "api-timeout",
        "Overall time limit for retrying one Kubernetes API call on conflicts, 429, 5xx and dropped connections.",
        default="2m",
        kind="duration",
    ),
)

_COMMIT = Flag("commit", "Full commit id (40 hex) of the version.")

_WORKLOAD = Result("workload", "The version's Deployment, <app>-<sha7> (what an analysis compares).")

_ROUTER = (
    Flag(
        "router",
        "gateway-api (HTTPRoute), istio (VirtualService), smi (TrafficSplit), traefik (TraefikService), contour "
        "(HTTPProxy), or replicas (no mesh: shares by replica counts).",
        choices=("gateway-api", "istio", "smi", "traefik", "contour", "replicas"),
    ),
    Flag(
        "name",
        "Routing object: HTTPRoute, VirtualService, TrafficSplit, TraefikService or HTTPProxy; replicas: the Service "
        "over every version's pods.",
    ),
    Flag(
        "api-version",
        "apiVersion of the routing object when it differs from the default (e.g. networking.istio.io/v1beta1, "
        "split.smi-spec.io/v1alpha1, traefik.containo.us/v1alpha1).",
        default="",
    ),
    Flag("port", "Service port of the versions (new backend entries get it).", default="8080", kind="int"),
    Flag(
        "wait-accepted",
        "Gateway API: wait until every parent reports Accepted=True at the route's generation; Contour: until the "
        "HTTPProxy reports Valid=True at its generation.",
        default="true",
        kind="bool",
    ),
    Flag("accepted-timeout", "How long to wait for the data plane to accept a change.", default="2m", kind="duration"),
)

_PROGRESS = Flag(
    "progress-deadline",
    "How long the version's Deployment may take to become available before the step gives up.",
    default="10m",
    kind="duration",
)

_CONFIG = (
    Flag(
        "config",
        "The configuration: JSON object file name -> content (one immutable ConfigMap).",
        default="{}",
        kind="json",
    ),
    Flag(
        "pod-annotations",
        "JSON object of annotations this configuration puts on the pods (part of the configuration hash).",
        default="{}",
        kind="json",
    ),
)

VERSION_COMMANDS: dict[str, Command] = {
    c.name: c
    for c in (
        Command(
            name="add",
            summary="Create a version's ConfigMap, Deployment and Service and wait until it is available; no traffic.",
            description=(
                "Creates <app>-<sha7>-<cfghash8> (an immutable ConfigMap), the Deployment <app>-<sha7> mounting it "
                "and the Service <app>-<sha7>, owned by the Deployment; waits until the Deployment is available and "
                "records the version (weight 0) in progressive-<app>-versions. Objects already there and equal are "
                "left alone, so a re-run after a kill finishes the job."
            ),
            flags=(
                *_APP,
                _COMMIT,
                Flag("image", "The version's image, pinned by digest (repo[:tag]@sha256:<64 hex>)."),
                *_CONFIG,
                Flag("replicas", "Pods of the version.", default="1", kind="int"),
                Flag("port", "Container and Service port.", default="8080", kind="int"),
                Flag("container", "Name of the app's container.", default="app"),
                Flag("config-mount", "Where the configuration's files appear in the container.", default="/etc/config"),
                Flag("keep", "ReplicaSets (and ConfigMaps) kept for rollback.", default="3", kind="int"),
                _PROGRESS,
            ),
            results=(Result("config-hash", "Hash of the version's configuration."), _WORKLOAD),
        ),
        Command(
            name="set-weights",
            summary="Give every live version its weight in one write per routing object, verified.",
            description=(
                "Sets each version's weight (JSON {commit: weight}, summing to 100; live versions not listed get 0) "
                "at every rule that references one of the app's version Services, matched by Service name; appends "
                "a version a rule lacks. One write, read back, then waits until the data plane accepted it; on "
                "failure the previous weights are put back. Already there: nothing is written."
            ),
            flags=(
                *_APP,
                *_ROUTER,
                Flag(
                    "weights",
                    'JSON object {"<commit>": weight}; with --rest=zero the weights sum to 100.',
                    default="{}",
                    kind="json",
                ),
                Flag(
                    "commit",
                    "One version's commit, given --weight (added to --weights); a commit that is not live and asked "
                    "for weight 0 is skipped (there is nothing to take away).",
                    default="",
                ),
                Flag("weight", "Weight of --commit in percent.", default="", kind="weight"),
                Flag(
                    "rest",
                    "Live versions not in --weights: zero (they get 0) or proportional (they share what is left in "
                    "proportion to their recorded weights, largest remainder).",
                    default="zero",
                    choices=("zero", "proportional"),
                ),
            ),
        ),
        Command(
            name="update-config",
            summary="Give one running version a new configuration; only its pods roll; rolled back on failure.",
            description=(
                "Creates the new immutable ConfigMap, points only this version's Deployment at it, waits until the "
                "rollout is available; if it is not, points the Deployment back at the previous ConfigMap and fails. "
                "Then deletes this version's ConfigMaps that neither the last --keep configurations nor a ReplicaSet "
                "still use."
            ),
            flags=(
                *_APP,
                _COMMIT,
                *_CONFIG,
                Flag("keep", "Configurations kept per version.", default="3", kind="int"),
                _PROGRESS,
            ),
            results=(
                Result("config-hash", "Hash of the configuration now in effect."),
                Result("previous-config-hash", "Hash of the configuration it replaced (what restore-config takes)."),
                _WORKLOAD,
            ),
        ),
        Command(
            name="restore-config",
            summary="Put a version back on an earlier configuration that one of its ReplicaSets still holds.",
            description=(
                "Finds the pod template of --config-hash (the Deployment's own, or an old ReplicaSet's, whose "
                "ConfigMap the Deployment still owns), points only this version's Deployment back at it, waits until "
                "it is available and records it. Used after an analysis judged a new configuration bad. Already "
                "there: nothing is written. No ReplicaSet holds it: exit 8, nothing changed."
            ),
            flags=(
                *_APP,
                _COMMIT,
                Flag("config-hash", "The configuration to go back to (update-config's previous-config-hash)."),
                _PROGRESS,
            ),
            results=(Result("config-hash", "Hash of the configuration now in effect."),),
        ),
        Command(
            name="retire",
            summary="Take a version at weight 0 out of every rule, drain it, then delete its objects.",
            description=(
                "Refuses (exit 8) while the version still has weight. Removes its backend entries from every rule, "
                "waits until the data plane accepted that, waits --drain, then deletes its Deployment (foreground: "
                "its ReplicaSets, pods, ConfigMaps and Service go first) and removes it from the state record."
            ),
            flags=(
                *_APP,
                _COMMIT,
                *_ROUTER,
                Flag(
                    "drain",
                    "How long to wait after the routes dropped the version before deleting it (>= the pods' "
                    "termination grace period).",
                    default="30s",
                    kind="duration",
                ),
                Flag("delete-timeout", "How long to wait until the objects are gone.", default="2m", kind="duration"),
            ),
        ),
    )
}
"""``progressive step version <verb>``, by verb."""
