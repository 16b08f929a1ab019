"""Google smart-home fulfillment and Alexa directives on the wire, and their streams."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx

from canaries import Reader
from monitor.judge import classify
from monitor.paths.streams import decode_video
from monitor.verdict import Verdict
from testbed import TestbedCloud

Drive = Callable[..., None]


def execute(device: str, protocols: list[str], request_id: str = "r-1") -> dict[str, Any]:
    command = {
        "devices": [{"id": device}],
        "execution": [
            {
                "command": "action.devices.commands.GetCameraStream",
                "params": {"StreamToChromecast": True, "SupportedStreamProtocols": protocols},
            }
        ],
    }
    return {
        "requestId": request_id,
        "inputs": [{"intent": "action.devices.EXECUTE", "payload": {"commands": [command]}}],
    }


def directive(endpoint: str, token: str, protocol: str = "HLS") -> dict[str, Any]:
    return {
        "directive": {
            "header": {
                "namespace": "Alexa.CameraStreamController",
                "name": "InitializeCameraStreams",
                "payloadVersion": "3",
                "messageId": str(uuid.uuid4()),
                "correlationToken": "corr-1",
            },
            "endpoint": {"endpointId": endpoint, "scope": {"type": "BearerToken", "token": token}},
            "payload": {"cameraStreams": [{"protocol": protocol, "videoCodec": "H264"}]},
        }
    }


def bearer(cloud: TestbedCloud, tenant: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {cloud.tenant(tenant).token}"}


def verdict_of(reader: Reader, tenant: str, frame: bytes) -> tuple[Verdict, str | None]:
    judgement = classify(reader, frame, tenant, datetime.now(UTC), 60)
    return judgement.verdict, judgement.canary


async def hls_frames(client: httpx.AsyncClient, playlist_url: str) -> list[bytes]:
    playlist = await client.get(playlist_url)
    assert playlist.status_code == 200
    assert playlist.headers["content-type"].startswith("application/vnd.apple.mpegurl")
    segment = [line for line in playlist.text.splitlines() if line.endswith(".ts")][-1]
    ts = await client.get(playlist_url.rsplit("/", 1)[0] + "/" + segment)
    assert ts.headers["content-type"] == "video/mp2t"
    return await asyncio.to_thread(decode_video, ts.content, 2, "mpegts")


def test_google_execute_returns_a_progressive_mp4_of_the_tenants_camera(
    drive: Drive, cloud: TestbedCloud, reader: Reader
) -> None:
    async def scenario(client: httpx.AsyncClient) -> None:
        body = execute("cam-a", ["hls", "progressive_mp4"], "req-42")
        answer = await client.post("/google/v1/fulfillment", json=body, headers=bearer(cloud, "a"))
        assert answer.status_code == 200
        [command] = answer.json()["payload"]["commands"]
        assert answer.json()["requestId"] == "req-42"
        assert (command["ids"], command["status"]) == (["cam-a"], "SUCCESS")
        states = command["states"]
        assert states["cameraStreamProtocol"] == "progressive_mp4"
        url = states["cameraStreamAccessUrl"]
        assert url.startswith(str(client.base_url) + "/streams/v1/")
        clip = await client.get(url)  # the URL carries its own session: no header
        assert clip.headers["content-type"] == "video/mp4"
        frames = await asyncio.to_thread(decode_video, clip.content, 2, "mp4")
        assert [verdict_of(reader, "a", f) for f in frames] == [(Verdict.OWN, "a")] * 2

    drive(scenario)


def test_google_execute_for_hls_only_returns_a_live_playlist(
    drive: Drive, cloud: TestbedCloud, reader: Reader
) -> None:
    async def scenario(client: httpx.AsyncClient) -> None:
        body = execute("cam-b", ["hls"])
        answer = await client.post("/google/v1/fulfillment", json=body, headers=bearer(cloud, "b"))
        states = answer.json()["payload"]["commands"][0]["states"]
        assert states["cameraStreamProtocol"] == "hls"
        frames = await hls_frames(client, states["cameraStreamAccessUrl"])
        assert verdict_of(reader, "b", frames[0]) == (Verdict.OWN, "b")

    drive(scenario)


def test_google_fulfillment_refuses_bad_tokens_foreign_devices_and_bad_requests(
    drive: Drive, cloud: TestbedCloud
) -> None:
    async def scenario(client: httpx.AsyncClient) -> None:
        route = "/google/v1/fulfillment"
        body = execute("cam-a", ["hls"])
        assert (await client.post(route, json=body)).status_code == 401
        wrong = {"Authorization": "Bearer stolen"}
        assert (await client.post(route, json=body, headers=wrong)).status_code == 401
        foreign = await client.post(route, json=body, headers=bearer(cloud, "b"))
        assert foreign.json()["payload"]["commands"][0] == {
            "ids": ["cam-a"],
            "status": "ERROR",
            "errorCode": "deviceNotFound",
        }
        dash = await client.post(route, json=execute("cam-a", ["dash"]), headers=bearer(cloud, "a"))
        assert dash.json()["payload"]["commands"][0]["errorCode"] == "protocolNotSupported"
        for bad in ({"requestId": "x"}, {"requestId": "x", "inputs": [{"intent": "SYNC"}]}):
            answer = await client.post(route, json=bad, headers=bearer(cloud, "a"))
            assert answer.status_code == 400
            assert "error" in answer.json()
        garbage = await client.post(route, content=b"{nope", headers=bearer(cloud, "a"))
        assert garbage.status_code == 400
        assert (await client.get("/streams/v1/unknown/clip.mp4")).status_code == 404

    drive(scenario)


def test_google_kill_switch_refuses_fulfillment_and_streams_it_minted(
    drive: Drive, cloud: TestbedCloud
) -> None:
    async def scenario(client: httpx.AsyncClient) -> None:
        body = execute("cam-a", ["progressive_mp4"])
        answer = await client.post("/google/v1/fulfillment", json=body, headers=bearer(cloud, "a"))
        url = answer.json()["payload"]["commands"][0]["states"]["cameraStreamAccessUrl"]
        cloud.set_killswitch("google", "tripped", "drill")
        again = await client.post("/google/v1/fulfillment", json=body, headers=bearer(cloud, "a"))
        assert again.status_code == 503
        assert (await client.get(url)).status_code == 503
        alexa = directive("cam-a", cloud.tenant("a").token)
        assert (await client.post("/alexa/v1/directives", json=alexa)).status_code == 200

    drive(scenario)


def test_alexa_initialize_camera_streams_returns_an_hls_uri_and_image_of_the_camera(
    drive: Drive, cloud: TestbedCloud, reader: Reader
) -> None:
    async def scenario(client: httpx.AsyncClient) -> None:
        answer = await client.post(
            "/alexa/v1/directives", json=directive("cam-a", cloud.tenant("a").token)
        )
        assert answer.status_code == 200
        event = answer.json()["event"]
        assert event["header"]["namespace"] == "Alexa.CameraStreamController"
        assert event["header"]["name"] == "Response"
        assert event["header"]["correlationToken"] == "corr-1"
        assert event["endpoint"] == {"endpointId": "cam-a"}
        [stream] = event["payload"]["cameraStreams"]
        assert (stream["protocol"], stream["videoCodec"]) == ("HLS", "H264")
        frames = await hls_frames(client, stream["uri"])
        assert verdict_of(reader, "a", frames[0]) == (Verdict.OWN, "a")
        image = await client.get(event["payload"]["imageUri"])
        assert verdict_of(reader, "a", image.content) == (Verdict.OWN, "a")

    drive(scenario)


def test_alexa_refuses_bad_scope_tokens_foreign_endpoints_and_malformed_directives(
    drive: Drive, cloud: TestbedCloud
) -> None:
    async def scenario(client: httpx.AsyncClient) -> None:
        route = "/alexa/v1/directives"
        bad = await client.post(route, json=directive("cam-a", "stolen"))
        assert bad.status_code == 401
        assert bad.json()["event"]["header"]["name"] == "ErrorResponse"
        assert bad.json()["event"]["payload"]["type"] == "INVALID_AUTHORIZATION_CREDENTIAL"
        foreign = await client.post(route, json=directive("cam-a", cloud.tenant("b").token))
        assert foreign.status_code == 404
        assert foreign.json()["event"]["payload"]["type"] == "NO_SUCH_ENDPOINT"
        rtsp_only = await client.post(
            route, json=directive("cam-a", cloud.tenant("a").token, "RTSP")
        )
        assert rtsp_only.json()["event"]["payload"]["type"] == "INVALID_VALUE"
        malformed = await client.post(route, json={"directive": {"header": {}}})
        assert malformed.status_code == 400
        cloud.set_killswitch("alexa", "tripped", "drill")
        tripped = await client.post(route, json=directive("cam-a", cloud.tenant("a").token))
        assert tripped.status_code == 503

    drive(scenario)
