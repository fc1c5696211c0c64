"""The world an end-to-end scenario runs in: a shop on the real local cluster, run by Tekton's own controller.

Per test, in a namespace of its own (also the metrics ``namespace`` label, so tests sharing the session's
Prometheus never see each other's series):

* the workload: Deployment ``web`` (stable, 4 replicas, ``web:1.0``) and ``web-canary`` (0 replicas), their
  Services, a Gateway ``public`` of the local status writer's class, and an HTTPRoute ``web`` sending 100% to
  Service ``web`` and 0% to ``web-canary``; the real controller manager rolls the Deployments out (kwok makes their
  pods ready one by one), the status writer accepts the route as a Gateway controller would;
* the rollout, compiled by :func:`progressive.compile.compile_rollout` with short durations, installed the way a
  platform engineer does with the admin's credentials: the catalog Tasks from the committed ``tasks/`` files, then
  the compiled Pipeline and RBAC. The steps run in TaskRun pods as ``progressive-web``, the compiled
  ServiceAccount, with the token the executor mounts: the API server enforces exactly what the compiled Role grants;
* traffic: the exporter's ``http_requests_total`` / latency histogram for one stable and one canary pod (the
  ``generic`` provider's shape), 2000 requests/s each, 1% errors, the canary's error rate chosen by the test.

:class:`Shop` then starts runs from the compiled example PipelineRun and reads back what the scenario asserts:
weights, Deployments, the state record, TaskRuns, logs, and what the steps' ServiceAccount did (the API server's
audit log).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from kubernetes import watch

from progressive import (
    Analysis,
    Analyze,
    GatewayAPI,
    Prometheus,
    RollbackPolicy,
    Rollout,
    SequentialJudge,
    SetWeight,
    Timeouts,
    Webhook,
    Workload,
)
from progressive.compile import CompiledRollout, compile_rollout
from progressive.model.steps import Step
from tests.support.cluster import tekton
from tests.support.cluster.access import Cluster
from tests.support.cluster.audit import AuditEvent, read_events
from tests.support.cluster.status_writers import GATEWAY_CLASS
from tests.support.prometheus import Traffic, TrafficSpec
from tests.support.prometheus_fixtures import PrometheusStack

__all__ = [
    "NEW_IMAGE",
    "OLD_IMAGE",
    "RouteRecorder",
    "Shop",
    "compiled_for",
    "condition",
    "good_steps",
    "rollout",
    "rollout_source",
]

REPO = Path(__file__).resolve().parents[2]
OLD_IMAGE = "registry.example.com/web:1.0"
NEW_IMAGE = "registry.example.com/web:2.0@sha256:" + "ab" * 32
STABLE_POD = "web-7d9f8b6c5-bbbbb"
CANARY_POD = "web-canary-5f6d7c8b9-aaaaa"
TEKTON = tekton.TEKTON
condition = tekton.condition

Obj = dict[str, Any]


def good_steps() -> list[Step]:
    """10% then 50%, each judged for 3 to 20 seconds (a healthy canary passes after ~3 s)."""
    return [
        SetWeight(weight=10),
        Analyze(min_duration="3s", max_duration="20s"),
        SetWeight(weight=50),
        Analyze(min_duration="3s", max_duration="20s"),
    ]


def rollout(
    namespace: str,
    prometheus_url: str,
    *,
    steps: Sequence[Step] | None = None,
    rollback: RollbackPolicy | None = None,
    webhooks: Sequence[Webhook] = (),
    prometheus_secret: str | None = None,
    prometheus_ca_key: str | None = None,
) -> Rollout:
    """The scenarios' rollout: Gateway API, sequential judge polling every second, short deadlines."""
    return Rollout(
        name="web",
        namespace=namespace,
        workload=Workload(stable="web", canary="web-canary", progress_deadline="30s"),
        router=GatewayAPI(route="web", stable_service="web", canary_service="web-canary", accepted_timeout="30s"),
        steps=list(steps if steps is not None else good_steps()),
        analysis=Analysis(
            prometheus=Prometheus(
                url=prometheus_url, query_timeout="5s", secret=prometheus_secret, ca_key=prometheus_ca_key
            ),
            provider="generic",
            judge=SequentialJudge(interval="1s", latency_threshold=None),
        ),
        rollback=rollback or RollbackPolicy(),
        webhooks=tuple(webhooks),
        timeouts=Timeouts(pipeline="1h", finally_="8m"),
    )


