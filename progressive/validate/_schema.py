"""JSON Schema check of each document against the vendored Tekton v1.15 schemas.

One Draft-07 validator per kind, built once. The kind schemas leave embedded specs unchecked
(``x-kubernetes-preserve-unknown-fields``), so every inline ``taskSpec`` is checked with ``taskspec_v1.json``
and every inline ``pipelineSpec`` with the Pipeline schema's ``spec``, as Tekton's webhook would.
"""

from __future__ import annotations

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


if TYPE_CHECKING:
    import jsonschema


@cache
def _validator(name: str) -> jsonschema.Draft7Validator:
    import jsonschema  # noqa: PLC0415 - 50 ms; only loaded when something is checked

    if name == _PIPELINE_SPEC:
        pipeline = json.loads(resources.files(__package__).joinpath("schemas", KIND_SCHEMAS["Pipeline"]).read_text())
        return jsonschema.Draft7Validator(pipeline["properties"]["spec"])
    schema = json.loads(resources.files(__package__).joinpath("schemas", name).read_text())
    return jsonschema.Draft7Validator(schema)


def _message(error: jsonschema.ValidationError) -> str:
    if error.validator == "additionalProperties":
        return str(error.message).replace("Additional properties are not allowed", "unknown field")
    if error.validator == "required":
        return str(error.message).replace("is a required property", "is required")
    return str(error.message)


def _errors(schema: str, data: Any, prefix: Sequence[str | int]) -> Iterator[tuple[str, str]]:
    for error in sorted(
        _validator(schema).iter_errors(data), key=lambda e: (list(map(str, e.absolute_path)), e.message)
    ):
        yield path_text([*prefix, *error.absolute_path]), _message(error)


def _embedded_pipeline(spec: Any, prefix: Sequence[str | int]) -> Iterator[tuple[str, str]]:
    for section in ("tasks", "finally"):
        for index, task in enumerate(items(mapping(spec).get(section))):
            task_spec = mapping(task).get("taskSpec")
            if task_spec is not None:
                yield from _errors(_TASK_SPEC, task_spec, [*prefix, section, index, "taskSpec"])


def schema_errors(document: Any) -> Iterator[tuple[str, str]]:
    """``(path, message)`` for every schema violation of a Tekton document, embedded specs included."""
    kind = mapping(document).get("kind")
    schema = KIND_SCHEMAS.get(kind) if isinstance(kind, str) else None
    if schema is None:
        return
    yield from _errors(schema, document, [])
    spec = mapping(mapping(document).get("spec"))
    if kind == "Pipeline":
        yield from _embedded_pipeline(spec, ["spec"])
    elif kind == "PipelineRun" and "pipelineSpec" in spec:
        yield from _errors(_PIPELINE_SPEC, spec["pipelineSpec"], ["spec", "pipelineSpec"])
        yield from _embedded_pipeline(spec["pipelineSpec"], ["spec", "pipelineSpec"])
    elif kind == "TaskRun" and "taskSpec" in spec:
        yield from _errors(_TASK_SPEC, spec["taskSpec"], ["spec", "taskSpec"])
