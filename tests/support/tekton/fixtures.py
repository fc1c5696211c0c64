"""Pytest fixture for the Tekton harness (registered in ``tests/conftest.py``).

* ``tekton`` (function): a :class:`~tests.support.tekton.controller.TektonController` acting as the Tekton
  controller of this test's ``kube``; step processes run under a fresh folder of the test. At teardown it
  stops every engine and step process, then raises the first harness error (an unsupported Tekton
  feature, a harness bug) that the test did not collect through ``tekton.wait`` -- so nothing the
  harness refused can go unnoticed.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.kubeapi import Kube
from tests.support.tekton.controller import TektonController

__all__ = ["tekton"]


@pytest.fixture
def tekton(kube: Kube, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TektonController]:
    controller = TektonController(kube, tmp_path_factory.mktemp("tekton")).start()
    try:
        yield controller
    finally:
        controller.stop()
