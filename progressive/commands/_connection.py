"""What every command that talks to a cluster shares: ``--kubeconfig``, ``--context``, and the defaults they give.

The flags mean what they mean to ``kubectl``: ``--kubeconfig PATH`` instead of ``KUBECONFIG`` or
``~/.kube/config``; ``--context NAME`` a context of that kubeconfig instead of its current one. The
namespace and user defaults (``-n``, ``--by``) come from the same chosen context, so a command never talks
to one cluster while naming things after another. A new cluster command calls :func:`add_cluster_arguments`
in its ``add_arguments`` and :func:`connect_to_cluster` / :func:`kube_context` in its ``run``.
"""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from progressive.kube.client import Kube

__all__ = [
    "KubeContext",
    "add_cluster_arguments",
    "api_timeout",
    "child_environment",
    "connect_to_cluster",
    "kube_context",
]

_SA_NAMESPACE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")


def add_cluster_arguments(parser: argparse.ArgumentParser) -> None:
    """``--kubeconfig`` and ``--context``, as ``kubectl`` has them."""
    group = parser.add_argument_group("cluster")
    group.add_argument(
        "--kubeconfig",
        default="",
        metavar="PATH",
        help="Kubeconfig file to use (default: $KUBECONFIG, else in a Pod its service account, else ~/.kube/config).",
    )
    group.add_argument(
        "--context",
        default="",
        metavar="NAME",
        help="Context of the kubeconfig to use (default: its current context); also the default namespace and user.",
    )


def api_timeout(args: argparse.Namespace) -> float:
    """Seconds of ``--api-timeout`` (the time limit for retrying one API call); one line naming the flag if bad."""
    from progressive.duration import parse_duration  # noqa: PLC0415
    from progressive.errors import ConfigError  # noqa: PLC0415

    try:
        return parse_duration(args.api_timeout)
    except ValueError:
        raise ConfigError(f"--api-timeout: {args.api_timeout!r} is not a Go duration such as 30s or 2m") from None


def connect_to_cluster(args: argparse.Namespace) -> Kube:
    """The cluster the flags (else the environment) name; :class:`~progressive.errors.UsageError` when none."""
    from progressive.kube.client import connect  # noqa: PLC0415 - the Kubernetes client is slow to import

    return connect(kubeconfig=getattr(args, "kubeconfig", ""), context=getattr(args, "context", ""))


@dataclass(frozen=True, slots=True)
class KubeContext:
    """Defaults taken from where ``kubectl`` would take them."""

    namespace: str
    user: str


def kube_context(args: argparse.Namespace | None = None) -> KubeContext:
    """Namespace and user of the chosen (else current) kubeconfig context (in a Pod: its namespace); blanks if none."""
    kubeconfig = getattr(args, "kubeconfig", "") if args is not None else ""
    wanted = getattr(args, "context", "") if args is not None else ""
    config = kubeconfig or os.environ.get("KUBECONFIG") or str(Path("~/.kube/config").expanduser())
    try:
        from kubernetes.config.kube_config import list_kube_config_contexts  # noqa: PLC0415

        contexts, active = list_kube_config_contexts(config_file=config)  # type: ignore[no-untyped-call]
        chosen = next((item for item in contexts or [] if item.get("name") == wanted), None) if wanted else active
        context = (chosen or {}).get("context") or {}
        return KubeContext(str(context.get("namespace") or ""), str(context.get("user") or ""))
    except Exception:
        pass
    try:
        return KubeContext(_SA_NAMESPACE.read_text(encoding="utf-8").strip(), "")
    except OSError:
        return KubeContext("", "")


def child_environment(args: argparse.Namespace, folder: Path) -> dict[str, str]:
    """This process's environment for child processes (``progressive run``'s steps) that must use the same cluster.

    ``--kubeconfig`` becomes ``KUBECONFIG``. ``--context`` becomes a one-line kubeconfig in ``folder`` that only
    sets ``current-context``, listed first and last in ``KUBECONFIG``: ``kubectl`` takes the first file's
    current context, the Python client the last one's; the clusters and users still come from the real file,
    so its relative certificate paths keep working.
    """
    env = dict(os.environ)
    kubeconfig = getattr(args, "kubeconfig", "")
    context = getattr(args, "context", "")
    if kubeconfig:
        env["KUBECONFIG"] = str(Path(kubeconfig).resolve())
    if context:
        import json  # noqa: PLC0415

        chosen = folder / "context.kubeconfig"
        chosen.write_text(
            json.dumps({"apiVersion": "v1", "kind": "Config", "current-context": context}) + "\n", encoding="utf-8"
        )
        chosen.chmod(0o600)
        base = env.get("KUBECONFIG") or str(Path("~/.kube/config").expanduser())
        env["KUBECONFIG"] = os.pathsep.join([str(chosen), base, str(chosen)])
    return env
