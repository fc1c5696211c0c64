"""The Prometheus client against a scripted HTTP endpoint: answers, failures, retries, secrets, TLS.

The endpoint is a real HTTP server on 127.0.0.1 (``tests/support/http_receiver.py``) standing in for
Prometheus, so the client under test -- prometheus-api-client, requests, tenacity -- runs unchanged over
real sockets. Retry back-off sleeps go through an injected ``sleep`` that records instead of waiting.
"""

from __future__ import annotations

import json
import ssl
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from progressive.contract import ExitCode
from progressive.errors import UsageError
from progressive.metrics.errors import (
    BadQueryError,
    MultipleSeriesError,
    NoDataError,
    PrometheusUnavailableError,
)
from progressive.metrics.prometheus import PrometheusClient, PrometheusSettings, display_url
from tests.support.http_receiver import Answer, HttpReceiver
from tests.support.prometheus import free_port

QUERY = "/api/v1/query"
TOKEN = "s3cr3t-t0ken-value"


def vector(*series: tuple[dict[str, str], str]) -> str:
    result = [{"metric": labels, "value": [1_700_000_000.5, value]} for labels, value in series]
    return json.dumps({"status": "success", "data": {"resultType": "vector", "result": result}})


def error(status: str, error_type: str, message: str) -> Answer:
    body = json.dumps({"status": "error", "errorType": error_type, "error": message})
    return Answer(int(status), body=body)


class Sleeps(list[float]):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def token_file(tmp_path: Path) -> Path:
    path = tmp_path / "token"
    path.write_text(TOKEN + "\n", encoding="utf-8")
    return path


def client(
    receiver: HttpReceiver, sleeps: Sleeps, *, token_file: Path | None = None, attempts: int = 3, timeout: float = 5
) -> PrometheusClient:
    settings = PrometheusSettings(
        url=receiver.url(""),
        token_file=str(token_file or ""),
        timeout=timeout,
        attempts=attempts,
    )
    return PrometheusClient(settings, sleep=sleeps)


def test_value_of_one_series_with_bearer_token_and_parameters(
    http_receiver: HttpReceiver, sleeps: Sleeps, token_file: Path
) -> None:
    http_receiver.script(QUERY, Answer(200, body=vector(({"job": "a"}, "42.5"))))
    with client(http_receiver, sleeps, token_file=token_file, timeout=7) as prometheus:
        assert prometheus.value("sum(up)", at=1_700_000_123.25) == 42.5
    (request,) = http_receiver.requests(QUERY)
    assert request.headers["Authorization"] == f"Bearer {TOKEN}"
    params = parse_qs(urlsplit(request.path).query)
    assert params == {"query": ["sum(up)"], "time": ["1700000123.250"], "timeout": ["7.000"]}
    assert request.headers["User-Agent"].startswith("progressive/")


def test_no_token_file_sends_no_authorization(http_receiver: HttpReceiver, sleeps: Sleeps) -> None:
    http_receiver.script(QUERY, Answer(200, body=vector(({}, "1"))))
    client(http_receiver, sleeps).check_ready()
    assert "Authorization" not in http_receiver.requests(QUERY)[0].headers


def test_transient_errors_are_retried_then_succeed(http_receiver: HttpReceiver, sleeps: Sleeps) -> None:
    http_receiver.script(
        QUERY,
        error("503", "unavailable", "overloaded"),
        Answer(502, body="<html>bad gateway</html>"),
        Answer(200, body=vector(({}, "3"))),
    )
    assert client(http_receiver, sleeps).value("x") == 3.0
    assert len(http_receiver.requests(QUERY)) == 3
    assert len(sleeps) == 2
    assert all(0 < pause <= 5 for pause in sleeps)


def test_5xx_that_keeps_failing_is_an_infrastructure_error_after_the_attempts(
    http_receiver: HttpReceiver, sleeps: Sleeps
) -> None:
    http_receiver.script(QUERY, then=error("503", "timeout", "query timed out in expression evaluation"))
    with pytest.raises(PrometheusUnavailableError) as caught:
        client(http_receiver, sleeps, attempts=4).value("x")
    assert str(caught.value) == (
        f"Prometheus at {http_receiver.url('')} kept failing: HTTP 503 timeout: "
        "query timed out in expression evaluation after 4 attempt(s)"
    )
    assert caught.value.exit_code == ExitCode.INFRASTRUCTURE
    assert len(http_receiver.requests(QUERY)) == 4


