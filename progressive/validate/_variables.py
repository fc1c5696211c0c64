"""Tekton's ``$(...)`` variable references, parsed into their segments.

Tekton replaces ``$(params.x)``, ``$(params["a.b"])``, ``$(params.list[*])``, ``$(tasks.build.results.digest)``,
``$(context.pipelineRun.name)`` and friends by plain string substitution. The rules need to know which
references a string holds: ``params.x`` -> ``("params", "x")``, ``params["a.b"]`` -> ``("params", "a.b")``,
``params.list[*]`` -> ``("params", "list")`` with index ``*``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

__all__ = ["Reference", "references"]

_REFERENCE = re.compile(r"\$\(([^()]*)\)")
_SEGMENT = re.compile(r"""\.?(?:\[(?:"([^"]*)"|'([^']*)'|(\*|[0-9]+))\]|([^.\[\]]+))""")


@dataclass(frozen=True, slots=True)
class Reference:
    """One ``$(...)`` occurrence."""

    text: str
    """The expression between ``$(`` and ``)``."""
    parts: tuple[str, ...]
    """Dot/bracket separated names; empty when the expression is not a Tekton variable (e.g. shell ``$(date)``)."""
    index: str | None
    """``*`` or a number when the reference ends with ``[*]``/``[n]``."""
    whole: bool
    """The reference is the entire string (``$(params.list[*])`` as an isolated argument)."""

    @property
    def root(self) -> str:
        """First segment: ``params``, ``tasks``, ``context``, ... (``''`` when unparsable)."""
        return self.parts[0] if self.parts else ""


def _parse(expression: str) -> tuple[tuple[str, ...], str | None]:
    parts: list[str] = []
    index: str | None = None
    position = 0
    while position < len(expression):
        match = _SEGMENT.match(expression, position)
        if match is None or match.end() == position:
            return (), None
        double, single, subscript, name = match.groups()
        if index is not None:
            return (), None  # a segment after [*]/[n]: not a Tekton variable
        if subscript is not None:
            if not parts:
                return (), None
            index = subscript
        else:
            parts.append(double if double is not None else single if single is not None else name)
        position = match.end()
    return tuple(parts), index


def references(value: str) -> tuple[Reference, ...]:
    """Every ``$(...)`` in ``value``, in order."""
    if "$(" not in value:
        return ()
    return _references(value)


@lru_cache(maxsize=4096)
def _references(value: str) -> tuple[Reference, ...]:
    """Remembered: the same params and arguments come back in every pipeline task and every compiled rollout."""
    found = []
    for match in _REFERENCE.finditer(value):
        parts, index = _parse(match.group(1))
        found.append(Reference(match.group(1), parts, index, match.span() == (0, len(value))))
    return tuple(found)
