"""The Prometheus client of the analysis step, on ``prometheus-api-client`` (no pandas).

Why it wraps the library rather than using it bare:

* **Credentials stay secret.** The bearer token is read from a file mounted from a Secret and only ever
  placed in the ``Authorization`` header. Every message this module produces passes through
  :meth:`PrometheusClient.redact`, so even a proxy that echoes request headers into an error page cannot
  put the token on stdout, stderr or a Tekton result. URLs are shown without user-info.
* **TLS is verified by default**; a CA bundle file can be given for private CAs. A certificate failure is
  reported as such and not retried (it will not heal by itself).
* **Bounded retries with tenacity, on transient failures only**: connection errors, timeouts, HTTP 5xx,
  429 and 408 are retried with jittered exponential backoff up to ``attempts`` tries; HTTP 400/422 (a bad
  query) and 401/403/404 (wrong credentials or URL) fail at once with a message that says which. The
  library's own urllib3 retries are switched off so there is exactly one retry policy.
* **One series, or say why not.** :meth:`PrometheusClient.value` returns a number only when the query
  returns exactly one finite sample: an empty vector, NaN and ±Inf raise :class:`NoDataError` (a distinct
  outcome the judges handle, never a pass); several series raise :class:`MultipleSeriesError` naming their
  label sets (Flagger silently keeps the last one).
* **Per-query timeout** on the HTTP request, and the same limit sent to Prometheus as the ``timeout``
  parameter so the server stops evaluating a query nobody waits for any more.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn
from urllib.parse import urlsplit, urlunsplit

import requests
from prometheus_api_client import PrometheusConnect
from prometheus_api_client.exceptions import PrometheusApiClientException
from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt, wait_exponential, wait_random
from urllib3.util.retry import Retry

from progressive._version import __version__
from progressive.errors import UsageError
from progressive.metrics.errors import (
    BadQueryError,
    MultipleSeriesError,
    NoDataError,
    PrometheusUnavailableError,
)

__all__ = ["PrometheusClient", "PrometheusSettings", "Sample", "display_url"]

_TRANSIENT_STATUS = frozenset({408, 429})
"""Besides 5xx: request timeout and rate limiting are worth another try."""

_DETAIL_LIMIT = 300
"""Characters of an error body kept in a message."""


@dataclass(frozen=True, slots=True)
class PrometheusSettings:
    """How to reach Prometheus. Secrets are paths to files, never values."""

    url: str
    """Base URL of the HTTP API, e.g. ``http://prometheus.monitoring:9090`` (a path prefix is kept)."""
    token_file: str = ""
    """File with a bearer token (mounted from a Secret); empty: no ``Authorization`` header."""
    ca_file: str = ""
    """CA bundle to verify the server's certificate; empty: the system trust store."""
    timeout: float = 30.0
    """Seconds one HTTP request (one attempt) may take."""
    attempts: int = 3
    """Tries per query for transient failures (connection errors, timeouts, 5xx, 429, 408)."""
    retry_wait: float = 0.5
    """First backoff in seconds; doubles per retry with jitter, capped at ``retry_wait_max``."""
    retry_wait_max: float = 5.0


@dataclass(frozen=True, slots=True)
class Sample:
    """One element of an instant vector (or a scalar, with no labels)."""

    labels: Mapping[str, str]
    value: float
    timestamp: float = 0.0


class _HttpStatus(Exception):
    """A non-200 answer, raised from a response hook so the status survives the library's handling."""

    def __init__(self, status: int, error_type: str, detail: str) -> None:
        super().__init__(f"HTTP {status}")
        self.status = status
        self.error_type = error_type
        self.detail = detail


class _NotPrometheus(Exception):
    """A 200 answer whose body is not the Prometheus API's JSON."""