def test_429_is_retried(http_receiver: HttpReceiver, sleeps: Sleeps) -> None:
    http_receiver.script(QUERY, Answer(429, body="slow down"), Answer(200, body=vector(({}, "1"))))
    assert client(http_receiver, sleeps).value("x") == 1.0
    assert len(http_receiver.requests(QUERY)) == 2


@pytest.mark.parametrize("status", ["400", "422"])
def test_bad_query_is_not_retried_and_says_why(http_receiver: HttpReceiver, sleeps: Sleeps, status: str) -> None:
    message = '1:5: parse error: unexpected "}" in label matching'
    http_receiver.script(QUERY, then=error(status, "bad_data", message))
    with pytest.raises(BadQueryError) as caught:
        client(http_receiver, sleeps).value("sum(x})")
    assert str(caught.value) == f"Prometheus rejected the query (HTTP {status} bad_data: {message}) (query: sum(x}}))"
    assert caught.value.exit_code == ExitCode.USAGE
    assert len(http_receiver.requests(QUERY)) == 1
    assert sleeps == []


def test_unauthorized_is_not_retried_and_points_at_the_token(
    http_receiver: HttpReceiver, sleeps: Sleeps, token_file: Path
) -> None:
    http_receiver.script(QUERY, then=Answer(401, body="Unauthorized"))
    with pytest.raises(
        PrometheusUnavailableError,
        match=r"refused the request \(HTTP 401: Unauthorized\); check the token in --prometheus-token-file",
    ):
        client(http_receiver, sleeps, token_file=token_file).check_ready()
    assert len(http_receiver.requests(QUERY)) == 1


def test_404_points_at_the_url(http_receiver: HttpReceiver, sleeps: Sleeps) -> None:
    http_receiver.script(QUERY, then=Answer(404, body="404 page not found"))
    with pytest.raises(
        PrometheusUnavailableError,
        match=r"no Prometheus API at http://127.0.0.1:\d+ \(HTTP 404 for /api/v1/query\); check --prometheus-url",
    ):
        client(http_receiver, sleeps).value("x")


def test_slow_prometheus_times_out_and_is_retried(http_receiver: HttpReceiver, sleeps: Sleeps) -> None:
    http_receiver.script(QUERY, Answer(200, body=vector(({}, "1")), delay=1.5), Answer(200, body=vector(({}, "2"))))
    assert client(http_receiver, sleeps, timeout=0.3).value("x") == 2.0
    assert len(http_receiver.requests(QUERY)) == 2


def test_slow_prometheus_that_stays_slow_is_unavailable(http_receiver: HttpReceiver, sleeps: Sleeps) -> None:
    http_receiver.script(QUERY, then=Answer(200, body=vector(({}, "1")), delay=1.0))
    with pytest.raises(
        PrometheusUnavailableError,
        match=r"unreachable after 2 attempt\(s\): (ReadTimeout|ConnectionError): .*(timed out|Read timed out)",
    ):
        client(http_receiver, sleeps, timeout=0.3, attempts=2).value("x")


def test_dropped_connection_is_retried(http_receiver: HttpReceiver, sleeps: Sleeps) -> None:
    http_receiver.script(QUERY, Answer(drop=True), Answer(200, body=vector(({}, "5"))))
    assert client(http_receiver, sleeps).value("x") == 5.0


def test_prometheus_down_is_unavailable_after_retries(sleeps: Sleeps) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    prometheus = PrometheusClient(PrometheusSettings(url=url, attempts=3), sleep=sleeps)
    with pytest.raises(PrometheusUnavailableError) as caught:
        prometheus.check_ready()
    assert str(caught.value).startswith(f"Prometheus at {url} is unreachable after 3 attempt(s): ConnectionError: ")
    assert "Connection refused" in str(caught.value)
    assert len(sleeps) == 2


