"""``camcanary migrate``: bring the store's schema to this release, or check it is.

Every command that opens the store migrates it when its database role may; this one
does only that, so that a deployment can migrate as the schema's owner and then run
the service as a role that owns nothing (docs/service.md, "Database roles").
Exit codes: 0 at the newest revision; 1 ``--check`` found it behind; 2 usage or
configuration error, or the database could not be reached or migrated.
"""

from __future__ import annotations

from pathlib import Path

import click

from monitor.cli.common import BAD_OUTCOME, config_option, fail, load, report
from monitor.errors import CamcanaryError


@click.command("migrate")
@config_option
@click.option(
    "--check",
    is_flag=True,
    help="Change nothing; exit 1 if the schema is not at this release's revision.",
)
def migrate_command(config_file: Path, check: bool) -> None:
    """Bring the store's schema to this release (as a role that may change it)."""
    from monitor.store import Store

    config = load(config_file)
    try:
        store = Store(config.store.url)
        try:
            where = store.engine.url.render_as_string(hide_password=True)
            current, head = store.revisions()
            if current == head:
                click.echo(f"{where}: at revision {head}, nothing to do")
                return
            if check:
                fail(f"{where}: at revision {current or '(empty)'}, this release needs {head}",
                     BAD_OUTCOME)  # fmt: skip
            store.migrate()
            click.echo(f"{where}: migrated from {current or '(empty)'} to {head}")
        finally:
            store.close()
    except CamcanaryError as exc:
        report(exc)
