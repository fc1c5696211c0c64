"""One parsed run of ``progressive step <command>``: typed flag values, results and JSON output.

The CLI checks every flag against its ``kind`` from ``progressive.contract`` before the command runs, so
the command's code reads values that are already known to be well-formed; a malformed value never
reaches the cluster. Output is one JSON object per line on stdout.
"""

from __future__ import annotations

import json
import math
import sys
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from progressive.contract import Command, ExitCode
from progressive.duration import parse_duration
from progressive.errors import StepError, UsageError

__all__ = ["Invocation", "emit", "parse_value", "reported"]


def emit(record: Mapping[str, Any], stream: IO[str] | None = None) -> None:
    """Print one JSON object on one line and flush, so Tekton's log shows it at once."""
    out = sys.stdout if stream is None else stream
    out.write(json.dumps(record, sort_keys=False, separators=(",", ":"), default=str) + "\n")
    out.flush()


def reported(action: str, body: Callable[[], int]) -> int:
    """Run one step command's ``body`` and return its exit code, a failure told the way every step tells it.

    A :class:`StepError` is one JSON line (``{"action", "error", "exit"}``) on stdout and one plain line on stderr,
    with its exit code; Ctrl-C is exit 130; anything else is a bug, exit ``INTERNAL`` with its traceback, so it
    never looks like "canary failed" (exit 1).
    """
    try:
        return body()
    except StepError as exc:
        emit({"action": action, "error": str(exc), "exit": int(exc.exit_code)})
        print(f"progressive step {action}: {exc}", file=sys.stderr)
        return int(exc.exit_code)
    except KeyboardInterrupt:
        emit({"action": action, "error": "interrupted", "exit": 130})
        return 130
    except Exception as exc:
        emit({"action": action, "error": f"internal error: {type(exc).__name__}: {exc}", "exit": ExitCode.INTERNAL})
        traceback.print_exc(file=sys.stderr)
        return int(ExitCode.INTERNAL)


def parse_value(command: Command, name: str, text: str) -> object:
    """Convert one flag's text by its kind; raise :class:`UsageError` naming the flag and the value."""
    flag = command.flag(name)

    def bad(expected: str) -> UsageError:
        return UsageError(f"--{name}: {text!r} is not {expected}")

    if flag.choices and text not in flag.choices and not (text == "" and not flag.required):
        raise UsageError(f"--{name}: {text!r} is not one of {', '.join(flag.choices)}")
    if text == "" and not flag.required and flag.kind != "string":
        return None
    if text == "" and flag.required:
        raise UsageError(f"--{name}: is required and may not be empty")
    kind = flag.kind
    if kind == "string":
        return text
    if kind == "bool":
        if text not in {"true", "false"}:
            raise bad("true or false")
        return text == "true"
    if kind in {"int", "weight"}:
        try:
            number = int(text, 10)
        except ValueError:
            raise bad("a whole number") from None
        if kind == "weight" and not 0 <= number <= 100:
            raise UsageError(f"--{name}: {number} is outside 0..100")
        if number < 0:
            raise UsageError(f"--{name}: {number} is below 0")
        return number
    if kind == "float":
        try:
            value = float(text)
        except ValueError:
            raise bad("a number") from None
        if not math.isfinite(value):
            raise bad("a finite number")
        return value
    if kind == "duration":
        try:
            return parse_duration(text)
        except ValueError:
            raise bad("a Go duration such as 90s, 5m or 1h30m") from None
    if kind == "json":
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise UsageError(f"--{name}: {text!r} is not valid JSON ({exc.msg} at {exc.pos})") from None
    raise AssertionError(f"flag --{name} has unknown kind {kind!r}")


@dataclass(frozen=True, slots=True)
class Invocation:
    """Parsed flags of one step command; values are already converted by kind (``None`` when unset)."""

    command: Command
    values: Mapping[str, object]

    def text(self, name: str) -> str:
        """A string flag; ``''`` when unset."""
        value = self._get(name)
        return "" if value is None else str(value)

    def optional_text(self, name: str) -> str | None:
        """A string flag, ``None`` when empty."""
        return self.text(name) or None

    def integer(self, name: str) -> int | None:
        """An ``int`` or ``weight`` flag."""
        value = self._get(name)
        assert value is None or isinstance(value, int)
        return value

    def number(self, name: str) -> float:
        """A ``float`` flag (these always have a default)."""
        value = self._get(name)
        assert isinstance(value, float)
        return value

    def seconds(self, name: str) -> float:
        """A ``duration`` flag, in seconds."""
        value = self._get(name)
        assert isinstance(value, float)
        return value

    def enabled(self, name: str) -> bool:
        """A ``bool`` flag."""
        value = self._get(name)
        assert isinstance(value, bool)
        return value

    def json(self, name: str) -> Any:
        """A ``json`` flag, decoded."""
        return self._get(name)

    def write_result(self, name: str, value: str) -> None:
        """Write a Tekton result if ``--result-<name>`` was given (Tekton passes the path)."""
        path = self.values.get(f"result-{name}")
        if isinstance(path, str) and path:
            Path(path).write_text(value, encoding="utf-8")

    def _get(self, name: str) -> object:
        self.command.flag(name)  # a typo in a flag name is a bug, not a user error
        return self.values.get(name)