def display_url(url: str) -> str:
    """``url`` without user-info (``https://user:pass@host`` -> ``https://host``), for messages."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment))


def _read_token(path: str) -> str:
    try:
        token = Path(path).read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise UsageError(f"--prometheus-token-file: cannot read {path!r}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise UsageError(f"--prometheus-token-file: {path!r} is not UTF-8 text") from None
    if not token:
        raise UsageError(f"--prometheus-token-file: {path!r} is empty")
    if any(char in token for char in "\r\n"):
        raise UsageError(f"--prometheus-token-file: {path!r} holds more than one line")
    return token


class PrometheusClient:
    """Instant queries against one Prometheus, with the guarantees listed in the module docstring."""

    def __init__(self, settings: PrometheusSettings, *, sleep: Callable[[float], None] = time.sleep) -> None:
        parts = urlsplit(settings.url)
        if parts.scheme not in {"http", "https"} or not parts.netloc:
            raise UsageError(f"--prometheus-url: {display_url(settings.url)!r} is not an http(s) URL")
        if settings.ca_file and not Path(settings.ca_file).is_file():
            raise UsageError(f"--prometheus-ca-file: {settings.ca_file!r} does not exist")
        if settings.timeout <= 0:
            raise UsageError(f"--query-timeout: {settings.timeout} is not a positive duration")
        if settings.attempts < 1:
            raise ValueError(f"attempts must be at least 1, not {settings.attempts}")
        self.settings = settings
        self.url = display_url(settings.url.rstrip("/"))
        self._token = _read_token(settings.token_file) if settings.token_file else ""
        self._sleep = sleep
        self._connect: PrometheusConnect | None = None

    # --- public API -------------------------------------------------------------------------------------

    def check_ready(self) -> float:
        """Reachability check at the start of a stage: evaluate ``vector(1)``; return the server's time.

        Goes through the same authentication, TLS and retries as real queries, so a wrong token or CA
        fails here, before any traffic decision depends on it.
        """
        samples = self.query("vector(1)")
        if len(samples) != 1 or samples[0].value != 1.0:
            raise PrometheusUnavailableError(f"Prometheus at {self.url} answered vector(1) with {samples!r}")
        return samples[0].timestamp

    def query(self, promql: str, *, at: float | None = None) -> list[Sample]:
        """Evaluate an instant query (at unix time ``at``, default now); every series it returns."""
        params: dict[str, str] = {"timeout": f"{self.settings.timeout:.3f}"}
        if at is not None:
            params["time"] = f"{at:.3f}"
        raw = self._call(promql, params)
        return self._parse(promql, raw)

    def value(self, promql: str, *, at: float | None = None) -> float:
        """The one finite number ``promql`` evaluates to.

        Raises :class:`NoDataError` for an empty result, NaN or ±Inf and :class:`MultipleSeriesError`
        when several series come back.
        """
        samples = self.query(promql, at=at)
        if not samples:
            raise NoDataError(promql, "the query returned no series")
        if len(samples) > 1:
            raise MultipleSeriesError(promql, [sample.labels for sample in samples])
        number = samples[0].value
        if math.isnan(number):
            raise NoDataError(promql, "the value is NaN (e.g. 0/0: no requests in the window)")
        if math.isinf(number):
            raise NoDataError(promql, f"the value is {'+' if number > 0 else '-'}Inf")
        return number

    def redact(self, text: str) -> str:
        """``text`` with the bearer token (if any) replaced; applied to every message this client makes."""
        if self._token and self._token in text:
            return text.replace(self._token, "[redacted]")
        return text

    def close(self) -> None:
        """Release the HTTP connection pool."""
        if self._connect is not None:
            self._connect.close()
            self._connect = None

    def __enter__(self) -> PrometheusClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # --- transport --------------------------------------------------------------------------------------

    def _connection(self) -> PrometheusConnect:
        """The library's connection object, built on first use."""
        if self._connect is None:
            session = requests.Session()
            session.verify = self.settings.ca_file or True
            session.hooks["response"].append(_status_hook)
            headers = {"User-Agent": f"progressive/{__version__}", "Accept": "application/json"}
            if self._token:
                headers["Authorization"] = f"Bearer {self._token}"
            self._connect = PrometheusConnect(
                url=self.settings.url.rstrip("/"),
                headers=headers,
                session=session,
                # one retry policy (tenacity, below): urllib3 must not retry behind its back
                retry=Retry(total=0, read=False, redirect=False, raise_on_status=False),
                timeout=self.settings.timeout,
            )
        return self._connect

    def _call(self, promql: str, params: Mapping[str, str]) -> Any:
        connection = self._connection()
        attempts_made: list[int] = [0]

        def transient(exc: BaseException) -> bool:
            if isinstance(exc, _HttpStatus):
                return exc.status >= 500 or exc.status in _TRANSIENT_STATUS
            if isinstance(exc, requests.exceptions.SSLError):
                return False
            return isinstance(
                exc,
                requests.exceptions.ConnectionError
                | requests.exceptions.Timeout
                | requests.exceptions.ChunkedEncodingError,
            )

        def count(state: RetryCallState) -> None:
            attempts_made[0] = state.attempt_number

        retrying = Retrying(
            retry=retry_if_exception(transient),
            stop=stop_after_attempt(self.settings.attempts),
            wait=wait_exponential(multiplier=self.settings.retry_wait, max=self.settings.retry_wait_max)
            + wait_random(0, self.settings.retry_wait),
            sleep=self._sleep,
            before=count,
            reraise=True,
        )
        try:
            for attempt in retrying:
                with attempt:
                    return _query_once(connection, promql, params)
        except _HttpStatus as exc:
            self._fail_status(exc, promql, attempts_made[0])
        except _NotPrometheus as exc:
            raise PrometheusUnavailableError(
                self.redact(f"{self.url} did not answer like the Prometheus HTTP API ({exc}); check --prometheus-url")
            ) from None
        except requests.exceptions.SSLError as exc:
            raise PrometheusUnavailableError(
                self.redact(
                    f"TLS verification of {self.url} failed: {_short(exc)}; "
                    "give the CA bundle with --prometheus-ca-file"
                )
            ) from None
        except requests.exceptions.RequestException as exc:
            raise PrometheusUnavailableError(
                self.redact(
                    f"Prometheus at {self.url} is unreachable after {attempts_made[0]} attempt(s): "
                    f"{type(exc).__name__}: {_short(exc)}"
                )
            ) from None
        raise AssertionError("unreachable: tenacity either returns or re-raises")  # pragma: no cover

    def _fail_status(self, exc: _HttpStatus, promql: str, attempts: int) -> NoReturn:
        status = exc.status
        what = f"HTTP {status}" + (f" {exc.error_type}" if exc.error_type else "")
        detail = f": {exc.detail}" if exc.detail else ""
        if status in {400, 422}:
            raise BadQueryError(self.redact(f"Prometheus rejected the query ({what}{detail}) (query: {promql})"))
        if status in {401, 403}:
            raise PrometheusUnavailableError(
                self.redact(
                    f"Prometheus at {self.url} refused the request ({what}{detail}); "
                    "check the token in --prometheus-token-file"
                )
            )
        if status == 404:
            raise PrometheusUnavailableError(
                self.redact(f"no Prometheus API at {self.url} ({what} for /api/v1/query); check --prometheus-url")
            )
        raise PrometheusUnavailableError(
            self.redact(f"Prometheus at {self.url} kept failing: {what}{detail} after {attempts} attempt(s)")
        )

    # --- answers ----------------------------------------------------------------------------------------

    def _parse(self, promql: str, raw: Any) -> list[Sample]:
        if _is_scalar(raw):
            return [Sample(labels={}, value=self._number(promql, raw[1]), timestamp=float(raw[0]))]
        if not isinstance(raw, list):
            raise BadQueryError(self.redact(f"unexpected result {raw!r:.100} (query: {promql})"))
        samples: list[Sample] = []
        for item in raw:
            if not isinstance(item, dict):
                raise BadQueryError(self.redact(f"unexpected result element {item!r:.100} (query: {promql})"))
            if "values" in item:
                raise BadQueryError(
                    f"query returns a range vector; wrap it in a function such as rate() or "
                    f"last_over_time() (query: {promql})"
                )
            metric = item.get("metric", {})
            pair = item.get("value")
            if not isinstance(metric, dict) or not isinstance(pair, list) or len(pair) != 2:
                raise BadQueryError(self.redact(f"unexpected result element {item!r:.100} (query: {promql})"))
            labels = {str(key): str(value) for key, value in metric.items()}
            samples.append(Sample(labels=labels, value=self._number(promql, pair[1]), timestamp=float(pair[0])))
        return samples

    def _number(self, promql: str, text: object) -> float:
        try:
            return float(str(text))
        except ValueError:
            raise BadQueryError(
                self.redact(f"query returned {text!r:.60}, which is not a number (query: {promql})")
            ) from None


