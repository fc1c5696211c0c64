"""The App model: derived names within Kubernetes limits, weights, router limits, errors naming path and value."""

from __future__ import annotations

from typing import Any

import pytest

from progressive.model._base import ModelError
from progressive.model.versions import App, Configuration, Version
from progressive.versions import objects as build
from progressive.versions.naming import APP_NAME_MAX, config_hash

IMAGE = "ghcr.io/acme/shop:1.4@sha256:" + "0" * 64
A, B, C = "a" * 40, "b" * 40, "c" * 40


def _app(router: dict[str, Any] | None = None, **changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": "shop",
        "namespace": "shop",
        "router": router or {"type": "gateway-api", "route": "shop"},
        "versions": [
            {"commit": A, "image": IMAGE, "weight": 80, "config": {"values": {"LOG": "info"}}},
            {"commit": B, "image": IMAGE, "weight": 15},
            {"commit": C, "image": IMAGE, "weight": 5},
        ],
    }
    body.update(changes)
    return body


def _problems(body: dict[str, Any]) -> list[str]:
    with pytest.raises(ModelError) as caught:
        App.model_validate(body)
    return caught.value.lines


def test_three_versions_on_gateway_api_derive_their_names() -> None:
    app = App.model_validate(_app())
    names = [build.deployment(app.spec(), v.spec())["metadata"]["name"] for v in app.versions]
    assert names == ["shop-aaaaaaa", "shop-bbbbbbb", "shop-ccccccc"]
    first = app.versions[0].spec()
    assert first.configmap_name("shop") == f"shop-aaaaaaa-{config_hash({'LOG': 'info'})}"


def test_nginx_with_a_third_version_is_refused() -> None:
    problems = _problems(_app({"type": "nginx", "ingress": "shop"}))
    assert problems == ["versions: 3 versions, but router nginx ('shop') can route at most 2 at once"]


def test_gateway_api_allows_sixteen_versions_not_seventeen() -> None:
    def versions(count: int) -> list[dict[str, Any]]:
        weights = [100 - (count - 1)] + [1] * (count - 1)
        return [
            {"commit": f"{i:x}" * 40 if i < 16 else "f0" * 20, "image": IMAGE, "weight": w}
            for i, w in enumerate(weights)
        ]

    App.model_validate(_app(versions=versions(16)))
    assert _problems(_app(versions=versions(17)))[-1].startswith("versions: 17 versions, but router gateway-api")


def test_weights_must_sum_to_100_and_commits_be_unique() -> None:
    body = _app()
    body["versions"][2] = {"commit": B[:7] + "d" * 33, "image": IMAGE, "weight": 4}
    assert _problems(body) == [
        f"versions[2].commit: '{B[:7] + 'd' * 33}' has the same short commit 'bbbbbbb' as versions[1]; "
        "each version needs its own 'shop-bbbbbbb' objects",
        "versions[].weight: [80, 15, 4] sum to 99; they must sum to 100",
    ]


def test_field_errors_name_path_and_value() -> None:
    body = _app(name="9shop")
    body["versions"][1] = {"commit": "abc123", "image": "ghcr.io/acme/shop:1.4", "weight": 15}
    problems = _problems(body)
    assert "name: '9shop' must start with a letter: <app>-<sha7> names a Service (RFC 1035 label)" in problems
    assert any(p.startswith("versions[1].commit: 'abc123' is not a full commit id") for p in problems)
    assert any(p.startswith("versions[1].image: 'ghcr.io/acme/shop:1.4' is not pinned by digest") for p in problems)


def test_app_name_leaves_room_for_the_short_commit() -> None:
    App.model_validate(_app(name="s" * APP_NAME_MAX))
    (problem,) = _problems(_app(name="s" * (APP_NAME_MAX + 1)))
    assert problem.startswith(f"name: '{'s' * 56}' has 56 characters; the Service name <app>-<sha7>")


def test_configuration_keys_disjoint_and_valid() -> None:
    with pytest.raises(ModelError, match=r"files: \['a'\] are also in values"):
        Configuration(values={"a": "1"}, files={"a": "2"})
    with pytest.raises(ModelError, match="'a/b' is not a ConfigMap key"):
        Configuration(files={"a/b": "x"})


def test_weight_needs_replicas() -> None:
    with pytest.raises(ModelError, match="replicas: 0 pods cannot serve weight 5"):
        Version(commit=A, image=IMAGE, weight=5, replicas=0)


def test_objects_immutable_configmap_whole_volume_hash_annotation_owner() -> None:
    app = App.model_validate(_app())
    spec, version = app.spec(), app.versions[0].spec()
    deployment = build.deployment(spec, version)
    owner = {**deployment, "metadata": {**deployment["metadata"], "uid": "u-1"}}
    configmap = build.configmap(spec, version, owner)
    service = build.service(spec, version, owner)
    assert configmap["immutable"] is True and configmap["data"] == {"LOG": "info"}
    template = deployment["spec"]["template"]
    mount = template["spec"]["containers"][0]["volumeMounts"][0]
    assert "subPath" not in mount and mount["mountPath"] == "/etc/config"
    assert template["spec"]["volumes"][0]["configMap"]["name"] == configmap["metadata"]["name"]
    assert template["metadata"]["annotations"][build.CONFIG_HASH_ANNOTATION] == version.config_hash
    for obj in (configmap, service):
        assert obj["metadata"]["ownerReferences"] == [
            {"apiVersion": "apps/v1", "kind": "Deployment", "name": "shop-aaaaaaa", "uid": "u-1"}
        ]
    labels = {
        "app.kubernetes.io/name": "shop",
        "app.kubernetes.io/version": A,
        "app.kubernetes.io/part-of": "shop",
        "app.kubernetes.io/managed-by": "progressive",
    }
    assert (
        deployment["metadata"]["labels"] == configmap["metadata"]["labels"] == service["metadata"]["labels"] == labels
    )
    assert service["spec"]["selector"] == deployment["spec"]["selector"]["matchLabels"]


@pytest.mark.parametrize(
    ("router", "name"),
    [
        ({"type": "smi", "traffic_split": "shop"}, "shop"),
        ({"type": "traefik", "traefik_service": "shop-wrr", "api_version": "traefik.containo.us/v1alpha1"}, "shop-wrr"),
        ({"type": "contour", "http_proxy": "shop-proxy"}, "shop-proxy"),
    ],
)
def test_smi_traefik_and_contour_route_three_versions(router: dict[str, Any], name: str) -> None:
    app = App.model_validate(_app(router))
    assert app.router.type == router["type"] and app.router.object_name() == name
    assert app.router.max_versions() is None


def test_a_router_field_or_api_version_it_does_not_know_is_refused_by_path() -> None:
    problems = _problems(_app({"type": "smi", "traffic_split": "shop", "api_version": "split.smi-spec.io/v2"}))
    assert (
        len(problems) == 1 and problems[0].startswith("router.api_version:") and "'split.smi-spec.io/v2'" in problems[0]
    )
    problems = _problems(_app({"type": "contour", "http_proxy": "shop", "route": "shop"}))
    assert len(problems) == 1 and problems[0].startswith("router.route:"), problems
