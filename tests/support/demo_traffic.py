"""Traffic that follows a live HTTPRoute, for the demo and the ``progressive run`` tests.

Clients call an HTTPRoute; the route splits them between its backends by weight; each backend Service
spreads its share over its ready Pods; each Pod answers with the error rate of the image it runs. This
module plays those clients against the local cluster: every half second it reads the route's
weights, each backend Service's selector and the matching ready Pods (with their images), and sets the
request rates of a :class:`~tests.support.prometheus.Traffic` feeding an
:class:`~tests.support.prometheus.Exporter` that Prometheus scrapes. So when ``set-weight`` moves the
route, the canary Pods get that share of the requests; when ``promote`` gives the stable Deployment the
new image, the stable Pods answer like it; a ``bad`` image errs ten times as often; pods that scale to 0
get nothing. The series have the ``generic`` provider's shape (``http_requests_total{namespace, pod,
status}`` and the latency histogram), keyed by the Pod names the real Deployment controller made (kwok runs
the Pods).

From a shell (the demo): ``python -m tests.support.demo_traffic --kubeconfig KC --namespace demo
--route web --image-error-rate registry.example.com/web:1.2=0.1`` starts an exporter and a Prometheus,
waits until Prometheus holds two scrapes of the stable Pods, prints ``{"prometheus": URL}`` and feeds
traffic until SIGINT/SIGTERM.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import signal
import sys
import tempfile
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.support.prometheus import Exporter, PrometheusServer, Traffic, TrafficSpec

__all__ = ["RouteTraffic", "main", "route_specs"]


def _ready(pod: Mapping[str, Any]) -> bool:
    status = pod.get("status") or {}
    return status.get("phase") == "Running" and any(
        c.get("type") == "Ready" and c.get("status") == "True" for c in status.get("conditions") or []
    )


def route_specs(
    route: Mapping[str, Any],
    services: Mapping[str, Mapping[str, Any]],
    pods: Sequence[Mapping[str, Any]],
    *,
    namespace: str,
    rps: float,
    error_rate: float,
    image_error_rates: Mapping[str, float],
) -> list[TrafficSpec]:
    """Per ready Pod, its share of ``rps`` through the route and the error rate of its first container's image."""
    weights: dict[str, float] = {}
    for rule in (route.get("spec") or {}).get("rules") or []:
        for ref in rule.get("backendRefs") or []:
            weights[ref["name"]] = weights.get(ref["name"], 0.0) + float(ref.get("weight", 1))
    total = sum(weights.values())
    specs: list[TrafficSpec] = []
    if total <= 0:
        return specs
    for backend, weight in sorted(weights.items()):
        selector = ((services.get(backend) or {}).get("spec") or {}).get("selector") or {}
        if not selector or weight <= 0:
            continue
        members = [
            pod
            for pod in pods
            if _ready(pod)
            and all(((pod.get("metadata") or {}).get("labels") or {}).get(k) == v for k, v in selector.items())
        ]
        for pod in members:
            image = str(((pod.get("spec") or {}).get("containers") or [{}])[0].get("image", ""))
            specs.append(
                TrafficSpec(
                    namespace,
                    str(pod["metadata"]["name"]),
                    rps * weight / total / len(members),
                    image_error_rates.get(image, error_rate),
                )
            )
    return specs


@dataclass
class RouteTraffic:
    """Feeds ``exporter`` with the traffic a live route sends to its Pods; see the module docstring."""

    exporter: Exporter
    kubeconfig: Path
    namespace: str
    route: str
    rps: float = 4000.0
    error_rate: float = 0.01
    image_error_rates: Mapping[str, float] = field(default_factory=dict)
    refresh: float = 0.5
    seed: int = 1
    _traffic: Traffic | None = None
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    _api: Any = None
    errors: list[str] = field(default_factory=list)

    def read(self) -> list[TrafficSpec]:
        """The rates the cluster implies right now."""
        from kubernetes import client  # noqa: PLC0415

        custom = client.CustomObjectsApi(self._api)
        core = client.CoreV1Api(self._api)
        route: Any = custom.get_namespaced_custom_object(
            "gateway.networking.k8s.io", "v1", self.namespace, "httproutes", self.route
        )
        services = {
            item["metadata"]["name"]: item
            for item in self._api.sanitize_for_serialization(core.list_namespaced_service(self.namespace))["items"]
        }
        pods = self._api.sanitize_for_serialization(core.list_namespaced_pod(self.namespace))["items"]
        return route_specs(
            route,
            services,
            pods,
            namespace=self.namespace,
            rps=self.rps,
            error_rate=self.error_rate,
            image_error_rates=self.image_error_rates,
        )

    def _follow(self) -> None:
        while not self._stop.wait(self.refresh):
            try:
                specs = self.read()
            except Exception as exc:  # keep the last rates; a test reads .errors
                self.errors.append(f"{type(exc).__name__}: {exc}")
                continue
            assert self._traffic is not None
            self._traffic.specs = specs

    def start(self) -> RouteTraffic:
        """Read the cluster once, then keep the rates in line with it in the background."""
        from kubernetes import config  # noqa: PLC0415

        self._api = config.new_client_from_config(config_file=str(self.kubeconfig))  # type: ignore[no-untyped-call]
        self._traffic = Traffic(self.exporter, self.read(), seed=self.seed).start()
        self._thread = threading.Thread(target=self._follow, name="route-traffic", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop following and feeding (the counters keep their values)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self._traffic is not None:
            self._traffic.stop()
        if self._api is not None:
            self._api.close()

    def __enter__(self) -> RouteTraffic:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()


def _rates(items: Sequence[str]) -> dict[str, float]:
    rates: dict[str, float] = {}
    for item in items:
        image, sep, rate = item.rpartition("=")
        if not sep or not image:
            raise SystemExit(f"--image-error-rate {item!r}: expected IMAGE=RATE")
        rates[image] = float(rate)
    return rates


def main(argv: Sequence[str] | None = None) -> int:
    """Exporter + Prometheus + route-following traffic, until interrupted."""
    parser = argparse.ArgumentParser(prog="python -m tests.support.demo_traffic", description=main.__doc__)
    parser.add_argument("--kubeconfig", type=Path, required=True)
    parser.add_argument("--namespace", required=True)
    parser.add_argument("--route", required=True, help="HTTPRoute name")
    parser.add_argument("--rps", type=float, default=4000.0)
    parser.add_argument("--error-rate", type=float, default=0.01)
    parser.add_argument("--image-error-rate", action="append", default=[], metavar="IMAGE=RATE")
    parser.add_argument("--workdir", default="", help="Prometheus config and data (default: a temporary folder)")
    args = parser.parse_args(argv)
    with contextlib.ExitStack() as stack:
        workdir = Path(args.workdir) if args.workdir else Path(stack.enter_context(tempfile.TemporaryDirectory()))
        exporter = stack.enter_context(Exporter())
        server = stack.enter_context(PrometheusServer(workdir, targets=[exporter.target]))
        stack.enter_context(
            RouteTraffic(
                exporter,
                args.kubeconfig,
                args.namespace,
                args.route,
                rps=args.rps,
                error_rate=args.error_rate,
                image_error_rates=_rates(args.image_error_rate),
            )
        )
        server.wait_for(
            f'count(count_over_time(http_request_duration_seconds_count{{namespace="{args.namespace}"}}[1m]) >= 2)',
            timeout=60,
        )
        print(json.dumps({"prometheus": server.url, "exporter": f"http://{exporter.target}/metrics"}), flush=True)
        stopped = threading.Event()
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, lambda *_: stopped.set())
        stopped.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
