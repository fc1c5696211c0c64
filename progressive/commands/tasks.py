"""``progressive tasks [-o DIR] [--check] [--image REF]``: write the reusable catalog Tasks, one per step command.

``DIR/progressive-<command>/0.1/progressive-<command>.yaml`` and its ``README.md``, generated from
``progressive/contract.py``. ``--check`` writes nothing and exits 1 listing the files that differ (CI runs
it, so a flag added to the contract without regenerating the Tasks fails the build).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from progressive.commands._output import write_or_check
from progressive.commands._step_image import add_image_argument, checked_image
from progressive.compile import catalog_files

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``progressive tasks``."""
    parser.add_argument("-o", "--output", default="tasks", metavar="DIR", help="Output folder (default: tasks).")
    parser.add_argument(
        "--check", action="store_true", help="Write nothing; exit 1 and list the files that would change."
    )
    add_image_argument(parser, "the Tasks' image param default")


def run(args: argparse.Namespace) -> int:
    """Write or check the catalog."""
    root = Path(args.output)
    image = checked_image(args.image)
    again = f"progressive tasks -o {root}" + (f" --image {image}" if image else "")
    return write_or_check(
        "tasks", root, catalog_files(image) if image else catalog_files(), check=args.check, again=again
    )
