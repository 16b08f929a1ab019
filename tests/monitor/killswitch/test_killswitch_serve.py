"""End to end across processes: ``camcanary serve`` serves the flag endpoint,
``python -m testbed --killswitch-poll`` follows it, ``camcanary killswitch trip``
(a third party, sharing only the database) switches the hub off at the testbed."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import yaml
from click.testing import CliRunner

from monitor.cli import main

REPO = Path(__file__).resolve().parents[3]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(url: str) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise AssertionError(f"{url} never answered")


def test_serve_flags_the_testbed_gateway_and_a_cli_trip_reaches_it(tmp_path: Path) -> None:
    port = free_port()
    config = tmp_path / "camcanary.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "deployment": {"secret": "serve e2e secret"},
                "canaries": [{"name": "a", "camera_id": "cam-a", "token": "t"}],
                "paths": [
                    {"name": p, "kind": "snapshot", "url": f"http://127.0.0.1:9/{p}/{{camera_id}}"}
                    for p in ("app", "hub")
                ],
                "profiles": ["good"],
                "schedule": {"interval_s": 600},
                "store": {"url": f"sqlite:///{tmp_path / 'camcanary.db'}"},
                "killswitch": {"kind": "builtin"},
                "web": {"port": port},
            }
        )
    )
    flags = f"http://127.0.0.1:{port}/api/v1/killswitch"
    camcanary = str(Path(sys.executable).parent / "camcanary")  # the installed entry point
    serve_argv = [camcanary, "serve", "--config", str(config)]
    testbed_argv = [
        *(sys.executable, "-m", "testbed", "--port", "0", "--tenants", "a"),
        *("--killswitch-poll", flags),
    ]
    with subprocess.Popen(serve_argv, cwd=REPO, stderr=subprocess.PIPE, text=True) as serve:  # noqa: S603
        try:
            wait_for(f"http://127.0.0.1:{port}/healthz")
            with subprocess.Popen(  # noqa: S603 -- fixed argv: this interpreter runs the testbed
                testbed_argv, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
            ) as testbed:
                try:
                    assert testbed.stdout is not None
                    lines = [testbed.stdout.readline().strip()]
                    while not lines[-1].startswith(("bugs deployed", "Traceback")) and lines[-1]:
                        lines.append(testbed.stdout.readline().strip())  # up to its last line
                    url = lines[0].removeprefix("testbed cloud at ")
                    export = next(x for x in lines if x.startswith("export CANARY_A_TOKEN="))
                    token = export.split()[1].removeprefix("CANARY_A_TOKEN=")
                    hub = f"{url}/hub/v1/cameras/cam-a/still"
                    auth = {"Authorization": f"Bearer {token}"}
                    assert httpx.get(hub, headers=auth, timeout=10).status_code == 200
                    trip = ["killswitch", "trip", "hub", "--reason", "drill", "--actor", "carol"]
                    tripped = CliRunner().invoke(main, [*trip, "--config", str(config)])
                    assert tripped.exit_code == 0, tripped.output
                    began = time.monotonic()
                    while httpx.get(hub, headers=auth, timeout=10).status_code != 503:
                        assert time.monotonic() - began < 3, "the testbed did not follow"
                        time.sleep(0.05)
                    app = httpx.get(f"{url}/app/v1/cameras/cam-a/snapshot", headers=auth)
                    assert app.status_code == 200
                finally:
                    testbed.send_signal(signal.SIGTERM)
                    testbed.communicate(timeout=15)
        finally:
            serve.send_signal(signal.SIGTERM)
            _, stderr = serve.communicate(timeout=30)
    assert serve.returncode == 0, stderr
    assert f"web http://127.0.0.1:{port}" in stderr
