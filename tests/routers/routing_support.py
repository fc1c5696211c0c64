"""Fixture objects and the "only the weights changed" comparison shared by the router tests."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import yaml

from progressive.routers.base import Target

__all__ = ["FIXTURES", "changed_paths", "load", "load_all", "set_path", "stripped", "target"]

FIXTURES = Path(__file__).parent / "fixtures"

JsonPath = tuple[str | int, ...]


def load_all(name: str) -> list[dict[str, Any]]:
    """Every document of a fixture file."""
    return [doc for doc in yaml.safe_load_all((FIXTURES / name).read_text(encoding="utf-8")) if doc]


def load(name: str) -> dict[str, Any]:
    """The single document of a fixture file."""
    (doc,) = load_all(name)
    return doc


def target(router: str, obj: dict[str, Any], stable: str, canary: str, **options: Any) -> Target:
    """A target for ``obj`` (namespace and name from its metadata)."""
    meta = obj["metadata"]
    return Target(router, meta["namespace"], meta["name"], stable, canary, **options)


def changed_paths(before: Any, after: Any, path: JsonPath = ()) -> set[JsonPath]:
    """Every leaf path whose value differs, was added or was removed between two JSON values."""
    if isinstance(before, dict) and isinstance(after, dict):
        out: set[JsonPath] = set()
        for key in before.keys() | after.keys():
            if key not in before or key not in after:
                out.add((*path, key))
            else:
                out |= changed_paths(before[key], after[key], (*path, key))
        return out
    if isinstance(before, list) and isinstance(after, list) and len(before) == len(after):
        out = set()
        for index, (left, right) in enumerate(zip(before, after, strict=True)):
            out |= changed_paths(left, right, (*path, index))
        return out
    return set() if before == after and type(before) is type(after) else {path}


def set_path(obj: dict[str, Any], path: JsonPath, value: Any) -> None:
    """Assign ``value`` at ``path`` (the last key is created if missing)."""
    node: Any = obj
    for step in path[:-1]:
        node = node[step]
    node[path[-1]] = value


SERVER_MANAGED = ("resourceVersion", "generation", "uid", "creationTimestamp", "managedFields")


def stripped(obj: dict[str, Any]) -> str:
    """``obj`` as JSON in its own key order, without server-managed metadata and status."""
    copied = copy.deepcopy(obj)
    copied.pop("status", None)
    for key in SERVER_MANAGED:
        copied.get("metadata", {}).pop(key, None)
    return json.dumps(copied, separators=(",", ":"))
