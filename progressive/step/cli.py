"""``progressive step <command> --flag=VALUE ...``: the container step every generated Task runs.

The parser is built from ``progressive.contract``; each command's code lives in
``progressive.step.<command>`` (dashes become underscores) and is imported only when that command runs.
A command module exposes ``run(invocation: Invocation) -> int``.

Exit codes are ``progressive.contract.ExitCode``. Every failure prints one JSON line on stdout
(``{"action": ..., "error": ..., "exit": N}``) and one plain line on stderr; no traceback for expected
failures.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable, Sequence
from typing import NoReturn

from progressive.contract import COMMANDS, Command, ExitCode
from progressive.errors import UsageError
from progressive.step.invocation import Invocation, parse_value, reported

__all__ = ["build_parser", "main", "parse"]


class _Parser(argparse.ArgumentParser):
    """argparse that raises UsageError instead of exiting, so errors follow the step's output rules."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(message)


def _describe(flag_help: str, default: str | None) -> str:
    if default is None:
        return f"{flag_help} (required)"
    return f"{flag_help} (default: {default!r})" if default else flag_help


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The ``progressive step`` parser, one subparser per contract command.

    ``only``: the flags of that command alone (the others are still listed by name), which is all a step needs
    to parse its command line; building every command's flags would cost each step a noticeable start-up time.
    """
    parser = _Parser(
        prog="progressive step",
        description="The container step of progressive's Tekton Tasks. Flags take values as --flag=VALUE.",
        epilog="Exit codes: "
        + ", ".join(f"{code.value} {code.name.lower()}" for code in ExitCode)
        + ". Several versions of one app live at once: progressive step version --help (docs/versions.md).",
    )
    sub = parser.add_subparsers(dest="step_command", metavar="COMMAND", required=True, parser_class=_Parser)
    for command in COMMANDS.values():
        child = sub.add_parser(command.name, help=command.summary, description=command.description)
        if only is not None and command.name != only:
            continue
        for flag in command.flags:
            child.add_argument(
                flag.option,
                dest=flag.name,
                required=flag.required,
                default=flag.default,
                metavar=flag.name.upper().replace("-", "_"),
                help=_describe(flag.help, flag.default),
            )
        for result in command.results:
            child.add_argument(
                f"--{result.flag}",
                dest=result.flag,
                default="",
                metavar="PATH",
                help=f"Write result '{result.name}' here: {result.help}",
            )
    return parser


def parse(argv: Sequence[str]) -> Invocation:
    """Parse and type-check a step command line; raise :class:`UsageError` on any bad flag."""
    args = list(argv)
    named = next((arg for arg in args if not arg.startswith("-")), None)
    namespace = build_parser(named if named in COMMANDS else None).parse_args(args)
    command: Command = COMMANDS[namespace.step_command]
    values: dict[str, object] = {}
    for flag in command.flags:
        values[flag.name] = parse_value(command, flag.name, getattr(namespace, flag.name))
    for result in command.results:
        values[result.flag] = getattr(namespace, result.flag)
    return Invocation(command, values)


def _runner(command: Command) -> Callable[[Invocation], int]:
    module = importlib.import_module(f"progressive.step.{command.name.replace('-', '_')}")
    run: Callable[[Invocation], int] = module.run
    return run


def main(argv: Sequence[str] | None = None) -> int:
    """Run one step command; return its exit code."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] == "version":  # several versions of one app: its own verbs (progressive.versions)
        from progressive.step.version import main as version_main  # noqa: PLC0415

        return version_main(args[1:])
    action = next((arg for arg in args if not arg.startswith("-")), "step")

    def body() -> int:
        if not args or args[0] in {"-h", "--help"} or "-h" in args or "--help" in args:
            try:
                build_parser().parse_args(args or ["--help"])
            except SystemExit as done:
                return int(done.code or 0)
        invocation = parse(args)
        from progressive.step.run_lock import guarded  # noqa: PLC0415 - one run at a time per rollout
        from progressive.step.session import command_scope  # noqa: PLC0415

        with command_scope(), guarded(invocation) as proceed:  # one client and one record read for both
            return _runner(invocation.command)(invocation) if proceed else 0

    return reported(action, body)


if __name__ == "__main__":
    sys.exit(main())
