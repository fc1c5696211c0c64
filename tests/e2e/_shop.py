"""The world an end-to-end scenario runs in: a shop on the in-repo API server, its metrics in real Prometheus.

Per test, in a namespace of its own (also the metrics ``namespace`` label, so tests sharing the session's
Prometheus never see each other's series):

* the workload: Deployment ``web`` (stable, 4 replicas, ``web:1.0``) and ``web-canary`` (0 replicas), an
  HTTPRoute ``web`` sending 100% to Service ``web`` and 0% to ``web-canary``; the simulated Deployment and
  Gateway controllers answer as a cluster would;
* the rollout, compiled by :func:`progressive.compile.compile_rollout` with short durations, installed the
  way a platform engineer does: the catalog Tasks from the committed ``tasks/`` files, then the compiled
  Pipeline and RBAC, all with the admin credentials; then **RBAC enforcement is switched on**, so the steps
  (running as ``progressive-web``, the compiled ServiceAccount, through the Tekton harness) get exactly
  what the compiled Role grants;
* traffic: the exporter's ``http_requests_total`` / latency histogram for one stable and one canary pod
  (the ``generic`` provider's shape), 2000 requests/s each, 1% errors, the canary's error rate chosen by
  the test.

:class:`Shop` then starts runs from the compiled example PipelineRun (``kubectl create -f``) and reads
back what the scenario asserts: weights, Deployments, the state record, TaskRuns, logs.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from kubernetes import client, utils

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
from tests.support.kubeapi import Kube
from tests.support.prometheus import Traffic, TrafficSpec
from tests.support.prometheus_fixtures import PrometheusStack
from tests.support.tekton import TektonController

__all__ = ["NEW_IMAGE", "OLD_IMAGE", "Shop", "compiled_for", "condition", "good_steps", "rollout", "rollout_source"]

REPO = Path(__file__).resolve().parents[2]
OLD_IMAGE = "registry.example.com/web:1.0"
NEW_IMAGE = "registry.example.com/web:2.0@sha256:" + "ab" * 32
STABLE_POD = "web-7d9f8b6c5-bbbbb"
CANARY_POD = "web-canary-5f6d7c8b9-aaaaa"
TEKTON = "tekton.dev/v1"

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
            "parentRefs": [{"name": "public", "namespace": "infra"}],
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
    """One scenario's cluster, rollout and traffic (see the module docstring)."""

    kube: Kube
    tekton: TektonController
    prometheus: PrometheusStack
    namespace: str
    compiled: CompiledRollout
    feeds: list[Traffic] = field(default_factory=list)

    # -- setting up -----------------------------------------------------------------------------------

    def install(self) -> None:
        """Workload, Tasks, Pipeline, RBAC, as the admin; then RBAC enforcement on."""
        self.install_workload()
        custom = client.CustomObjectsApi(self.kube.api_client())
        for task in _catalog_tasks(self.namespace):
            custom.create_namespaced_custom_object("tekton.dev", "v1", self.namespace, "tasks", task)
        for doc in self.compiled.hooks:
            custom.create_namespaced_custom_object("tekton.dev", "v1", self.namespace, "tasks", doc)
        custom.create_namespaced_custom_object("tekton.dev", "v1", self.namespace, "pipelines", self.compiled.pipeline)
        self._apply_rbac()
        self.kube.enable_rbac()

    def install_workload(self) -> None:
        """Only the namespace, Deployments and HTTPRoute, with their simulated controllers running."""
        self.kube.seed(
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": self.namespace}},
            _deployment("web", 4, "stable", self.namespace),
            _deployment("web-canary", 0, "canary", self.namespace),
            _route(self.namespace),
        )
        self.kube.controllers.deployments.enable(delay=0.05)
        self.kube.controllers.routes.enable(delay=0.05)
        self.kube.controllers.settle()

    def _apply_rbac(self) -> None:
        """ServiceAccount, Role and RoleBinding, as ``kubectl create -f rbac.yaml`` sends them."""
        api = self.kube.api_client()
        for doc in self.compiled.rbac:
            utils.create_from_dict(api, doc, namespace=self.namespace)  # type: ignore[no-untyped-call]

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

    # -- running --------------------------------------------------------------------------------------

    def start(self, image: str = NEW_IMAGE) -> str:
        """``kubectl create -f run/pipelinerun.yaml`` with the image param set; the PipelineRun's name."""
        body = json.loads(json.dumps(self.compiled.pipeline_run))
        body["spec"]["params"] = [{"name": p["name"], "value": image} for p in body["spec"]["params"]]
        custom = client.CustomObjectsApi(self.kube.api_client())
        created = custom.create_namespaced_custom_object("tekton.dev", "v1", self.namespace, "pipelineruns", body)
        assert isinstance(created, dict)
        return str(created["metadata"]["name"])

    def wait(self, run: str, *, timeout: float = 150.0) -> Obj:
        return self.tekton.wait(run, self.namespace, timeout=timeout)

    def set_spec_status(self, run: str, status: str) -> None:
        """``tkn pipelinerun cancel [--grace CancelledRunFinally]``, as the admin."""
        custom = client.CustomObjectsApi(self.kube.api_client())
        custom.patch_namespaced_custom_object(
            "tekton.dev", "v1", self.namespace, "pipelineruns", run, {"spec": {"status": status}}
        )

    def progressive(self, *args: str, timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
        """Run the ``progressive`` CLI as the user (admin kubeconfig), in a fresh process."""
        env = {key: value for key, value in os.environ.items() if not key.startswith("KUBERNETES_")}
        env["KUBECONFIG"] = str(self.kube.kubeconfig)
        command = [str(Path(sys.executable).parent / "progressive"), *args]
        return subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout, check=False)

    # -- reading back ---------------------------------------------------------------------------------

    def weights(self) -> dict[str, int]:
        route = self.kube.raw("gateway.networking.k8s.io/v1", "HTTPRoute", "web", self.namespace)
        assert route is not None
        return {ref["name"]: ref["weight"] for ref in route["spec"]["rules"][0]["backendRefs"]}

    def deployment(self, name: str) -> Obj:
        obj = self.kube.raw("apps/v1", "Deployment", name, self.namespace)
        assert obj is not None
        return obj

    def image(self, name: str) -> str:
        return str(self.deployment(name)["spec"]["template"]["spec"]["containers"][0]["image"])

    def replicas(self, name: str) -> int:
        return int(self.deployment(name)["spec"].get("replicas", 1))

    def state(self) -> Obj:
        configmap = self.kube.raw("v1", "ConfigMap", "progressive-web", self.namespace)
        assert configmap is not None, "the rollout wrote no state record"
        return dict(json.loads(next(iter(configmap["data"].values()))))

    def task_runs(self, run: str) -> dict[str, Obj]:
        return {
            tr["metadata"]["labels"]["tekton.dev/pipelineTask"]: tr
            for tr in self.kube.list(TEKTON, "TaskRun", self.namespace)
            if tr["metadata"]["labels"].get("tekton.dev/pipelineRun") == run
        }

    def outcomes(self, run: str) -> dict[str, str]:
        """Pipeline task -> its TaskRun's Succeeded reason (skipped tasks: ``skipped: <reason>``)."""
        out = {name: _reason(tr) for name, tr in self.task_runs(run).items()}
        obj = self.kube.raw(TEKTON, "PipelineRun", run, self.namespace) or {}
        for item in (obj.get("status") or {}).get("skippedTasks") or []:
            out[item["name"]] = f"skipped: {item['reason']}"
        return out

    def logs(self, run: str) -> str:
        return self.tekton.all_logs(self.namespace, run)

    def route_weight_history(self, since: int) -> list[int]:
        """Canary weights of the HTTPRoute after each committed write since store revision ``since``."""
        events, complete = self.kube.store.events_since(since)
        assert complete, "the store's event history no longer reaches back that far"
        history: list[int] = []
        for event in events:
            if event.resource.kind == "HTTPRoute" and event.subresource == "" and event.type == "MODIFIED":
                refs = event.object["spec"]["rules"][0]["backendRefs"]
                weight = next(ref["weight"] for ref in refs if ref["name"] == "web-canary")
                if not history or history[-1] != weight:
                    history.append(weight)
        return history


def _reason(obj: Obj) -> str:
    for cond in (obj.get("status") or {}).get("conditions") or []:
        if cond.get("type") == "Succeeded":
            return str(cond.get("reason"))
    return ""


def condition(obj: Obj) -> tuple[str, str, str]:
    for cond in (obj.get("status") or {}).get("conditions") or []:
        if cond.get("type") == "Succeeded":
            return str(cond.get("status")), str(cond.get("reason")), str(cond.get("message", ""))
    return "", "", ""


def shop_for(
    kube: Kube, tekton: TektonController, prometheus: PrometheusStack, namespace: str, compiled: CompiledRollout
) -> Iterator[Shop]:
    """Install a shop; stop its traffic afterwards (the exporter is shared by the session)."""
    shop = Shop(kube, tekton, prometheus, namespace, compiled)
    shop.install()
    try:
        yield shop
    finally:
        shop.stop_traffic()


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
