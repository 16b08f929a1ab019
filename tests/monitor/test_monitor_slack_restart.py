"""The whole service with Slack on: the testbed's hub leaks, the monitor posts one
parent per incident to the fake Slack, and a restarted monitor on the same database
edits those parents instead of posting new ones."""

from __future__ import annotations

import asyncio
from typing import Any

import sqlalchemy as sa

from alerts.tables import threads
from monitor.config import parse_config
from monitor.results import ProbeResult
from monitor.service import Monitor
from testbed import TestbedCloud, TestbedServer
from testbed.fake_slack import FakeSlack
from tests.harness import app_and_hub, fleet_of, service_config

SECRET = "monitor slack restart: deployment secret"


def config_data(url: str, cloud: TestbedCloud, db_url: str) -> dict[str, Any]:
    return service_config(
        SECRET, fleet_of(cloud), app_and_hub(url), db_url,
        schedule={"interval_s": 3600, "concurrency": 8},
        probe={"deadline_s": 5, "stale_after_s": 30},
        slack={"min_interval_s": 0, "web_base_url": "https://camcanary.example"},
    )  # fmt: skip


def test_a_restarted_service_edits_its_threads_and_never_posts_a_parent_twice(
    sqlite_url: str,
) -> None:
    cloud = TestbedCloud.create(
        SECRET.encode(),
        ["lobby", "nursery", "garage"],
        killswitch_secret=b"unused",
        admin_token="unused",
    )
    cloud.set_bug("xiaomi-2020", True)

    async def scenario() -> tuple[FakeSlack, list[int], dict[int, str | None]]:
        async with FakeSlack() as fake, TestbedServer(cloud) as server:
            environ = {
                "SLACK_BOT_TOKEN": fake.token,
                "CAMCANARY_SLACK_CHANNEL": "CLEAKS",
                "CAMCANARY_SLACK_API_URL": fake.url,
            }
            config = parse_config(config_data(server.url, cloud, sqlite_url), environ=environ)
            hits, leaks = [], []

            def keep(result: ProbeResult) -> None:
                if result.verdict.is_leak:
                    leaks.append(result)

            for restart in range(2):
                monitor = Monitor(config, on_result=keep)
                await monitor.prepare()
                try:
                    for _ in range(8):  # the hub learns the client is slow, then leaks
                        await monitor.run_round()
                        if leaks:
                            break
                    if restart:  # the same leaks again, whatever the cache did this time
                        for result in list(leaks):
                            await monitor.engine.handle(result)
                finally:
                    await monitor.stop()  # flushes the outbox
                hits.append(sum(i.hits for i in monitor.store.open_incidents()))
            engine = sa.create_engine(sqlite_url)
            try:
                with engine.connect() as conn:
                    rows = conn.execute(sa.select(threads.c.incident_id, threads.c.ts)).all()
            finally:
                engine.dispose()
            return fake, hits, {incident: ts for incident, ts in rows}

    fake, hits, parent_ts = asyncio.run(scenario())

    assert 0 < hits[0] < hits[1], "both runs saw the hub leak"
    parents = fake.posted(thread=False)
    assert len(parents) == len(parent_ts)  # one parent per incident, across the restart
    assert sorted(p.ts for p in parents) == sorted(parent_ts.values())
    assert all("privacy leak on path hub" in (p.text or "") for p in parents)
    assert {u.ts for u in fake.updates()} <= set(parent_ts.values())
    assert fake.updates(), "the second run edited the existing parents"
