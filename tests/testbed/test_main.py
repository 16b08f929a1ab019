"""``python -m testbed``: serves until SIGTERM and prints what a drill needs."""

from __future__ import annotations

import signal
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from canaries import Codebook, Reader
from monitor.judge import classify
from monitor.verdict import Verdict
from testbed.__main__ import main

REPO = Path(__file__).resolve().parents[2]


def test_standalone_server_prints_url_and_tokens_and_stops_on_sigterm() -> None:
    command = [sys.executable, "-m", "testbed", "--port", "0", "--tenants", "a,b"]
    with subprocess.Popen(  # noqa: S603 -- fixed argv: this interpreter runs the testbed
        command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    ) as process:
        assert process.stdout is not None
        lines = []
        try:
            for line in process.stdout:
                lines.append(line.strip())
                if line.startswith("bugs deployed"):
                    break
            url = lines[0].removeprefix("testbed cloud at ")
            exports = dict(
                x.removeprefix("export ").split()[0].split("=", 1)
                for x in lines
                if x.startswith("export ")
            )
            response = httpx.get(
                f"{url}/app/v1/cameras/cam-a/snapshot",
                headers={"Authorization": f"Bearer {exports['CANARY_A_TOKEN']}"},
                timeout=10.0,
            )
            assert response.status_code == 200
            assert any(x.startswith("admin token: ") for x in lines)
            assert lines[1].startswith("RTSP server at rtsp://127.0.0.1:")
            assert set(exports) == {
                "CAMCANARY_SECRET", "CAMCANARY_KILLSWITCH_SECRET",
                "CANARY_A_TOKEN", "CANARY_B_TOKEN",
            }  # fmt: skip
            # The exported secret is the monitor's: with it, the frame reads as a's own.
            reader = Reader(Codebook(exports["CAMCANARY_SECRET"].encode()), ["a", "b"])
            judged = classify(reader, response.content, "a", datetime.now(UTC), 60)
            assert (judged.verdict, judged.canary) == (Verdict.OWN, "a")
        finally:
            process.send_signal(signal.SIGTERM)
            _, stderr = process.communicate(timeout=15)
    assert process.returncode == 0, stderr


def test_bad_tenant_names_exit_with_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--tenants", "a,Not Valid"])
    assert exit_info.value.code == 2
    assert "tenant name 'Not Valid'" in capsys.readouterr().err
