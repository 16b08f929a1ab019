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

from collections.abc import Mapping
from typing import TYPE_CHECKING, Self
from urllib.parse import quote

import httpx

from monitor.killswitch.base import KillSwitchBackend, needs_url_and_secret
from monitor.killswitch.post import ATTEMPTS, post_with_retries

if TYPE_CHECKING:
    from monitor.config import KillSwitchConfig


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

    @classmethod
    def from_config(cls, config: KillSwitchConfig) -> Self:
        url, token = needs_url_and_secret(config)
        return cls(
            url,
            token,
            project=config.unleash_project,
            environment=config.unleash_environment,
            features=config.unleash_features,
            timeout_s=config.timeout_s,
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
        await post_with_retries(
            self._client,
            url,
            refused=lambda last: f"Unleash refused {url}: {last}",
            unreachable=lambda last: (
                f"Unleash unreachable at {url} after {ATTEMPTS} attempts: {last}"
            ),
        )

    async def close(self) -> None:
        await self._client.aclose()
