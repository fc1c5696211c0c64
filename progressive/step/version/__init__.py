"""``progressive step version <verb> --flag=VALUE ...``: several versions of one app live at once.

Verbs (flags in :mod:`progressive.versions.contract`): ``add`` (objects of a version, available, no traffic),
``set-weights`` (every version's weight in one write per routing object), ``update-config`` (a running version's
new configuration, rolled back on failure), ``restore-config`` (back to an earlier configuration after a bad
verdict), ``retire`` (out of every rule, drained, deleted). Each one is
stateless (it reads the state record and the cluster), idempotent (a second run writes nothing) and resumable
(a run killed anywhere and run again finishes the job). Each holds the app's Lease while it works.

Output and exit codes follow ``progressive step``: one JSON line per event on stdout, the last one the summary
(or ``{"action", "error", "exit"}``), and a plain line on stderr on failure.
"""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Callable, Sequence
from typing import NoReturn

from progressive.contract import Command, ExitCode
from progressive.errors import UsageError
from progressive.step.invocation import Invocation, parse_value, reported
from progressive.versions.contract import VERSION_COMMANDS

__all__ = ["build_parser", "main", "parse"]

_MODULES = {
    "add": "add",
    "set-weights": "set_weights",
    "update-config": "update_config",
    "restore-config": "restore_config",
    "retire": "retire",
}


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise UsageError(message)


def build_parser() -> argparse.ArgumentParser:
    """The ``progressive step version`` parser, one subparser per verb."""
    parser = _Parser(
        prog="progressive step version",
        description="Several versions of one app live at once. Flags take values as --flag=VALUE.",
        epilog="Exit codes: " + ", ".join(f"{code.value} {code.name.lower()}" for code in ExitCode),
    )
    sub = parser.add_subparsers(dest="verb", metavar="VERB", required=True, parser_class=_Parser)
    for command in VERSION_COMMANDS.values():
        child = sub.add_parser(command.name, help=command.summary, description=command.description)
        for flag in command.flags:
            default = "" if flag.default is None else flag.default
            child.add_argument(
                flag.option,
                dest=flag.name,
                required=flag.required,
                default=flag.default,
                metavar=flag.name.upper().replace("-", "_"),
                help=f"{flag.help} (required)" if flag.required else f"{flag.help} (default: {default!r})",
            )
        for result in command.results:
            child.add_argument(f"--{result.flag}", dest=result.flag, default="", metavar="PATH", help=result.help)
    return parser


def parse(argv: Sequence[str]) -> Invocation:
    """Parse and type-check a ``version`` command line; :class:`UsageError` on any bad flag."""
    namespace = build_parser().parse_args(list(argv))
    command: Command = VERSION_COMMANDS[namespace.verb]
    values: dict[str, object] = {
        flag.name: parse_value(command, flag.name, getattr(namespace, flag.name)) for flag in command.flags
    }
    for result in command.results:
        values[result.flag] = getattr(namespace, result.flag)
    return Invocation(command, values)


def _runner(command: Command) -> Callable[[Invocation], int]:
    module = importlib.import_module(f"progressive.step.version.{_MODULES[command.name]}")
    run: Callable[[Invocation], int] = module.run
    return run


def main(argv: Sequence[str]) -> int:
    """Run one ``version`` verb; return its exit code."""
    args = list(argv)
    verb = next((arg for arg in args if not arg.startswith("-")), "")
    action = f"version {verb}".strip()

    def body() -> int:
        if not args or "-h" in args or "--help" in args:
            try:
                build_parser().parse_args(args or ["--help"])
            except SystemExit as done:
                return int(done.code or 0)
        invocation = parse(args)
        from progressive.step.session import command_scope  # noqa: PLC0415

        with command_scope():
            return _runner(invocation.command)(invocation)

    return reported(action, body)
