"""The JSON API's machinery: one `Route` table drives routing, access checks, input
validation, error mapping and the OpenAPI document (``monitor.web.api.openapi``).

Every handler receives a validated `Call` and returns a response model; nothing a
client sends can make it answer 500: malformed JSON, or JSON nested deeper than
`MAX_JSON_DEPTH`, is 400, invalid fields 422 (with pydantic's error list), an unknown
id or path 404, a refused kill-switch transition 409, a database outage 503, a
kill-switch backend failure 502.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Final, Generic, TypeVar

from aiohttp import web
from pydantic import BaseModel, ValidationError

from monitor.errors import KillSwitchError, KillSwitchStateError
from monitor.store import UNAVAILABLE
from monitor.web.api.models import MAX_ID, In, Out
from monitor.web.auth.guard import Identity, Needed, require
from monitor.web.context import CONTEXT, WebContext

log = logging.getLogger(__name__)

PREFIX: Final = "/api/v1"
# Far more than any request model needs, far less than json.loads (the interpreter's
# recursion limit) and pydantic's serializer (about 255) survive.
MAX_JSON_DEPTH: Final = 32
Q = TypeVar("Q", bound=In)
B = TypeVar("B", bound=In)
R = TypeVar("R", bound=Out)


class ApiError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Call(Generic[Q, B]):
    request: web.Request
    ctx: WebContext
    who: Identity
    query: Q
    body: B
    params: dict[str, Any]


Handler = Callable[[Call[Any, Any]], Awaitable[Out]]


@dataclass(frozen=True)
class Route:
    method: str
    path: str  # under PREFIX; {id} parameters are integers, {path} names
    handler: Handler
    operation_id: str
    summary: str
    role: Needed
    response: type[Out]
    query: type[In] | None = None
    body: type[In] | None = None
    status: int = 200
    errors: tuple[int, ...] = ()


class _Empty(In):
    pass


def error_response(status: int, message: str, details: Any = None) -> web.Response:
    body: dict[str, Any] = {"error": message, "status": status}
    if details is not None:
        body["details"] = details
    return web.json_response(body, status=status)


def _params(request: web.Request) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for key, value in request.match_info.items():
        if key == "id":
            if not value.isdigit() or not 1 <= int(value) <= MAX_ID:
                raise ApiError(404, f"no such id {value!r}")
            params[key] = int(value)
        else:
            params[key] = value
    return params


async def _body(request: web.Request, model: type[In]) -> In:
    raw = await request.read()
    try:
        data = json.loads(raw or b"{}")
    except RecursionError as exc:
        raise ApiError(400, f"the body nests deeper than {MAX_JSON_DEPTH} levels") from exc
    except (ValueError, UnicodeDecodeError) as exc:
        raise ApiError(400, f"the body is not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise ApiError(400, "the body must be a JSON object")
    if _too_deep(data):
        raise ApiError(400, f"the body nests deeper than {MAX_JSON_DEPTH} levels")
    return model.model_validate(data)


def _too_deep(data: Any) -> bool:
    """Whether JSON containers in ``data`` nest past `MAX_JSON_DEPTH` (iteratively: a
    recursive walk would hit the limit it checks)."""
    stack: list[tuple[Any, int]] = [(data, 1)]
    while stack:
        value, level = stack.pop()
        if isinstance(value, dict):
            value = list(value.values())
        if isinstance(value, list):
            if level > MAX_JSON_DEPTH:
                return True
            stack.extend((child, level + 1) for child in value)
    return False


def endpoint(route: Route) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    async def handle(request: web.Request) -> web.StreamResponse:
        who = require(request, route.role)  # raises 401/403 as JSON
        try:
            query = (route.query or _Empty).model_validate(dict(request.query))
            body = await _body(request, route.body) if route.body is not None else _Empty()
            call = Call(request, request.app[CONTEXT], who, query, body, _params(request))
            result = await route.handler(call)
        except ValidationError as exc:
            details = json.loads(exc.json(include_url=False, include_input=False))
            return error_response(422, "invalid input", details)
        except ApiError as exc:
            return error_response(exc.status, str(exc))
        except KillSwitchStateError as exc:  # no state: the path is unknown
            return error_response(404 if exc.state is None else 409, str(exc))
        except KillSwitchError as exc:
            return error_response(502, f"the kill switch backend failed: {exc}")
        except UNAVAILABLE as exc:
            log.error("%s %s: database unavailable: %s", request.method, request.path, exc)
            return error_response(503, "the database is unavailable; retry shortly")
        return web.json_response(
            result.model_dump(mode="json"),
            status=route.status,
            headers={"Cache-Control": "no-store"},  # per-user data: no shared caches
        )

    return handle


def install(app: web.Application, routes: list[Route]) -> None:
    for route in routes:
        app.router.add_route(route.method, PREFIX + route.path, endpoint(route))


async def blocking(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Run a synchronous store call off the event loop."""
    return await asyncio.to_thread(fn, *args, **kwargs)


def dump(model: type[R], value: Any) -> R:
    """A response model from a dataclass or row (attributes of the same names)."""
    return model.model_validate(value, from_attributes=True)


__all__ = ["PREFIX", "ApiError", "BaseModel", "Call", "Route", "blocking", "dump", "install"]
