"""docs/step.md carries the flag tables generated from progressive.contract: fail when they are stale."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

from progressive.contract import COMMANDS

ROOT = Path(__file__).resolve().parents[2]


def _generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("step_reference", ROOT / "scripts" / "step_reference.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_flag_tables_are_up_to_date() -> None:
    generator = _generator()
    text = (ROOT / "docs" / "step.md").read_text(encoding="utf-8")
    assert generator.updated(text) == text, "docs/step.md is stale: run .venv/bin/python scripts/step_reference.py"


def test_every_command_and_flag_is_documented() -> None:
    text = (ROOT / "docs" / "step.md").read_text(encoding="utf-8")
    for command in COMMANDS.values():
        assert f"### `progressive step {command.name}`" in text
        for flag in command.flags:
            assert f"| `--{flag.name}` |" in text
