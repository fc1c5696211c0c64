"""A real Prometheus server and a driven exporter, for tests, benchmarks and demos.

Three parts, each usable without pytest:

* :class:`Exporter` -- a small ``/metrics`` HTTP server on 127.0.0.1 (ephemeral port) whose counters the
  caller sets: requests per namespace, pod and status (``http_requests_total``, the ``generic`` provider's
  shape), a latency histogram (``http_request_duration_seconds``), and any raw series
  (:meth:`Exporter.set`) for other providers' shapes. Thread-safe.
* :class:`Traffic` -- a background thread that feeds an exporter like real traffic: per workload a
  request rate, an error probability and a lognormal latency, seeded, in small ticks.
* :class:`PrometheusServer` -- ``/usr/bin/prometheus`` started on 127.0.0.1 with its own config and
  data folder, waiting until ``/-/ready`` (with a timeout and the server's log in the error), stopped
  cleanly. It scrapes the given targets every second by default, or serves backfilled blocks
  (:func:`backfill`: ``promtool tsdb create-blocks-from openmetrics`` into its data folder before start,
  which is how Prometheus 2.42 picks blocks up without waiting for a compaction cycle).

The pytest fixtures are in ``tests/support/prometheus_fixtures.py``. From a shell::

    python -m tests.support.prometheus --traffic     # exporter + Prometheus + demo traffic, until Ctrl-C
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

__all__ = [
    "DEFAULT_BUCKETS",
    "PROMETHEUS",
    "PROMTOOL",
    "Exporter",
    "PrometheusServer",
    "Series",
    "Traffic",
    "TrafficSpec",
    "backfill",
    "free_port",
    "main",
    "openmetrics",
]

PROMETHEUS = os.environ.get("PROGRESSIVE_PROMETHEUS", "/usr/bin/prometheus")
PROMTOOL = os.environ.get("PROGRESSIVE_PROMTOOL", "/usr/bin/promtool")

DEFAULT_BUCKETS: tuple[float, ...] = tuple(round(0.01 * 1.2**i, 6) for i in range(30))
"""Latency bucket bounds in seconds (plus +Inf): decision.md's grid, 10 ms x 1.2^i, so the bucket at or
above a p99 leaves about 1% of requests above it."""

REQUESTS = "http_requests_total"
DURATION = "http_request_duration_seconds"

LabelKey = tuple[tuple[str, str], ...]


def free_port() -> int:
    """A port that was free a moment ago on 127.0.0.1 (the caller must cope with losing a race)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _key(labels: Mapping[str, str]) -> LabelKey:
    return tuple(sorted(labels.items()))


def _format_value(value: float) -> str:
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if math.isnan(value):
        return "NaN"
    return repr(float(value))


def _format_labels(labels: LabelKey) -> str:
    if not labels:
        return ""
    escaped = (
        f'{name}="{value.replace(chr(92), chr(92) * 2).replace(chr(34), chr(92) + chr(34))}"' for name, value in labels
    )
    return "{" + ",".join(escaped) + "}"


def _format_le(bound: float) -> str:
    return "+Inf" if math.isinf(bound) else f"{bound:g}"


