"""The test support itself: the exporter's exposition, and ``python -m tests.support.prometheus``."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

from tests.support.prometheus import Exporter

REPO = Path(__file__).resolve().parents[2]


def test_exporter_exposition() -> None:
    exporter = Exporter(buckets=(0.1, 0.5))
    exporter.request(namespace="ns", pod="p", status=200, count=3, seconds=[0.05, 0.2, 0.7])
    exporter.request(namespace="ns", pod="p", status=500, count=1, status_label="code")
    exporter.set("istio_requests_total", {"response_code": "200"}, 7)
    text = exporter.render()
    assert "# TYPE http_requests_total counter" in text
    assert 'http_requests_total{code="500",namespace="ns",pod="p"} 1.0' in text
    assert 'http_requests_total{namespace="ns",pod="p",status="200"} 3.0' in text
    assert "# TYPE http_request_duration_seconds histogram" in text
    assert 'http_request_duration_seconds_bucket{le="0.1",namespace="ns",pod="p"} 1.0' in text
    assert 'http_request_duration_seconds_bucket{le="0.5",namespace="ns",pod="p"} 2.0' in text
    assert 'http_request_duration_seconds_bucket{le="+Inf",namespace="ns",pod="p"} 3.0' in text
    assert 'http_request_duration_seconds_count{namespace="ns",pod="p"} 3.0' in text
    assert 'istio_requests_total{response_code="200"} 7.0' in text
    exporter.restart(pod="p")
    assert exporter.value("http_requests_total", {"namespace": "ns", "pod": "p", "status": "200"}) == 0.0
    exporter.forget(pod="p")
    assert "pod=" not in exporter.render()


def test_the_command_line_entry_point_serves_until_terminated() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.support.prometheus", "--traffic", "--rps", "100", "--namespace", "cli-demo"],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        urls = json.loads(process.stdout.readline())
        query = urllib.parse.urlencode({"query": 'sum(http_requests_total{namespace="cli-demo"})'})
        deadline = time.monotonic() + 60
        result: list[object] = []
        while time.monotonic() < deadline and not result:
            with urllib.request.urlopen(f"{urls['prometheus']}/api/v1/query?{query}", timeout=5) as answer:
                result = json.load(answer)["data"]["result"]
            time.sleep(0.5)
        assert result, "Prometheus never scraped the demo traffic"
        with urllib.request.urlopen(urls["exporter"], timeout=5) as answer:
            assert b"canary-7f8b9c6d5-q4w8z" in answer.read()
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=60)
    assert process.returncode == 0, stderr
