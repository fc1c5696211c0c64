"""JSON Schema check of each document against the vendored Tekton v1.15 schemas.

One Draft-07 schema per kind. The kind schemas leave embedded specs unchecked
(``x-kubernetes-preserve-unknown-fields``), so every inline ``taskSpec`` is checked with ``taskspec_v1.json``
and every inline ``pipelineSpec`` with the Pipeline schema's ``spec``, as Tekton's webhook would.

Two validators, one verdict: ``jsonschema_rs`` (compiled, about 30 times faster here) answers whether a document
passes, and only a document it does not pass goes to ``jsonschema``, which lists the errors, so the messages are
jsonschema's. That is safe because ``jsonschema_rs`` is never more lenient on these schemas: it is stricter in
places (its ``pattern`` ``$`` does not match before a final newline; it refuses NaN, dates and bytes, which it
cannot take), and those documents simply get the full check. The one thing it accepts that jsonschema does not
is a tuple as an array, so data that may hold types other than JSON's (``exact_json`` false) is looked through
first. ``tests/validate/test_schema.py`` holds both to the same verdict on many broken documents.

``jsonschema_rs`` only makes the check faster: where it is not installed (the step image leaves it out, see
``tools/image/requirements.lock``; the step never checks Tekton documents), jsonschema checks every document,
with the same verdicts and messages.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Iterator, Sequence
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING, Any

from progressive.validate._documents import items, mapping, path_text

__all__ = ["KIND_SCHEMAS", "schema_errors"]

KIND_SCHEMAS = {
    "Task": "task_v1.json",
    "Pipeline": "pipeline_v1.json",
    "TaskRun": "taskrun_v1.json",
    "PipelineRun": "pipelinerun_v1.json",
}
_TASK_SPEC = "taskspec_v1.json"
_PIPELINE_SPEC = "pipeline-spec"
_JSON_SCALARS = frozenset({str, int, float, bool, type(None)})


if TYPE_CHECKING:
    import jsonschema


@cache
def _schema(name: str) -> dict[str, Any]:
    if name == _PIPELINE_SPEC:
        pipeline = _schema(KIND_SCHEMAS["Pipeline"])
        return dict(pipeline["properties"]["spec"])
    loaded: dict[str, Any] = json.loads(resources.files(__package__).joinpath("schemas", name).read_text())
    return loaded


def _accelerator() -> Any:
    """The ``jsonschema_rs`` module, or None where it is not installed."""
    try:
        return importlib.import_module("jsonschema_rs")
    except ImportError:
        return None


_RS = _accelerator()


@cache
def _quick(name: str) -> Any:
    # Formats are not checked, as jsonschema does not check them without a format checker.
    return _RS.Draft7Validator(_schema(name), validate_formats=False)


@cache
def _validator(name: str) -> jsonschema.Draft7Validator:
    import jsonschema  # noqa: PLC0415 - 50 ms; only loaded when a document has schema errors

    return jsonschema.Draft7Validator(_schema(name))


def json_types_only(data: Any) -> bool:
    """Whether ``data`` holds only exact JSON types: dict, list, str, int, float, bool, None."""
    pending = [data]
    while pending:
        value = pending.pop()
        kind = type(value)
        if kind is dict:
            pending.extend(value.values())
        elif kind is list:
            pending.extend(value)
        elif kind not in _JSON_SCALARS:
            return False
    return True


def _passes(schema: str, data: Any, *, exact_json: bool) -> bool:
    """True only when ``data`` certainly has no errors against ``schema``; False means: ask jsonschema."""
    if _RS is None or not (exact_json or json_types_only(data)):
        return False
    try:
        return bool(_quick(schema).is_valid(data))
    except (ValueError, OverflowError):  # a value it cannot take (a non-str key, say): jsonschema tells
        return False


def _message(error: jsonschema.ValidationError) -> str:
    if error.validator == "additionalProperties":
        return str(error.message).replace("Additional properties are not allowed", "unknown field")
    if error.validator == "required":
        return str(error.message).replace("is a required property", "is required")
    return str(error.message)


def _errors(schema: str, data: Any, prefix: Sequence[str | int], *, exact_json: bool) -> Iterator[tuple[str, str]]:
    if _passes(schema, data, exact_json=exact_json):
        return
    for error in sorted(
        _validator(schema).iter_errors(data), key=lambda e: (list(map(str, e.absolute_path)), e.message)
    ):
        yield path_text([*prefix, *error.absolute_path]), _message(error)


def _embedded_pipeline(spec: Any, prefix: Sequence[str | int], *, exact_json: bool) -> Iterator[tuple[str, str]]:
    for section in ("tasks", "finally"):
        for index, task in enumerate(items(mapping(spec).get(section))):
            task_spec = mapping(task).get("taskSpec")
            if task_spec is not None:
                yield from _errors(_TASK_SPEC, task_spec, [*prefix, section, index, "taskSpec"], exact_json=exact_json)


def schema_errors(document: Any, *, exact_json: bool = False) -> Iterator[tuple[str, str]]:
    """``(path, message)`` for every schema violation of a Tekton document, embedded specs included.

    ``exact_json``: the caller knows ``document`` holds only exact JSON types (the compiler's documents do),
    which saves looking through it before the quick check.
    """
    kind = mapping(document).get("kind")
    schema = KIND_SCHEMAS.get(kind) if isinstance(kind, str) else None
    if schema is None:
        return
    yield from _errors(schema, document, [], exact_json=exact_json)
    spec = mapping(mapping(document).get("spec"))
    if kind == "Pipeline":
        yield from _embedded_pipeline(spec, ["spec"], exact_json=exact_json)
    elif kind == "PipelineRun" and "pipelineSpec" in spec:
        pipeline_spec = spec["pipelineSpec"]
        yield from _errors(_PIPELINE_SPEC, pipeline_spec, ["spec", "pipelineSpec"], exact_json=exact_json)
        yield from _embedded_pipeline(pipeline_spec, ["spec", "pipelineSpec"], exact_json=exact_json)
    elif kind == "TaskRun" and "taskSpec" in spec:
        yield from _errors(_TASK_SPEC, spec["taskSpec"], ["spec", "taskSpec"], exact_json=exact_json)
