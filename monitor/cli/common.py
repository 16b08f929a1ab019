"""What every command shares: the ``--config`` option, loading the configuration, and the
one mapping from camcanary's errors to exit codes and messages.

Exit codes (the same for every command):

* 0: done, nothing bad found;
* 1: the job's outcome is bad: a leak seen, a drill failed, a change refused;
* 2: usage or configuration error (click's own usage errors exit 2 as well).

Messages are one line on stderr. This module stays cheap to import (click and
``monitor.errors`` only): ``--help``, ``config check`` and ``render`` load it.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Coroutine
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import click

from monitor.errors import CamcanaryError, ConfigError, KillSwitchError, KillSwitchStateError

if TYPE_CHECKING:
    from monitor.config import Config

T = TypeVar("T")

OK, BAD_OUTCOME, USAGE = 0, 1, 2

# Errors that mean the job was refused (exit 1), with the words put before the message.
# Every other CamcanaryError is a usage or configuration problem (exit 2). A command
# adds the refusals that live in modules too heavy to import here (``AccessError``).
REFUSALS: dict[type[CamcanaryError], str] = {
    KillSwitchStateError: "refused: ",
    KillSwitchError: "the kill switch backend did not take it: ",
}

config_option = click.option(
    "--config",
    "config_file",
    required=True,
    envvar="CAMCANARY_CONFIG",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Configuration file (or $CAMCANARY_CONFIG).",
)


def fail(message: str, code: int) -> NoReturn:
    click.echo(message, err=True)
    sys.exit(code)


def exit_code_of(exc: CamcanaryError, refused: tuple[type[CamcanaryError], ...] = ()) -> int:
    """BAD_OUTCOME for a refusal (REFUSALS or ``refused``), USAGE for any other error."""
    return BAD_OUTCOME if isinstance(exc, (*REFUSALS, *refused)) else USAGE


def report(
    exc: CamcanaryError,
    refused: tuple[type[CamcanaryError], ...] = (),
    *,
    prefix: str = "camcanary",
) -> NoReturn:
    """Say what went wrong in one line on stderr and exit with the error's code."""
    words = next((w for kind, w in REFUSALS.items() if isinstance(exc, kind)), "")
    fail(f"{prefix}: {words}{exc}", exit_code_of(exc, refused))


def load(path: Path) -> Config:
    """The validated configuration, or exit 2 with the loader's message (it names the
    file and the key)."""
    from monitor.config import load_config

    try:
        return load_config(path)
    except ConfigError as exc:
        fail(str(exc), USAGE)


def run(coroutine: Coroutine[Any, Any, T], *, prefix: str = "camcanary") -> T:
    """``asyncio.run`` with camcanary's errors reported (see ``report``)."""
    import asyncio

    try:
        return asyncio.run(coroutine)
    except CamcanaryError as exc:
        report(exc, prefix=prefix)


def resolve(target: str) -> Any:
    """The object a ``"package.module:attribute"`` string names, imported now."""
    module, _, attribute = target.partition(":")
    return getattr(importlib.import_module(module), attribute)
