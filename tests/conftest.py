"""Root of the test suite. Shared fixtures live in ``tests/support`` and are registered here."""

pytest_plugins: list[str] = [
    "tests.support.http_receiver",
    "tests.support.prometheus_fixtures",
    "tests.support.cluster.fixtures",
]
