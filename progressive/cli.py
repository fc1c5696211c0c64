"""The ``progressive`` command.

Each subcommand lives in its own module under ``progressive.commands`` (``progressive step`` in
``progressive.step.cli``) and is imported only when it runs, so ``progressive step ...`` in a Tekton
container starts without loading the compiler, and ``progressive compile`` without the Kubernetes client.

A user mistake is one line on stderr and exit code 2; a step's failure exits with the step's code.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence
from typing import Protocol

from progressive._version import __version__

__all__ = ["EXIT_BROKEN_PIPE", "main"]

EXIT_BROKEN_PIPE = 141
"""128 + SIGPIPE: what a shell reports for any tool whose reader went away (``progressive status | head -1``)."""

# name -> (module, one-line help). Order is the order of `progressive --help`.
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "compile": ("progressive.commands.compile", "Compile the Rollouts and Apps of a Python file into Tekton YAML."),
    "plan": ("progressive.commands.plan", "Show the stages of each Rollout in a Python file as a table."),
    "validate": (
        "progressive.commands.validate",
        "Check Tekton v1 YAML files against the schemas and rules.",
    ),
    "tasks": ("progressive.commands.tasks", "Write the reusable catalog Tasks (tasks/<name>/<version>/)."),
    "apply": ("progressive.commands.apply", "Compile and apply a rollout's Tasks, Pipeline and RBAC."),
    "start": (
        "progressive.commands.start",
        "Start a rollout: create a PipelineRun, like tkn pipeline start.",
    ),
    "status": ("progressive.commands.status", "Show where a rollout stands."),
    "report": ("progressive.commands.report", "Write one run of a rollout as an HTML page with plots."),
    "approve": ("progressive.commands.approve", "Approve the stage a rollout is waiting at."),
    "abort": (
        "progressive.commands.abort",
        "Abort a running rollout: a waiting gate or pause, or a running analysis, stops; finally rolls back.",
    ),
    "versions": ("progressive.commands.versions", "Show an app's live versions: commit, image, config, weights."),
    "unlock": ("progressive.commands.unlock", "Free a rollout held by a run that is gone (one run at a time)."),
    "run": ("progressive.commands.run", "Run a rollout's stages directly, without Tekton."),
    "check": (
        "progressive.commands.check",
        "Preflight a rollout against a cluster: objects, backends, Prometheus and every query.",
    ),
    "step": ("progressive.step.cli", "The container step the Tasks run (see docs/step.md)."),
}


class _Command(Protocol):
    def add_arguments(self, parser: argparse.ArgumentParser) -> None: ...

    def run(self, args: argparse.Namespace) -> int: ...


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="progressive",
        description="Progressive delivery for Tekton: canary rollouts as typed Python, compiled to Tekton v1.",
    )
    parser.add_argument("--version", action="version", version=f"progressive {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, (_module, text) in SUBCOMMANDS.items():
        sub.add_parser(name, help=text, add_help=False)
    return parser


def _load(name: str) -> _Command:
    module, _text = SUBCOMMANDS[name]
    loaded: _Command = importlib.import_module(module)
    return loaded


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``progressive`` console script.

    When the reader of stdout goes away (``| head -1``) the command ends quietly with
    :data:`EXIT_BROKEN_PIPE`, without a traceback, like other Unix tools.
    """
    try:
        try:
            return _main(argv)
        finally:
            sys.stdout.flush()  # a closed pipe shows here for output still in the buffer (also after --help)
    except BrokenPipeError:
        # Python would flush stdout again at exit and print a second error: point it at /dev/null.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_BROKEN_PIPE


def _main(argv: Sequence[str] | None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] == "step":
        from progressive.step.cli import main as step_main  # noqa: PLC0415 - keep the step's import path short

        return step_main(args[1:])
    if not args or args[0] not in SUBCOMMANDS:
        _parser().parse_args(args)  # prints help, --version, or the usage error (exit 2)
        return 2
    name = args[0]
    from progressive.errors import ConfigError  # noqa: PLC0415

    command = _load(name)
    parser = argparse.ArgumentParser(prog=f"progressive {name}", description=SUBCOMMANDS[name][1])
    command.add_arguments(parser)
    parsed = parser.parse_args(args[1:])
    try:
        return command.run(parsed)
    except ConfigError as exc:
        print(f"progressive {name}: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"progressive {name}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
