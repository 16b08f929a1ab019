"""The testbed's integration gateway honouring camcanary's built-in kill switch flags.

Polls ``GET {url}/{path}`` for each testbed path every ``interval_s`` with
``If-None-Match`` and applies the answer to the cloud's switch, failing safe as the
endpoint documents (`monitor.web.api.killswitch`): ``404`` means tripped; any other
failure keeps the last state received, and a path never heard of stays tripped.
``verifying`` serves canary tenants only, which here is every tenant.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Final

import httpx

from testbed.cloud import KILLSWITCH_STATES, PATHS, TestbedCloud

log = logging.getLogger(__name__)

NEVER_HEARD: Final = "no answer from the kill switch endpoint yet (fail-safe)"


class KillSwitchPoller:
    def __init__(self, cloud: TestbedCloud, url: str, *, interval_s: float = 0.5) -> None:
        self.cloud = cloud
        self.url = url.rstrip("/")
        self.interval_s = interval_s
        self.polls = 0
        self._etags: dict[str, str] = {}
        self._task: asyncio.Task[None] | None = None
        self._client: httpx.AsyncClient | None = None

    async def start(self) -> None:
        for path in PATHS:  # closed until the monitor says otherwise
            self.cloud.set_killswitch(path, "tripped", NEVER_HEARD)
        self._client = httpx.AsyncClient(timeout=max(1.0, 2 * self.interval_s), trust_env=False)
        await self.poll_once()
        self._task = asyncio.create_task(self._loop(), name="killswitch-poller")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        client, self._client = self._client, None
        if client is not None:
            await client.aclose()

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.interval_s)
            try:
                await self.poll_once()
            except Exception:  # the gateway must keep polling whatever happens
                log.exception("kill switch poll failed")

    async def poll_once(self) -> None:
        await asyncio.gather(*(self._poll(path) for path in PATHS))
        self.polls += 1

    async def _poll(self, path: str) -> None:
        assert self._client is not None
        headers = {"If-None-Match": self._etags[path]} if path in self._etags else {}
        try:
            response = await self._client.get(f"{self.url}/{path}", headers=headers)
        except httpx.HTTPError as exc:
            log.warning("kill switch endpoint unreachable for %s, keeping state: %s", path, exc)
            return
        if response.status_code == 304:
            return
        if response.status_code == 404:
            self._etags.pop(path, None)
            self.cloud.set_killswitch(path, "tripped", "unknown to the monitor (fail-safe)")
            return
        if response.status_code != 200:
            log.warning("kill switch endpoint answered %s for %s, keeping state",
                        response.status_code, path)  # fmt: skip
            return
        try:
            body = response.json()
            state, reason = body["state"], str(body.get("reason", ""))
        except (ValueError, KeyError, TypeError):
            log.warning("malformed kill switch answer for %s, keeping state", path)
            return
        if state not in KILLSWITCH_STATES:
            log.warning("unknown kill switch state %r for %s, keeping state", state, path)
            return
        self.cloud.set_killswitch(path, state, reason)
        if "ETag" in response.headers:
            self._etags[path] = response.headers["ETag"]
