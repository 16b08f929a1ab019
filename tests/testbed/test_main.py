"""``python -m testbed``: serves until SIGTERM and prints what a drill needs."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

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
            token = next(x for x in lines if x.startswith("tenant a:")).split()[-1]
            response = httpx.get(
                f"{url}/app/v1/cameras/cam-a/snapshot",
                headers={"Authorization": f"Bearer {token}"},
                timeout=10.0,
            )
            assert response.status_code == 200
            assert any(x.startswith("admin token: ") for x in lines)
        finally:
            process.send_signal(signal.SIGTERM)
            _, stderr = process.communicate(timeout=15)
    assert process.returncode == 0, stderr


def test_bad_tenant_names_exit_with_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--tenants", "a,Not Valid"])
    assert exit_info.value.code == 2
    assert "tenant name 'Not Valid'" in capsys.readouterr().err
