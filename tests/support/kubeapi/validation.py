"""The slice of built-in validation a step can trip over, with the API server's field paths and wording.

Only rules that a progressive-delivery step could break are here (the rest of Kubernetes validation is
not simulated):

* every kind (``apimachinery/pkg/api/validation/objectmeta.go``): label keys are qualified names, label
  values at most 63 characters of ``[A-Za-z0-9_.-]`` starting and ending alphanumeric; annotation keys
  are qualified names and all annotations together at most 256 KiB.
* Deployments and ReplicaSets (``pkg/apis/apps/validation``): a selector is required and must not be
  empty, the pod template's labels must match it (copying a canary template with other labels onto the
  stable Deployment fails this way), the selector is immutable, replicas are >= 0, and each container
  needs a name and an image.
* core/v1 Events (``pkg/apis/core/validation/events.go``): ``involvedObject.namespace`` must match the
  Event's namespace; an Event with ``eventTime`` needs ``reportingComponent`` and ``reportingInstance``.
* events.k8s.io/v1 Events: ``eventTime``, ``reportingController``, ``reportingInstance``, ``action``
  and ``reason`` are required and ``type`` is ``Normal`` or ``Warning``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from typing import Any

from tests.support.kubeapi.resources import ResourceType
from tests.support.kubeapi.selectors import LabelSelector, SelectorError
from tests.support.kubeapi.status import Cause

__all__ = ["validate"]

Obj = dict[str, Any]
Validator = Callable[[Obj, Obj | None], list[Cause]]


_QUALIFIED_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
_NAME_PART = (
    "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an "
    "alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is "
    "'([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"
)
_VALUE_RULE = (
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must "
    "start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for "
    "validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"
)
ANNOTATIONS_LIMIT = 256 * 1024


def _qualified_name(key: str, path: str) -> list[Cause]:
    """``validation.IsQualifiedName``: an optional DNS-subdomain prefix and a name of at most 63 characters."""
    prefix, _, name = key.rpartition("/")
    causes = []
    if "/" in key and (not prefix or len(prefix) > 253 or not _DNS_SUBDOMAIN.match(prefix)):
        causes.append(Cause("FieldValueInvalid", f'Invalid value: "{key}": prefix part must be a DNS subdomain', path))
    if not name:
        causes.append(Cause("FieldValueInvalid", f'Invalid value: "{key}": name part must be non-empty', path))
    elif len(name) > 63:
        causes.append(
            Cause("FieldValueInvalid", f'Invalid value: "{key}": name part must be no more than 63 characters', path)
        )
    elif not _QUALIFIED_NAME.match(name):
        causes.append(Cause("FieldValueInvalid", f'Invalid value: "{key}": {_NAME_PART}', path))
    return causes


def _object_meta(obj: Obj) -> list[Cause]:
    meta = obj.get("metadata") or {}
    causes: list[Cause] = []
    for key, value in (meta.get("labels") or {}).items():
        causes += _qualified_name(str(key), "metadata.labels")
        text = str(value)
        if len(text) > 63:
            causes.append(
                Cause(
                    "FieldValueInvalid",
                    f'Invalid value: "{text}": must be no more than 63 characters',
                    "metadata.labels",
                )
            )
        elif not _LABEL_VALUE.match(text):
            causes.append(Cause("FieldValueInvalid", f'Invalid value: "{text}": {_VALUE_RULE}', "metadata.labels"))
    annotations = meta.get("annotations") or {}
    for key in annotations:
        causes += [
            Cause(c.reason, c.message, "metadata.annotations")
            for c in _qualified_name(str(key).lower(), "metadata.annotations")
        ]
    size = sum(len(str(k)) + len(str(v)) for k, v in annotations.items())
    if size > ANNOTATIONS_LIMIT:
        causes.append(
            Cause("FieldValueTooLong", f"Too long: must have at most {ANNOTATIONS_LIMIT} bytes", "metadata.annotations")
        )
    return causes


def _go_map(labels: Mapping[str, Any]) -> str:
    """A Go ``map[string]string`` as ``%#v`` prints it (sorted keys), as validation messages show labels."""
    inner = ", ".join(f"{json.dumps(k)}:{json.dumps(v)}" for k, v in sorted(labels.items()))
    return f"map[string]string{{{inner}}}"


def _required(path: str) -> Cause:
    return Cause("FieldValueRequired", "Required value", path)


