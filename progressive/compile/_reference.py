"""``docs/reference.md``: every model field, generated from the pydantic models themselves.

Types are rendered from the annotations (``duration > 0``, ``DNS label``, ``list of Step``), defaults from the
fields, prose from the class docstrings and field descriptions, so the page cannot drift from the code; a
test regenerates it and compares.
"""

from __future__ import annotations

import inspect
import types
import typing
from collections.abc import Sequence
from typing import Any

import annotated_types
from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from progressive.model import (
    SMI,
    Analysis,
    Analyze,
    Approve,
    Contour,
    GatewayAPI,
    Istio,
    NginxIngress,
    Notifications,
    Pause,
    Prometheus,
    ReplicaRatio,
    RollbackPolicy,
    Rollout,
    Run,
    SequentialJudge,
    SetWeight,
    ThresholdCheck,
    ThresholdJudge,
    Timeouts,
    Traefik,
    Webhook,
    Workload,
)
from progressive.model.flags import FeatureFlagSource, FlagdConfigMap, FlagTarget, SetFlag

__all__ = ["SECTIONS", "markdown_cell", "model_reference"]

SECTIONS: tuple[tuple[str, str, tuple[type[BaseModel], ...]], ...] = (
    ("The rollout", "", (Rollout, Workload)),
    (
        "Routers",
        "`Rollout.router` is one of these, told apart by `type`.",
        (GatewayAPI, Istio, NginxIngress, Traefik, SMI, Contour, ReplicaRatio),
    ),
    (
        "Steps",
        "`Rollout.steps` is a list of these, told apart by `kind`.",
        (SetWeight, SetFlag, Pause, Analyze, Approve, Run),
    ),
    (
        "Feature flags",
        "`Rollout.flag`: the OpenFeature/flagd flag SetFlag steps ramp; `FlagTarget.source` is one of these, told "
        "apart by `kind`.",
        (FlagTarget, FeatureFlagSource, FlagdConfigMap),
    ),
    (
        "Analysis",
        "`Analysis.judge` is one of the judges, told apart by `type`.",
        (Analysis, Prometheus, SequentialJudge, ThresholdJudge, ThresholdCheck),
    ),
    ("Policies", "", (RollbackPolicy, Timeouts, Webhook, Notifications)),
)
"""Sections of the page and the models in each, in reading order."""

_VALIDATOR_NAMES = {
    "_check_duration": "duration",
    "_check_positive_duration": "duration > 0",
    "_check_label": "DNS label",
    "_check_subdomain": "DNS subdomain",
    "_check_weight": "weight 0-100",
    "check_image": "image reference",
    "_check_no_substitution": "string without $(",
    "_check_flag_name": "flag or variant name",
}


_TAGS = {"type", "kind"}
"""Discriminator fields: fixed per model, they tell the union members apart."""


def _anchor(model: type[BaseModel]) -> str:
    return f"[{model.__name__}](#{model.__name__.lower()})"


def _constraint(item: Any) -> str | None:
    if isinstance(item, annotated_types.Ge):
        return f">= {item.ge}"
    if isinstance(item, annotated_types.Gt):
        return f"> {item.gt}"
    if isinstance(item, annotated_types.Le):
        return f"<= {item.le}"
    if isinstance(item, annotated_types.Lt):
        return f"< {item.lt}"
    if isinstance(item, annotated_types.MinLen):
        return f"at least {item.min_length}"
    return None


def _type(annotation: Any, metadata: Sequence[Any] = ()) -> str:
    """Readable type of an annotation plus its metadata (validators, bounds)."""
    names = [
        _VALIDATOR_NAMES[name]
        for item in metadata
        if (name := getattr(getattr(item, "func", None), "__name__", "")) in _VALIDATOR_NAMES
    ]
    bounds = [text for item in metadata if (text := _constraint(item)) is not None]
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Annotated:
        return _type(args[0], [*args[1:], *metadata])
    if names:
        text = names[-1]
    elif origin in (typing.Union, types.UnionType):
        text = " | ".join(_type(arg) for arg in args)
    elif origin is typing.Literal:
        text = " | ".join(f'`"{arg}"`' if isinstance(arg, str) else f"`{arg}`" for arg in args)
    elif origin in (Sequence, tuple, list) or (origin is not None and issubclass(origin, Sequence)):
        text = f"list of {_type(args[0])}"
    elif origin is dict:
        text = f"map of {_type(args[0])} to {_type(args[1])}"
    elif inspect.isclass(annotation) and issubclass(annotation, BaseModel):
        text = _anchor(annotation)
    elif annotation is type(None):
        text = "None"
    else:
        text = getattr(annotation, "__name__", str(annotation))
    return " ".join([text, *bounds])


def _default(field: FieldInfo) -> str:
    if field.default_factory is not None:
        value = field.default_factory()  # type: ignore[call-arg]
    elif field.default is PydanticUndefined:
        return "required"
    else:
        value = field.default
    if isinstance(value, BaseModel):
        return f"`{type(value).__name__}()`"
    if isinstance(value, str):
        return f'`"{value}"`'
    if isinstance(value, tuple | list | dict) and not value:
        return "empty"
    return f"`{value!r}`"


def markdown_cell(text: str) -> str:
    """``text`` as one Markdown table cell: on one line, ``|`` escaped."""
    return " ".join(text.replace("|", "\\|").split())


def _model_section(model: type[BaseModel]) -> list[str]:
    doc = inspect.cleandoc(model.__doc__ or "")
    lines = [
        f"### {model.__name__}",
        "",
        doc,
        "",
        "| field | type | default | description |",
        "| --- | --- | --- | --- |",
    ]
    for name, field in model.model_fields.items():
        shown = f"`{field.alias}` (`{name}` in Python)" if field.alias and field.alias != name else f"`{name}`"
        kind = _type(field.annotation, field.metadata)
        description = field.description or ("Selects this model where a union is expected." if name in _TAGS else "")
        lines.append(f"| {shown} | {markdown_cell(kind)} | {_default(field)} | {markdown_cell(description)} |")
    lines.append("")
    return lines


def model_reference() -> str:
    """The whole ``docs/reference.md`` text."""
    lines = [
        "# Model reference",
        "",
        "<!-- Generated from progressive/model by progressive.compile._reference (scripts/regenerate); "
        "do not edit. -->",
        "",
        "Every field of the models a rollout is written with, as `from progressive import ...` exposes them. "
        "Models are frozen and reject unknown fields; an invalid value fails at construction with the field's "
        "path, the rule and the value, e.g. `steps[3].weight: 120 is above 100`. Durations are Go/Tekton "
        "strings (`90s`, `5m`, `1h30m`); lists may be given as lists or tuples.",
        "",
    ]
    for title, intro, models in SECTIONS:
        lines += [f"## {title}", ""]
        if intro:
            lines += [intro, ""]
        for model in models:
            lines += _model_section(model)
    return "\n".join(lines).rstrip("\n") + "\n"
