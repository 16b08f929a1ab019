"""``record``: the switch state is kept in camcanary's database only; nothing is called.

For platforms that read the state from camcanary, and for dry runs.
"""

from __future__ import annotations

from monitor.killswitch.base import KillSwitchBackend


class RecordKillSwitch(KillSwitchBackend):
    async def apply(self, path: str, state: str, reason: str) -> None:
        return None
