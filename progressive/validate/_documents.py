"""YAML documents to check, findings about them, and reading them from files and folders."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

__all__ = ["Document", "Finding", "ReadError", "load_files", "load_paths", "load_text", "path_text"]

YAML_SUFFIXES = (".yaml", ".yml")


class ReadError(Exception):
    """A path cannot be read or is not YAML; ``progressive validate`` exits 2."""


@dataclass(frozen=True, slots=True)
class Document:
    """One YAML document: where it came from (file, index in the file) and its parsed content.

    ``lines`` maps paths (``spec.tasks[0].name``) to their line in the file, 1-based, when the document
    was read from text with lines (``load_paths``); ``""`` is the document's first line. ``exact_json`` says
    ``data`` is known to hold only exact JSON types (dict, list, str, int, float, bool, None), as the compiler's
    documents do (its YAML emitter refuses anything else); the schema check then need not look through it first.
    """

    file: str
    index: int
    data: Any
    lines: Mapping[str, int] = field(default_factory=dict, compare=False, repr=False)
    exact_json: bool = field(default=False, compare=False, repr=False)

    def line_of(self, path: str) -> int:
        """Line of ``path``, else of its nearest parent in the file (a missing field: its parent's); 0 if none."""
        while True:
            if path in self.lines:
                return self.lines[path]
            if not path:
                return 0
            cut = max(path.rfind("."), path.rfind("["))
            path = path[: max(cut, 0)]


@dataclass(frozen=True, slots=True, order=True)
class Finding:
    """One problem: ``FILE:LINE: PATH: message [rule]``, or ``FILE:DOC:PATH: ...`` for a document without lines."""

    file: str
    doc: int
    path: str
    message: str
    rule: str
    line: int = 0
    """Line in the file, 1-based; 0 when the document was not read from a file."""

    def __str__(self) -> str:
        if self.line:
            return f"{self.file}:{self.line}: {self.path or '.'}: {self.message} [{self.rule}]"
        return f"{self.file}:{self.doc}:{self.path or '.'}: {self.message} [{self.rule}]"


def path_text(parts: Iterable[str | int]) -> str:
    """``("spec", "tasks", 0, "name")`` -> ``spec.tasks[0].name``."""
    text = ""
    for part in parts:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else part
    return text


def _node_lines(node: yaml.Node, path: str, lines: dict[str, int]) -> None:
    lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            name = str(key.value) if isinstance(key, yaml.ScalarNode) else ""
            child = f"{path}.{name}" if path else name
            lines[child] = key.start_mark.line + 1
            _node_lines(value, child, lines)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _node_lines(item, f"{path}[{index}]", lines)


def load_text(text: str, file: str, *, with_lines: bool = False) -> list[Document]:
    """Parse a multi-document YAML text; empty documents are skipped (their index still counts).

    ``with_lines`` also records where each path is in the text (for findings that name the line).
    """
    try:
        loaded = list(yaml.load_all(text, Loader=yaml.CSafeLoader))
        nodes = list(yaml.compose_all(text, Loader=yaml.CSafeLoader)) if with_lines else []
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        if mark is None:
            raise ReadError(f"{file}: not valid YAML: {' '.join(str(exc).split())}") from None
        said = [getattr(exc, "context", None), getattr(exc, "problem", None)]
        what = ", ".join(str(part) for part in said if part) or "parse error"
        raise ReadError(f"{file}:{mark.line + 1}: not valid YAML: {what} (column {mark.column + 1})") from None
    documents = []
    for index, data in enumerate(loaded):
        if data is None:
            continue
        lines: dict[str, int] = {}
        if with_lines and index < len(nodes) and nodes[index] is not None:
            _node_lines(nodes[index], "", lines)
        documents.append(Document(file, index, data, lines))
    return documents


def _yaml_files(path: Path) -> Iterator[Path]:
    if path.is_dir():
        yield from sorted(p for p in path.rglob("*") if p.is_file() and p.suffix in YAML_SUFFIXES)
    elif path.is_file():
        yield path
    else:
        raise ReadError(f"{path}: no such file or folder")


def load_files(paths: Iterable[str | Path]) -> tuple[list[Document], list[ReadError]]:
    """Every document of every YAML file given or found in a folder, with lines, and every file that failed.

    One file that cannot be read or parsed does not stop the others: its error is collected instead.
    """
    documents: list[Document] = []
    errors: list[ReadError] = []
    for given in paths:
        try:
            files = list(_yaml_files(Path(given)))
        except ReadError as exc:
            errors.append(exc)
            continue
        for file in files:
            try:
                text = file.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                errors.append(ReadError(f"{file}: cannot read: {exc}"))
                continue
            try:
                documents.extend(load_text(text, str(file), with_lines=True))
            except ReadError as exc:
                errors.append(exc)
    return documents, errors


def load_paths(paths: Iterable[str | Path]) -> list[Document]:
    """Every document of every YAML file given, or found (recursively, sorted) in every folder given.

    Raises the first :class:`ReadError`; :func:`load_files` collects them and goes on.
    """
    documents, errors = load_files(paths)
    if errors:
        raise errors[0]
    return documents


def mapping(value: Any) -> Mapping[str, Any]:
    """``value`` if it is a mapping, else an empty one (the schema check reports wrong types)."""
    if type(value) is dict:  # nearly always, and much cheaper than the ABC check
        return value
    return value if isinstance(value, Mapping) else {}


def items(value: Any) -> list[Any]:
    """``value`` if it is a list, else an empty one (the schema check reports wrong types)."""
    return value if isinstance(value, list) else []
