"""Three versions of the shop live at once on Gateway API, at 80 %, 15 % and 5 %.

80 % on the stable commit, 15 % on a commit whose new checkout is being tuned, 5 % on a commit just
released. Each version is its commit's image (pinned by
digest) paired with its own configuration, which becomes an immutable ConfigMap named by its content hash.

The compiled Pipelines are what CI starts with a commit as a parameter: ``shop-release`` adds the commit's
objects and gives it a weight (the others share the rest in proportion; anything failing puts it back to 0),
``shop-update-config`` changes one running version's configuration (only its pods roll; a configuration whose
pods do not become available is rolled back to the previous ConfigMap), and ``shop-retire`` takes a version's
traffic away, removes it from every rule, drains it and deletes its objects. See docs/versions.md.

A released version, and a version's new configuration, is judged for up to 10 minutes against the weighted rest
of the live versions (the sequential judge, from the pods' own request metrics): a bad verdict takes the new
version back to 0, or puts the previous configuration back.
"""

from progressive.model import Analysis, Analyze, Prometheus
from progressive.model.versions import App, Configuration, Version, VersionsGatewayAPI

DIGEST = "@sha256:" + "4f" * 32

shop = App(
    name="shop",
    namespace="shop",
    router=VersionsGatewayAPI(route="shop"),
    metrics=Analysis(prometheus=Prometheus(url="http://prometheus.monitoring:9090"), provider="generic"),
    analyze=Analyze(min_duration="2m", max_duration="10m"),
    port=8080,
    versions=[
        Version(
            commit="3b18e512dba79e4c8300dd08aeb37f8e728b8dad",
            image="ghcr.io/acme/shop:1.4.0" + DIGEST,
            config=Configuration(values={"LOG_LEVEL": "info", "CHECKOUT": "classic"}),
            replicas=8,
            weight=80,
        ),
        Version(
            commit="9fceb02d0ae598e95dc970b74767f19372d61af8",
            image="ghcr.io/acme/shop:1.5.0-rc.1" + DIGEST,
            config=Configuration(
                values={"LOG_LEVEL": "debug", "CHECKOUT": "one-page"},
                files={"features.yaml": "one-page-checkout:\n  express-pay: true\n"},
            ),
            replicas=2,
            weight=15,
        ),
        Version(
            commit="e83c5163316f89bfbde7d9ab23ca2e25604af290",
            image="ghcr.io/acme/shop:1.5.0" + DIGEST,
            config=Configuration(values={"LOG_LEVEL": "info", "CHECKOUT": "one-page"}),
            replicas=1,
            weight=5,
        ),
    ],
)
