"""The ``google_home`` path: EXECUTE GetCameraStream, then the returned stream, against the
loopback testbed through the impairment proxy and against hostile fulfillment servers."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from aiohttp import web
from pydantic import SecretStr

from monitor.config import CanaryConfig
from monitor.paths import Capture, CaptureFailure
from monitor.verdict import Verdict
from tests.harness import capture_against

Testbed = Callable[..., None]
Answer = Callable[[dict[str, Any], str], Any]


def test_google_home_reads_own_stream_on_good_and_3g(testbed: Testbed) -> None:
    async def scenario(bench: Any) -> None:
        good = await bench.probe("google", "good", "lobby")
        slow = await bench.probe("google", "3g", "nursery")

        assert (good.verdict, good.source_canary, good.status) == (Verdict.OWN, "lobby", 200)
        assert (slow.verdict, slow.source_canary) == (Verdict.OWN, "nursery")
        assert slow.duration_s > good.duration_s
        # The fulfillment answer and the clip both went through the 3g proxy.
        [proxy] = [p for p in bench.pool.proxies() if p.toxics]
        assert proxy.connections >= 2
        assert proxy.bytes_down >= slow.bytes_received

    testbed(["google"], scenario)


def test_google_home_with_a_bad_token_fails_with_http_401(testbed: Testbed) -> None:
    async def scenario(bench: Any) -> None:
        wrong = CanaryConfig(name="lobby", camera_id="cam-lobby", token=SecretStr("nope"))
        result = await bench.capture("google", wrong)
        assert isinstance(result, CaptureFailure)
        assert (result.reason, result.status) == ("HTTP 401", 401)

    testbed(["google"], scenario)


# -- hostile fulfillment servers --------------------------------------------------------


def run_against(answer: Answer) -> tuple[Capture | CaptureFailure, list[str]]:
    """Serve ``answer(request_json, other_port)`` as the fulfillment; count hits elsewhere."""

    async def fulfillment(request: web.Request, port: str) -> web.Response:
        body = answer(await request.json(), port)
        text = body if isinstance(body, str) else json.dumps(body)
        return web.Response(text=text, content_type="application/json")

    def clip() -> web.Response:
        return web.Response(body=b"\x00" * 64, content_type="video/mp4")

    return capture_against(
        "google_home", "/fulfillment", fulfillment, clip, name="google", token="t"
    )


def success(request: dict[str, Any], url: str, protocol: str = "progressive_mp4") -> Any:
    states = {"cameraStreamAccessUrl": url, "cameraStreamProtocol": protocol}
    command = {"ids": ["cam-lobby"], "status": "SUCCESS", "states": states}
    return {"requestId": request["requestId"], "payload": {"commands": [command]}}


def test_execute_request_has_the_documented_shape() -> None:
    seen: list[dict[str, Any]] = []

    def answer(request: dict[str, Any], port: str) -> Any:
        seen.append(request)
        return {"requestId": request["requestId"], "payload": {"commands": []}}

    result, _ = run_against(answer)
    assert isinstance(result, CaptureFailure)
    [request] = seen
    [intent] = request["inputs"]
    assert intent["intent"] == "action.devices.EXECUTE"
    [command] = intent["payload"]["commands"]
    assert command["devices"] == [{"id": "cam-lobby"}]
    [execution] = command["execution"]
    assert execution["command"] == "action.devices.commands.GetCameraStream"
    assert execution["params"]["StreamToChromecast"] is True
    assert set(execution["params"]["SupportedStreamProtocols"]) == {"hls", "progressive_mp4"}


def test_stream_url_on_a_host_not_allowed_is_refused_before_connecting() -> None:
    result, hits = run_against(lambda r, port: success(r, f"http://localhost:{port}/clip.mp4"))
    assert isinstance(result, CaptureFailure)
    assert result.reason == "stream: refused host 'localhost': not in allowed_hosts"
    assert hits == []
    private, _ = run_against(lambda r, port: success(r, "file:///etc/passwd"))
    assert isinstance(private, CaptureFailure)
    assert private.reason.startswith("stream: refused file URL")


def test_malformed_fulfillment_answers_are_clear_failures() -> None:
    cases: dict[str, Answer] = {
        "answer is not valid JSON": lambda r, p: "{not json",
        "answer is not a JSON object": lambda r, p: [1, 2],
        "answer is for another requestId": lambda r, p: {"requestId": "other"},
        "answer has no payload.commands list": lambda r, p: {"requestId": r["requestId"]},
        "GetCameraStream failed: deviceOffline": lambda r, p: {
            "requestId": r["requestId"],
            "payload": {
                "commands": [
                    {"ids": ["cam-lobby"], "status": "ERROR", "errorCode": "deviceOffline"}
                ]
            },
        },
        "no string states.cameraStreamAccessUrl": lambda r, p: success(r, 42),  # type: ignore[arg-type]
        "unrequested stream protocol 'webrtc'": lambda r, p: success(r, "http://x/", "webrtc"),
        "answer has no command for the camera": lambda r, p: {
            "requestId": r["requestId"],
            "payload": {"commands": [{"ids": ["cam-other"], "status": "SUCCESS"}]},
        },
    }
    for reason, answer in cases.items():
        result, hits = run_against(answer)
        assert isinstance(result, CaptureFailure), reason
        assert (result.reason, hits) == (reason, [])
