"""``$(...)`` variable substitution, as Tekton does it: plain, single-pass string replacement.

Tekton replaces each ``$(key)`` whose key it knows by its value and does not escape or re-expand the
value (``docs/variables.md``); text like ``$(date)`` outside Tekton's variable roots is left alone. The
harness does the same, except that a reference under a Tekton root it cannot resolve is an error rather
than literal text: an undeclared ``$(params.x)`` is what Tekton's webhook refuses
(:class:`~tests.support.tekton.errors.TektonRejection`), and a root the harness does not emulate
(``workspaces``, ``steps``, array expansion ``[*]``...) is an
:class:`~tests.support.tekton.errors.UnsupportedFeature`.

Keys are canonical: ``$(params["a.b"])`` and ``$(params['a.b'])`` both become ``params.a.b``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from tests.support.tekton.errors import TektonRejection, UnsupportedFeature

__all__ = ["TEKTON_ROOTS", "canonical", "references", "substitute"]

TEKTON_ROOTS = frozenset(
    {
        "params",
        "tasks",
        "finally",
        "context",
        "results",
        "workspaces",
        "steps",
        "step",
        "artifacts",
        "inputs",
        "outputs",
        "resources",
    }
)
"""First segments Tekton treats as variables; anything else inside ``$(...)`` is left as text."""

_EMULATED_ROOTS = frozenset({"params", "tasks", "context", "results"})

_REFERENCE = re.compile(r"\$\(([^()]*)\)")
_BRACKET = re.compile(r"""^(params)\[(?:"([^"]*)"|'([^']*)')\]$""")


def canonical(expression: str) -> str:
    """``params["a.b"]`` -> ``params.a.b``; other expressions unchanged."""
    match = _BRACKET.match(expression)
    if match:
        return f"{match.group(1)}.{match.group(2) if match.group(2) is not None else match.group(3)}"
    return expression


def _root(key: str) -> str:
    return re.split(r"[.\[]", key, maxsplit=1)[0]


def references(text: str) -> list[str]:
    """Canonical keys of the Tekton variables in ``text``, in order (duplicates kept)."""
    return [key for key in (canonical(m.group(1)) for m in _REFERENCE.finditer(text)) if _root(key) in TEKTON_ROOTS]


def substitute(text: str, values: Mapping[str, str], *, where: str, reason: str) -> str:
    """Replace every Tekton variable of ``text`` by its value from ``values`` (single pass).

    ``where`` names the field for messages; ``reason`` is the Tekton reason used when the variable does
    not exist (``PipelineValidationFailed``, ``TaskRunValidationFailed``...).
    """

    def replace(match: re.Match[str]) -> str:
        key = canonical(match.group(1))
        if key in values:
            return values[key]
        root = _root(key)
        if root not in TEKTON_ROOTS:
            return match.group(0)
        if root not in _EMULATED_ROOTS or "[" in key:
            raise UnsupportedFeature(where, f"variable $({key})")
        raise TektonRejection(reason, f"{where}: non-existent variable in {text!r}: $({key}) is not declared")

    return _REFERENCE.sub(replace, text)
