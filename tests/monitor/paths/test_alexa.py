"""The ``alexa`` path: InitializeCameraStreams, then the returned HLS stream, against the
loopback testbed through the impairment proxy and against hostile skill endpoints."""

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


def test_alexa_reads_own_hls_stream_on_good_and_3g(testbed: Testbed) -> None:
    async def scenario(bench: Any) -> None:
        good = await bench.probe("alexa", "good", "garage")
        slow = await bench.probe("alexa", "3g", "lobby")
        assert (good.verdict, good.source_canary, good.status) == (Verdict.OWN, "garage", 200)
        assert (slow.verdict, slow.source_canary) == (Verdict.OWN, "lobby")
        [proxy] = [p for p in bench.pool.proxies() if p.toxics]
        # The directive's connection, then the stream client's (playlist and segment on
        # one kept-alive connection): both through the 3g proxy.
        assert proxy.connections == 2

    testbed(["alexa"], scenario)


def test_alexa_with_a_bad_token_fails_with_http_401_and_a_tripped_switch_with_503(
    testbed: Testbed,
) -> None:
    async def scenario(bench: Any) -> None:
        wrong = CanaryConfig(name="lobby", camera_id="cam-lobby", token=SecretStr("nope"))
        result = await bench.capture("alexa", wrong)
        assert isinstance(result, CaptureFailure)
        assert (result.reason, result.status) == ("HTTP 401", 401)
        bench.cloud.set_killswitch("alexa", "tripped", "drill")
        tripped = await bench.probe("alexa", "good", "lobby")
        assert (tripped.verdict, tripped.status, tripped.detail) == (Verdict.ERROR, 503, "HTTP 503")

    testbed(["alexa"], scenario)


# -- hostile skill endpoints ------------------------------------------------------------


def run_against(answer: Answer) -> tuple[Capture | CaptureFailure, list[str]]:
    """Serve ``answer(directive, other_port)`` as the skill; count hits on another host."""

    async def skill(request: web.Request, port: str) -> web.Response:
        body = answer(await request.json(), port)
        return web.Response(text=json.dumps(body), content_type="application/json")

    def playlist() -> web.Response:
        return web.Response(text="#EXTM3U\n", content_type="application/vnd.apple.mpegurl")

    return capture_against("alexa", "/directives", skill, playlist, name="alexa", token="tok")


def response(uri: Any, endpoint: str = "cam-lobby", name: str = "Response") -> dict[str, Any]:
    header = {"namespace": "Alexa.CameraStreamController", "name": name, "payloadVersion": "3"}
    return {
        "event": {
            "header": header,
            "endpoint": {"endpointId": endpoint},
            "payload": {"cameraStreams": [{"uri": uri, "protocol": "HLS"}]},
        }
    }


def test_directive_has_the_documented_shape_with_the_token_in_the_scope() -> None:
    seen: list[dict[str, Any]] = []

    def answer(request: dict[str, Any], port: str) -> Any:
        seen.append(request)
        return response(None)

    run_against(answer)
    [request] = seen
    directive = request["directive"]
    assert directive["header"]["namespace"] == "Alexa.CameraStreamController"
    assert directive["header"]["name"] == "InitializeCameraStreams"
    assert directive["header"]["payloadVersion"] == "3"
    assert directive["endpoint"] == {
        "endpointId": "cam-lobby",
        "scope": {"type": "BearerToken", "token": "tok"},
    }
    protocols = [s["protocol"] for s in directive["payload"]["cameraStreams"]]
    assert protocols == ["HLS", "RTSP"]


def test_stream_uri_on_a_host_not_allowed_is_refused_before_connecting() -> None:
    result, hits = run_against(lambda r, port: response(f"http://localhost:{port}/live.m3u8"))
    assert isinstance(result, CaptureFailure)
    assert result.reason == "stream: refused host 'localhost': not in allowed_hosts"
    assert hits == []


def test_malformed_or_error_answers_are_clear_failures() -> None:
    error = {"event": {"header": {"name": "ErrorResponse"}, "payload": {"type": "ENDPOINT_BUSY"}}}
    cases: dict[str, Answer] = {
        "ErrorResponse ENDPOINT_BUSY": lambda r, p: error,
        "answer has no event.header": lambda r, p: {"event": {}},
        "answer is not a CameraStreamController Response": lambda r, p: response("x", name="X"),
        "answer is for another endpoint": lambda r, p: response("http://x/", endpoint="cam-b"),
        "camera stream without a string uri": lambda r, p: response(["not", "a", "uri"]),
    }
    for reason, answer in cases.items():
        result, hits = run_against(answer)
        assert isinstance(result, CaptureFailure), reason
        assert (result.reason, hits) == (reason, [])
