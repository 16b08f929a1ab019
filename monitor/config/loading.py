"""Reading a configuration: YAML or plain data in, a frozen `Config` or a ConfigError out.

A ConfigError holds one line per problem, ``<source>: <where>: <what>``, with the
names a user wrote (the union's internal tag never shows in ``<where>``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError
from pydantic_core import ErrorDetails

from monitor.config.paths import PATH_OPTIONS
from monitor.config.root import Config
from monitor.errors import ConfigError


def parse_config(
    data: Any, *, source: str = "<config>", environ: Mapping[str, str] | None = None
) -> Config:
    """Validate already-loaded data; raises ConfigError with one line per problem."""
    context = {"environ": os.environ if environ is None else environ}
    try:
        return Config.model_validate(data, context=context)
    except ValidationError as exc:
        raise ConfigError(describe(source, exc)) from exc


def load_config(path: str | Path, *, environ: Mapping[str, str] | None = None) -> Config:
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be a mapping of keys")
    return parse_config(data, source=str(path), environ=environ)


def describe(source: str, exc: ValidationError) -> str:
    """One ``source: where: message`` line per validation error."""
    return "\n".join(f"{source}: {_line(error)}" for error in exc.errors(include_url=False))


def _line(error: ErrorDetails) -> str:
    loc = list(error["loc"])
    message = error["msg"].removeprefix("Value error, ")
    kind = None
    # Errors inside a path carry the union's tag after the index: paths.1.snapshot.url.
    if len(loc) >= 3 and loc[0] == "paths" and loc[2] in PATH_OPTIONS:
        kind = str(loc.pop(2))
    # The union's own errors read as the fields' errors did before there was a union.
    if error["type"] == "union_tag_invalid":
        tag = error["input"].get("kind") if isinstance(error["input"], Mapping) else None
        loc.append("kind")
        message = (
            f"unknown path kind {tag!r} (valid: {', '.join(PATH_OPTIONS)})"
            if isinstance(tag, str)
            else "Input should be a valid string"
        )
    elif error["type"] == "union_tag_not_found":
        loc.append("kind")
        message = "Field required"
    elif error["type"] == "model_attributes_type" and len(loc) == 2 and loc[0] == "paths":
        message = "Input should be a valid dictionary or instance of PathConfig"
    elif error["type"] == "extra_forbidden":
        if kind is not None and len(loc) == 3:
            where = ".".join(str(part) for part in loc[:2])
            valid = ", ".join(PATH_OPTIONS[kind].model_fields)
            return f"{where}: {kind} paths have no option {str(loc[2])!r} (valid: {valid})"
        message = "unknown key"
    where = ".".join(str(part) for part in loc) or "(top level)"
    return f"{where}: {message}"
