"""The monitor's error tree. Third-party errors are mapped once, at the boundary.

    CamcanaryError
    ├── ConfigError           the configuration file is missing, unreadable or invalid
    ├── StoreError            the database cannot be reached or migrated
    ├── KillSwitchError       a kill-switch backend did not take the new state
    │                         (``permanent``: retrying the same call cannot help)
    ├── KillSwitchStateError  a kill-switch transition was refused (wrong state, four
    │                         eyes, unknown path); ``path`` and ``state`` say where
    ├── BrowserError          no usable Chromium (monitor.paths.chromium), every candidate named
    ├── AccessError           a user or token operation cannot be done (monitor.store.accounts)
    └── TestbedProcessError   a drill's testbed process did not start (drills.testbed_process)

Errors that belong to one module live there and are listed here.

A probe that fails is not an error: it is a ProbeResult with verdict ``error``.
"""

from __future__ import annotations


class CamcanaryError(Exception):
    """Root of camcanary's errors."""


class ConfigError(CamcanaryError):
    """Invalid configuration; the message names the file, the key and the fix."""


class StoreError(CamcanaryError):
    """The probe store cannot be used."""


class KillSwitchError(CamcanaryError):
    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


class KillSwitchStateError(CamcanaryError):
    def __init__(self, message: str, *, path: str, state: str | None) -> None:
        super().__init__(message)
        self.path = path
        self.state = state
