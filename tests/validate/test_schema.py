"""The schema check: jsonschema's messages, word for word, and a quick check that agrees with jsonschema.

``progressive.validate._schema`` asks the compiled ``jsonschema_rs`` whether a document passes and lets
``jsonschema`` list the errors of one that does not. These tests pin the messages (as jsonschema alone gave them
before the quick check existed) and hold the two to the same verdict on many broken documents.
"""

from __future__ import annotations

import copy
import datetime
from typing import Any

import jsonschema
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from progressive.compile import compile_rollout
from progressive.validate._schema import KIND_SCHEMAS, _passes, _schema, schema_errors
from tests.compile.rollouts import everything
from tests.validate.documents import STEP, pipeline, pipeline_run, ref, task

QUANTITY = (
    r"^(\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|([eE](\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))))?$"
)

CASES: list[tuple[str, Any, list[tuple[str, str]]]] = [
    (
        "unknown field",
        pipeline([ref("a", runafter=["a"])]),
        [("spec.tasks[0]", "unknown field ('runafter' was unexpected)")],
    ),
    (
        "required",
        {"apiVersion": "tekton.dev/v1", "kind": "Task", "spec": task()["spec"]},
        [("", "'metadata' is required")],
    ),
    (
        "wrong type",
        task(steps=[{**STEP, "command": "true"}]),
        [("spec.steps[0].command", "'true' is not of type 'array'")],
    ),
    (
        "pattern",
        task(steps=[{**STEP, "computeResources": {"limits": {"memory": "1 Gi"}}}]),
        [("spec.steps[0].computeResources.limits.memory", f"'1 Gi' does not match {QUANTITY!r}")],
    ),
    # jsonschema_rs refuses these where jsonschema passes them (Python's $ matches before a final newline):
    ("pattern before a newline", task(steps=[{**STEP, "computeResources": {"limits": {"memory": "1Gi\n"}}}]), []),
    # jsonschema_rs takes a tuple for an array; jsonschema does not, nor does YAML ever give one but !!omap:
    (
        "tuple",
        task(steps=[{**STEP, "command": ("true",)}]),
        [("spec.steps[0].command", "('true',) is not of type 'array'")],
    ),
    # types jsonschema_rs cannot take at all (YAML gives dates; keys may be numbers):
    (
        "date",
        task(steps=[{**STEP, "image": datetime.date(2024, 1, 1)}]),
        [("spec.steps[0].image", "datetime.date(2024, 1, 1) is not of type 'string'")],
    ),
    ("number key", task(steps=[{**STEP, 1: "x"}]), [("spec.steps[0]", "unknown field (1 was unexpected)")]),
    (
        "nan",
        task(steps=[{**STEP, "timeout": float("nan")}]),
        [("spec.steps[0].timeout", "nan is not of type 'string'")],
    ),
    (
        "inline taskSpec",
        pipeline([{"name": "a", "taskSpec": {"steps": [{"name": "main", "imag": "x"}]}}]),
        [("spec.tasks[0].taskSpec.steps[0]", "unknown field ('imag' was unexpected)")],
    ),
    (
        "pipelineSpec",
        pipeline_run(pipelineRef=None, pipelineSpec={"tasks": [{"name": "a", "taskRef": {"name": 1}}]}),
        [
            ("spec.pipelineRef", "None is not of type 'object'"),
            ("spec.pipelineSpec.tasks[0].taskRef.name", "1 is not of type 'string'"),
        ],
    ),
]


@pytest.mark.parametrize(("document", "expected"), [case[1:] for case in CASES], ids=[case[0] for case in CASES])
def test_messages_are_jsonschemas(document: Any, expected: list[tuple[str, str]]) -> None:
    assert list(schema_errors(document)) == expected


def test_a_tuple_is_looked_for_unless_the_caller_vouches_for_json_types() -> None:
    document = task(steps=[{**STEP, "command": ("true",)}])
    assert list(schema_errors(document)) != []
    assert list(schema_errors(document, exact_json=True)) == []  # the compiler's emitter refuses tuples instead


_COMPILED = [doc for doc in compile_rollout(everything()).documents() if doc["kind"] in KIND_SCHEMAS]
_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 3),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from(["", "x", "1Gi", "1 Gi", "-5", "Always", "$(params.image)", "tekton.dev/v1"]),
    st.just([]),
    st.just({}),
    st.just(["x"]),
    st.just({"name": "x"}),
)


def _paths(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [path]
    if isinstance(value, dict):
        for key, item in value.items():
            found += _paths(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += _paths(item, (*path, index))
    return found


def _break(document: dict[str, Any], path: tuple[Any, ...], how: str, value: Any) -> dict[str, Any]:
    broken = copy.deepcopy(document)
    if not path:
        return broken
    *parents, last = path
    holder: Any = broken
    for part in parents:
        holder = holder[part]
    if how == "replace":
        holder[last] = value
    elif how == "delete":
        del holder[last]
    elif isinstance(holder[last], dict):
        holder[last]["unknownField"] = value
    return broken


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_the_quick_check_agrees_with_jsonschema(data: st.DataObject) -> None:
    document = data.draw(st.sampled_from(_COMPILED))
    schema = KIND_SCHEMAS[document["kind"]]
    for _ in range(data.draw(st.integers(1, 3))):
        path = data.draw(st.sampled_from(_paths(document)))
        how = data.draw(st.sampled_from(["replace", "delete", "add"]))
        document = _break(document, path, how, data.draw(_VALUES))
    full = jsonschema.Draft7Validator(_schema(schema))
    assert _passes(schema, document, exact_json=True) == full.is_valid(document)