def test_several_series_are_an_error_naming_their_labels(http_receiver: HttpReceiver, sleeps: Sleeps) -> None:
    http_receiver.script(
        QUERY, Answer(200, body=vector(({"pod": "web-1", "job": "app"}, "1"), ({"pod": "web-2", "job": "app"}, "2")))
    )
    with pytest.raises(MultipleSeriesError) as caught:
        client(http_receiver, sleeps).value("rate(x[1m])")
    assert str(caught.value) == (
        'query returned 2 series where one was expected: {job="app",pod="web-1"}, {job="app",pod="web-2"}; '
        "aggregate it (e.g. sum(...)) so it returns one (query: rate(x[1m]))"
    )
    assert caught.value.label_sets == ({"pod": "web-1", "job": "app"}, {"pod": "web-2", "job": "app"})


def test_many_series_are_summarised(http_receiver: HttpReceiver, sleeps: Sleeps) -> None:
    http_receiver.script(QUERY, Answer(200, body=vector(*(({"pod": str(i)}, "1") for i in range(8)))))
    with pytest.raises(MultipleSeriesError, match=r'returned 8 series .*\{pod="4"\} and 3 more;'):
        client(http_receiver, sleeps).value("x")


@pytest.mark.parametrize(
    ("value", "reason"),
    [("NaN", "the value is NaN"), ("+Inf", "the value is \\+Inf"), ("-Inf", "the value is -Inf")],
)
def test_nan_and_infinities_are_no_data(http_receiver: HttpReceiver, sleeps: Sleeps, value: str, reason: str) -> None:
    http_receiver.script(QUERY, Answer(200, body=vector(({}, value))))
    with pytest.raises(NoDataError, match=f"no data: {reason}"):
        client(http_receiver, sleeps).value("x")


def test_empty_vector_is_no_data(http_receiver: HttpReceiver, sleeps: Sleeps) -> None:
    http_receiver.script(QUERY, Answer(200, body=vector()))
    with pytest.raises(NoDataError, match=r"no data: the query returned no series \(query: sum\(x\)\)"):
        client(http_receiver, sleeps).value("sum(x)")


def test_scalar_result(http_receiver: HttpReceiver, sleeps: Sleeps) -> None:
    body = {"status": "success", "data": {"resultType": "scalar", "result": [1_700_000_000, "0.25"]}}
    http_receiver.script(QUERY, Answer(200, body=json.dumps(body)))
    assert client(http_receiver, sleeps).value("scalar(x)") == 0.25


def test_range_vector_is_a_bad_query(http_receiver: HttpReceiver, sleeps: Sleeps) -> None:
    body = {"status": "success", "data": {"resultType": "matrix", "result": [{"metric": {}, "values": [[1, "1"]]}]}}
    http_receiver.script(QUERY, Answer(200, body=json.dumps(body)))
    with pytest.raises(BadQueryError, match=r"query returns a range vector; wrap it in a function such as rate\(\)"):
        client(http_receiver, sleeps).value("x[1m]")


def test_an_answer_that_is_not_the_prometheus_api(http_receiver: HttpReceiver, sleeps: Sleeps) -> None:
    http_receiver.script(QUERY, then=Answer(200, body="<html>Grafana</html>"))
    with pytest.raises(
        PrometheusUnavailableError, match=r"did not answer like the Prometheus HTTP API \(body is not JSON"
    ):
        client(http_receiver, sleeps).value("x")
    assert len(http_receiver.requests(QUERY)) == 1


def test_the_token_never_appears_in_messages(http_receiver: HttpReceiver, sleeps: Sleeps, token_file: Path) -> None:
    """A proxy that echoes the request headers into its error page must not leak the token."""
    http_receiver.script(QUERY, then=Answer(500, body=f"upstream error; request had Authorization: Bearer {TOKEN}"))
    prometheus = client(http_receiver, sleeps, token_file=token_file, attempts=2)
    with pytest.raises(PrometheusUnavailableError) as caught:
        prometheus.value("x")
    assert TOKEN not in str(caught.value)
    assert "[redacted]" in str(caught.value)
    assert TOKEN not in repr(prometheus.settings)


def test_token_file_problems_are_usage_errors_naming_the_flag(tmp_path: Path) -> None:
    missing = tmp_path / "nope"
    with pytest.raises(UsageError, match=r"--prometheus-token-file: cannot read '.*nope': No such file or directory"):
        PrometheusClient(PrometheusSettings(url="http://x:9090", token_file=str(missing)))
    empty = tmp_path / "empty"
    empty.write_text("\n", encoding="utf-8")
    with pytest.raises(UsageError, match=r"--prometheus-token-file: '.*empty' is empty"):
        PrometheusClient(PrometheusSettings(url="http://x:9090", token_file=str(empty)))


