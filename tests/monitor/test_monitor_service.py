"""The monitor service end to end against a loopback testbed: the schedule, a round,
a clean stop, and ``camcanary probe`` through the CLI runner."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from alerts import Alert, Notifier
from monitor.cli import main
from monitor.config import Config, parse_config
from monitor.killswitch import RecordKillSwitch
from monitor.results import ProbeResult
from monitor.service import Monitor, probe_matrix
from monitor.verdict import Verdict
from testbed import TestbedCloud, TestbedServer
from tests.fleet import TRIP
from tests.harness import app_and_hub, fleet_of, service_config

SECRET = "monitor service: deployment secret"
SWITCH_SECRET = "monitor service: kill switch secret"
TENANTS = ["lobby", "nursery"]


class RecordingNotifier(Notifier):
    def __init__(self) -> None:
        self.alerts: list[Alert] = []

    async def send(self, alert: Alert) -> None:
        self.alerts.append(alert)


def new_cloud() -> TestbedCloud:
    return TestbedCloud.create(
        SECRET.encode(),
        TENANTS,
        killswitch_secret=SWITCH_SECRET.encode(),
        admin_token="monitor-service-admin",
    )


def config_data(url: str, cloud: TestbedCloud, db_url: str, interval_s: float) -> dict[str, Any]:
    paths = app_and_hub(url, hub=TRIP)
    schedule = {"interval_s": interval_s, "jitter_s": 0.1, "concurrency": 8}
    probe = {"deadline_s": 5, "stale_after_s": 30}
    return service_config(SECRET, fleet_of(cloud), paths, db_url, schedule=schedule, probe=probe)


def make_config(url: str, cloud: TestbedCloud, db_url: str, interval_s: float = 0.5) -> Config:
    return parse_config(config_data(url, cloud, db_url, interval_s), environ={})


def spec_keys(config: Config) -> set[tuple[str, str, str]]:
    return {(s.path.name, s.profile, s.canary.name) for s in probe_matrix(config)}


def stored_keys(db_url: str) -> set[tuple[str, str, str]]:
    engine = sa.create_engine(db_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(sa.text("SELECT DISTINCT path, profile, canary FROM probe_results"))
            return {(path, profile, canary) for path, profile, canary in rows}
    finally:
        engine.dispose()


def test_probe_matrix_is_every_canary_path_and_profile_in_a_stable_order(
    sqlite_url: str,
) -> None:
    config = make_config("http://cloud.test", new_cloud(), sqlite_url)

    keys = [spec.key for spec in probe_matrix(config)]

    assert keys == [
        "app/good/lobby",
        "app/good/nursery",
        "app/3g/lobby",
        "app/3g/nursery",
        "hub/good/lobby",
        "hub/good/nursery",
        "hub/3g/lobby",
        "hub/3g/nursery",
    ]


def test_started_monitor_probes_every_spec_and_stops_cleanly(sqlite_url: str) -> None:
    cloud = new_cloud()
    seen: list[ProbeResult] = []
    notifier = RecordingNotifier()

    async def scenario() -> tuple[Config, int, float, list[asyncio.Task[Any]]]:
        async with TestbedServer(cloud) as server:
            config = make_config(server.url, cloud, sqlite_url, interval_s=0.5)
            monitor = Monitor(
                config, notifiers=[notifier], kill_switch=RecordKillSwitch(), on_result=seen.append
            )
            testbed_tasks = asyncio.all_tasks()  # the cameras'
            await monitor.start()
            try:
                assert monitor._scheduler is not None
                jobs = len(monitor._scheduler.get_jobs())
                deadline = time.monotonic() + 8
                want = spec_keys(config)
                while time.monotonic() < deadline:
                    if {(r.path, r.profile, r.canary) for r in seen} >= want:
                        break
                    await asyncio.sleep(0.1)
            finally:
                began = time.monotonic()
                await monitor.stop()
                stop_s = time.monotonic() - began
                pending = list(asyncio.all_tasks() - testbed_tasks)
            return config, jobs, stop_s, pending

    config, jobs, stop_s, pending = asyncio.run(scenario())

    assert jobs == len(config.canaries) * len(config.paths) * len(config.profiles) == 8
    assert stored_keys(sqlite_url) == spec_keys(config)
    assert {r.verdict for r in seen} == {Verdict.OWN}, [r for r in seen if r.verdict != "own"]
    assert notifier.alerts == []
    assert stop_s < 3.0  # waits at most for the probes in flight
    assert pending == []


def test_run_round_returns_one_result_per_spec_and_records_them(sqlite_url: str) -> None:
    cloud = new_cloud()

    async def scenario() -> tuple[Config, list[ProbeResult], dict[str, str]]:
        async with TestbedServer(cloud) as server:
            config = make_config(server.url, cloud, sqlite_url)
            monitor = Monitor(config, notifiers=[], kill_switch=RecordKillSwitch())
            await monitor.prepare()
            try:
                results = await monitor.run_round()
                return config, results, monitor.store.kill_switches()
            finally:
                await monitor.stop()

    config, results, switches = asyncio.run(scenario())

    assert [(r.path, r.profile, r.canary) for r in results] == [
        (s.path.name, s.profile, s.canary.name) for s in probe_matrix(config)
    ]
    assert all(r.verdict is Verdict.OWN for r in results), results
    assert all(r.source_canary == r.canary for r in results)
    assert min(r.duration_s for r in results if r.profile == "3g") >= 0.4
    assert switches == {"app": "armed", "hub": "armed"}
    assert stored_keys(sqlite_url) == spec_keys(config)


def test_stop_waits_for_probes_the_scheduler_has_just_launched(sqlite_url: str) -> None:
    cloud = new_cloud()

    async def scenario() -> tuple[list[str], list[ProbeResult]]:
        async with TestbedServer(cloud) as server:
            config = make_config(server.url, cloud, sqlite_url, interval_s=3600)
            seen: list[ProbeResult] = []
            monitor = Monitor(
                config, notifiers=[], kill_switch=RecordKillSwitch(), on_result=seen.append
            )
            testbed_tasks = asyncio.all_tasks()
            await monitor.start()
            assert monitor._scheduler is not None
            for job in monitor._scheduler.get_jobs():
                job.modify(next_run_time=datetime.now(UTC))  # all due now
            await asyncio.sleep(0)  # the scheduler wakes up and launches them
            await monitor.stop()
            pending = [repr(t.get_coro()) for t in asyncio.all_tasks() - testbed_tasks]
            await asyncio.sleep(0.5)  # anything left over runs now
            return pending, seen

    pending, seen = asyncio.run(scenario())

    assert pending == []
    assert [r.detail for r in seen if r.verdict is Verdict.ERROR] == []


def test_stop_before_start_closes_everything(sqlite_url: str) -> None:
    async def scenario() -> None:
        monitor = Monitor(make_config("http://cloud.test", new_cloud(), sqlite_url))
        await monitor.stop()

    asyncio.run(scenario())  # no unclosed client, engine or proxy: warnings are errors


# -- camcanary probe ----------------------------------------------------------------------


class ThreadedTestbed:
    """The testbed on its own event loop in a thread, for code that calls asyncio.run."""

    def __init__(self, cloud: TestbedCloud) -> None:
        self.cloud = cloud
        self.url = ""
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="testbed", daemon=True)

    def _run(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as exc:
            self._error = exc
            self._ready.set()

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        async with TestbedServer(self.cloud) as server:
            self.url = server.url
            self._ready.set()
            await self._stop.wait()

    def __enter__(self) -> ThreadedTestbed:
        self._thread.start()
        assert self._ready.wait(10), "the testbed did not start"
        if self._error is not None:
            raise self._error
        return self

    def __exit__(self, *exc_info: object) -> None:
        assert self._loop is not None
        assert self._stop is not None
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)
        assert not self._thread.is_alive()
        if self._error is not None:
            raise self._error


@pytest.fixture
def threaded_testbed() -> Iterator[ThreadedTestbed]:
    with ThreadedTestbed(new_cloud()) as testbed:
        yield testbed


def write_cli_config(path: Path, testbed: ThreadedTestbed, db_url: str) -> dict[str, str]:
    """A YAML config whose secrets come from the environment; returns that environment."""
    data = config_data(testbed.url, testbed.cloud, db_url, interval_s=30)
    data["deployment"] = {"secret_env": "TEST_CAMCANARY_SECRET"}
    env = {"TEST_CAMCANARY_SECRET": SECRET}
    for canary in data["canaries"]:
        name = f"TEST_{canary['name'].upper()}_TOKEN"
        env[name] = canary.pop("token")
        canary["token_env"] = name
    path.write_text(json.dumps(data))  # JSON is YAML
    return env


def test_cli_probe_prints_one_json_line_per_probe_and_exits_0_when_clean(
    threaded_testbed: ThreadedTestbed, tmp_path: Path, sqlite_url: str
) -> None:
    config_file = tmp_path / "camcanary.yaml"
    env = write_cli_config(config_file, threaded_testbed, sqlite_url)

    result = CliRunner().invoke(main, ["probe", "--config", str(config_file), "--json"], env=env)

    assert result.exit_code == 0, (result.stdout, result.stderr)
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(lines) == 8
    assert {(r["path"], r["profile"], r["canary"]) for r in lines} == {
        (path, profile, canary)
        for path in ("app", "hub")
        for profile in ("good", "3g")
        for canary in TENANTS
    }
    for line in lines:
        assert set(line) == {
            "canary",
            "path",
            "profile",
            "verdict",
            "source_canary",
            "distance",
            "duration_s",
            "detail",
        }
        assert line["verdict"] == "own"
        assert line["source_canary"] == line["canary"]
    assert len(stored_keys(sqlite_url)) == 8  # the round is recorded


def test_cli_probe_with_a_bad_config_exits_2(tmp_path: Path) -> None:
    missing = tmp_path / "absent.yaml"

    result = CliRunner().invoke(main, ["probe", "--config", str(missing)])

    assert result.exit_code == 2
    assert result.stderr == f"{missing}: cannot read: No such file or directory\n"
    assert result.stdout == ""
