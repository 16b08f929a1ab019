"""The signed kill switch endpoint: only the broken path goes dark."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx

from testbed import TestbedCloud, sign_killswitch
from tests.harness import app_and_hub_statuses

Drive = Callable[[Callable[[httpx.AsyncClient], Awaitable[None]]], None]
URL = "/admin/v1/killswitch"


def signed(secret: bytes, body: dict[str, Any], at: float | None = None) -> dict[str, Any]:
    raw = json.dumps(body).encode()
    timestamp = int(time.time() if at is None else at)
    return {"content": raw, "headers": sign_killswitch(secret, raw, timestamp)}


async def get_both(client: httpx.AsyncClient, cloud: TestbedCloud) -> tuple[int, int]:
    return await app_and_hub_statuses(client, cloud, "a")


def test_tripping_hub_disables_hub_only_and_rearming_restores_it(
    cloud: TestbedCloud, drive: Drive
) -> None:
    secret = cloud.killswitch_secret

    async def scenario(client: httpx.AsyncClient) -> None:
        trip = {"path": "hub", "state": "tripped", "reason": "foreign_canary on hub"}
        response = await client.post(URL, **signed(secret, trip))
        assert response.status_code == 200
        assert response.json() | {"changed_at": None} == trip | {"changed_at": None}

        assert await get_both(client, cloud) == (200, 503)
        tenant = cloud.tenant("b")
        dark = await client.get(
            f"/hub/v1/cameras/{tenant.camera_id}/still",
            headers={"Authorization": f"Bearer {tenant.token}"},
        )
        assert dark.json() == {"error": "integration disabled by kill switch", "path": "hub"}

        response = await client.post(URL, **signed(secret, {"path": "hub", "state": "armed"}))
        assert response.json()["state"] == "armed"
        assert await get_both(client, cloud) == (200, 200)

    drive(scenario)


def test_signature_format_is_hmac_sha256_of_timestamp_dot_body(
    cloud: TestbedCloud, drive: Drive
) -> None:
    async def scenario(client: httpx.AsyncClient) -> None:
        raw = b'{"path": "app", "state": "tripped", "reason": "drill"}'
        timestamp = str(int(time.time()))
        mac = hmac.new(cloud.killswitch_secret, f"{timestamp}.".encode() + raw, hashlib.sha256)
        headers = {
            "X-Camcanary-Timestamp": timestamp,
            "X-Camcanary-Signature": f"v1={mac.hexdigest()}",
        }
        response = await client.post(URL, content=raw, headers=headers)
        assert response.status_code == 200
        assert await get_both(client, cloud) == (503, 200)

    drive(scenario)


def test_bad_signatures_and_stale_timestamps_are_401(cloud: TestbedCloud, drive: Drive) -> None:
    body = {"path": "hub", "state": "tripped", "reason": "x"}
    now = time.time()
    good = signed(cloud.killswitch_secret, body)
    attempts = [
        signed(b"some other secret", body),
        signed(cloud.killswitch_secret, body, at=now - 302),  # whole seconds: 302 s keeps
        signed(cloud.killswitch_secret, body, at=now + 302),  # > 300 s after truncation
        {"content": good["content"], "headers": {}},
        {"content": good["content"] + b" ", "headers": good["headers"]},
        {
            "content": good["content"],
            "headers": good["headers"] | {"X-Camcanary-Timestamp": "-1"},
        },
        {
            "content": good["content"],
            "headers": good["headers"]
            | {"X-Camcanary-Signature": good["headers"]["X-Camcanary-Signature"][3:]},
        },
        {  # the admin token is no substitute for a signature
            "content": good["content"],
            "headers": {"Authorization": f"Bearer {cloud.admin_token}"},
        },
    ]

    async def scenario(client: httpx.AsyncClient) -> None:
        for attempt in attempts:
            response = await client.post(URL, **attempt)
            assert response.status_code == 401, attempt
        assert await get_both(client, cloud) == (200, 200)

    drive(scenario)


def test_unknown_path_or_state_is_400(cloud: TestbedCloud, drive: Drive) -> None:
    secret = cloud.killswitch_secret

    async def scenario(client: httpx.AsyncClient) -> None:
        for body in (
            {"path": "doorbell", "state": "tripped"},
            {"path": "hub", "state": "off"},
            {"path": "hub", "state": "tripped", "reason": 42},
            {"path": "hub", "state": "tripped", "why": "extra key"},
            {"state": "tripped"},
        ):
            response = await client.post(URL, **signed(secret, body))
            assert response.status_code == 400, body
        assert await get_both(client, cloud) == (200, 200)

    drive(scenario)
