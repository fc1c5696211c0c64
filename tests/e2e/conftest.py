"""Fixtures of the end-to-end scenarios: ``make_shop`` installs a compiled rollout into the test's cluster."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.e2e._shop import Shop, compiled_for
from tests.support.kubeapi import Kube
from tests.support.prometheus_fixtures import PrometheusStack
from tests.support.tekton import TektonController


@pytest.fixture
def make_shop(
    kube: Kube, tekton: TektonController, prometheus_stack: PrometheusStack, metrics_namespace: str
) -> Iterator[Callable[..., Shop]]:
    """``make_shop(**rollout_options)``: compile the scenario's rollout, install it, return the :class:`Shop`.

    ``install=False`` installs the workload only (the scenario installs the rollout itself, e.g. with
    ``progressive apply``).
    """
    shops: list[Shop] = []

    def make(*, install: bool = True, **options: Any) -> Shop:
        compiled = compiled_for(metrics_namespace, prometheus_stack.url, **options)
        shop = Shop(kube, tekton, prometheus_stack, metrics_namespace, compiled)
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
