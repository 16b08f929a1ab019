"""``camcanary serve``: the service (scheduler, probes, incidents, Slack outbox, web app)
until SIGINT/SIGTERM; ``--demo`` runs it against an embedded testbed camera cloud.

The demo: three tenants on a loopback testbed, the vendor app and the smart-display
(hub) path under ``good`` and ``3g``, SQLite in a temporary directory, anonymous
viewing on 127.0.0.1, two operator tokens printed (re-enabling needs two people).
The hub's faulty cache update (xiaomi-2020) is deployed after ``--bug-after`` seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import signal
import sys
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import click
import httpx

from monitor.config import Config, load_config
from monitor.errors import CamcanaryError, ConfigError

DEMO_INTERVAL_S = 5.0  # 12 probes every 5 s: the dashboard fills within a minute


@click.command("serve")
@click.option(
    "--config",
    "config_file",
    default=None,
    envvar="CAMCANARY_CONFIG",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Configuration file (or $CAMCANARY_CONFIG); not with --demo.",
)
@click.option("--demo", is_flag=True, help="Run against an embedded testbed camera cloud.")
@click.option(
    "--port", type=click.IntRange(0, 65535), default=None, help="Web port (default: web.port)."
)
@click.option(
    "--bug-after",
    type=click.FloatRange(min=0),
    default=60.0,
    show_default=True,
    help="With --demo: seconds before the hub's faulty cache update is deployed.",
)
@click.pass_context
def serve_command(
    ctx: click.Context, config_file: Path | None, demo: bool, port: int | None, bug_after: float
) -> None:
    """Run the monitor and its web app (dashboard, API, /metrics) until stopped."""
    if demo and ctx.get_parameter_source("config_file") == click.core.ParameterSource.ENVIRONMENT:
        config_file = None  # $CAMCANARY_CONFIG is for the real service, not the demo
    if demo == (config_file is not None):
        raise click.UsageError("give either --config FILE or --demo")
    if demo:
        _run(_demo(8400 if port is None else port, bug_after))
        return
    assert config_file is not None
    try:
        config = load_config(config_file)
    except ConfigError as exc:
        click.echo(str(exc), err=True)
        sys.exit(2)
    if port is not None:
        config = config.model_copy(update={"web": config.web.model_copy(update={"port": port})})
    _run(serve(config))


async def serve(
    config: Config,
    *,
    started: Callable[[Any, str], Awaitable[None]] | None = None,
    **monitor_options: Any,
) -> None:
    """Serve until SIGINT/SIGTERM; ``started(monitor, url)`` runs once everything is up."""
    from monitor.service import Monitor
    from monitor.web import WebServer, create_app

    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stopping.set)  # handlers only set a flag
    monitor = Monitor(config, **monitor_options)
    await monitor.start()
    web = WebServer(create_app(monitor.web_context(), monitor.slack_actions), *_bind(config))
    try:
        await web.start()
    except OSError as exc:  # port taken, address not local: a configuration problem
        await monitor.stop()
        where = f"{config.web.host}:{config.web.port}"
        raise ConfigError(f"cannot serve the web app on {where}: {exc.strerror}") from exc
    except BaseException:
        await monitor.stop()
        raise
    click.echo(
        f"camcanary: monitoring {len(monitor.specs)} probes; store "
        f"{monitor.store.engine.url.render_as_string(hide_password=True)}; web {web.url}",
        err=True,
    )
    try:
        if started is not None:
            await started(monitor, web.url)
        await stopping.wait()
    finally:
        await web.stop()
        await monitor.stop()
        click.echo("camcanary: stopped", err=True)


def _bind(config: Config) -> tuple[str, int]:
    return config.web.host, config.web.port


async def _demo(port: int, bug_after: float) -> None:
    from drills.demo import BUG, TENANTS, DemoOptions, demo_config
    from monitor.config import parse_config, slack_environ
    from monitor.store.accounts import Accounts
    from testbed import TestbedCloud, TestbedServer

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
    from drills.demo import BUG

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


def _run(coroutine: Awaitable[None]) -> None:
    try:
        asyncio.run(coroutine)  # type: ignore[arg-type]
    except CamcanaryError as exc:
        click.echo(f"camcanary: {exc}", err=True)
        sys.exit(2)
