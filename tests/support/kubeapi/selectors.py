"""Label and field selectors with the grammar of ``k8s.io/apimachinery/pkg/labels`` and ``.../fields``.

Label selectors: ``k=v``, ``k==v``, ``k!=v``, ``k in (a,b)``, ``k notin (a,b)``, ``k`` (exists), ``!k``
(does not exist), ``k>1`` / ``k<1`` (integer comparison), comma-separated, all must hold. As upstream,
``!=`` and ``notin`` also match objects without the label.

Field selectors: ``f=v``, ``f==v``, ``f!=v`` on ``metadata.name``, ``metadata.namespace`` and the labels
a kind declares; any other field is rejected the way the server does (``field label not supported``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["FieldSelector", "LabelSelector", "SelectorError"]


class SelectorError(ValueError):
    """A selector that does not parse; the server answers 400 BadRequest with this message."""


@dataclass(frozen=True, slots=True)
class _Requirement:
    key: str
    op: str  # "=", "!=", "in", "notin", "exists", "!", ">", "<"
    values: tuple[str, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        present = self.key in labels
        value = labels.get(self.key)
        if self.op in ("=", "in"):
            return present and value in self.values
        if self.op in ("!=", "notin"):
            return not present or value not in self.values
        if self.op == "exists":
            return present
        if self.op == "!":
            return not present
        if not present:
            return False
        try:
            have = int(str(value))
        except ValueError:
            return False
        want = int(self.values[0])
        return have > want if self.op == ">" else have < want


_TOKEN = re.compile(r"\s*(==|!=|=|\(|\)|,|!|<|>|[^\s,()=!<>]+)")
_LABEL_KEY = re.compile(
    r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$"
)
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")


def _tokens(text: str) -> list[str]:
    out: list[str] = []
    pos = 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        m = _TOKEN.match(text, pos)
        if m is None:  # pragma: no cover - the pattern accepts every non-space character
            raise SelectorError(f"unable to parse requirement: unexpected character at {pos} in {text!r}")
        out.append(m.group(1))
        pos = m.end()
    return out


@dataclass(frozen=True, slots=True)
class LabelSelector:
    """A parsed label selector; the empty selector matches everything."""

    requirements: tuple[_Requirement, ...]

    @classmethod
    def parse(cls, text: str) -> LabelSelector:
        toks = _tokens(text)
        reqs: list[_Requirement] = []
        i = 0

        def expect_value(j: int) -> str:
            if j >= len(toks) or toks[j] in ("(", ")", ",", "=", "==", "!=", "!", "<", ">"):
                got = toks[j] if j < len(toks) else "end of selector"
                raise SelectorError(f"unable to parse requirement: found '{got}', expected: identifier")
            return toks[j]

        while i < len(toks):
            if toks[i] == "!":
                key = expect_value(i + 1)
                reqs.append(_Requirement(_check_key(key), "!"))
                i += 2
            else:
                key = _check_key(expect_value(i))
                i += 1
                op = toks[i] if i < len(toks) else ","
                if op == ",":
                    reqs.append(_Requirement(key, "exists"))
                elif op in ("=", "==", "!="):
                    if i + 1 < len(toks) and toks[i + 1] != ",":
                        value = expect_value(i + 1)
                        i += 2
                    else:
                        value = ""
                        i += 1
                    reqs.append(_Requirement(key, "!=" if op == "!=" else "=", (_check_value(value),)))
                elif op in (">", "<"):
                    value = expect_value(i + 1)
                    if not re.fullmatch(r"-?\d+", value):
                        raise SelectorError(
                            "unable to parse requirement: "
                            f"for '{op}' operator, the value must be an integer, got {value!r}"
                        )
                    reqs.append(_Requirement(key, op, (value,)))
                    i += 2
                elif op in ("in", "notin"):
                    if i + 1 >= len(toks) or toks[i + 1] != "(":
                        raise SelectorError(
                            "unable to parse requirement: "
                            f"found '{toks[i + 1] if i + 1 < len(toks) else ''}', expected: '('"
                        )
                    j = i + 2
                    values: list[str] = []
                    while j < len(toks) and toks[j] != ")":
                        if toks[j] == ",":
                            j += 1
                            continue
                        values.append(_check_value(toks[j]))
                        j += 1
                    if j >= len(toks):
                        raise SelectorError("unable to parse requirement: found end of selector, expected: ')'")
                    if not values:
                        raise SelectorError(
                            f"unable to parse requirement: for '{op}' operator, values set can't be empty"
                        )
                    reqs.append(_Requirement(key, op, tuple(values)))
                    i = j + 1
                else:
                    raise SelectorError(
                        f"unable to parse requirement: found '{op}', expected: in, notin, =, ==, !=, gt, lt"
                    )
            if i < len(toks):
                if toks[i] != ",":
                    raise SelectorError(f"unable to parse requirement: found '{toks[i]}', expected: ','")
                i += 1
                if i >= len(toks):
                    raise SelectorError("unable to parse requirement: found end of selector, expected: identifier")
        return cls(tuple(reqs))

    def matches(self, labels: Mapping[str, str] | None) -> bool:
        have = labels or {}
        return all(r.matches(have) for r in self.requirements)


def _check_key(key: str) -> str:
    if not _LABEL_KEY.match(key) or len(key.rsplit("/", 1)[-1]) > 63:
        raise SelectorError(
            f"unable to parse requirement: key: Invalid value: {key!r}: "
            "name part must consist of alphanumeric characters, '-', '_' or '.'"
        )
    return key


def _check_value(value: str) -> str:
    if len(value) > 63 or not _LABEL_VALUE.match(value):
        raise SelectorError(
            f"unable to parse requirement: values[0]: Invalid value: {value!r}: "
            "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.'"
        )
    return value


@dataclass(frozen=True, slots=True)
class FieldSelector:
    """A parsed field selector: (field, negated, value) terms, all must hold."""

    terms: tuple[tuple[str, bool, str], ...]

    @classmethod
    def parse(cls, text: str, allowed: tuple[str, ...]) -> FieldSelector:
        terms: list[tuple[str, bool, str]] = []
        for part in _split_unescaped(text, ","):
            if not part:
                continue
            m = re.match(r"^([^=!]+)(==|!=|=)(.*)$", part)
            if m is None:
                raise SelectorError(f"invalid selector: '{text}'; can't understand '{part}'")
            name, op, value = m.group(1).strip(), m.group(2), _unescape(m.group(3))
            if name not in ("metadata.name", "metadata.namespace", *allowed):
                raise SelectorError(f"field label not supported: {name}")
            terms.append((name, op == "!=", value))
        return cls(tuple(terms))

    def exact_name(self) -> str | None:
        """The name a ``metadata.name=X`` term pins (RBAC then authorizes the list as a request on X)."""
        for name, negated, value in self.terms:
            if name == "metadata.name" and not negated:
                return value
        return None

    def matches(self, obj: Mapping[str, Any], lookup: Callable[[Mapping[str, Any], str], str]) -> bool:
        return all((lookup(obj, name) == value) != negated for name, negated, value in self.terms)


def _split_unescaped(text: str, sep: str) -> list[str]:
    parts, cur, escaped = [], "", False
    for ch in text:
        if escaped:
            cur += "\\" + ch
            escaped = False
        elif ch == "\\":
            escaped = True
        elif ch == sep:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    parts.append(cur)
    return parts


def _unescape(value: str) -> str:
    return re.sub(r"\\(.)", r"\1", value)
