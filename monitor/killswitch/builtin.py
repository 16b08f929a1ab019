"""``builtin``: the platform's integration gateways poll camcanary for the state.

The state lives in camcanary's database (the state machine writes it); the web app
serves it at ``GET /api/v1/killswitch/{path}`` (see `monitor.web.api.killswitch`),
so applying a state calls nothing: the next poll sees it.
"""

from __future__ import annotations

from monitor.killswitch.base import KillSwitchBackend


class BuiltinKillSwitch(KillSwitchBackend):
    async def apply(self, path: str, state: str, reason: str) -> None:
        return None
