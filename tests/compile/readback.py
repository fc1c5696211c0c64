"""The proof behind checking compiled documents in memory: every file's text reads back as exactly them."""

from __future__ import annotations

from typing import Any

from progressive.compile import CompiledRollout
from progressive.validate import load_text


def exact(value: Any) -> Any:
    """``value`` with each scalar tagged by its type, so ``1``, ``1.0`` and ``True`` (equal in Python) differ."""
    if type(value) is dict:
        return ("dict", [(exact(key), exact(item)) for key, item in value.items()])  # key order counts too
    if type(value) is list:
        return ("list", [exact(item) for item in value])
    return (type(value).__name__, value)


def assert_reads_back_exactly(compiled: CompiledRollout) -> None:
    """Each file's text, parsed as ``progressive validate`` parses it, is the documents the compiler checked."""
    parsed = [
        (document.file, document.index, exact(document.data))
        for file in compiled.files
        for document in load_text(file.content, str(file.path))
    ]
    assert parsed == [(document.file, document.index, exact(document.data)) for document in compiled.checked]
