"""Pytest fixtures for the real Prometheus server and the driven exporter (registered in ``tests/conftest.py``).

* ``prometheus_stack`` (session): one :class:`~tests.support.prometheus.Exporter` and one
  :class:`~tests.support.prometheus.PrometheusServer` scraping it every second, shared by the whole run
  (starting Prometheus costs a second or two; scraping is cheap). Tests keep out of each other's way by
  writing their series under their own namespace label -- use ``metrics_namespace``.
* ``metrics_namespace`` (function): a namespace label value unique to the test.
* ``backfilled_prometheus`` (function): a factory ``(text) -> PrometheusServer`` that turns OpenMetrics
  text into blocks with ``promtool`` and starts a short-lived second Prometheus on them (no scraping),
  for exact-value tests; stopped at the end of the test.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.prometheus import Exporter, PrometheusServer, backfill

__all__ = ["PrometheusStack", "backfilled_prometheus", "metrics_namespace", "prometheus_stack"]

_COUNTER = itertools.count(1)


@dataclass(frozen=True, slots=True)
class PrometheusStack:
    """The shared exporter and the Prometheus scraping it."""

    exporter: Exporter
    server: PrometheusServer

    @property
    def url(self) -> str:
        """Base URL of the Prometheus HTTP API."""
        return self.server.url

    def settle(self) -> None:
        """Wait until what the exporter holds now has been scraped."""
        self.server.wait_scrape(self.exporter)


@pytest.fixture(scope="session")
def prometheus_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrometheusStack]:
    exporter = Exporter().start()
    server = PrometheusServer(tmp_path_factory.mktemp("prometheus"), targets=[exporter.target])
    try:
        server.start()
        yield PrometheusStack(exporter=exporter, server=server)
    finally:
        server.stop()
        exporter.stop()


@pytest.fixture
def metrics_namespace(request: pytest.FixtureRequest) -> str:
    """A namespace label unique to this test (the shared exporter holds every test's series)."""
    stem = "".join(char if char.isalnum() else "-" for char in request.node.name.lower())[:40].strip("-")
    return f"{stem}-{next(_COUNTER)}"


@pytest.fixture
def backfilled_prometheus(tmp_path: Path) -> Iterator[Callable[[str], PrometheusServer]]:
    servers: list[PrometheusServer] = []

    def start(text: str) -> PrometheusServer:
        workdir = tmp_path / f"backfilled-{len(servers)}"
        backfill(text, workdir / "data")
        server = PrometheusServer(workdir)
        servers.append(server)
        return server.start()

    try:
        yield start
    finally:
        for server in servers:
            server.stop()
