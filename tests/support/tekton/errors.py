"""The two ways the harness refuses a run, kept apart on purpose.

* :class:`TektonRejection` -- the YAML is wrong *for Tekton*: Tekton's webhook or reconciler would refuse
  it too. The harness reports it the way Tekton does, as a failed PipelineRun (or TaskRun) with Tekton's
  ``reason`` (``ParameterMissing``, ``PipelineInvalidGraph``, ``CouldntGetTask``...) and a message naming
  the object, the field and the value. A test may expect it.
* :class:`UnsupportedFeature` -- the YAML may be fine for Tekton, but uses something the harness does not
  emulate (workspaces, ``script``, sidecars, ``matrix``...). Running it anyway would silently test
  something else than Tekton would run, so the harness refuses loudly: the PipelineRun fails with reason
  :data:`UNSUPPORTED_REASON` *and* the error is kept by the controller and re-raised to the test (see
  :meth:`tests.support.tekton.controller.TektonController.wait` and its teardown).
"""

from __future__ import annotations

__all__ = ["UNSUPPORTED_REASON", "HarnessError", "TektonRejection", "UnsupportedFeature"]

UNSUPPORTED_REASON = "HarnessUnsupportedFeature"
"""PipelineRun/TaskRun reason the harness writes when it meets a feature it does not implement."""


class HarnessError(Exception):
    """Base class of the harness' own errors."""


class TektonRejection(HarnessError):
    """Tekton would refuse this: reported as a failed run with Tekton's ``reason``."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


class UnsupportedFeature(HarnessError):
    """The YAML uses a Tekton feature the harness does not emulate; the run is refused, never approximated."""

    def __init__(self, where: str, feature: str, hint: str = "") -> None:
        message = f"{where}: {feature} is a Tekton feature the test harness does not implement"
        if hint:
            message += f" ({hint})"
        super().__init__(message)
        self.where = where
        self.feature = feature
