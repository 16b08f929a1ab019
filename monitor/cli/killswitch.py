"""``camcanary killswitch``: see and change the kill switches by hand.

A change is announced as the dashboard's and Slack's are: with Slack configured, a
reply in each open incident thread of the path goes into the durable outbox, which
the running service (`camcanary serve`) delivers within a second, or on its start.

Exit codes: 0 done; 1 the transition was refused (wrong state, four eyes, unknown
path) or the platform did not take it; 2 usage or configuration error.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import click

from monitor.cli.common import config_option, load, run
from monitor.config import Config
from monitor.incidents import IncidentEngine
from monitor.killswitch import KillSwitchBackend, build_kill_switch
from monitor.killswitch.machine import KillSwitchService, Transition
from monitor.store import Store

T = TypeVar("T")

actor_option = click.option(
    "--actor",
    default=None,
    help="Who is acting, for the audit (default: $USER).",
)


@click.group("killswitch")
def killswitch_group() -> None:
    """See and change the per-path kill switches (every change is audited)."""


@killswitch_group.command("status")
@config_option
def status_command(config_file: Path) -> None:
    """Table of paths, state, since when, by whom and why."""
    statuses = _with_service(config_file, lambda svc: _sync(svc.statuses))
    rows = [("PATH", "STATE", "SINCE", "BY", "REASON")]
    for s in statuses:
        reason = s.reason
        if s.pending_by is not None:
            reason += f" [re-enable requested by {s.pending_by}, awaiting approval]"
        rows.append(
            (s.path, s.state, s.since.strftime("%Y-%m-%d %H:%M:%SZ"), s.actor or "-", reason)
        )
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    for row in rows:
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
        click.echo("  ".join([*cells, row[4]]))


@killswitch_group.command("trip")
@config_option
@click.argument("path")
@click.option("--reason", required=True, help="Why, for the audit.")
@actor_option
def trip_command(config_file: Path, path: str, reason: str, actor: str | None) -> None:
    """Switch PATH off now, from any state (never blocked by a pending request)."""
    who = _actor(actor)
    done = _with_service(config_file, lambda svc: svc.trip(path, actor=who, reason=reason))
    if done.from_state == done.to_state and "cancels" not in done.reason:
        click.echo(f"{path}: already tripped; nothing changed")
    else:
        _say(done)


@killswitch_group.command("request-reenable")
@config_option
@click.argument("path")
@click.option("--reason", required=True, help="Why it is safe now, for the audit.")
@actor_option
def request_command(config_file: Path, path: str, reason: str, actor: str | None) -> None:
    """Ask for tripped PATH to be re-enabled for canaries; another operator approves."""
    who = _actor(actor)
    _with_service(config_file, lambda svc: svc.request_reenable(path, actor=who, reason=reason))
    click.echo(
        f"{path}: re-enable requested by {who}; another operator must run "
        f"'camcanary killswitch approve {path}'"
    )


@killswitch_group.command("approve")
@config_option
@click.argument("path")
@actor_option
def approve_command(config_file: Path, path: str, actor: str | None) -> None:
    """Approve PATH's pending re-enable request (not your own): tripped -> verifying."""
    who = _actor(actor)
    _say(_with_service(config_file, lambda svc: svc.approve(path, actor=who)))


def _say(transition: Transition) -> None:
    click.echo(
        f"{transition.path}: {transition.from_state} -> {transition.to_state} "
        f"by {transition.actor}: {transition.reason}"
    )


def _announce(
    config: Config,
    store: Store,
    backend: KillSwitchBackend,
    service: KillSwitchService,
    transition: Transition,
) -> None:
    engine = IncidentEngine(
        store,
        [],
        backend,
        config.paths,
        kill_switches=service,
        slack=config.slack,
        incidents=config.incidents,
        profiles=config.profiles,
    )
    threads = engine.announce(transition)
    if threads:
        plural = "s" if threads > 1 else ""
        click.echo(
            f"{transition.path}: announced in {threads} open incident thread{plural} "
            "(queued in the outbox; the service posts it to Slack)",
            err=True,
        )


def _actor(actor: str | None) -> str:
    who = actor or os.environ.get("USER", "")
    if not who:
        raise click.UsageError("no --actor given and $USER is not set")
    return who


async def _sync(call: Callable[[], T]) -> T:
    return await asyncio.to_thread(call)


def _with_service(config_file: Path, act: Callable[[KillSwitchService], Awaitable[T]]) -> T:
    config = load(config_file)

    async def act_and_announce() -> T:
        store = Store(config.store.url)
        backend = build_kill_switch(config.killswitch)
        try:
            await asyncio.to_thread(store.migrate)
            await asyncio.to_thread(store.register, config.canaries, config.paths)
            service = KillSwitchService(
                store,
                backend,
                config.paths,
                profiles=config.profiles,
                clean_rounds=config.killswitch.clean_rounds,
            )
            result = await act(service)
            if isinstance(result, Transition) and result.from_state != result.to_state:
                await asyncio.to_thread(_announce, config, store, backend, service, result)
            return result
        finally:
            await backend.close()
            store.close()

    return run(act_and_announce())
