"""YAML documents to check, findings about them, and reading them from files and folders."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

__all__ = ["Document", "Finding", "ReadError", "load_paths", "load_text", "path_text"]

YAML_SUFFIXES = (".yaml", ".yml")


class ReadError(Exception):
    """A path cannot be read or is not YAML; ``progressive validate`` exits 2."""


@dataclass(frozen=True, slots=True)
class Document:
    """One YAML document: where it came from (file, index in the file) and its parsed content."""

    file: str
    index: int
    data: Any


@dataclass(frozen=True, slots=True, order=True)
class Finding:
    """One problem: ``FILE:DOC:PATH: message [rule]``."""

    file: str
    doc: int
    path: str
    message: str
    rule: str

    def __str__(self) -> str:
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


def load_text(text: str, file: str) -> list[Document]:
    """Parse a multi-document YAML text; empty documents are skipped (their index still counts)."""
    try:
        loaded = list(yaml.load_all(text, Loader=yaml.CSafeLoader))
    except yaml.YAMLError as exc:
        raise ReadError(f"{file}: not valid YAML: {' '.join(str(exc).split())}") from None
    return [Document(file, index, data) for index, data in enumerate(loaded) if data is not None]


def _yaml_files(path: Path) -> Iterator[Path]:
    if path.is_dir():
        yield from sorted(p for p in path.rglob("*") if p.is_file() and p.suffix in YAML_SUFFIXES)
    elif path.is_file():
        yield path
    else:
        raise ReadError(f"{path}: no such file or folder")


def load_paths(paths: Iterable[str | Path]) -> list[Document]:
    """Every document of every YAML file given, or found (recursively, sorted) in every folder given."""
    documents: list[Document] = []
    for given in paths:
        for file in _yaml_files(Path(given)):
            try:
                text = file.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                raise ReadError(f"{file}: cannot read: {exc}") from None
            documents.extend(load_text(text, str(file)))
    return documents


def mapping(value: Any) -> Mapping[str, Any]:
    """``value`` if it is a mapping, else an empty one (the schema check reports wrong types)."""
    return value if isinstance(value, Mapping) else {}


def items(value: Any) -> list[Any]:
    """``value`` if it is a list, else an empty one (the schema check reports wrong types)."""
    return value if isinstance(value, list) else []
