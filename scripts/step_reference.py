"""Generate the flag tables of ``docs/step.md`` from ``progressive.contract``, the one source of truth.

    .venv/bin/python scripts/step_reference.py           # rewrite the generated part of docs/step.md
    .venv/bin/python scripts/step_reference.py --check   # exit 1 if docs/step.md is stale (CI, tests)

The generated part sits between the two marker lines; everything else in the file is written by hand.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from progressive.contract import COMMANDS, Command, Flag  # noqa: E402

DOC = ROOT / "docs" / "step.md"
BEGIN = "<!-- BEGIN GENERATED: flags (scripts/step_reference.py) -->"
END = "<!-- END GENERATED: flags -->"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("<", "&lt;").replace(">", "&gt;").replace("\n", " ")


def _accepts(flag: Flag) -> str:
    if flag.choices:
        return " \\| ".join(f"`{choice}`" for choice in flag.choices)
    return {
        "string": "text",
        "int": "whole number",
        "float": "number",
        "bool": "`true` \\| `false`",
        "duration": "duration (`90s`, `5m`, `1h30m`)",
        "weight": "0..100",
        "json": "JSON",
    }[flag.kind]


def _default(flag: Flag) -> str:
    if flag.required:
        return "**required**"
    return f"`{flag.default}`" if flag.default else "(empty)"


def command_section(command: Command) -> str:
    """The reference of one command: summary, description, flags and results."""
    lines = [
        f"### `progressive step {command.name}`",
        "",
        f"{command.summary} {command.description}",
        "",
        "| flag | default | accepts | meaning |",
        "| --- | --- | --- | --- |",
    ]
    lines += [
        f"| `--{flag.name}` | {_default(flag)} | {_accepts(flag)} | {_cell(flag.help)} |" for flag in command.flags
    ]
    if command.results:
        lines += ["", "| result (`--result-NAME=PATH`) | meaning |", "| --- | --- |"]
        lines += [f"| `{result.name}` | {_cell(result.help)} |" for result in command.results]
    return "\n".join(lines)


def render() -> str:
    """The generated block, markers included."""
    sections = [command_section(command) for command in COMMANDS.values()]
    return "\n".join([BEGIN, "", "\n\n".join(sections), "", END])


def updated(text: str) -> str:
    """``text`` with its generated block replaced by :func:`render`."""
    start, end = text.index(BEGIN), text.index(END) + len(END)
    return text[:start] + render() + text[end:]


def main() -> int:
    """Rewrite docs/step.md, or with ``--check`` only report whether it is stale."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if docs/step.md is not up to date")
    args = parser.parse_args()
    current = DOC.read_text(encoding="utf-8")
    fresh = updated(current)
    if args.check:
        if fresh != current:
            print("docs/step.md is stale: run .venv/bin/python scripts/step_reference.py", file=sys.stderr)
            return 1
        return 0
    DOC.write_text(fresh, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
