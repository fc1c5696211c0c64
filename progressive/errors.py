"""The exceptions progressive raises, and the exit code each one maps to.

::

    ProgressiveError
    ├── ConfigError            bad user input at compile time (exit 2 from the CLI)
    └── StepError              a step could not do its job; carries the step's exit code
        ├── UsageError         2  a flag is missing or malformed
        ├── NotFoundError      3  object, backend or Deployment missing; nothing was written
        ├── CanaryFailed       1  the canary was judged bad
        ├── Inconclusive       4  not enough evidence and the policy says hold
        ├── InfrastructureError 5 Kubernetes API or Prometheus failing after retries
        ├── DeadlineExceeded   6  a wait ran out of time
        ├── Rejected           7  a gate said no (abort, confirm webhook)
        └── UnsafeError        8  refused a change that would hurt traffic

Messages name the object, the field and the value; they are printed as one line, never a traceback.
"""

from __future__ import annotations

from progressive.contract import ExitCode

__all__ = [
    "CanaryFailed",
    "ConfigError",
    "DeadlineExceeded",
    "Inconclusive",
    "InfrastructureError",
    "NotFoundError",
    "ProgressiveError",
    "Rejected",
    "StepError",
    "UnsafeError",
    "UsageError",
]


class ProgressiveError(Exception):
    """Base class of every error progressive raises on purpose."""


class ConfigError(ProgressiveError):
    """A rollout definition or a CLI argument is wrong; the message says which field and value."""


class StepError(ProgressiveError):
    """A step failed; ``exit_code`` is what ``progressive step`` exits with."""

    exit_code: ExitCode = ExitCode.INFRASTRUCTURE


class UsageError(StepError):
    """A flag is missing or malformed."""

    exit_code = ExitCode.USAGE


class NotFoundError(StepError):
    """An object or backend the step needs does not exist; nothing was written."""

    exit_code = ExitCode.NOT_FOUND


class CanaryFailed(StepError):
    """The canary was judged bad."""

    exit_code = ExitCode.CANARY_FAILED


class Inconclusive(StepError):
    """The analysis ran out of time without conclusive evidence and the policy says hold."""

    exit_code = ExitCode.INCONCLUSIVE


class InfrastructureError(StepError):
    """The Kubernetes API or Prometheus kept failing after bounded retries."""

    exit_code = ExitCode.INFRASTRUCTURE


class DeadlineExceeded(StepError):
    """A wait ran out of time."""

    exit_code = ExitCode.DEADLINE


class Rejected(StepError):
    """A gate said no."""

    exit_code = ExitCode.REJECTED


class UnsafeError(StepError):
    """The step refused a change that would hurt traffic."""

    exit_code = ExitCode.UNSAFE
