"""The command lines of the cluster's components: every flag in one place, every listener on 127.0.0.1.

Flags follow ``../shared/specs/real-cluster.md`` §4 and kwokctl's binary runtime; what each one is for is said
next to it. Ports are chosen free at ``up`` time and recorded in the run directory, so a developer's
``scripts/cluster up`` and a test run never collide.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

from tests.support.cluster.binaries import Build
from tests.support.cluster.pki import Credentials
from tests.support.cluster.processes import Component

__all__ = [
    "WEBHOOK_IN_NAMESPACE",
    "Ports",
    "apiserver",
    "controller_manager",
    "etcd",
    "kwok",
    "scheduler",
    "tekton_controller",
    "tekton_webhook",
]

WEBHOOK_IN_NAMESPACE = 8443
"""Tekton's webhook listens here, on every interface of its own network namespace."""


@dataclass(frozen=True)
class Ports:
    """Loopback ports of one cluster (``tekton_api`` is inside Tekton's own network namespaces)."""

    etcd_client: int
    etcd_peer: int
    apiserver: int
    tekton_api: int
    webhook: int = 0
    """Where the API server reaches Tekton's admission webhook (a relay into the webhook's namespace)."""


def etcd(build: Build, run: Path, ports: Ports) -> Component:
    client = f"http://127.0.0.1:{ports.etcd_client}"
    peer = f"http://127.0.0.1:{ports.etcd_peer}"
    return Component(
        "etcd",
        [
            str(build.binary("etcd")),
            "--name=local",
            f"--data-dir={run / 'etcd'}",
            "--unsafe-no-fsync",  # a test cluster: speed over durability
            f"--listen-client-urls={client}",
            f"--advertise-client-urls={client}",
            f"--listen-peer-urls={peer}",
            f"--initial-advertise-peer-urls={peer}",
            f"--initial-cluster=local={peer}",
            "--log-level=warn",
        ],
    )


def apiserver(build: Build, run: Path, ports: Ports, creds: Credentials) -> Component:
    return Component(
        "kube-apiserver",
        [
            str(build.binary("kube-apiserver")),
            f"--etcd-servers=http://127.0.0.1:{ports.etcd_client}",
            "--bind-address=127.0.0.1",
            "--advertise-address=127.0.0.1",
            f"--secure-port={ports.apiserver}",
            f"--tls-cert-file={creds.serving_cert}",
            f"--tls-private-key-file={creds.serving_key}",
            f"--client-ca-file={creds.ca_cert}",
            f"--token-auth-file={creds.token_file}",
            "--authorization-mode=RBAC",
            "--service-cluster-ip-range=10.96.0.0/24",
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
            f"--service-account-key-file={creds.service_account_key}",
            f"--service-account-signing-key-file={creds.service_account_key}",
            # 127.0.0.1 is not a valid endpoint IP for default/kubernetes
            "--endpoint-reconciler-type=none",
            "--allow-privileged=true",
            "--profiling=false",
            # one client (the test suite) should never be throttled by the server it tests
            "--enable-priority-and-fairness=false",
            "--max-requests-inflight=0",
            "--max-mutating-requests-inflight=0",
            "--event-ttl=30m",
            "--kubelet-preferred-address-types=InternalIP",  # the executor's log endpoint is on 127.0.0.1
            # every request made with a ServiceAccount's token (the steps, in pods or with a test's
            # service-account kubeconfig) is recorded: tests read what a step really did (see audit.py)
            f"--audit-policy-file={run / 'audit-policy.yaml'}",
            f"--audit-log-path={run / 'logs' / 'audit.log'}",
            "--audit-log-format=json",
            "--audit-log-maxsize=0",
        ],
    )


def controller_manager(build: Build, run: Path, creds: Credentials) -> Component:
    return Component(
        "kube-controller-manager",
        [
            str(build.binary("kube-controller-manager")),
            f"--kubeconfig={run / 'kubeconfig'}",
            "--leader-elect=false",
            "--secure-port=0",  # no health or metrics server
            f"--service-account-private-key-file={creds.service_account_key}",
            f"--root-ca-file={creds.ca_cert}",  # published as ConfigMap kube-root-ca.crt in every namespace
            "--use-service-account-credentials=false",
            "--kube-api-qps=200",
            "--kube-api-burst=400",
            "--concurrent-deployment-syncs=10",
            "--concurrent-replicaset-syncs=10",
        ],
    )