def test_bad_settings_are_usage_errors(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=r"--prometheus-url: 'prometheus:9090' is not an http\(s\) URL"):
        PrometheusClient(PrometheusSettings(url="prometheus:9090"))
    with pytest.raises(UsageError, match=r"--prometheus-ca-file: '.*ca.pem' does not exist"):
        PrometheusClient(PrometheusSettings(url="https://x", ca_file=str(tmp_path / "ca.pem")))


def test_urls_are_shown_without_credentials() -> None:
    assert display_url("https://user:pw@prom.example:9090/api") == "https://prom.example:9090/api"
    assert display_url("http://prom:9090") == "http://prom:9090"
    prometheus = PrometheusClient(PrometheusSettings(url="https://user:pw@prom.example:9090/"))
    assert prometheus.url == "https://prom.example:9090"


# --- TLS --------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A throw-away CA and a server certificate for 127.0.0.1 signed by it (openssl)."""
    folder = tmp_path_factory.mktemp("tls")
    paths = {name: folder / name for name in ("ca.key", "ca.pem", "server.key", "server.csr", "server.pem", "ext")}
    paths["ext"].write_text("subjectAltName=IP:127.0.0.1\n", encoding="utf-8")

    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], check=True, capture_output=True)

    ca_key, ca, key, csr, cert = (str(paths[n]) for n in ("ca.key", "ca.pem", "server.key", "server.csr", "server.pem"))
    openssl(
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "2",
        "-subj",
        "/CN=test-ca",
        "-keyout",
        ca_key,
        "-out",
        ca,
    )
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1", "-keyout", key, "-out", csr)
    openssl("x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key, "-CAcreateserial", "-days", "2",
            "-extfile", str(paths["ext"]), "-out", cert)  # fmt: skip
    return paths


@pytest.fixture
def https_prometheus(certificates: dict[str, Path]) -> Iterator[tuple[str, list[str]]]:
    """An HTTPS endpoint answering vector(1); yields its URL and the paths it was asked for."""
    asked: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            asked.append(self.path)
            body = vector(({}, "1")).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(certificates["server.pem"], certificates["server.key"])
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"https://127.0.0.1:{server.server_address[1]}", asked
    finally:
        server.shutdown()
        server.server_close()


def test_tls_with_the_ca_file(https_prometheus: tuple[str, list[str]], certificates: dict[str, Path]) -> None:
    url, asked = https_prometheus
    prometheus = PrometheusClient(PrometheusSettings(url=url, ca_file=str(certificates["ca.pem"])))
    prometheus.check_ready()
    assert len(asked) == 1


def test_tls_is_verified_by_default_and_not_retried(https_prometheus: tuple[str, list[str]], sleeps: Sleeps) -> None:
    url, asked = https_prometheus
    prometheus = PrometheusClient(PrometheusSettings(url=url), sleep=sleeps)
    with pytest.raises(
        PrometheusUnavailableError,
        match=r"TLS verification of https://127.0.0.1:\d+ failed: .*CERTIFICATE_VERIFY_FAILED.*; "
        "give the CA bundle with --prometheus-ca-file",
    ):
        prometheus.check_ready()
    assert asked == []
    assert sleeps == []


def test_redirects_are_followed(http_receiver: HttpReceiver, sleeps: Sleeps) -> None:
    target = http_receiver.url("/prometheus/api/v1/query?query=x")
    http_receiver.script(QUERY, Answer(302, headers=(("Location", target),)))
    http_receiver.script("/prometheus/api/v1/query", Answer(200, body=vector(({}, "9"))))
    assert client(http_receiver, sleeps).value("x") == 9.0


def test_a_success_answer_other_than_200_is_not_prometheus(http_receiver: HttpReceiver, sleeps: Sleeps) -> None:
    http_receiver.script(QUERY, then=Answer(204))
    with pytest.raises(
        PrometheusUnavailableError, match=r"did not answer like the Prometheus HTTP API \(HTTP Status Code 204"
    ):
        client(http_receiver, sleeps).value("x")
