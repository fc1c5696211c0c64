"""The four PATCH flavours of the API server, applied to plain JSON values.

* JSON merge patch (RFC 7386): maps merge, ``null`` deletes, anything else (lists included) replaces.
* JSON patch (RFC 6902): ``add``, ``remove``, ``replace``, ``move``, ``copy``, ``test`` on RFC 6901 pointers.
  A failed operation raises :class:`PatchFailed` (the server answers 422, like ``evanphx/json-patch``
  behind kube-apiserver).
* Strategic merge patch (``k8s.io/apimachinery/pkg/util/strategicpatch``) for built-in kinds: lists with a
  merge key merge element by element, ``$patch: delete|replace|merge``, ``$retainKeys``,
  ``$deleteFromPrimitiveList/<f>`` and ``$setElementOrder/<f>`` directives (what ``kubectl patch`` and
  ``kubectl apply`` send).
* Server-side apply, simplified: see :func:`apply_patch`.

Key order is kept: existing keys stay where they are, new keys are appended, so "the rest of the object is
byte-for-byte unchanged" can be asserted on what the server stores.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from tests.support.kubeapi.resources import FieldMeta

__all__ = ["PatchError", "PatchFailed", "apply_patch", "json_patch", "merge_patch", "strategic_merge_patch"]

Json = Any


class PatchError(ValueError):
    """The patch document itself is malformed (the server answers 400 BadRequest)."""


class PatchFailed(ValueError):
    """A well-formed JSON patch whose operation cannot apply, e.g. a failed ``test`` (the server answers 422)."""


# -- RFC 7386 -------------------------------------------------------------------------------------------


def merge_patch(target: Json, patch: Json) -> Json:
    """Apply a JSON merge patch; returns a new value, ``target`` is not modified."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result: dict[str, Json] = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        elif isinstance(value, dict):
            result[key] = merge_patch(result.get(key), value)
        else:
            result[key] = copy.deepcopy(value)
    return result


# -- RFC 6902 -------------------------------------------------------------------------------------------


def _pointer(path: Json) -> list[str]:
    if not isinstance(path, str):
        raise PatchError(f"json patch path must be a string, got {path!r}")
    if path == "":
        return []
    if not path.startswith("/"):
        raise PatchError(f"json patch path {path!r} must start with '/'")
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def _index(container: list[Json], token: str, path: str, *, for_add: bool) -> int:
    if for_add and token == "-":
        return len(container)
    if not token.isdigit() or (token.startswith("0") and token != "0"):
        raise PatchFailed(f"invalid array index {token!r} in {path}")
    i = int(token)
    limit = len(container) if for_add else len(container) - 1
    if i > limit:
        raise PatchFailed(f"array index {i} out of bounds in {path}")
    return i


def _parent(doc: Json, tokens: list[str], path: str) -> Json:
    node = doc
    for token in tokens[:-1]:
        if isinstance(node, dict):
            if token not in node:
                raise PatchFailed(f"doc is missing path: {path}")
            node = node[token]
        elif isinstance(node, list):
            node = node[_index(node, token, path, for_add=False)]
        else:
            raise PatchFailed(f"doc is missing path: {path}")
    return node


def _get(doc: Json, path: str) -> Json:
    tokens = _pointer(path)
    if not tokens:
        return doc
    parent = _parent(doc, tokens, path)
    last = tokens[-1]
    if isinstance(parent, dict):
        if last not in parent:
            raise PatchFailed(f"doc is missing key: {path}")
        return parent[last]
    if isinstance(parent, list):
        return parent[_index(parent, last, path, for_add=False)]
    raise PatchFailed(f"doc is missing path: {path}")


def _add(doc: Json, path: str, value: Json) -> Json:
    tokens = _pointer(path)
    if not tokens:
        return value
    parent = _parent(doc, tokens, path)
    last = tokens[-1]
    if isinstance(parent, dict):
        parent[last] = value
    elif isinstance(parent, list):
        parent.insert(_index(parent, last, path, for_add=True), value)
    else:
        raise PatchFailed(f"doc is missing path: {path}")
    return doc


def _replace(doc: Json, path: str, value: Json) -> Json:
    """Replace in place, so a replaced key keeps its position in the object."""
    tokens = _pointer(path)
    if not tokens:
        return value
    parent = _parent(doc, tokens, path)
    last = tokens[-1]
    if isinstance(parent, dict) and last in parent:
        parent[last] = value
    elif isinstance(parent, list):
        parent[_index(parent, last, path, for_add=False)] = value
    else:
        raise PatchFailed(f"replace operation does not apply: doc is missing key: {path}")
    return doc


def _remove(doc: Json, path: str) -> tuple[Json, Json]:
    tokens = _pointer(path)
    if not tokens:
        raise PatchFailed("cannot remove the whole document")
    parent = _parent(doc, tokens, path)
    last = tokens[-1]
    if isinstance(parent, dict):
        if last not in parent:
            raise PatchFailed(f"remove operation does not apply: doc is missing path: {path}")
        return doc, parent.pop(last)
    if isinstance(parent, list):
        return doc, parent.pop(_index(parent, last, path, for_add=False))
    raise PatchFailed(f"remove operation does not apply: doc is missing path: {path}")


