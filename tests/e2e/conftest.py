"""Fixtures of the end-to-end scenarios: ``make_shop`` installs a compiled rollout into the test's namespace."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.e2e._shop import Shop, compiled_for
from tests.support.cluster.access import Cluster
from tests.support.prometheus_fixtures import PrometheusStack


@pytest.fixture
def make_shop(cluster: Cluster, prometheus_stack: PrometheusStack) -> Iterator[Callable[..., Shop]]:
    """``make_shop(**rollout_options)``: compile the scenario's rollout, install it, return the :class:`Shop`.

    ``install=False`` installs the workload only (the scenario installs the rollout itself, e.g. with
    ``progressive apply``). The test's namespace is also its metrics ``namespace`` label.
    """
    shops: list[Shop] = []

    def make(*, install: bool = True, **options: Any) -> Shop:
        compiled = compiled_for(cluster.namespace, prometheus_stack.url, **options)
        shop = Shop(cluster, prometheus_stack, compiled)
        shops.append(shop)
        if install:
            shop.install()
        else:
            shop.install_workload()
        return shop

    try:
        yield make
    finally:
        for shop in shops:
            shop.stop_traffic()
