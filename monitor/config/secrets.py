"""The one secrets resolver: ``$NAME``, or else the contents of the file at ``$NAME_FILE``.

Secrets never sit in the file. They reach a model in one of two shapes, both resolved
by `read_secret`:

- a ``<key>_env: NAME`` key names the variable (`secret_from_env_key`); the secret is
  required, so a variable set to the empty string is taken as it is;
- a fixed variable per field (`secrets_from_environ`, e.g. ``SLACK_BOT_TOKEN``); the
  secret is optional, so an empty variable counts as unset (compose files pass
  ``${VAR:-}`` to mean "off"), and the key itself is refused in the file.

The environment is the validation context's ``environ`` (tests pass their own), else
``os.environ``. This package is the only code that reads it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationInfo


def environ_of(info: ValidationInfo) -> Mapping[str, str]:
    """The environment this validation reads: the context's ``environ`` or the process's."""
    environ: Mapping[str, str] = (info.context or {}).get("environ", os.environ)
    return environ


def read_secret(name: str, environ: Mapping[str, str], *, optional: bool) -> str | None:
    """``$name``, else the stripped contents of the file at ``$name_FILE``, else None.

    With ``optional``, empty variables count as unset. Raises ValueError naming the
    variable when the file cannot be read.
    """
    value = environ.get(name)
    if value is not None and (value or not optional):
        return value
    path = environ.get(f"{name}_FILE")
    if path is None or (optional and not path):
        return None
    try:
        return Path(path).read_text().strip()
    except OSError as exc:
        raise ValueError(f"cannot read {name}_FILE={Path(path)}: {exc.strerror}") from exc


def secret_from_env_key(data: Any, key: str, info: ValidationInfo) -> Any:
    """Replace ``<key>_env: NAME`` by ``<key>: <the secret NAME>``; the secret is required."""
    if not isinstance(data, dict) or f"{key}_env" not in data:
        return data
    data = dict(data)
    name = data.pop(f"{key}_env")
    try:
        value = read_secret(name, environ_of(info), optional=False)
    except ValueError as exc:
        raise ValueError(f"{key}_env: {exc}") from exc
    if value is None:
        raise ValueError(f"{key}_env: environment variable {name} (or {name}_FILE) is not set")
    data[key] = value
    return data


def secrets_from_environ(data: Any, info: ValidationInfo, fields: Mapping[str, str]) -> Any:
    """Fill optional secret ``fields`` (field -> variable) from the environment only."""
    if not isinstance(data, dict):
        return data
    data = dict(data)
    environ = environ_of(info)
    for key, name in fields.items():
        if key in data:
            raise ValueError(f"{key} is a secret: set {name} (or {name}_FILE), not the file")
        value = read_secret(name, environ, optional=True)
        if value is not None:
            data[key] = value
    return data
