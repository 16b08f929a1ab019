"""``unleash``: one Unleash feature per path, toggled through Unleash's admin API.

``tripped`` switches the feature off in the configured environment, ``armed`` and
``verifying`` switch it on (Unleash has no notion of canary accounts: restrict the
feature's strategy to them yourself if ``verifying`` must stay canary-only).

    POST {url}/api/admin/projects/{project}/features/{feature}/environments/{env}/off
    Authorization: <admin API token>

https://docs.getunleash.io/reference/api/unleash/toggle-feature-environment-off
Both calls are idempotent at Unleash: switching off an off feature answers 200.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from urllib.parse import quote

import httpx

from monitor.errors import KillSwitchError
from monitor.killswitch.base import KillSwitchBackend

ATTEMPTS = 3


class UnleashKillSwitch(KillSwitchBackend):
    def __init__(
        self,
        url: str,
        token: str,
        *,
        project: str = "default",
        environment: str = "production",
        features: Mapping[str, str] | None = None,
        timeout_s: float = 5.0,
    ) -> None:
        self.url = url.rstrip("/")
        self.project = project
        self.environment = environment
        self._features = dict(features or {})
        self._client = httpx.AsyncClient(
            timeout=timeout_s, trust_env=False, headers={"Authorization": token}
        )

    def endpoint(self, path: str, state: str) -> str:
        feature = self._features.get(path, path)
        action = "off" if state == "tripped" else "on"
        return (
            f"{self.url}/api/admin/projects/{quote(self.project, safe='')}/features/"
            f"{quote(feature, safe='')}/environments/{quote(self.environment, safe='')}/{action}"
        )

    async def apply(self, path: str, state: str, reason: str) -> None:
        url = self.endpoint(path, state)
        last = "no attempt"
        for attempt in range(ATTEMPTS):
            try:
                response = await self._client.post(url)
            except httpx.HTTPError as exc:
                last = f"{type(exc).__name__}: {exc}"
            else:
                if response.is_success:
                    return
                last = f"HTTP {response.status_code}: {response.text[:200]}"
                if 400 <= response.status_code < 500 and response.status_code != 429:
                    raise KillSwitchError(f"Unleash refused {url}: {last}", permanent=True)
            if attempt + 1 < ATTEMPTS:
                await asyncio.sleep(0.5 * 2**attempt)
        raise KillSwitchError(f"Unleash unreachable at {url} after {ATTEMPTS} attempts: {last}")

    async def close(self) -> None:
        await self._client.aclose()
