"""``-p key=value`` params, checked as ``tkn pipeline start`` checks them (shared by ``start`` and ``run``)."""

from __future__ import annotations

import re

import pytest

from progressive.commands._params import ParamSpec, check_params, param_specs, param_value, parse_params
from progressive.errors import ConfigError

SPECS = (ParamSpec("image"), ParamSpec("mode", has_default=True))


def test_split_at_the_first_equals_sign_keeps_the_rest_verbatim() -> None:
    given = parse_params(["image=repo/app:1.2@sha256:ab=cd", "mode=a,b=c"])
    assert given == {"image": "repo/app:1.2@sha256:ab=cd", "mode": "a,b=c"}
    assert parse_params(["image="]) == {"image": ""}


@pytest.mark.parametrize("item", ["image", "=value", ""])
def test_a_param_without_key_or_equals_sign_is_refused(item: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(f"-p {item!r}: expected key=value")):
        parse_params([item])


def test_a_param_given_twice_is_refused_naming_both_values() -> None:
    with pytest.raises(ConfigError, match=r"-p image: given twice \('a:1' and 'a:2'\)"):
        parse_params(["image=a:1", "image=a:2"])


def test_an_unknown_param_is_named_as_tkn_names_it() -> None:
    with pytest.raises(
        ConfigError, match=r"^param 'imgae' not present in spec \(Pipeline ns/web declares: image, mode\)"
    ):
        check_params({"image": "a", "imgae": "b"}, SPECS, pipeline="ns/web")


def test_a_missing_param_without_default_is_an_error_not_a_prompt() -> None:
    with pytest.raises(
        ConfigError, match=r"Pipeline ns/web needs param\(s\) image without default: pass -p image=VALUE"
    ):
        check_params({"mode": "x"}, SPECS, pipeline="ns/web")
    check_params({"image": "a"}, SPECS, pipeline="ns/web")  # mode has a default


def test_param_specs_read_the_pipeline_declarations() -> None:
    pipeline = {
        "spec": {
            "params": [
                {"name": "image", "type": "string", "description": "x"},
                {"name": "list", "type": "array", "default": []},
                {"name": "untyped"},
            ]
        }
    }
    assert param_specs(pipeline) == (
        ParamSpec("image", "string", False),
        ParamSpec("list", "array", True),
        ParamSpec("untyped", "string", False),
    )


def test_array_and_object_values_are_split_as_tkn_splits_them() -> None:
    assert param_value(ParamSpec("s"), "a,b") == "a,b"
    assert param_value(ParamSpec("a", "array"), "a,b") == ["a", "b"]
    assert param_value(ParamSpec("o", "object"), "k1:v1,k2:v:2") == {"k1": "v1", "k2": "v:2"}
    with pytest.raises(ConfigError, match=r"-p o: 'k1' is not key:value"):
        param_value(ParamSpec("o", "object"), "k1")
