"""The step image, built (or taken from the cache) and unpacked once per session."""

from __future__ import annotations

import pytest

from tests.support.image import StepImage, step_image


@pytest.fixture(scope="session")
def image() -> StepImage:
    return step_image()
