"""``camcanary serve --demo``: the real service against an embedded testbed camera cloud.

Three tenants on a loopback testbed, the vendor app and the smart-display (hub) path
under ``good`` and ``3g``, SQLite in a temporary directory, anonymous viewing on
127.0.0.1, two operator tokens printed (re-enabling needs two people). The hub's
faulty cache update (xiaomi-2020) is deployed after ``bug_after`` seconds.

It lives in drills/ because it imports the testbed; ``monitor.cli.serve`` names
``serve_demo`` as a string and imports it only when ``--demo`` is given.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import sys
import tempfile
from pathlib import Path
from typing import Any

import click
import httpx

from drills.demo import BUG, TENANTS, DemoOptions, demo_config
from monitor.cli.serve import serve
from monitor.config import parse_config, slack_environ
from monitor.store.accounts import Accounts
from testbed import TestbedCloud, TestbedServer

DEMO_INTERVAL_S = 5.0  # 12 probes every 5 s: the dashboard fills within a minute


async def serve_demo(port: int, bug_after: float) -> None:
    """Serve the demo until SIGINT/SIGTERM."""
    secret, switch_secret = secrets.token_hex(16), secrets.token_hex(16)
    admin = secrets.token_urlsafe(16)
    cloud = TestbedCloud.create(
        secret.encode(), list(TENANTS), killswitch_secret=switch_secret.encode(), admin_token=admin
    )
    with tempfile.TemporaryDirectory(prefix="camcanary-serve-demo-") as tmp:
        async with TestbedServer(cloud) as server:
            options = DemoOptions(interval_s=DEMO_INTERVAL_S, jitter_s=1.0)
            data = demo_config(
                server.url, cloud, secret, switch_secret, f"sqlite:///{Path(tmp) / 'db'}", options
            )
            data["web"] = {"host": "127.0.0.1", "port": port, "anonymous_viewer": True}
            config = parse_config(data, source="serve --demo", environ=slack_environ())

            async def started(monitor: Any, url: str) -> None:
                accounts = Accounts(monitor.store.engine)
                now = monitor.web_context().clock()
                first = await asyncio.to_thread(accounts.add_user, "demo-operator", "operator", now)
                second = await asyncio.to_thread(
                    accounts.add_user, "demo-approver", "operator", now
                )
                click.echo(f"camcanary demo: dashboard {url}/ (anonymous viewing on loopback)")
                click.echo(f"camcanary demo: operator token {first} (user demo-operator)")
                click.echo(f"camcanary demo: second operator token {second} (user demo-approver)")
                click.echo(
                    f"camcanary demo: the hub's faulty cache update ({BUG}) goes live in "
                    f"{bug_after:g} s; try: curl -H 'Authorization: Bearer {first}' "
                    f"{url}/api/v1/paths",
                    nl=True,
                )
                sys.stdout.flush()
                bug = asyncio.create_task(_deploy_bug(server.url, admin, bug_after))
                _background.add(bug)
                bug.add_done_callback(_background.discard)

            try:
                await serve(config, started=started)
            finally:
                for task in list(_background):
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task


_background: set[asyncio.Task[None]] = set()


async def _deploy_bug(testbed_url: str, admin: str, after_s: float) -> None:
    await asyncio.sleep(after_s)
    async with httpx.AsyncClient(trust_env=False) as client:
        response = await client.post(
            f"{testbed_url}/admin/v1/bugs",
            json={"bug": BUG, "enabled": True},
            headers={"Authorization": f"Bearer {admin}"},
        )
    if response.is_success:
        click.echo(f"camcanary demo: deployed the hub 'cache update' ({BUG})")
    else:
        click.echo(f"camcanary demo: could not deploy the bug: HTTP {response.status_code}")
    sys.stdout.flush()
