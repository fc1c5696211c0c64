"""The YAML emitter: what it writes reads back as the same data, in PyYAML and in the stricter YAML readers."""

from __future__ import annotations

import re
from collections import OrderedDict
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from progressive.compile import dump_documents

TRICKY = [
    "",
    " ",
    "a ",
    " a",
    "true",
    "True",
    "yes",
    "on",
    "off",
    "y",
    "n",
    "N",
    "~",
    "null",
    "Null",
    "10",
    "0.1",
    "1e3",
    "-1",
    "+1",
    "0x1F",
    "0o17",
    "017",
    ".5",
    ".inf",
    "-.inf",
    ".nan",
    "1_000",
    "1:30",
    "2024-01-01",
    "1.0.0",
    "5m",
    "$(params.image)",
    "--weight=$(params.weight)",
    "-",
    "- a",
    "a: b",
    "a:b",
    "a #b",
    "a#b",
    "#x",
    "*x",
    "&x",
    "!x",
    "|x",
    ">x",
    "%x",
    "@x",
    "`x",
    "'x'",
    '"x"',
    "{}",
    "[]",
    "{a: 1}",
    "a,b",
    "?x",
    ":x",
    "x:",
    "---",
    "...x",
    "tab\there",
    "line\nbreak",
    "trailing newline\n",
    "two\n\n",
    "  indented\nblock",
    "é",
    "\u2028",
    "a\x00b",
    "app=$(params.image-app),proxy=$(params.image-proxy)",
    '[{"name":"c","min":99.0}]',
    "multi\nline\nspec\n",
]


@pytest.mark.parametrize("value", TRICKY)
def test_tricky_strings_round_trip(value: str) -> None:
    document = {"apiVersion": "v1", "kind": "X", "data": {"k": value, "list": [value, {"v": value}]}}
    assert list(yaml.safe_load_all(dump_documents([document]))) == [document]


@pytest.mark.parametrize("value", ["y", "n", "yes", "1e3", "0o17", "1_000", ".5"])
def test_strings_other_yaml_readers_take_for_scalars_are_quoted(value: str) -> None:
    assert f'k: "{value}"' in dump_documents([{"k": value}])


def test_layout() -> None:
    text = dump_documents(
        [
            {
                "apiVersion": "v1",
                "kind": "X",
                "spec": {"items": [{"name": "a", "value": "1"}, "b"], "text": "x\ny\n", "on": True},
            }
        ],
        header="Generated\nline two",
    )
    assert text == (
        '# Generated\n# line two\n---\napiVersion: v1\nkind: X\nspec:\n  items:\n    - name: a\n      value: "1"\n'
        '    - b\n  text: |\n    x\n    y\n  "on": true\n'
    )


JSON_LIKE: st.SearchStrategy[Any] = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.dictionaries(st.text(min_size=1, max_size=8), JSON_LIKE, min_size=1, max_size=4), min_size=1, max_size=3
    )
)
def test_any_documents_round_trip(documents: list[dict[str, Any]]) -> None:
    assert list(yaml.safe_load_all(dump_documents(documents))) == documents


def test_special_floats() -> None:
    text = dump_documents([{"a": float("inf"), "b": float("-inf"), "c": 1e16, "d": 0.5}])
    loaded = yaml.safe_load(text)
    assert loaded["a"] == float("inf") and loaded["b"] == float("-inf") and loaded["c"] == 1e16 and loaded["d"] == 0.5
    assert (
        yaml.safe_load(dump_documents([{"n": float("nan")}]))["n"]
        != yaml.safe_load(dump_documents([{"n": float("nan")}]))["n"]
    )


class _Text(str):
    pass


@pytest.mark.parametrize(
    ("document", "refused"),
    [
        ({"a": (1, 2)}, "tuple (1, 2)"),
        ({"a": _Text("x")}, "_Text 'x'"),
        ({"a": OrderedDict(b=1)}, "OrderedDict"),
        ({"a": {1: "x"}}, "int key 1"),
        ({"kind": "X", "spec": {_Text("kind"): "X"}}, "_Text key"),
        ({"a": [b"x"]}, "bytes b'x'"),
        (OrderedDict(a=1), "OrderedDict as a YAML document"),
    ],
)
def test_only_exact_json_types_are_written(document: Any, refused: str) -> None:
    """Anything else might read back as another type or value, and the compiler checks what it wrote in memory."""
    with pytest.raises(TypeError, match=re.escape(refused)):
        dump_documents([document])
