"""``progressive validate PATH...``: check Tekton v1 YAML files or folders (multi-document YAML).

One line per finding on stdout, ``FILE:LINE: PATH: message [rule]`` (LINE: where PATH is in the file, or
its nearest parent when PATH is missing), and a summary on stderr. A file that cannot be read or is not YAML
is one line on stderr (``FILE:LINE: not valid YAML: ...``) and the other files are still checked. Exit 0
when clean, 1 on findings, 2 when a path cannot be read or is not YAML. ``--catalog`` checks Pipelines
against progressive's catalog Tasks even when ``tasks/`` is not among the paths.
"""

from __future__ import annotations

import argparse
import sys

from progressive.validate import Document, load_files, validate_documents

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``progressive validate``."""
    parser.add_argument("paths", nargs="+", metavar="PATH", help="YAML files, or folders searched for *.yaml/*.yml.")
    parser.add_argument(
        "--catalog",
        action="store_true",
        help="Look up taskRefs to progressive's catalog Tasks (progressive-*) in the built-in catalog.",
    )


def run(args: argparse.Namespace) -> int:
    """Check the paths; print findings."""
    documents, errors = load_files(args.paths)
    for error in errors:
        print(f"progressive validate: {error}", file=sys.stderr)
    references: list[Document] = []
    if args.catalog:
        from progressive.compile import catalog_tasks  # noqa: PLC0415 - only with --catalog

        references = [Document("<catalog>", index, task) for index, task in enumerate(catalog_tasks())]
    findings = validate_documents(documents, references)
    for finding in findings:
        print(finding)
    files = len({document.file for document in documents})
    if errors:
        if documents:
            print(
                f"progressive validate: {len(errors)} path(s) could not be read; {len(findings)} finding(s) in "
                f"{len(documents)} document(s) of the others",
                file=sys.stderr,
            )
        return 2
    if findings:
        print(f"progressive validate: {len(findings)} finding(s) in {len(documents)} document(s)", file=sys.stderr)
        return 1
    print(f"progressive validate: {len(documents)} document(s) in {files} file(s): no findings", file=sys.stderr)
    return 0