def _query_once(connection: PrometheusConnect, promql: str, params: Mapping[str, str]) -> Any:
    try:
        return connection.custom_query(query=promql, params=dict(params))
    except PrometheusApiClientException as exc:  # a final answer that is neither an error nor 200
        raise _NotPrometheus(str(exc)[:_DETAIL_LIMIT]) from None
    except requests.exceptions.JSONDecodeError as exc:
        raise _NotPrometheus(f"body is not JSON: {exc.msg}") from None
    except (KeyError, TypeError) as exc:
        raise _NotPrometheus(f"JSON without data.result ({type(exc).__name__})") from None


def _status_hook(response: requests.Response, *_: object, **__: object) -> None:
    """Turn an HTTP error answer into :class:`_HttpStatus`, keeping Prometheus' errorType and message.

    Redirects (3xx) pass: requests follows them and calls the hook again for the final answer.
    """
    if response.status_code < 400:
        return
    error_type = ""
    detail = ""
    try:
        body = response.json()
    except ValueError:
        detail = " ".join(response.text.split())[:_DETAIL_LIMIT]
    else:
        if isinstance(body, dict):
            error_type = str(body.get("errorType", ""))
            detail = str(body.get("error", ""))[:_DETAIL_LIMIT]
        else:
            detail = str(body)[:_DETAIL_LIMIT]
    raise _HttpStatus(response.status_code, error_type, detail)


def _is_scalar(raw: Any) -> bool:
    return (
        isinstance(raw, list)
        and len(raw) == 2
        and isinstance(raw[0], int | float)
        and not isinstance(raw[0], bool)
        and isinstance(raw[1], str)
    )


def _short(exc: BaseException) -> str:
    """The innermost useful sentence of a requests/urllib3 exception chain, one line."""
    text = str(exc)
    for marker in ("Caused by ", "(Caused by "):
        if marker in text:
            text = text.split(marker, 1)[1]
    return " ".join(text.split())[:_DETAIL_LIMIT]
