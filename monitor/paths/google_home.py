"""``google_home``: the smart-home CameraStream flow of a Nest Hub or Chromecast.

1. POST an ``action.devices.EXECUTE`` intent with ``action.devices.commands.GetCameraStream``
   for the canary's camera to the fulfillment ``url``, with the canary account's OAuth
   access token as bearer (https://developers.home.google.com/cloud-to-cloud/traits/
   camerastream).
2. Take the command's ``states.cameraStreamAccessUrl`` (HLS, progressive MP4 or RTSP)
   and hand it to `capture_stream_url`, which refuses hosts outside ``allowed_hosts``
   before connecting.

The fulfillment answer is untrusted: bounded by ``max_playlist_bytes``, parsed as JSON,
and every field checked for shape before use.
"""

from __future__ import annotations

import json
import uuid
from typing import Any, Final
from urllib.parse import urlsplit, urlunsplit

import httpx

from monitor.config import CanaryConfig, GoogleHomeOptions, IndexOptions, PlaylistOptions
from monitor.paths.base import Capture, CaptureFailure, IntegrationPath, Router, http_client
from monitor.paths.bodies import ACCEPT_ENCODING, BodyError, ByteCount, read_body
from monitor.paths.streams import capture_stream_url, default_port

SUPPORTED_PROTOCOLS: Final = ("hls", "progressive_mp4")  # what a Cast receiver plays
GET_STREAM: Final = "action.devices.commands.GetCameraStream"


class ResponseError(Exception):
    """An integration's answer gave no stream; ``reason`` is short and safe to log."""

    def __init__(
        self,
        reason: str,
        status: int | None = None,
        bytes_received: int = 0,
        bytes_decoded: int | None = None,
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status
        self.bytes_received = bytes_received
        self.bytes_decoded = bytes_decoded

    def failure(self, answer: ByteCount | None = None) -> CaptureFailure:
        """The CaptureFailure; ``answer``: the bytes of the answer that gave this error."""
        if answer is not None:
            return CaptureFailure(self.reason, self.status, answer.wire, answer.decoded)
        return CaptureFailure(self.reason, self.status, self.bytes_received, self.bytes_decoded)


async def post_json(
    config: IndexOptions,
    router: Router,
    url: str,
    body: dict[str, Any],
    headers: dict[str, str] | None = None,
) -> tuple[dict[str, Any], ByteCount]:
    """POST ``body`` through ``router``; the JSON object answered (200 only) and its bytes."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    proxy_host, proxy_port = await router(host, parts.port or default_port(parts.scheme))
    dial = urlunsplit(parts._replace(netloc=f"{proxy_host}:{proxy_port}"))
    send = {
        **(headers or {}),
        "Host": parts.netloc,
        "Content-Type": "application/json",
        "Accept": "application/json",
        "Accept-Encoding": ACCEPT_ENCODING,
    }
    count = ByteCount()
    async with http_client(config) as client:
        try:
            async with client.stream(
                "POST", dial, content=json.dumps(body).encode(), headers=send,
                extensions={"sni_hostname": host},
            ) as response:  # fmt: skip
                status = response.status_code
                raw = await read_body(response, config.max_playlist_bytes, count, "answer")
        except BodyError as exc:
            raise ResponseError(str(exc), status, count.wire, count.decoded) from None
        except httpx.HTTPError as exc:
            raise ResponseError(f"{type(exc).__name__}: {exc}".rstrip(": ")[:200]) from exc
    if status != 200:
        raise ResponseError(f"HTTP {status}", status, count.wire, count.decoded)
    try:
        answer = json.loads(raw)
    except (ValueError, RecursionError):
        raise ResponseError("answer is not valid JSON", status, count.wire) from None
    if not isinstance(answer, dict):
        raise ResponseError("answer is not a JSON object", status, count.wire)
    return answer, count


def dig(document: Any, *keys: str | int) -> Any:
    """``document[k1][k2]...`` or None when any step is missing or of the wrong type."""
    for key in keys:
        if isinstance(key, int):
            if not isinstance(document, list) or not -len(document) <= key < len(document):
                return None
        elif not isinstance(document, dict) or key not in document:
            return None
        document = document[key]
    return document


async def capture_returned_url(
    url: str, used: ByteCount, config: PlaylistOptions, router: Router
) -> Capture | CaptureFailure:
    """`capture_stream_url`, counting the ``used`` bytes of the integration's answer."""
    result = await capture_stream_url(url, config, router)
    wire = result.bytes_received + used.wire
    decoded = result.bytes_received if result.bytes_decoded is None else result.bytes_decoded
    decoded += used.decoded
    if isinstance(result, Capture):
        return Capture(result.frames, result.status, wire, result.content_type, decoded)
    return CaptureFailure(f"stream: {result.reason}", result.status, wire, decoded)


class GoogleHomePath(IntegrationPath):
    kind = "google_home"
    config: GoogleHomeOptions

    def __init__(self, config: GoogleHomeOptions) -> None:
        super().__init__(config)

    async def capture(
        self, canary: CanaryConfig, profile: str, router: Router
    ) -> Capture | CaptureFailure:
        url = self.config.url.format(camera_id=canary.camera_id, canary=canary.name)
        request_id = str(uuid.uuid4())
        execution = {
            "command": GET_STREAM,
            "params": {
                "StreamToChromecast": True,
                "SupportedStreamProtocols": list(SUPPORTED_PROTOCOLS),
            },
        }
        body = {
            "requestId": request_id,
            "inputs": [
                {
                    "intent": "action.devices.EXECUTE",
                    "payload": {
                        "commands": [
                            {"devices": [{"id": canary.camera_id}], "execution": [execution]}
                        ]
                    },
                }
            ],
        }
        headers = {"Authorization": f"Bearer {canary.token.get_secret_value()}"}
        try:
            answer, used = await post_json(self.config, router, url, body, headers)
        except ResponseError as exc:
            return exc.failure()
        try:
            stream_url = stream_of(answer, request_id, canary.camera_id)
        except ResponseError as exc:
            return exc.failure(used)
        return await capture_returned_url(stream_url, used, self.config, router)


def stream_of(answer: dict[str, Any], request_id: str, camera_id: str) -> str:
    """The camera's ``cameraStreamAccessUrl`` in an EXECUTE answer; ResponseError if none."""
    if answer.get("requestId") != request_id:
        raise ResponseError("answer is for another requestId", 200)
    commands = dig(answer, "payload", "commands")
    if not isinstance(commands, list):
        raise ResponseError("answer has no payload.commands list", 200)
    for command in commands[:100]:
        ids = dig(command, "ids")
        if not isinstance(ids, list) or camera_id not in ids:
            continue
        if command.get("status") != "SUCCESS":
            code = str(command.get("errorCode", "no errorCode"))[:60]
            raise ResponseError(f"GetCameraStream failed: {code}", 200)
        url = dig(command, "states", "cameraStreamAccessUrl")
        protocol = dig(command, "states", "cameraStreamProtocol")
        if not isinstance(url, str) or len(url) > 4096:
            raise ResponseError("no string states.cameraStreamAccessUrl", 200)
        if protocol not in SUPPORTED_PROTOCOLS:
            raise ResponseError(f"unrequested stream protocol {str(protocol)[:40]!r}", 200)
        return url
    raise ResponseError("answer has no command for the camera", 200)
