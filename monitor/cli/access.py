"""``camcanary users`` and ``camcanary tokens``: who may use the web app and API.

A token is printed once, when it is created; the database keeps only its SHA-256.
Exit codes: 0 done; 1 refused (unknown user or token, duplicate name); 2 usage or
configuration error.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar, cast

import click

from monitor.cli.common import BAD_OUTCOME, config_option, fail, load, report
from monitor.config import NAME_PATTERN
from monitor.errors import CamcanaryError
from monitor.store import Store
from monitor.store.accounts import USER_ROLES, AccessError, Accounts, UserRole

T = TypeVar("T")


def _with_accounts(config_file: Path, job: Callable[[Accounts], T]) -> T:
    config = load(config_file)
    try:
        store = Store(config.store.url)
        try:
            store.migrate()
            return job(Accounts(store.engine))
        finally:
            store.close()
    except CamcanaryError as exc:
        report(exc, (AccessError,))


def _name(ctx: click.Context, param: click.Parameter, value: str) -> str:
    if not re.match(NAME_PATTERN, value):
        raise click.BadParameter("lower-case letters, digits, '-' and '_', up to 63")
    return value


@click.group("users")
def users_group() -> None:
    """Create and list the people and CI systems that use the web app and API."""


@users_group.command("add")
@config_option
@click.argument("name", callback=_name)
@click.option("--role", type=click.Choice(USER_ROLES), required=True)
def users_add(config_file: Path, name: str, role: str) -> None:
    """Create user NAME and print its first API token (shown only once)."""
    now = datetime.now(UTC)
    token = _with_accounts(
        config_file, lambda a: a.add_user(name, cast(UserRole, role), now, "initial")
    )
    click.echo(token)
    click.echo(f"created {role} {name}; the token above is shown only once", err=True)


@users_group.command("list")
@config_option
def users_list(config_file: Path) -> None:
    """Users with their roles and live token counts."""
    infos = _with_accounts(config_file, lambda a: a.tokens())
    users: dict[str, tuple[str, int]] = {}
    for info in infos:
        role, live = users.get(info.user, (info.role, 0))
        users[info.user] = (role, live + (info.revoked_at is None))
    for name, (role, live) in sorted(users.items()):
        click.echo(f"{name}\t{role}\t{live} live token(s)")


@click.group("tokens")
def tokens_group() -> None:
    """Issue, list and revoke API tokens."""


@tokens_group.command("add")
@config_option
@click.argument("name")
@click.option("--label", default="", help="What the token is for (e.g. 'prometheus').")
def tokens_add(config_file: Path, name: str, label: str) -> None:
    """Issue another token for user NAME (shown only once)."""
    now = datetime.now(UTC)
    click.echo(_with_accounts(config_file, lambda a: a.issue_token(name, now, label)))


@tokens_group.command("list")
@config_option
def tokens_list(config_file: Path) -> None:
    """Token ids, owners, labels and whether they are revoked (never the tokens)."""
    for info in _with_accounts(config_file, lambda a: a.tokens()):
        state = "live" if info.revoked_at is None else f"revoked {info.revoked_at:%Y-%m-%d %H:%M}Z"
        click.echo(f"{info.id}\t{info.user}\t{info.role}\t{info.label or '-'}\t{state}")


@tokens_group.command("revoke")
@config_option
@click.argument("token_id", type=int)
def tokens_revoke(config_file: Path, token_id: int) -> None:
    """Revoke token TOKEN_ID (and log its user's browser sessions out)."""
    now = datetime.now(UTC)
    if not _with_accounts(config_file, lambda a: a.revoke(token_id, now)):
        fail(f"camcanary: no live token {token_id}", BAD_OUTCOME)
    click.echo(f"revoked token {token_id}", err=True)