class Exporter:
    """A ``/metrics`` endpoint whose series the caller controls; see the module docstring."""

    def __init__(self, buckets: Sequence[float] = DEFAULT_BUCKETS) -> None:
        self.buckets = tuple(sorted(buckets))
        self._lock = threading.Lock()
        self._series: dict[str, dict[LabelKey, float]] = {}
        self._types: dict[str, str] = {}
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.scrapes = 0

    # --- lifecycle ---------------------------------------------------------------------------------------

    def start(self) -> Exporter:
        """Serve on 127.0.0.1, an ephemeral port."""
        exporter = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path.split("?", 1)[0] != "/metrics":
                    self.send_error(404)
                    return
                body = exporter.render().encode("utf-8")
                with exporter._lock:
                    exporter.scrapes += 1
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="exporter", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> Exporter:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    @property
    def target(self) -> str:
        """``host:port`` for a Prometheus scrape config."""
        if self._server is None:
            raise RuntimeError("exporter is not started")
        port = self._server.server_address[1]
        return f"127.0.0.1:{port}"

    # --- series --------------------------------------------------------------------------------------------

    def set(self, name: str, labels: Mapping[str, str], value: float, *, kind: str = "counter") -> None:
        """Set one raw series (any metric shape, e.g. ``istio_requests_total{...}``)."""
        with self._lock:
            self._types.setdefault(_family(name), kind)
            self._series.setdefault(name, {})[_key(labels)] = float(value)

    def add(self, name: str, labels: Mapping[str, str], amount: float = 1.0, *, kind: str = "counter") -> None:
        """Add ``amount`` to one raw series (created at 0)."""
        with self._lock:
            self._types.setdefault(_family(name), kind)
            series = self._series.setdefault(name, {})
            series[_key(labels)] = series.get(_key(labels), 0.0) + amount

    def request(
        self,
        *,
        namespace: str,
        pod: str,
        status: int | str = 200,
        count: int = 1,
        seconds: float | Iterable[float] | None = None,
        status_label: str = "status",
        labels: Mapping[str, str] | None = None,
    ) -> None:
        """Record ``count`` finished requests of ``pod`` (generic shape), with their durations if given.

        ``seconds`` is one duration for all of them or one per request; ``labels`` are added to every series
        (e.g. the flag and variant a request was served with).
        """
        base = {"namespace": namespace, "pod": pod, **(labels or {})}
        self.add(REQUESTS, {**base, status_label: str(status)}, count)
        if seconds is None:
            return
        durations = [float(seconds)] * count if isinstance(seconds, int | float) else [float(s) for s in seconds]
        self.observe(namespace=namespace, pod=pod, durations=durations, labels=labels)

    def observe(
        self, *, namespace: str, pod: str, durations: Iterable[float], labels: Mapping[str, str] | None = None
    ) -> None:
        """Add durations (seconds) to the pod's latency histogram (with ``labels`` added to its series)."""
        values = list(durations)
        base = {"namespace": namespace, "pod": pod, **(labels or {})}
        with self._lock:
            self._types.setdefault(DURATION, "histogram")
            buckets = self._series.setdefault(f"{DURATION}_bucket", {})
            for bound in (*self.buckets, math.inf):
                key = _key({**base, "le": _format_le(bound)})
                buckets[key] = buckets.get(key, 0.0) + sum(1 for value in values if value <= bound)
            for suffix, amount in (("_count", float(len(values))), ("_sum", float(sum(values)))):
                series = self._series.setdefault(f"{DURATION}{suffix}", {})
                series[_key(base)] = series.get(_key(base), 0.0) + amount

    def restart(self, *, pod: str) -> None:
        """Simulate a process restart of ``pod``: every series with that pod label starts again from zero."""
        with self._lock:
            for series in self._series.values():
                for key in [key for key in series if ("pod", pod) in key]:
                    series[key] = 0.0

    def forget(self, *, pod: str) -> None:
        """Drop every series of ``pod`` (the pod went away)."""
        with self._lock:
            for series in self._series.values():
                for key in [key for key in series if ("pod", pod) in key]:
                    del series[key]

    def value(self, name: str, labels: Mapping[str, str]) -> float:
        """Current value of one series (0 when absent)."""
        with self._lock:
            return self._series.get(name, {}).get(_key(labels), 0.0)

    def render(self) -> str:
        """The Prometheus text exposition of every series."""
        lines: list[str] = []
        with self._lock:
            families: dict[str, list[str]] = {}
            for name in sorted(self._series):
                families.setdefault(_family(name), []).append(name)
            for family, names in families.items():
                lines.append(f"# TYPE {family} {self._types.get(family, 'untyped')}")
                for name in names:
                    for labels, value in sorted(self._series[name].items()):
                        lines.append(f"{name}{_format_labels(labels)} {_format_value(value)}")
        return "\n".join(lines) + "\n"