def _deployment(name: str, replicas: int, track: str, namespace: str) -> Obj:
    labels = {"app": "web", "track": track}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace, "labels": labels},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": "app", "image": OLD_IMAGE, "ports": [{"containerPort": 8080}]}]},
            },
        },
    }


def _route(namespace: str) -> Obj:
    return {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "HTTPRoute",
        "metadata": {"name": "web", "namespace": namespace},
        "spec": {
            "parentRefs": [{"name": "public"}],
            "hostnames": ["web.example.com"],
            "rules": [
                {
                    "backendRefs": [
                        {"name": "web", "port": 8080, "weight": 100},
                        {"name": "web-canary", "port": 8080, "weight": 0},
                    ]
                }
            ],
        },
    }


def _service(name: str, track: str, namespace: str) -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"selector": {"app": "web", "track": track}, "ports": [{"port": 8080, "targetPort": 8080}]},
    }


def _gateway(namespace: str) -> Obj:
    return {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "Gateway",
        "metadata": {"name": "public", "namespace": namespace},
        "spec": {"gatewayClassName": GATEWAY_CLASS, "listeners": [{"name": "http", "port": 80, "protocol": "HTTP"}]},
    }


class RouteRecorder:
    """Watches the HTTPRoute ``web`` and records the canary weight of every change of its spec, in order.

    The watch is renewed every second (server-side ``timeoutSeconds``) from the last resourceVersion seen, so
    :meth:`stop` ends it cleanly between two windows instead of cutting a stream the thread is reading.
    """

    def __init__(self, cluster: Cluster) -> None:
        self.weights: list[int] = []
        self._cluster = cluster
        route = cluster.must_get("gateway.networking.k8s.io/v1", "HTTPRoute", "web")
        self._since = str(route["metadata"]["resourceVersion"])
        self._generation = int(route["metadata"]["generation"])
        self._stopping = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="route-recorder", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            while not self._stopping.is_set():
                self._watch_once()
        except BaseException as error:  # handed to the test by stop()
            self._error = error

    def _watch_once(self) -> None:
        stream = watch.Watch().stream(  # type: ignore[no-untyped-call]
            self._cluster.custom.list_namespaced_custom_object, "gateway.networking.k8s.io", "v1",
            self._cluster.namespace, "httproutes", field_selector="metadata.name=web",
            resource_version=self._since, timeout_seconds=1,
        )  # fmt: skip
        for event in stream:
            route = event["raw_object"]
            self._since = str(route["metadata"]["resourceVersion"])
            if event["type"] != "MODIFIED" or route["metadata"]["generation"] == self._generation:
                continue  # a status write, not a weight change
            refs = route["spec"]["rules"][0]["backendRefs"]
            self.weights.append(next(ref["weight"] for ref in refs if ref["name"] == "web-canary"))
            self._generation = int(route["metadata"]["generation"])

    def stop(self) -> list[int]:
        """Once the watch has seen the route's current spec: stop it and return the weights recorded."""
        route = self._cluster.must_get("gateway.networking.k8s.io/v1", "HTTPRoute", "web")
        current = int(route["metadata"]["generation"])
        self._cluster.wait_for(
            f"the route recorder to see generation {current}",
            lambda: self._generation >= current or self._error is not None, timeout=10,
        )  # fmt: skip
        self._stopping.set()
        self._thread.join(timeout=10)
        if self._error is not None:
            raise AssertionError(f"the route recorder's watch failed: {self._error!r}") from self._error
        return self.weights