def _equal(a: Json, b: Json) -> bool:
    """JSON equality: 1 == 1.0, but True != 1 (Python would say equal)."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_equal(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_equal(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b) and (isinstance(a, (int, float)) == isinstance(b, (int, float)))


def json_patch(target: Json, operations: Json) -> Json:
    """Apply an RFC 6902 patch atomically: a failing operation leaves nothing applied."""
    if not isinstance(operations, list):
        raise PatchError("json patch must be a JSON array of operations")
    doc = copy.deepcopy(target)
    for op in operations:
        if not isinstance(op, dict) or "op" not in op:
            raise PatchError(f"json patch operation must be an object with an 'op': {op!r}")
        kind = op["op"]
        path = op.get("path")
        if not isinstance(path, str):
            raise PatchError(f"json patch operation {kind!r} needs a string 'path', got {path!r}")
        src = op.get("from", "")
        if kind in ("move", "copy") and not isinstance(src, str):
            raise PatchError(f"json patch {kind} operation needs a string 'from', got {src!r}")
        if kind in ("add", "replace", "test") and "value" not in op:
            raise PatchError(f"json patch {kind} operation at {path!r} has no 'value'")
        if kind == "add":
            doc = _add(doc, path, copy.deepcopy(op["value"]))
        elif kind == "remove":
            doc, _ = _remove(doc, path)
        elif kind == "replace":
            doc = _replace(doc, path, copy.deepcopy(op["value"]))
        elif kind == "move":
            if path.startswith(src + "/"):
                raise PatchFailed(f"cannot move {src} into its own child {path}")
            doc, value = _remove(doc, src)
            doc = _add(doc, path, value)
        elif kind == "copy":
            doc = _add(doc, path, copy.deepcopy(_get(doc, src)))
        elif kind == "test":
            if not _equal(_get(doc, path), op["value"]):
                raise PatchFailed(f"testing value {path} failed: test failed")
        else:
            raise PatchError(f"unknown json patch operation {kind!r}")
    return doc


# -- strategic merge ------------------------------------------------------------------------------------

_DIRECTIVE = "$patch"
_RETAIN = "$retainKeys"
_ORDER = "$setElementOrder/"
_DELETE_PRIMITIVE = "$deleteFromPrimitiveList/"


def strategic_merge_patch(target: Json, patch: Json, meta: Mapping[str, FieldMeta]) -> Json:
    """Apply a strategic merge patch with the kind's merge metadata; returns a new value."""
    if not isinstance(patch, dict):
        raise PatchError("strategic merge patch must be a JSON object")
    base = copy.deepcopy(target) if isinstance(target, dict) else {}
    return _smp_map(base, patch, meta)


def _smp_map(target: dict[str, Json], patch: dict[str, Json], meta: Mapping[str, FieldMeta]) -> dict[str, Json]:
    directive = patch.get(_DIRECTIVE)
    if directive == "replace":
        return {k: copy.deepcopy(v) for k, v in patch.items() if k != _DIRECTIVE}
    if directive == "delete":
        return {}
    if directive not in (None, "merge"):
        raise PatchError(f"unknown patch type: {directive!r}")
    retain = patch.get(_RETAIN)
    if retain is not None:
        if not isinstance(retain, list):
            raise PatchError(f"$retainKeys must be a list, got {retain!r}")
        for key in list(target):
            if key not in retain:
                del target[key]
    for key, value in patch.items():
        if key in (_DIRECTIVE, _RETAIN) or key.startswith(_ORDER):
            continue
        if key.startswith(_DELETE_PRIMITIVE):
            name = key[len(_DELETE_PRIMITIVE) :]
            current = target.get(name)
            if isinstance(current, list) and isinstance(value, list):
                target[name] = [x for x in current if x not in value]
            continue
        field_meta = meta.get(key, FieldMeta())
        if value is None:
            target.pop(key, None)
        elif isinstance(value, dict):
            current = target.get(key)
            target[key] = _smp_map(current if isinstance(current, dict) else {}, value, field_meta.fields)
            if value.get(_DIRECTIVE) == "delete":
                del target[key]
        elif isinstance(value, list):
            target[key] = _smp_list(target.get(key), value, field_meta)
        else:
            target[key] = copy.deepcopy(value)
    for key, order in patch.items():
        if key.startswith(_ORDER) and isinstance(order, list):
            name = key[len(_ORDER) :]
            if isinstance(target.get(name), list):
                target[name] = _reorder(target[name], order, meta.get(name, FieldMeta()).merge_key)
    return target


