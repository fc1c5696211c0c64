"""``progressive versions APP [-n NS] [--router KIND --name OBJECT] [-o json]``: the live versions.

One line per version in the app's state record ``progressive-<app>-versions``: its short commit, image digest,
configuration hash (the one its Deployment's pods run, and the recorded one when they differ), weight as
configured (the record) and as read from the routing object (``--router``/``--name``; ``-`` without them, or
``a/b`` when rules disagree), ready/desired replicas, and the last verdict of the app's analysis
(``progressive-<app>-analysis``) on the version it judged last. Read-only. Exit codes: 0 shown, 2 bad input, 3 no
record for the app (never added, or wrong namespace), 5 the Kubernetes API kept failing.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING, Any

from progressive.commands._connection import add_cluster_arguments, connect_to_cluster, kube_context
from progressive.duration import parse_duration
from progressive.errors import NotFoundError, StepError, UsageError
from progressive.naming import is_dns_label

if TYPE_CHECKING:
    from progressive.kube.objects import Objects

__all__ = ["add_arguments", "live_versions", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``progressive versions``."""
    parser.add_argument("app", metavar="APP", help="App name (the state record is progressive-APP-versions).")
    parser.add_argument("-n", "--namespace", default="", help="Namespace (default: the current context's).")
    parser.add_argument(
        "--router",
        default="",
        choices=("", "gateway-api", "istio", "smi", "traefik", "contour"),
        help="Routing object kind.",
    )
    parser.add_argument(
        "--name",
        default="",
        help="Routing object (HTTPRoute, VirtualService, TrafficSplit, TraefikService or HTTPProxy) to read weights.",
    )
    parser.add_argument("--api-version", default="", help="apiVersion of the routing object, if not the default.")
    parser.add_argument("-o", "--output", default="table", choices=("table", "json"), help="Output format.")
    parser.add_argument("--api-timeout", default="30s", help="Time limit for retrying Kubernetes API calls.")
    add_cluster_arguments(parser)


def live_versions(
    objects: Objects, namespace: str, app: str, *, router: str = "", name: str = "", api_version: str = ""
) -> list[dict[str, Any]]:
    """Each recorded version with what the cluster says about it."""
    from progressive.kube.resources import DEPLOYMENTS  # noqa: PLC0415
    from progressive.step.version._routing import RESOURCES  # noqa: PLC0415
    from progressive.step.version.state import VersionStore  # noqa: PLC0415
    from progressive.versions import routing  # noqa: PLC0415
    from progressive.versions.naming import version_name  # noqa: PLC0415
    from progressive.versions.objects import CONFIG_HASH_ANNOTATION  # noqa: PLC0415

    store = VersionStore(objects, namespace, app)
    if objects.find(store.ref) is None:
        raise NotFoundError(f"app {namespace}/{app} has no {store.ref} (no version was added, or wrong namespace)")
    record = store.read()
    services = [version_name(app, v.commit) for v in record.versions]
    places: list[routing.Place] = []
    if router:
        resource = RESOURCES[router].at(api_version)
        try:
            places = routing.read(router, objects.get(resource.ref(namespace, name)), namespace, services)
        except routing.RoutingError as exc:
            raise UsageError(f"{resource.kind} {namespace}/{name} {exc}") from None
    judged = _last_verdict(objects, namespace, app)
    rows = []
    for recorded in record.versions:
        service = version_name(app, recorded.commit)
        deployment = objects.find(DEPLOYMENTS.ref(namespace, service)) or {}
        template = (deployment.get("spec") or {}).get("template") or {}
        containers = (template.get("spec") or {}).get("containers") or [{}]
        running = ((template.get("metadata") or {}).get("annotations") or {}).get(CONFIG_HASH_ANNOTATION, "")
        routed = sorted({place.weights.get(service, 0) for place in places})
        rows.append(
            {
                "commit": recorded.commit,
                "image": containers[0].get("image", recorded.image),
                "config_hash": running or "-",
                "recorded_config_hash": recorded.config_hash,
                "weight": recorded.weight,
                "routed_weight": routed[0] if len(routed) == 1 else (routed or None),
                "ready": int((deployment.get("status") or {}).get("readyReplicas") or 0),
                "replicas": int((deployment.get("spec") or {}).get("replicas") or 0) if deployment else 0,
                "deployment": bool(deployment),
                "last_verdict": judged[1] if judged and judged[0] == service else None,
            }
        )
    return rows


def _last_verdict(objects: Objects, namespace: str, app: str) -> tuple[str, str] | None:
    """(version it judged, verdict) of the app's analysis record, if it has judged one."""
    from progressive.kube.resources import CONFIGMAPS  # noqa: PLC0415
    from progressive.naming import state_configmap  # noqa: PLC0415
    from progressive.state import CONFIGMAP_KEY, State  # noqa: PLC0415
    from progressive.versions.naming import analysis_name  # noqa: PLC0415

    configmap = objects.find(CONFIGMAPS.ref(namespace, state_configmap(analysis_name(app))))
    text = ((configmap or {}).get("data") or {}).get(CONFIGMAP_KEY)
    if not text:
        return None
    state = State.from_json(text)
    return (state.verdict_stage, state.verdict) if state.verdict and state.verdict_stage else None


def _table(rows: list[dict[str, Any]]) -> str:
    header = ("COMMIT", "IMAGE DIGEST", "CONFIG", "WEIGHT", "ROUTED", "READY", "LAST VERDICT")
    lines = [header]
    for row in rows:
        digest = row["image"].rpartition("@")[2][:19] or row["image"]
        config = row["config_hash"]
        if config != row["recorded_config_hash"]:
            config = f"{config} (recorded {row['recorded_config_hash']})"
        routed = row["routed_weight"]
        routed_text = "-" if routed is None else "/".join(map(str, routed)) if isinstance(routed, list) else str(routed)
        ready = f"{row['ready']}/{row['replicas']}" if row["deployment"] else "missing"
        verdict = row["last_verdict"] or "-"
        lines.append((row["commit"][:7], digest, config, str(row["weight"]), routed_text, ready, verdict))
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip() for line in lines)


def run(args: argparse.Namespace) -> int:
    """Show the live versions; see the module docstring."""
    try:
        if not is_dns_label(args.app):
            raise UsageError(f"APP: {args.app!r} is not an app name (lower-case DNS label)")
        if bool(args.router) != bool(args.name):
            raise UsageError("--router and --name: give both (to read weights from the routing object) or neither")
        try:
            api_timeout = parse_duration(args.api_timeout)
        except ValueError:
            raise UsageError(f"--api-timeout: {args.api_timeout!r} is not a Go duration") from None
        namespace = args.namespace or kube_context(args).namespace or "default"
        from progressive.kube.objects import Objects  # noqa: PLC0415

        objects = Objects(connect_to_cluster(args), api_timeout)
        rows = live_versions(
            objects, namespace, args.app, router=args.router, name=args.name, api_version=args.api_version
        )
    except StepError as exc:
        print(f"progressive versions: {exc}", file=sys.stderr)
        return int(exc.exit_code)
    if args.output == "json":
        print(json.dumps({"app": args.app, "namespace": namespace, "versions": rows}, indent=2))
    else:
        print(_table(rows))
    return 0