def _family(name: str) -> str:
    for suffix in ("_bucket", "_count", "_sum"):
        if name.startswith(DURATION) and name.endswith(suffix):
            return name[: -len(suffix)]
    return name


# --- traffic --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TrafficSpec:
    """One workload's traffic: its pod, request rate, error probability and lognormal latency."""

    namespace: str
    pod: str
    rps: float
    error_rate: float = 0.0
    median_seconds: float = 0.1
    sigma: float = 0.5
    latency_factor: float = 1.0
    """Multiplies every duration (a latency regression is a factor > 1)."""
    labels: Mapping[str, str] = field(default_factory=dict)
    """Added to every series of this traffic (e.g. ``feature_flag_result_variant``)."""
    name: str = ""
    """Tells two traffics of the same pod apart (default: the pod)."""


@dataclass
class Traffic:
    """A background thread adding requests to an exporter at the given rates (seeded)."""

    exporter: Exporter
    specs: Sequence[TrafficSpec]
    seed: int = 1
    tick: float = 0.1
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    _debt: dict[str, float] = field(default_factory=dict)

    def start(self) -> Traffic:
        """Begin feeding the exporter."""
        self._thread = threading.Thread(target=self._run, name="traffic", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop feeding (the counters keep their values)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> Traffic:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    def _run(self) -> None:
        rng = random.Random(self.seed)
        last = time.monotonic()
        while not self._stop.wait(self.tick):
            now = time.monotonic()
            elapsed, last = now - last, now
            for spec in self.specs:
                self.step(rng, spec, elapsed)

    def step(self, rng: random.Random, spec: TrafficSpec, elapsed: float) -> None:
        """Add ``spec.rps * elapsed`` requests (fractions carried over) with random errors and latencies."""
        key = spec.name or spec.pod
        expected = spec.rps * elapsed + self._debt.get(key, 0.0)
        count = int(expected)
        self._debt[key] = expected - count
        if count == 0:
            return
        errors = sum(1 for _ in range(count) if rng.random() < spec.error_rate)
        mu = math.log(spec.median_seconds)
        durations = [rng.lognormvariate(mu, spec.sigma) * spec.latency_factor for _ in range(count)]
        namespace, pod, labels = spec.namespace, spec.pod, spec.labels
        self.exporter.request(namespace=namespace, pod=pod, labels=labels, status=200, count=count - errors)
        if errors:
            self.exporter.request(namespace=namespace, pod=pod, labels=labels, status=500, count=errors)
        self.exporter.observe(namespace=namespace, pod=pod, labels=labels, durations=durations)


# --- the server -----------------------------------------------------------------------------------------


class PrometheusServer:
    """``/usr/bin/prometheus`` on 127.0.0.1 with its own config and data folder; see the module docstring."""

    def __init__(
        self,
        workdir: Path,
        *,
        targets: Sequence[str] = (),
        scrape_interval: str = "1s",
        retention: str = "30d",
        binary: str = PROMETHEUS,
    ) -> None:
        self.workdir = Path(workdir)
        self.data = self.workdir / "data"
        self.config = self.workdir / "prometheus.yml"
        self.log_path = self.workdir / "prometheus.log"
        self.targets = tuple(targets)
        self.scrape_interval = scrape_interval
        self.retention = retention
        self.binary = binary
        self.port = 0
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """Base URL of the HTTP API."""
        if not self.port:
            raise RuntimeError("Prometheus is not started")
        return f"http://127.0.0.1:{self.port}"

    def write_config(self) -> None:
        """Write ``prometheus.yml``: one job scraping the targets, keeping their labels (honor_labels)."""
        lines = [
            "global:",
            f"  scrape_interval: {self.scrape_interval}",
            f"  evaluation_interval: {self.scrape_interval}",
            "scrape_configs:",
        ]
        if self.targets:
            lines += [
                "  - job_name: exporter",
                "    honor_labels: true",
                f"    scrape_interval: {self.scrape_interval}",
                f"    scrape_timeout: {self.scrape_interval}",
                "    static_configs:",
                "      - targets: [" + ", ".join(f'"{target}"' for target in self.targets) + "]",
            ]
        else:
            lines[-1] = "scrape_configs: []"
        self.config.write_text("\n".join(lines) + "\n", encoding="utf-8")

    def start(self, *, timeout: float = 90.0, attempts: int = 3) -> PrometheusServer:
        """Start and wait until ready; retries on a lost port race; ``RuntimeError`` with the log on failure."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.data.mkdir(parents=True, exist_ok=True)
        self.write_config()
        last_error = ""
        for _ in range(attempts):
            self.port = free_port()
            with self.log_path.open("ab") as log:
                self._process = subprocess.Popen(
                    [
                        self.binary,
                        f"--config.file={self.config}",
                        f"--storage.tsdb.path={self.data}",
                        f"--storage.tsdb.retention.time={self.retention}",
                        f"--web.listen-address=127.0.0.1:{self.port}",
                        "--log.level=warn",
                    ],
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                )
            ready, last_error = self._wait_ready(timeout)
            if ready:
                return self
            self.stop()
            if "address already in use" not in self.log():
                break
        raise RuntimeError(
            f"Prometheus did not become ready: {last_error}\n--- {self.log_path} ---\n{self.log()[-3000:]}"
        )

    def _wait_ready(self, timeout: float) -> tuple[bool, str]:
        deadline = time.monotonic() + timeout
        last = "no answer yet"
        while time.monotonic() < deadline:
            assert self._process is not None
            code = self._process.poll()
            if code is not None:
                return False, f"prometheus exited with code {code}"
            try:
                with urllib.request.urlopen(f"{self.url}/-/ready", timeout=2) as answer:
                    if answer.status == 200:
                        return True, ""
            except (urllib.error.URLError, OSError) as exc:
                last = str(exc)
            time.sleep(0.1)
        return False, f"not ready after {timeout:g}s ({last})"

    def log(self) -> str:
        """What the server printed so far."""
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after 20 s."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)

    def __enter__(self) -> PrometheusServer:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    # --- convenience for tests ---------------------------------------------------------------------------

    def query(self, promql: str, *, at: float | None = None) -> list[dict[str, Any]]:
        """Raw instant-query result (no client under test involved): for fixtures and waits."""
        params = {"query": promql}
        if at is not None:
            params["time"] = f"{at:.3f}"
        url = f"{self.url}/api/v1/query?{urllib.parse.urlencode(params)}"
        with urllib.request.urlopen(url, timeout=10) as answer:
            body = json.load(answer)
        result: list[dict[str, Any]] = body["data"]["result"]
        return result

    def wait_for(self, promql: str, *, timeout: float = 30.0, at_least: float | None = None) -> float:
        """Wait until ``promql`` returns one sample (>= ``at_least`` if given); return its value."""
        deadline = time.monotonic() + timeout
        seen: list[dict[str, Any]] = []
        while time.monotonic() < deadline:
            seen = self.query(promql)
            if len(seen) == 1:
                value = float(seen[0]["value"][1])
                if at_least is None or value >= at_least:
                    return value
            time.sleep(0.2)
        raise TimeoutError(f"{promql!r} did not reach {at_least} within {timeout}s; last result {seen!r}")

    def wait_scrape(self, exporter: Exporter, *, timeout: float = 30.0) -> None:
        """Wait until Prometheus stored two scrapes of what ``exporter`` holds now (``rate()`` needs two samples).

        The exporter counts a scrape when it answers, and Prometheus commits that scrape's samples only after; the
        next scrape starts after the commit, so three answered scrapes mean two stored samples of the current
        values (two answered scrapes left a query racing the second commit on a loaded machine).
        """
        target = exporter.scrapes + 3
        deadline = time.monotonic() + timeout
        while exporter.scrapes < target:
            if time.monotonic() > deadline:
                raise TimeoutError(f"Prometheus did not scrape {exporter.target} within {timeout}s")
            time.sleep(0.05)


# --- backfill -------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Series:
    """One series to backfill: metric name, labels and ``(unix_seconds, value)`` points in time order."""

    name: str
    labels: Mapping[str, str]
    points: Sequence[tuple[float, float]]


def openmetrics(series: Sequence[Series], types: Mapping[str, str]) -> str:
    """OpenMetrics text of ``series``; ``types`` maps each family to ``counter``, ``histogram`` or ``gauge``.

    A counter family ``x`` has samples named ``x_total``; a histogram family ``x`` has ``x_bucket``,
    ``x_count`` and ``x_sum``. Samples of a family are written together, as OpenMetrics requires.
    """
    by_family: dict[str, list[Series]] = {family: [] for family in types}
    for one in series:
        family = next((f for f in sorted(types, key=len, reverse=True) if one.name.startswith(f)), None)
        if family is None:
            raise ValueError(f"series {one.name!r} belongs to no family in {sorted(types)}")
        by_family[family].append(one)
    lines: list[str] = []
    for family, members in by_family.items():
        lines.append(f"# TYPE {family} {types[family]}")
        for one in members:
            for at, value in one.points:
                lines.append(f"{one.name}{_format_labels(_key(one.labels))} {_format_value(value)} {at:.3f}")
    lines.append("# EOF")
    return "\n".join(lines) + "\n"


def backfill(text: str, data_dir: Path, *, promtool: str = PROMTOOL) -> None:
    """Turn OpenMetrics ``text`` into TSDB blocks in ``data_dir`` (``promtool tsdb create-blocks-from``)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as scratch:
        source = Path(scratch) / "input.om"
        source.write_text(text, encoding="utf-8")
        done = subprocess.run(
            [promtool, "tsdb", "create-blocks-from", "openmetrics", str(source), str(data_dir)],
            capture_output=True,
            text=True,
            check=False,
        )
    if done.returncode != 0:
        raise RuntimeError(f"promtool create-blocks-from failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")


# --- command line ---------------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    """Start an exporter and a Prometheus scraping it (and demo traffic); run until interrupted."""
    parser = argparse.ArgumentParser(prog="python -m tests.support.prometheus", description=main.__doc__)
    parser.add_argument("--workdir", default="", help="Config and data folder (default: a temporary one).")
    parser.add_argument("--scrape-interval", default="1s")
    parser.add_argument("--traffic", action="store_true", help="Feed demo traffic: stable and canary pods.")
    parser.add_argument("--namespace", default="demo")
    parser.add_argument("--rps", type=float, default=200.0, help="Demo traffic: requests per second in total.")
    parser.add_argument("--canary-share", type=float, default=0.1)
    parser.add_argument("--error-rate", type=float, default=0.01, help="Demo traffic: stable error rate.")
    parser.add_argument("--canary-error-rate", type=float, default=0.01)
    args = parser.parse_args(argv)

    stack = contextlib.ExitStack()
    with stack:
        workdir = Path(args.workdir) if args.workdir else Path(stack.enter_context(tempfile.TemporaryDirectory()))
        exporter = stack.enter_context(Exporter())
        server = stack.enter_context(
            PrometheusServer(workdir, targets=[exporter.target], scrape_interval=args.scrape_interval)
        )
        if args.traffic:
            specs = [
                TrafficSpec(
                    args.namespace, "stable-6d4cf56db6-x2k9p", args.rps * (1 - args.canary_share), args.error_rate
                ),
                TrafficSpec(
                    args.namespace, "canary-7f8b9c6d5-q4w8z", args.rps * args.canary_share, args.canary_error_rate
                ),
            ]
            stack.enter_context(Traffic(exporter, specs))
        print(json.dumps({"prometheus": server.url, "exporter": f"http://{exporter.target}/metrics"}), flush=True)
        stopped = threading.Event()
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, lambda *_: stopped.set())
        stopped.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
