"""``progressive validate PATH...``: check Tekton v1 YAML files or folders (multi-document YAML).

One line per finding on stdout, ``FILE:DOC:PATH: message [rule]`` (DOC = index of the document in its
file, from 0), and a summary on stderr. Exit 0 when clean, 1 on findings, 2 when a path cannot be read or
is not YAML. ``--catalog`` checks Pipelines against progressive's catalog Tasks even when ``tasks/`` is not
among the paths.
"""

from __future__ import annotations

import argparse
import sys

from progressive.validate import Document, ReadError, load_paths, validate_documents

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
    try:
        documents = load_paths(args.paths)
    except ReadError as exc:
        print(f"progressive validate: {exc}", file=sys.stderr)
        return 2
    references: list[Document] = []
    if args.catalog:
        from progressive.compile import catalog_tasks  # noqa: PLC0415 - only with --catalog

        references = [Document("<catalog>", index, task) for index, task in enumerate(catalog_tasks())]
    findings = validate_documents(documents, references)
    for finding in findings:
        print(finding)
    files = len({document.file for document in documents})
    if findings:
        print(f"progressive validate: {len(findings)} finding(s) in {len(documents)} document(s)", file=sys.stderr)
        return 1
    print(f"progressive validate: {len(documents)} document(s) in {files} file(s): no findings", file=sys.stderr)
    return 0
