"""``alexa``: an Echo Show asking a skill for a camera stream.

POST an ``Alexa.CameraStreamController`` ``InitializeCameraStreams`` directive (payload
version 3) for the canary's camera to ``url``; as Alexa does, the account's OAuth token
travels in ``endpoint.scope`` (type ``BearerToken``), not in a header
(https://developer.amazon.com/docs/device-apis/alexa-camerastreamcontroller.html).
The ``Response`` event's first ``payload.cameraStreams[].uri`` goes to
`capture_stream_url`, which refuses hosts outside ``allowed_hosts`` before connecting.
An ``ErrorResponse`` event becomes a failure naming its ``payload.type``.
"""

from __future__ import annotations

import uuid
from typing import Any, Final

from monitor.config import AlexaOptions, CanaryConfig
from monitor.paths.base import Capture, CaptureFailure, IntegrationPath, Router
from monitor.paths.google_home import ResponseError, capture_returned_url, dig, post_json

NAMESPACE: Final = "Alexa.CameraStreamController"
PROTOCOLS: Final = ("HLS", "RTSP")


class AlexaPath(IntegrationPath):
    kind = "alexa"
    config: AlexaOptions

    def __init__(self, config: AlexaOptions) -> None:
        super().__init__(config)

    async def capture(
        self, canary: CanaryConfig, profile: str, router: Router
    ) -> Capture | CaptureFailure:
        url = self.config.url.format(camera_id=canary.camera_id, canary=canary.name)
        directive = {
            "directive": {
                "header": {
                    "namespace": NAMESPACE,
                    "name": "InitializeCameraStreams",
                    "payloadVersion": "3",
                    "messageId": str(uuid.uuid4()),
                    "correlationToken": str(uuid.uuid4()),
                },
                "endpoint": {
                    "endpointId": canary.camera_id,
                    "scope": {"type": "BearerToken", "token": canary.token.get_secret_value()},
                },
                "payload": {
                    "cameraStreams": [
                        {
                            "protocol": protocol,
                            "resolution": {"width": 1280, "height": 720},
                            "authorizationType": "BEARER_TOKEN",
                            "videoCodec": "H264",
                            "audioCodec": "NONE",
                        }
                        for protocol in PROTOCOLS
                    ]
                },
            }
        }
        try:
            answer, used = await post_json(self.config, router, url, directive)
        except ResponseError as exc:
            return exc.failure()
        try:
            stream_url = stream_of(answer, canary.camera_id)
        except ResponseError as exc:
            return exc.failure(used)
        return await capture_returned_url(stream_url, used, self.config, router)


def stream_of(answer: dict[str, Any], camera_id: str) -> str:
    """The first camera stream URI of a ``Response`` event; ResponseError otherwise."""
    header = dig(answer, "event", "header")
    if not isinstance(header, dict):
        raise ResponseError("answer has no event.header", 200)
    if header.get("name") == "ErrorResponse":
        kind = str(dig(answer, "event", "payload", "type"))[:60]
        raise ResponseError(f"ErrorResponse {kind}", 200)
    if (header.get("namespace"), header.get("name")) != (NAMESPACE, "Response"):
        raise ResponseError("answer is not a CameraStreamController Response", 200)
    if dig(answer, "event", "endpoint", "endpointId") != camera_id:
        raise ResponseError("answer is for another endpoint", 200)
    streams = dig(answer, "event", "payload", "cameraStreams")
    if not isinstance(streams, list) or not streams:
        raise ResponseError("answer has no payload.cameraStreams", 200)
    uri = dig(streams, 0, "uri")
    if not isinstance(uri, str) or len(uri) > 4096:
        raise ResponseError("camera stream without a string uri", 200)
    return uri
