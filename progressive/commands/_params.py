"""``-p key=value`` pipeline params, checked the way ``tkn pipeline start`` checks them.

``progressive start`` checks them against the Pipeline read from the cluster, ``progressive run`` against
the params the same rollout compiles to, so a command line that works with one works with the other:

* ``key=value`` is split at the first ``=`` (the value may contain ``=`` and commas);
* a key the Pipeline does not declare is an error, worded as tkn words it: ``param 'x' not present in spec``;
* a param without a default that is not given is an error (tkn would prompt; a rollout must not wait for a
  terminal that may not be there);
* a key given twice is an error (tkn keeps the last one silently; for an image that is a release gone wrong);
* ``array`` params are split on ``,`` and ``object`` params read as ``k1:v1,k2:v2``, as tkn does.
  Compiled rollouts only declare ``string`` params; the other types are for Pipelines edited by hand.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from progressive.errors import ConfigError

__all__ = ["ParamSpec", "add_param_argument", "check_params", "param_specs", "param_value", "parse_params"]


@dataclass(frozen=True, slots=True)
class ParamSpec:
    """One param a Pipeline declares."""

    name: str
    type: str = "string"
    """``string``, ``array`` or ``object``."""
    has_default: bool = False


def add_param_argument(parser: argparse.ArgumentParser) -> None:
    """``-p/--param KEY=VALUE``, repeatable, as ``start`` and ``run`` take it."""
    parser.add_argument(
        "-p",
        "--param",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="Pipeline param, e.g. -p image=registry.example.com/app:1.2@sha256:...; repeat for several.",
    )


def param_specs(pipeline: Mapping[str, Any]) -> tuple[ParamSpec, ...]:
    """The params of a Pipeline object (``spec.params``), in declaration order."""
    declared = (pipeline.get("spec") or {}).get("params") or []
    return tuple(
        ParamSpec(str(param.get("name", "")), str(param.get("type") or "string"), "default" in param)
        for param in declared
        if isinstance(param, Mapping)
    )


def parse_params(given: Sequence[str]) -> dict[str, str]:
    """``["image=repo/app:2", ...]`` -> ``{"image": "repo/app:2"}``; a malformed or repeated key is an error."""
    params: dict[str, str] = {}
    for item in given:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"-p {item!r}: expected key=value (e.g. -p image=registry.example.com/app:1.2)")
        if key in params:
            raise ConfigError(f"-p {key}: given twice ({params[key]!r} and {value!r}); give each param once")
        params[key] = value
    return params


def check_params(given: Mapping[str, str], specs: Sequence[ParamSpec], *, pipeline: str) -> None:
    """Refuse unknown params and missing required ones, naming the Pipeline and the params."""
    declared = {spec.name for spec in specs}
    for name in given:
        if name not in declared:
            known = ", ".join(sorted(declared)) or "none"
            raise ConfigError(f"param {name!r} not present in spec (Pipeline {pipeline} declares: {known})")
    missing = [spec.name for spec in specs if not spec.has_default and spec.name not in given]
    if missing:
        flags = " ".join(f"-p {name}=VALUE" for name in missing)
        raise ConfigError(f"Pipeline {pipeline} needs param(s) {', '.join(missing)} without default: pass {flags}")


def param_value(spec: ParamSpec, text: str) -> str | list[str] | dict[str, str]:
    """The PipelineRun value of one param: the text, split for arrays, ``k:v`` pairs for objects."""
    if spec.type == "array":
        return text.split(",")
    if spec.type == "object":
        pairs: dict[str, str] = {}
        for item in text.split(","):
            key, sep, value = item.partition(":")
            if not sep or not key:
                raise ConfigError(f"-p {spec.name}: {item!r} is not key:value (object params are k1:v1,k2:v2)")
            pairs[key] = value
        return pairs
    return text