def _smp_list(current: Json, patch: list[Json], meta: FieldMeta) -> list[Json]:
    if "merge" not in meta.strategy.split(","):
        # no patch strategy: the list is atomic, but directives inside must not leak into the object
        return [copy.deepcopy(x) for x in patch if not (isinstance(x, dict) and _DIRECTIVE in x)]
    base: list[Json] = copy.deepcopy(current) if isinstance(current, list) else []
    if not meta.merge_key:
        # a merged list of primitives: union, order of first appearance
        for item in patch:
            if isinstance(item, dict) and item.get(_DIRECTIVE) == "replace":
                return [copy.deepcopy(x) for x in patch if not (isinstance(x, dict) and _DIRECTIVE in x)]
            if item not in base:
                base.append(copy.deepcopy(item))
        return base
    key = meta.merge_key
    if any(isinstance(x, dict) and x.get(_DIRECTIVE) == "replace" for x in patch):
        return [copy.deepcopy(x) for x in patch if not (isinstance(x, dict) and _DIRECTIVE in x)]
    for item in patch:
        if not isinstance(item, dict):
            raise PatchError(f"list merged on {key!r} needs objects, got {item!r}")
        if key not in item:
            raise PatchError(f"map: {item!r} does not contain declared merge key: {key}")
        found = next((i for i, x in enumerate(base) if isinstance(x, dict) and x.get(key) == item[key]), None)
        if item.get(_DIRECTIVE) == "delete":
            if found is not None:
                base.pop(found)
            continue
        if found is None:
            base.append(_smp_map({}, item, meta.fields))
        else:
            base[found] = _smp_map(base[found], item, meta.fields)
    return base


def _reorder(items: list[Json], order: list[Json], merge_key: str) -> list[Json]:
    """``$setElementOrder``: listed elements first in the given order, the others after, as they were."""

    def ident(x: Json) -> Json:
        if merge_key and isinstance(x, dict):
            return x.get(merge_key)
        return x

    wanted = [ident(o) for o in order]
    ranked = sorted(
        enumerate(items),
        key=lambda pair: (wanted.index(ident(pair[1])) if ident(pair[1]) in wanted else len(wanted), pair[0]),
    )
    return [item for _, item in ranked]


# -- server-side apply (simplified) ---------------------------------------------------------------------


def apply_patch(
    live: Json,
    applied: dict[str, Json],
    previous: dict[str, Json] | None,
    meta: Mapping[str, FieldMeta],
) -> dict[str, Json]:
    """Server-side apply without field ownership.

    The applied configuration is merged into the live object (maps recursively, lists with a known merge
    key element by element, other lists replaced), and every field this field manager applied last time
    but no longer applies is removed. Conflicts between managers are not detected (every apply behaves as
    ``force=true``), and a field another manager also set is removed all the same when this manager drops
    it. Enough for create-or-update of Tasks, Pipelines and RBAC, and for re-applying the same manifest
    as a no-op.
    """
    base: dict[str, Json] = copy.deepcopy(live) if isinstance(live, dict) else {}
    if previous:
        _prune(base, previous, applied, meta)
    return _apply_map(base, applied, meta)


def _apply_map(target: dict[str, Json], applied: dict[str, Json], meta: Mapping[str, FieldMeta]) -> dict[str, Json]:
    for key, value in applied.items():
        field_meta = meta.get(key, FieldMeta())
        current = target.get(key)
        if isinstance(value, dict) and isinstance(current, dict):
            target[key] = _apply_map(current, value, field_meta.fields)
        elif isinstance(value, list) and isinstance(current, list) and field_meta.merge_key:
            merged = list(current)
            for item in value:
                k = item.get(field_meta.merge_key) if isinstance(item, dict) else None
                at = next(
                    (i for i, x in enumerate(merged) if isinstance(x, dict) and x.get(field_meta.merge_key) == k), None
                )
                if at is None or not isinstance(item, dict):
                    merged.append(copy.deepcopy(item))
                else:
                    merged[at] = _apply_map(merged[at], item, field_meta.fields)
            target[key] = merged
        else:
            target[key] = copy.deepcopy(value)
    return target


def _prune(
    target: dict[str, Json], previous: dict[str, Json], applied: dict[str, Json], meta: Mapping[str, FieldMeta]
) -> None:
    for key, old in previous.items():
        if key not in target:
            continue
        if key not in applied:
            del target[key]
            continue
        new = applied[key]
        field_meta = meta.get(key, FieldMeta())
        if isinstance(old, dict) and isinstance(new, dict) and isinstance(target[key], dict):
            _prune(target[key], old, new, field_meta.fields)
        elif isinstance(old, list) and isinstance(new, list) and field_meta.merge_key and isinstance(target[key], list):
            mk = field_meta.merge_key
            kept = {x.get(mk) for x in new if isinstance(x, dict)}
            dropped = {x.get(mk) for x in old if isinstance(x, dict)} - kept
            target[key] = [x for x in target[key] if not (isinstance(x, dict) and x.get(mk) in dropped)]