def _catalog_tasks(namespace: str) -> list[Obj]:
    """The committed catalog Tasks (``tasks/<name>/<version>/<name>.yaml``), as ``kubectl apply -n`` sends them."""
    out = []
    for path in sorted((REPO / "tasks").glob("*/*/*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc:
                doc["metadata"]["namespace"] = namespace
                out.append(doc)
    return out


@dataclass
class Shop:
    """One scenario's workload, rollout and traffic on the test's namespace (see the module docstring)."""

    cluster: Cluster
    prometheus: PrometheusStack
    compiled: CompiledRollout
    feeds: list[Traffic] = field(default_factory=list)

    @property
    def namespace(self) -> str:
        return self.cluster.namespace

    # -- setting up -----------------------------------------------------------------------------------

    def install(self) -> None:
        """Workload, Tasks, Pipeline, RBAC, with the admin's credentials."""
        self.install_workload()
        self.cluster.create(*_catalog_tasks(self.namespace), *self.compiled.hooks, self.compiled.pipeline)
        self.cluster.create(*self.compiled.rbac)

    def install_workload(self) -> None:
        """The Deployments (rolled out), their Services, the Gateway and the HTTPRoute (accepted)."""
        self.cluster.create(
            _deployment("web", 4, "stable", self.namespace),
            _deployment("web-canary", 0, "canary", self.namespace),
            _service("web", "stable", self.namespace),
            _service("web-canary", "canary", self.namespace),
            _gateway(self.namespace),
            _route(self.namespace),
        )
        self.cluster.wait_for(
            "Deployment web available", lambda: self.deployment("web").get("status", {}).get("availableReplicas") == 4
        )
        self.cluster.wait_for("HTTPRoute web accepted", self._route_accepted)

    def _route_accepted(self) -> bool:
        route = self.cluster.must_get("gateway.networking.k8s.io/v1", "HTTPRoute", "web")
        parents = (route.get("status") or {}).get("parents") or []
        return any(c["type"] == "Accepted" and c["status"] == "True" for p in parents for c in p["conditions"])

    def traffic(self, *, canary_errors: float = 0.01, seed: int = 1) -> None:
        """Start stable and canary traffic; wait until Prometheus holds two scrapes of both."""
        specs = [
            TrafficSpec(self.namespace, STABLE_POD, rps=2000, error_rate=0.01),
            TrafficSpec(self.namespace, CANARY_POD, rps=2000, error_rate=canary_errors),
        ]
        self.feeds.append(Traffic(self.prometheus.exporter, specs, seed=seed).start())
        for pod in (STABLE_POD, CANARY_POD):
            self.prometheus.server.wait_for(
                f'count_over_time(http_request_duration_seconds_count{{namespace="{self.namespace}",pod="{pod}"}}[1m])',
                at_least=2,
            )

    def stop_traffic(self) -> None:
        for feed in self.feeds:
            feed.stop()
        self.feeds.clear()

    def gateway_delay(self, milliseconds: int) -> None:
        """Make the Gateway's controller take this long to accept each change of the route."""
        self.cluster.patch(
            "gateway.networking.k8s.io/v1", "Gateway", "public",
            {"metadata": {"annotations": {"status-writer.progressive.test/delay-ms": str(milliseconds)}}},
        )  # fmt: skip

    # -- running --------------------------------------------------------------------------------------

    def start(self, image: str = NEW_IMAGE, *, timeouts: dict[str, str] | None = None) -> str:
        """``kubectl create -f run/pipelinerun.yaml`` with the image param set (and ``timeouts`` changed, as
        ``tkn pipeline start --tasks-timeout`` does); the PipelineRun's name."""
        body = json.loads(json.dumps(self.compiled.pipeline_run))
        body["spec"]["params"] = [{"name": p["name"], "value": image} for p in body["spec"]["params"]]
        body["spec"]["timeouts"].update(timeouts or {})
        (created,) = self.cluster.create(body)
        return str(created["metadata"]["name"])

    def wait(self, run: str, *, timeout: float = 240.0) -> Obj:
        return tekton.wait_done(self.cluster, run, timeout=timeout)

    def set_spec_status(self, run: str, status: str) -> None:
        """``tkn pipelinerun cancel [--grace CancelledRunFinally]``, as the admin."""
        self.cluster.patch(TEKTON, "PipelineRun", run, {"spec": {"status": status}})

    def progressive(
        self, *args: str, timeout: float = 60.0, kubeconfig: Path | None = None
    ) -> subprocess.CompletedProcess[str]:
        """Run the ``progressive`` CLI as the user (admin kubeconfig, or ``kubeconfig``), in a fresh process."""
        env = {key: value for key, value in os.environ.items() if not key.startswith("KUBERNETES_")}
        env["KUBECONFIG"] = str(kubeconfig or self.cluster.kubeconfig)
        command = [str(Path(sys.executable).parent / "progressive"), *args]
        return subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout, check=False)

    # -- reading back ---------------------------------------------------------------------------------

    def weights(self) -> dict[str, int]:
        route = self.cluster.must_get("gateway.networking.k8s.io/v1", "HTTPRoute", "web")
        return {ref["name"]: ref["weight"] for ref in route["spec"]["rules"][0]["backendRefs"]}

    def deployment(self, name: str) -> Obj:
        return self.cluster.must_get("apps/v1", "Deployment", name)

    def image(self, name: str) -> str:
        return str(self.deployment(name)["spec"]["template"]["spec"]["containers"][0]["image"])

    def replicas(self, name: str) -> int:
        return int(self.deployment(name)["spec"].get("replicas", 1))

    def state(self) -> Obj:
        configmap = self.cluster.get("v1", "ConfigMap", "progressive-web")
        assert configmap is not None, "the rollout wrote no state record"
        return dict(json.loads(next(iter(configmap["data"].values()))))

    def task_runs(self, run: str) -> dict[str, Obj]:
        return tekton.task_runs(self.cluster, run)

    def outcomes(self, run: str) -> dict[str, str]:
        """Pipeline task -> its TaskRun's Succeeded reason (skipped tasks: ``skipped: <reason>``)."""
        return tekton.outcomes(self.cluster, run)

    def step_outcomes(self, run: str) -> dict[str, str]:
        """Stage (step) -> Tekton's reason for its end (``Completed``, ``Error``, ``Skipped``...)."""
        return tekton.step_outcomes(self.cluster, run)

    def exit_code(self, run: str, stage: str) -> int:
        """The exit code of a stage's step (whichever pipeline task ran it)."""
        return int(tekton.step_states(self.cluster, run)[stage]["terminated"]["exitCode"])

    def stage_logs(self, run: str, stage: str) -> str:
        """The log of one stage's step container (``step-<stage>``) in the run's pods."""
        return tekton.logs(self.cluster, run, container=f"step-{stage}")

    def logs(self, run: str, pipeline_task: str | None = None) -> str:
        return tekton.logs(self.cluster, run, pipeline_task)

    def attempt_logs(self, run: str, pipeline_task: str, stage: str | None = None) -> list[str]:
        """The step logs of each attempt of a pipeline task, first attempt first.

        Tekton runs a retry in a new pod (``<taskrun>-pod-retry<N>``) and keeps the previous pods, so each
        attempt's log is read from its own pod, not split out of one stream.
        """
        pods = self.cluster.list(
            "v1", "Pod", labelSelector=f"tekton.dev/pipelineRun={run},tekton.dev/pipelineTask={pipeline_task}"
        )
        out = []
        for pod in sorted(pods, key=_attempt_of):
            name = pod["metadata"]["name"]
            steps = [c["name"] for c in pod["spec"]["containers"] if c["name"].startswith("step-")]
            if stage is not None:  # one stage's step of the pipeline task
                steps = [step for step in steps if step == f"step-{stage}"]
            out.append("\n".join(tekton.pod_log(self.cluster, name, step) for step in steps))
        return out

    def requests_of_steps(self) -> list[AuditEvent]:
        """Every request the steps' ServiceAccount made, as the API server's audit log recorded it."""
        account = f"system:serviceaccount:{self.namespace}:progressive-web"
        return read_events(self.cluster.local.run / "logs" / "audit.log", namespace=self.namespace, user=account)


def _attempt_of(pod: Obj) -> int:
    """0 for a TaskRun's first pod, N for its ``-retryN`` pod."""
    head, _, number = str(pod["metadata"]["name"]).rpartition("-retry")
    return int(number) if head and number.isdigit() else 0


ROLLOUT_SOURCE = """\
\"\"\"The scenarios' rollout as a user writes it (what ``progressive apply`` reads).\"\"\"

from progressive import (
    Analysis, Analyze, GatewayAPI, Prometheus, Rollout, SequentialJudge, SetWeight, Timeouts, Workload,
)

web = Rollout(
    name="web",
    namespace={namespace!r},
    workload=Workload(stable="web", canary="web-canary", progress_deadline="30s"),
    router=GatewayAPI(route="web", stable_service="web", canary_service="web-canary", accepted_timeout="30s"),
    steps=[
        SetWeight(weight=10),
        Analyze(min_duration="3s", max_duration="20s"),
        SetWeight(weight=50),
        Analyze(min_duration="3s", max_duration="20s"),
    ],
    analysis=Analysis(
        prometheus=Prometheus(url={url!r}, query_timeout="5s"),
        provider="generic",
        judge=SequentialJudge(interval="1s", latency_threshold=None),
    ),
    timeouts=Timeouts(pipeline="1h", finally_="8m"),
)
"""
"""Must compile to what :func:`rollout` with :func:`good_steps` builds (a test holds them equal)."""


def rollout_source(namespace: str, prometheus_url: str) -> str:
    return ROLLOUT_SOURCE.format(namespace=namespace, url=prometheus_url)


def compiled_for(namespace: str, prometheus_url: str, **options: Any) -> CompiledRollout:
    return compile_rollout(rollout(namespace, prometheus_url, **options))
