"""``camcanary serve``: the service (scheduler, probes, incidents, Slack outbox, web app)
until SIGINT/SIGTERM; ``--demo`` runs it against an embedded testbed camera cloud.

The demo is wired in ``drills.serve_demo`` (drills may import the testbed, the monitor
may not), named here as a string and imported only when ``--demo`` is given.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from monitor.cli.common import load, resolve, run
from monitor.errors import ConfigError

if TYPE_CHECKING:
    from monitor.config import Config

# serve_demo(port, bug_after_s) -> the coroutine that runs the demo service
DEMO = "drills.serve_demo:serve_demo"


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
        run(resolve(DEMO)(8400 if port is None else port, bug_after))
        return
    assert config_file is not None
    config = load(config_file)
    if port is not None:
        config = config.model_copy(update={"web": config.web.model_copy(update={"port": port})})
    run(serve(config))


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
