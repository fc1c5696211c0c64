"""``progressive compile FILE.py... [-o DIR] [--check] [--image REF]``: Rollouts and Apps -> Tekton YAML, a folder each.

Writes ``DIR/<rollout>/pipeline.yaml``, ``rbac.yaml``, ``hooks.yaml`` (only with ``Run`` hooks) and
``run/pipelinerun.yaml`` (apart, because it uses ``generateName`` and needs ``kubectl create``, while
``kubectl apply -f DIR/<rollout>/`` installs the rest). An ``App`` (several versions live at once) gets
``DIR/<app>/pipelines.yaml`` (its release, update-config and retire Pipelines) and ``rbac.yaml``.
``--check`` writes nothing and exits 1 listing the files that differ. Exit codes: 0 done, 1 ``--check`` found
differences, 2 a mistake in the input, 70 a compiler bug (output that fails progressive's own Tekton checks is
never written).

Every query of a rollout's (or an App's) analysis is rendered (a template variable without a value is exit 2 naming
the field) and, when ``promtool`` is on ``PATH``, parsed (``progressive.commands._promtool``); without it
one note says the syntax was left to the first stage's preflight.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from progressive.commands._output import write_or_check
from progressive.commands._promtool import check_queries
from progressive.commands._rollouts import load_declarations
from progressive.commands._step_image import add_image_argument, checked_image
from progressive.compile import CompilerBug, GeneratedFile, analysis_queries, compile_rollout
from progressive.compile.versions import app_analysis_queries, app_files
from progressive.model import DEFAULT_STEP_IMAGE

__all__ = ["EXIT_COMPILER_BUG", "add_arguments", "run"]

EXIT_COMPILER_BUG = 70
"""``EX_SOFTWARE`` from sysexits.h: an internal error, not the user's."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``progressive compile``."""
    parser.add_argument("files", nargs="+", metavar="FILE.py", help="Python files that define Rollouts or Apps.")
    parser.add_argument(
        "-o", "--output", default="pipelines", metavar="DIR", help="Output folder (default: pipelines)."
    )
    parser.add_argument(
        "--check", action="store_true", help="Write nothing; exit 1 and list the files that would change."
    )
    add_image_argument(parser, "every compiled rollout (replaces each Rollout's image=)")


def run(args: argparse.Namespace) -> int:
    """Compile every Rollout and App of the files; write or check the output."""
    root = Path(args.output)
    files: list[GeneratedFile] = []
    image = checked_image(args.image)
    try:
        declared = load_declarations(args.files)
        for loaded in declared.rollouts:
            rollout = loaded.rollout.model_copy(update={"image": image}) if image else loaded.rollout
            files += compile_rollout(rollout, loaded.source).files
        for app in declared.apps:
            files += app_files(app.app, app.source, image or DEFAULT_STEP_IMAGE)
    except CompilerBug as exc:
        print(f"progressive compile: {exc}", file=sys.stderr)
        return EXIT_COMPILER_BUG
    queries = [(loaded.rollout.name, analysis_queries(loaded.rollout)) for loaded in declared.rollouts]
    queries += [(app.app.name, app_analysis_queries(app.app)) for app in declared.apps]
    if not check_queries("compile", queries):
        return 2
    again = f"progressive compile {' '.join(args.files)} -o {root}" + (f" --image {image}" if image else "")
    return write_or_check("compile", root, files, check=args.check, again=again)