def scheduler(build: Build, run: Path) -> Component:
    return Component(
        "kube-scheduler",
        [
            str(build.binary("kube-scheduler")),
            f"--kubeconfig={run / 'kubeconfig'}",
            "--leader-elect=false",
            "--secure-port=0",
        ],
    )


def kwok(build: Build, run: Path) -> Component:
    return Component(
        "kwok",
        [
            str(build.binary("kwok")),
            f"--kubeconfig={run / 'kubeconfig'}",
            "--manage-nodes-with-label-selector=type=kwok",
            "--node-lease-duration-seconds=40",
            "--node-port=0",  # no kubelet endpoint: nothing listens
            f"--config={build.kwok_stages}",
        ],
    )


def _tekton_environment(**extra: str) -> dict[str, str]:
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "SYSTEM_NAMESPACE": "tekton-pipelines",
        "METRICS_DOMAIN": "tekton.dev/pipeline",
        "PROBES_PORT": "18088",  # not 8080: knative's shared main serves its own probes there
        "PROFILING_PORT": "18008",
        "METRICS_PROMETHEUS_HOST": "127.0.0.1",
        "KUBERNETES_MIN_VERSION": "v1.28.0",
        "PYTHONPATH": str(Path(__file__).resolve().parents[3]),
        **extra,
    }


def _in_own_network(run: Path, ports: Ports, *forwards: str) -> list[str]:
    """The command prefix that runs a program in a fresh network namespace, reaching the API through the relay."""
    return [
        "unshare",
        "--net",
        "--",
        sys.executable,
        "-m",
        "tests.support.cluster.netns",
        f"--forward=tcp:127.0.0.1:{ports.tekton_api}=unix:{run / 'apiserver.sock'}",
        *(f"--forward={forward}" for forward in forwards),
        "--",
    ]


def tekton_controller(build: Build, run: Path, ports: Ports) -> Component:
    """Tekton's controller in a private network namespace, reaching the API through the relay (see relay.py)."""
    image_flags = (
        "-entrypoint-image",
        "-nop-image",
        "-sidecarlogresults-image",
        "-workingdirinit-image",
        "-shell-image",
        "-shell-image-win",
    )
    return Component(
        "tekton-controller",
        [
            *_in_own_network(run, ports),
            str(build.binary("tekton-controller")),
            f"-kubeconfig={run / 'tekton.kubeconfig'}",
            "-disable-ha",
            "-threads-per-controller=2",
            # the image flags must be set but nothing is pulled: the executor runs host binaries
            *(f"{flag}=local/{flag[1:]}" for flag in image_flags),
        ],
        env=_tekton_environment(),
    )


def tekton_webhook(build: Build, run: Path, ports: Ports) -> Component:
    """Tekton's admission webhook (validation, defaulting, its own serving certificate) in its own namespace.

    It listens on :data:`WEBHOOK_IN_NAMESPACE` inside; a relay exposes that as ``<run>/webhook.sock``, and the
    host-side ``webhook-relay`` puts it on ``127.0.0.1:<ports.webhook>``, where the API server calls it (the
    Service ``tekton-pipelines-webhook`` is an ExternalName for ``localhost``, see bootstrap.py).
    """
    return Component(
        "tekton-webhook",
        [
            *_in_own_network(run, ports, f"unix:{run / 'webhook.sock'}=tcp:127.0.0.1:{WEBHOOK_IN_NAMESPACE}"),
            str(build.binary("tekton-webhook")),
            f"-kubeconfig={run / 'tekton.kubeconfig'}",
        ],
        env=_tekton_environment(
            WEBHOOK_SERVICE_NAME="tekton-pipelines-webhook",
            WEBHOOK_SECRET_NAME="webhook-certs",
            WEBHOOK_ADMISSION_CONTROLLER_NAME="webhook.pipeline.tekton.dev",
            WEBHOOK_PORT=str(WEBHOOK_IN_NAMESPACE),
            CONFIG_LEADERELECTION_NAME="config-leader-election-webhook",
        ),
    )
