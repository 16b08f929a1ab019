"""``camcanary serve --demo`` as a newcomer runs it: a real process that prints the URL
and an operator token, serves the API and /metrics, records probes, and stops cleanly
on SIGTERM; plus the usage errors of ``serve``."""

from __future__ import annotations

import queue
import re
import signal
import subprocess
import sys
import threading
import time
from typing import IO

import httpx
from click.testing import CliRunner

from monitor.cli import main

START = "from monitor.cli import main; main()"


def _lines(stream: IO[str], out: queue.Queue[str]) -> None:
    for line in stream:
        out.put(line)


def _wait_for(lines: queue.Queue[str], pattern: str, timeout_s: float) -> re.Match[str]:
    deadline = time.monotonic() + timeout_s
    seen = []
    while time.monotonic() < deadline:
        try:
            line = lines.get(timeout=max(0.1, deadline - time.monotonic()))
        except queue.Empty:
            break
        seen.append(line)
        found = re.search(pattern, line)
        if found:
            return found
    raise AssertionError(f"no line matching {pattern!r} in {timeout_s}s: {''.join(seen)}")


def test_serve_demo_prints_url_and_token_records_probes_and_stops_on_sigterm() -> None:
    process = subprocess.Popen(  # noqa: S603  # this interpreter, our own CLI
        [sys.executable, "-c", START, "serve", "--demo", "--port", "0", "--bug-after", "600"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    assert process.stderr is not None
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=_lines, args=(process.stdout, lines), daemon=True).start()
    try:
        url = _wait_for(lines, r"dashboard (http://127\.0\.0\.1:\d+)/", 60).group(1)
        token = _wait_for(lines, r"operator token (\S+) \(user demo-operator\)", 10).group(1)
        with httpx.Client(base_url=url, timeout=20) as client:
            auth = {"Authorization": f"Bearer {token}"}
            paths = client.get("/api/v1/paths", headers=auth)
            assert paths.status_code == 200
            assert {p["name"] for p in paths.json()["items"]} == {"app", "hub"}
            assert client.get("/api/v1/paths").status_code == 200  # anonymous viewer
            assert (
                client.post("/api/v1/killswitches/hub/trip", json={"reason": "x"}).status_code
                == 401
            )
            deadline = time.monotonic() + 45
            probes: list[dict[str, object]] = []
            while not probes and time.monotonic() < deadline:
                time.sleep(1)
                probes = client.get("/api/v1/probes", headers=auth).json()["items"]
            assert probes, "no probe was recorded within 45 s"
            assert {p["verdict"] for p in probes} <= {"own", "own_stale", "degraded", "error"}
            metrics = client.get("/metrics")
            assert metrics.status_code == 200
            assert "camcanary_probes_total" in metrics.text
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 0
        assert "camcanary: stopped" in process.stderr.read()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)
        process.stdout.close()
        process.stderr.close()


def test_serve_needs_exactly_one_of_config_and_demo() -> None:
    runner = CliRunner()
    assert runner.invoke(main, ["serve"]).exit_code == 2
    assert runner.invoke(main, ["serve", "--demo", "--config", "x.yaml"]).exit_code == 2


def test_serve_with_an_invalid_config_exits_2(tmp_path: object) -> None:
    from pathlib import Path

    bad = Path(str(tmp_path)) / "bad.yaml"
    bad.write_text("deployment: {}\n")
    result = CliRunner().invoke(main, ["serve", "--config", str(bad)])
    assert result.exit_code == 2
    assert "deployment" in result.output