def _selector_matches(selector: Obj, labels: Mapping[str, str]) -> bool:
    terms = [f"{k}={v}" for k, v in (selector.get("matchLabels") or {}).items()]
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr.get("key", ""), expr.get("operator", ""), expr.get("values") or []
        if op == "In":
            terms.append(f"{key} in ({','.join(values)})")
        elif op == "NotIn":
            terms.append(f"{key} notin ({','.join(values)})")
        elif op == "Exists":
            terms.append(key)
        elif op == "DoesNotExist":
            terms.append(f"!{key}")
    try:
        return LabelSelector.parse(",".join(terms)).matches(labels)
    except SelectorError:
        return False


def _workload(obj: Obj, old: Obj | None) -> list[Cause]:
    causes: list[Cause] = []
    spec = obj.get("spec") or {}
    selector = spec.get("selector")
    replicas = spec.get("replicas")
    if isinstance(replicas, int) and replicas < 0:
        causes.append(
            Cause(
                "FieldValueInvalid", f"Invalid value: {replicas}: must be greater than or equal to 0", "spec.replicas"
            )
        )
    if not isinstance(selector, dict):
        causes.append(_required("spec.selector"))
    elif not selector.get("matchLabels") and not selector.get("matchExpressions"):
        causes.append(
            Cause(
                "FieldValueInvalid",
                f"Invalid value: {json.dumps(selector)}: empty selector is invalid for deployment",
                "spec.selector",
            )
        )
    else:
        labels = ((spec.get("template") or {}).get("metadata") or {}).get("labels") or {}
        if not _selector_matches(selector, labels):
            causes.append(
                Cause(
                    "FieldValueInvalid",
                    f"Invalid value: {_go_map(labels)}: `selector` does not match template `labels`",
                    "spec.template.metadata.labels",
                )
            )
        old_selector = ((old or {}).get("spec") or {}).get("selector")
        if old is not None and old_selector != selector:
            causes.append(
                Cause(
                    "FieldValueInvalid", f"Invalid value: {json.dumps(selector)}: field is immutable", "spec.selector"
                )
            )
    containers = ((spec.get("template") or {}).get("spec") or {}).get("containers")
    if not containers:
        causes.append(_required("spec.template.spec.containers"))
    else:
        for i, container in enumerate(containers):
            for key in ("name", "image"):
                if not (container or {}).get(key):
                    causes.append(_required(f"spec.template.spec.containers[{i}].{key}"))
    return causes


def _core_event(obj: Obj, old: Obj | None) -> list[Cause]:
    del old
    causes: list[Cause] = []
    namespace = (obj.get("metadata") or {}).get("namespace", "")
    involved = (obj.get("involvedObject") or {}).get("namespace", "")
    mismatch = Cause(
        "FieldValueInvalid", f'Invalid value: "{involved}": does not match event.namespace', "involvedObject.namespace"
    )
    if not obj.get("eventTime"):
        if (not involved and namespace not in ("", "default")) or (involved and involved != namespace):
            causes.append(mismatch)
    else:
        if not involved and namespace not in ("default", "kube-system"):
            causes.append(mismatch)
        if not obj.get("reportingComponent"):
            causes.append(_required("reportingComponent"))
        if not obj.get("reportingInstance"):
            causes.append(_required("reportingInstance"))
    return causes


def _events_v1(obj: Obj, old: Obj | None) -> list[Cause]:
    del old
    causes = [
        _required(key)
        for key in ("eventTime", "reportingController", "reportingInstance", "action", "reason")
        if not obj.get(key)
    ]
    if obj.get("type") not in ("Normal", "Warning"):
        causes.append(
            Cause("FieldValueInvalid", f'Invalid value: "": has invalid value: {obj.get("type", "")}', "type")
        )
    return causes


_VALIDATORS: dict[tuple[str, str], Validator] = {
    ("apps", "Deployment"): _workload,
    ("apps", "ReplicaSet"): _workload,
    ("", "Event"): _core_event,
    ("events.k8s.io", "Event"): _events_v1,
}


def validate(rt: ResourceType, obj: Obj, old: Obj | None) -> list[Cause]:
    """Field errors of ``obj`` (``old`` is the stored object on update), empty when valid."""
    check = _VALIDATORS.get((rt.group, rt.kind))
    return _object_meta(obj) + (check(obj, old) if check is not None else [])
