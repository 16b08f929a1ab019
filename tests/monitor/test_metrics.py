"""``/metrics`` of a real monitor after real probes against the loopback testbed, with
the hub's leak bug on: sample values match what was probed and stored, and Debian's
``promtool check metrics`` accepts the exposition."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from monitor.config import parse_config
from monitor.results import ProbeResult
from monitor.service import Monitor
from monitor.service.metrics import METRIC_NAMES, Metrics
from monitor.verdict import Verdict
from monitor.web import WebServer, create_app
from testbed import TestbedCloud, TestbedServer
from tests.fleet import TRIP
from tests.harness import app_and_hub, fleet_of, service_config

SECRET = "metrics test: deployment secret"
PROMTOOL = shutil.which("promtool") or "/usr/bin/promtool"


def _config(url: str, cloud: TestbedCloud, db_url: str) -> Any:
    paths = app_and_hub(url, hub=TRIP)
    schedule = {"interval_s": 0.3, "jitter_s": 0.05, "concurrency": 8}
    probe = {"deadline_s": 8, "stale_after_s": 30}
    data = service_config(SECRET, fleet_of(cloud), paths, db_url, schedule=schedule, probe=probe)
    return parse_config(data, environ={})


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def scrape(sqlite_url: str) -> tuple[str, list[ProbeResult]]:
    cloud = TestbedCloud.create(
        SECRET.encode(), ["lobby", "nursery"], killswitch_secret=b"k" * 16, admin_token="a"
    )
    results: list[ProbeResult] = []

    async def go() -> str:
        async with TestbedServer(cloud) as server:
            monitor = Monitor(_config(server.url, cloud, sqlite_url), on_result=results.append)
            await monitor.prepare()
            try:
                cloud.set_bug("xiaomi-2020", True)
                for _ in range(3):  # clients learn their network from earlier rounds
                    await monitor.run_round()
                await monitor.start()  # the schedule: scheduler lag is observed
                await asyncio.sleep(1.5)
                async with (
                    WebServer(create_app(monitor.web_context()), port=0) as web,
                    httpx.AsyncClient(timeout=20) as client,
                ):
                    response = await client.get(web.url + "/metrics")
                    assert response.status_code == 200
                    assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
                    return response.text
            finally:
                await monitor.stop()

    text = asyncio.run(go())
    return text, results


def test_metrics_after_real_probes_match_the_store_and_pass_promtool(sqlite_url: str) -> None:
    text, results = scrape(sqlite_url)
    values = samples(text)
    # Probes counted after the scrape started (the scheduler runs on) can only add.
    by_verdict = Counter((r.path, r.profile, str(r.verdict)) for r in results)
    scraped = {
        (dict(labels)["path"], dict(labels)["profile"], dict(labels)["verdict"]): value
        for (name, labels), value in values.items()
        if name == "camcanary_probes_total"
    }
    assert scraped, text
    for key, value in scraped.items():
        assert 0 <= value <= by_verdict[key], key
    assert sum(scraped.values()) >= 24  # the three manual rounds of 8
    assert scraped[("hub", "3g", "foreign_canary")] >= 1
    assert scraped[("app", "good", "foreign_canary")] == 0
    leak_label = (("path", "hub"),)
    assert values[("camcanary_open_incidents", leak_label)] == 1
    assert values[("camcanary_open_incidents", (("path", "app"),))] == 0
    assert values[("camcanary_killswitch_state", (("path", "hub"), ("state", "tripped")))] == 1
    assert values[("camcanary_killswitch_state", (("path", "hub"), ("state", "armed")))] == 0
    assert values[("camcanary_killswitch_state", (("path", "app"), ("state", "armed")))] == 1
    assert values[("camcanary_outbox_depth", ())] == 0
    assert values[("camcanary_store_up", ())] == 1
    last_app = max(r.started_at for r in results if r.path == "app" and r.verdict != Verdict.ERROR)
    scraped_last = values[("camcanary_last_success_timestamp_seconds", (("path", "app"),))]
    assert last_app.timestamp() - 5 <= scraped_last <= last_app.timestamp()
    count = values[
        ("camcanary_probe_duration_seconds_count", (("path", "app"), ("profile", "good")))
    ]
    # the scheduler runs on during the scrape: one probe may land between two families
    assert abs(count - scraped_total(scraped, "app", "good")) <= 1
    assert values[("camcanary_scheduler_lag_seconds_count", ())] >= 1
    check = subprocess.run(  # noqa: S603  # promtool at a fixed path, our own text on stdin
        [PROMTOOL, "check", "metrics"], input=text.encode(), capture_output=True, timeout=60
    )
    assert check.returncode == 0, check.stdout.decode() + check.stderr.decode()


def scraped_total(scraped: dict[tuple[str, str, str], float], path: str, profile: str) -> float:
    return sum(v for (p, pr, _), v in scraped.items() if (p, pr) == (path, profile))


def test_every_exported_metric_is_declared_and_the_registry_is_private() -> None:
    from prometheus_client import REGISTRY

    metrics = Metrics(None, ["app"], ["good"])
    text = metrics.exposition().decode()
    names = {
        family.name
        for family in text_string_to_metric_families(text)
        if not family.name.endswith("_created")  # prometheus_client's creation times
    }
    # counters are exposed without their _total suffix in the family name
    assert names <= {n.removesuffix("_total") for n in METRIC_NAMES}
    assert "camcanary_probes" not in {
        family.name for family in REGISTRY.collect()
    }  # the global registry stays clean


def test_a_failing_database_reports_store_down_instead_of_failing_the_scrape(
    tmp_path: Path,
) -> None:
    import sqlalchemy as sa

    engine = sa.create_engine(f"sqlite:///{tmp_path}/missing-tables.db")
    try:
        text = Metrics(engine, ["app"], ["good"]).exposition().decode()
    finally:
        engine.dispose()
    values = samples(text)
    assert values[("camcanary_store_up", ())] == 0
    assert (
        values[
            ("camcanary_probes_total", (("path", "app"), ("profile", "good"), ("verdict", "own")))
        ]
        == 0
    )


@pytest.fixture(autouse=True)
def _promtool_present() -> None:
    if not Path(PROMTOOL).exists():
        pytest.fail("promtool is missing: `make system` installs Debian's prometheus package")


def test_wire_and_decoded_bytes_are_counted_apart() -> None:
    metrics = Metrics(None, ["app", "hls"], ["good"])
    at = datetime.now(UTC)
    plain = ProbeResult("lobby", "app", "good", at, 0.1, Verdict.OWN, bytes_received=1_000)
    metrics.observe(
        ProbeResult(
            "lobby", "app", "good", at, 0.1, Verdict.OWN, bytes_received=100, bytes_decoded=900
        )
    )
    metrics.observe(plain)  # not compressed: decoded is what was received
    samples = {
        (sample.name, sample.labels["path"]): sample.value
        for family in text_string_to_metric_families(metrics.exposition().decode())
        for sample in family.samples
        if sample.name.startswith("camcanary_probe_") and sample.name.endswith("bytes_total")
    }

    assert samples[("camcanary_probe_received_bytes_total", "app")] == 1_100
    assert samples[("camcanary_probe_decoded_bytes_total", "app")] == 1_900
    assert samples[("camcanary_probe_received_bytes_total", "hls")] == 0  # exists from zero
