"""Deterministic YAML: the same documents always give the same bytes, and read back as the same data.

A small emitter for the shapes Kubernetes objects have (mappings, sequences, strings, numbers, booleans):
key order is the insertion order of the dicts the compiler builds (apiVersion, kind, metadata, spec, as the
Kubernetes documentation writes them), block style throughout, sequences indented under their key as in
the Tekton catalog, multi-line strings as literal blocks, no anchors, no line folding.

A string is written plain only when every YAML reader takes it back as that same string: PyYAML's YAML 1.1
resolver must call it a string, and so must YAML 1.2 and Go's YAML libraries (``kubectl``), which read
``y``/``n``, ``1e3`` or ``0o17`` as booleans and numbers; anything doubtful is double-quoted, ASCII only,
with YAML escapes. PyYAML's pure-Python emitter took about 37 ms per compiled
rollout, this one about 1 ms (``benchmarks/compile_bench.py``).

Only exact JSON types are written (``dict`` with ``str`` keys, ``list``, ``str``, ``int``, ``float``, ``bool``,
``None``); anything else, a tuple or a ``str`` subclass included, raises ``TypeError``. With that, the text reads
back as exactly the documents given (tests/compile/test_yaml.py for any such data, and every compiled file in
tests/compile and tests/examples), which is why the compiler checks its documents in memory, not re-parsed.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from typing import Any

import yaml
from yaml.resolver import Resolver

__all__ = ["dump_documents"]

_STR_TAG = "tag:yaml.org,2002:str"
_RESOLVER = Resolver()
_FIRST_NOT_PLAIN = set("?:,[]{}#&*!|>'\"%@`")
_GO_YAML_WORDS = {"y", "Y", "n", "N", "~", "yes", "no", "on", "off"}
_NUMBER_LIKE = re.compile(
    r"[-+]?(\.[0-9]+|[0-9][0-9_]*(\.[0-9_]*)?)([eE][-+]?[0-9]+)?|[-+]?0[oOxXbB][0-9a-fA-F_]+|[-+]?\.(inf|Inf|INF|nan|NaN|NAN)"
)
_INDENT = "  "


def _plain(value: str) -> bool:
    """Whether ``value`` can be written without quotes and read back unchanged by any YAML reader."""
    if not value or value != value.strip() or not value.isprintable():
        return False
    if value[0] in _FIRST_NOT_PLAIN or (value[0] == "-" and (len(value) == 1 or value[1] == " ")):
        return False
    if ": " in value or " #" in value or value.endswith(":") or value.startswith(("---", "...")):
        return False
    if value.lower() in _GO_YAML_WORDS or _NUMBER_LIKE.fullmatch(value):
        return False
    tag: str = _RESOLVER.resolve(yaml.ScalarNode, value, (True, False))  # type: ignore[no-untyped-call]
    return tag == _STR_TAG


def _literal(value: str) -> str | None:
    """``|``/``|-`` header for a multi-line string a literal block can carry exactly, else ``None``."""
    body = value[:-1] if value.endswith("\n") else value
    if body.endswith("\n") or not body or body[0] == " ":
        return None
    for line in body.split("\n"):
        if line != line.rstrip() or not (line.isprintable() or line == ""):
            return None
    return "|" if value.endswith("\n") else "|-"


def _scalar(value: Any) -> str:
    """A scalar in one line; exact types only, so what is written is exactly what reads back."""
    kind = type(value)
    if kind is str:
        return _text(value)
    if value is None:
        return "null"
    if kind is bool:
        return "true" if value else "false"
    if kind is int:
        return repr(value)
    if kind is float:
        if math.isnan(value):
            return ".nan"
        if math.isinf(value):
            return ".inf" if value > 0 else "-.inf"
        text = repr(value)
        return text if "." in text else text.replace("e", ".0e", 1)  # YAML 1.1 floats need a dot
    raise TypeError(f"cannot write {kind.__name__} {value!r} as YAML: only dict, list, str, int, float, bool, None")


def _key(key: Any) -> str:
    if type(key) is not str:
        raise TypeError(f"cannot write a {type(key).__name__} key {key!r} as YAML: keys are str")
    return _text(key)


def _key_text(key: Any) -> str:
    if type(key) is str and (text := _TEXTS.get(key)) is not None:
        return text
    return _key(key)


_TEXTS: dict[str, str] = {}
_TEXTS_KEPT = 16384


def _text(value: str) -> str:
    """A string as a one-line scalar: plain if every reader reads it back as that string, else double-quoted.

    Remembered: keys and most values repeat in every compiled rollout.
    """
    text = _TEXTS.get(value)
    if text is None:
        text = value if _plain(value) else _quoted(value)
        if len(_TEXTS) < _TEXTS_KEPT:
            _TEXTS[value] = text
    return text


_ESCAPES = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\t": "\\t", "\r": "\\r"}


def _quoted(value: str) -> str:
    """A YAML double-quoted scalar, ASCII only; YAML escapes whole code points, where JSON writes UTF-16 pairs."""
    if value.isascii() and value.isprintable():  # the common case: only quotes and backslashes to escape
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    out = ['"']
    for char in value:
        code = ord(char)
        if char in _ESCAPES:
            out.append(_ESCAPES[char])
        elif 0x20 <= code < 0x7F:
            out.append(char)
        elif code <= 0xFF:
            out.append(f"\\x{code:02x}")
        elif code <= 0xFFFF:
            out.append(f"\\u{code:04x}")
        else:
            out.append(f"\\U{code:08x}")
    out.append('"')
    return "".join(out)


def _block(value: Any, indent: str, lines: list[str], lead: str) -> None:
    """Write ``value`` whose first line starts with ``lead`` (``"key:"`` or ``"-"``) at ``indent``.

    A one-line string item is written in place (most items are): the same line the general case writes.
    """
    kind = type(value)
    if kind is dict and value:
        inner = indent + _INDENT
        first = f"{indent}- " if lead == "-" else None  # the first key of a mapping in a sequence
        if first is None:
            lines.append(lead)
        for key, item in value.items():
            if first is None:
                item_lead = f"{inner}{_key_text(key)}:"
            else:
                item_lead, first = f"{first}{_key_text(key)}:", None
            if type(item) is str and "\n" not in item:
                lines.append(f"{item_lead} {_TEXTS.get(item) or _text(item)}")
            else:
                _block(item, inner, lines, item_lead)
        return
    if kind is list and value:
        lines.append(f"{indent}-" if lead == "-" else lead)
        inner = indent + _INDENT
        for item in value:
            if type(item) is str and "\n" not in item:
                lines.append(f"{inner}- {_TEXTS.get(item) or _text(item)}")
            else:
                _block(item, inner, lines, "-")
        return
    prefix = f"{indent}-" if lead == "-" else lead
    if kind is dict:
        lines.append(f"{prefix} {{}}")
    elif kind is list:
        lines.append(f"{prefix} []")
    elif kind is str and "\n" in value and (header := _literal(value)) is not None:
        lines.append(f"{prefix} {header}")
        body = value[:-1] if value.endswith("\n") else value
        lines.extend(f"{indent + _INDENT}{line}" if line else "" for line in body.split("\n"))
    else:
        lines.append(f"{prefix} {_scalar(value)}")


def _document(document: Mapping[str, Any]) -> list[str]:
    if type(document) is not dict:
        raise TypeError(f"cannot write a {type(document).__name__} as a YAML document: documents are dicts")
    lines = ["---"]
    for key, value in document.items():
        _block(value, "", lines, f"{_key(key)}:")
    return lines


def dump_documents(documents: Iterable[Mapping[str, Any]], header: str = "") -> str:
    """Render documents as one multi-document YAML text, each starting with ``---``; exact JSON types only.

    ``header`` lines are written first as ``#`` comments (e.g. which command generated the file).
    """
    lines = [f"# {line}".rstrip() for line in header.splitlines()] if header else []
    for document in documents:
        lines.extend(_document(document))
    return "\n".join(lines) + "\n"
