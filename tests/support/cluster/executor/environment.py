"""A container's environment and command line, resolved the way the kubelet resolves them.

* ``env`` in order, each ``value`` expanded against the variables defined before it; ``valueFrom`` from a Secret or
  ConfigMap key, or a ``fieldRef`` of the pod (``metadata.name``, ``metadata.namespace``, ``metadata.uid``,
  ``metadata.labels['k']``, ``metadata.annotations['k']``, ``spec.nodeName``, ``spec.serviceAccountName``,
  ``status.podIP``, ``status.hostIP``);
* ``envFrom`` (ConfigMap or Secret, with ``prefix``) first, then ``env``, as the kubelet orders them;
* ``$(VAR)`` in ``command`` and ``args`` expanded from that environment, ``$$`` escaping a ``$``, and a reference to
  an undefined variable left as written (``k8s.io/kubernetes/third_party/forked/golang/expansion``).

A missing key or object that is not ``optional`` is a :class:`ConfigError`, which the kubelet reports as
``CreateContainerConfigError`` while it keeps retrying. A source the executor cannot resolve is
:class:`~.unsupported.Unsupported` (normally caught before the pod starts, by :func:`~.unsupported.check`).
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Mapping
from typing import Any

from tests.support.cluster.executor.unsupported import Unsupported, check_field_path

__all__ = ["ConfigError", "Lookup", "expand", "pod_field", "resolve_env"]

Obj = dict[str, Any]
Lookup = Callable[[str, str], Obj | None]
"""``lookup(kind, name)``: the pod namespace's ``ConfigMap`` or ``Secret`` of that name, or None."""


class ConfigError(Exception):
    """The container cannot be configured yet (the kubelet's ``CreateContainerConfigError``)."""


def expand(text: str, variables: Mapping[str, str]) -> str:
    """Expand ``$(NAME)`` from ``variables``; ``$$`` is a literal ``$``; unknown names stay as written."""
    out: list[str] = []
    i = 0
    while i < len(text):
        char = text[i]
        if char != "$" or i + 1 == len(text):
            out.append(char)
            i += 1
            continue
        following = text[i + 1]
        if following == "$":
            out.append("$")
            i += 2
        elif following == "(":
            end = text.find(")", i + 2)
            if end == -1:
                out.append(text[i:])
                break
            name = text[i + 2 : end]
            out.append(variables[name] if name in variables else text[i : end + 1])
            i = end + 1
        else:
            out.append(char)
            i += 1
    return "".join(out)


def pod_field(pod: Obj, path: str) -> str:
    """The value of a ``fieldRef`` path of ``pod``, as the kubelet resolves it."""
    match = check_field_path(path)
    metadata, spec, status = pod["metadata"], pod["spec"], pod.get("status") or {}
    simple = {
        "metadata.name": metadata.get("name"),
        "metadata.namespace": metadata.get("namespace"),
        "metadata.uid": metadata.get("uid"),
        "spec.nodeName": spec.get("nodeName"),
        "spec.serviceAccountName": spec.get("serviceAccountName"),
        "status.podIP": status.get("podIP", ""),
        "status.hostIP": status.get("hostIP", ""),
    }
    if match is None:
        return str(simple[path] or "")
    return str((metadata.get(match.group(1)) or {}).get(match.group(2), ""))


def _key(lookup: Lookup, kind: str, ref: Obj) -> str | None:
    obj = lookup(kind, ref["name"])
    optional = bool(ref.get("optional"))
    if obj is None:
        if optional:
            return None
        raise ConfigError(f'{kind.lower()} "{ref["name"]}" not found')
    if kind == "Secret":
        data = {k: base64.b64decode(v).decode() for k, v in (obj.get("data") or {}).items()}
    else:
        data = dict(obj.get("data") or {})
    if ref["key"] not in data:
        if optional:
            return None
        raise ConfigError(f"couldn't find key {ref['key']} in {kind} {obj['metadata']['namespace']}/{ref['name']}")
    return data[ref["key"]]


def _from_source(lookup: Lookup, source: Obj) -> dict[str, str]:
    prefix = source.get("prefix", "")
    for kind, field in (("ConfigMap", "configMapRef"), ("Secret", "secretRef")):
        ref = source.get(field)
        if ref is None:
            continue
        obj = lookup(kind, ref["name"])
        if obj is None:
            if ref.get("optional"):
                return {}
            raise ConfigError(f'{kind.lower()} "{ref["name"]}" not found')
        data = obj.get("data") or {}
        if kind == "Secret":
            return {prefix + k: base64.b64decode(v).decode() for k, v in data.items()}
        return {prefix + k: v for k, v in data.items()}
    raise Unsupported(f"envFrom source {sorted(source)}")


def resolve_env(pod: Obj, container: Obj, lookup: Lookup) -> dict[str, str]:
    """The container's environment (``envFrom``, then ``env``), or :class:`ConfigError`."""
    variables: dict[str, str] = {}
    for source in container.get("envFrom") or []:
        variables.update(_from_source(lookup, source))
    for entry in container.get("env") or []:
        name = entry["name"]
        if "valueFrom" not in entry:
            variables[name] = expand(entry.get("value", ""), variables)
            continue
        source = entry["valueFrom"]
        if "fieldRef" in source:
            variables[name] = pod_field(pod, source["fieldRef"]["fieldPath"])
        elif "secretKeyRef" in source or "configMapKeyRef" in source:
            kind = "Secret" if "secretKeyRef" in source else "ConfigMap"
            value = _key(lookup, kind, source["secretKeyRef" if kind == "Secret" else "configMapKeyRef"])
            if value is not None:
                variables[name] = value
        else:
            raise Unsupported(f"env {name} from {', '.join(sorted(source))}")
    return variables
