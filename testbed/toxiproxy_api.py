"""Toxiproxy's HTTP API, served over the built-in proxy.

The documented subset of https://github.com/Shopify/toxiproxy#http-api with the same
routes, status codes and JSON shapes (``api.go``): ``GET /version``,
``POST /reset``, ``GET|POST /proxies``, ``GET|POST|DELETE /proxies/{proxy}``,
``GET|POST /proxies/{proxy}/toxics``, ``GET|POST|DELETE
/proxies/{proxy}/toxics/{toxic}``. Errors are ``{"error": ..., "status": ...}``.

Differences from Toxiproxy itself, stated so nobody is surprised: toxic changes
apply to connections opened afterwards (Toxiproxy also changes live ones), and
attribute values may be fractions (Toxiproxy's are integers). It lets anything
that speaks Toxiproxy's API (our ``ToxiproxyBackend``, its clients in other
languages) drive camcanary's proxy, and it is how that backend is tested here.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from monitor.network.proxy import TcpProxy
from monitor.network.registry import toxic_from_dict
from monitor.network.toxics import Toxic

VERSION = "2.9.0-camcanary"
_STATE = web.AppKey("toxiproxy_state", dict[str, "_Proxy"])


@dataclass
class _Proxy:
    name: str
    listen: tuple[str, int]
    upstream: tuple[str, int]
    enabled: bool = False
    toxics: list[Toxic] = field(default_factory=list)
    proxy: TcpProxy | None = None

    async def start(self) -> None:
        if self.proxy is None:
            self.proxy = TcpProxy(*self.upstream, self.toxics, *self.listen)
            await self.proxy.start()
            self.listen = self.proxy.address  # port 0 becomes the real port, as in Toxiproxy
        self.enabled = True

    async def stop(self) -> None:
        """Stop listening and drop live connections, as Toxiproxy's disable does."""
        if self.proxy is not None:
            await self.proxy.close()
            self.proxy = None
        self.enabled = False

    def set_toxics(self, toxics: list[Toxic]) -> None:
        self.toxics = toxics
        if self.proxy is not None:
            self.proxy.toxics = tuple(toxics)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "listen": f"{self.listen[0]}:{self.listen[1]}",
            "upstream": f"{self.upstream[0]}:{self.upstream[1]}",
            "enabled": self.enabled,
            "toxics": [t.to_dict() for t in self.toxics],
        }


class _ApiError(web.HTTPException):
    def __init__(self, status: int, message: str) -> None:
        self.status_code = status
        super().__init__(
            text=json.dumps({"error": message, "status": status}), content_type="application/json"
        )


def _address(value: object, what: str) -> tuple[str, int]:
    if not isinstance(value, str) or ":" not in value:
        raise _ApiError(400, f"bad request body: {what} must be host:port, got {value!r}")
    host, _, port = value.rpartition(":")
    if not port.isdigit() or int(port) > 65535:
        raise _ApiError(400, f"bad request body: {what} has a bad port: {value!r}")
    return host.strip("[]") or "127.0.0.1", int(port)


async def _body(request: web.Request) -> dict[str, Any]:
    try:
        data = await request.json()
    except ValueError:
        raise _ApiError(400, "bad request body") from None
    if not isinstance(data, dict):
        raise _ApiError(400, "bad request body")
    return data


def _proxy(request: web.Request) -> _Proxy:
    proxy = request.app[_STATE].get(request.match_info["proxy"])
    if proxy is None:
        raise _ApiError(404, "proxy not found")
    return proxy


def _toxic_index(proxy: _Proxy, name: str) -> int:
    for index, toxic in enumerate(proxy.toxics):
        if toxic.name == name:
            return index
    raise _ApiError(404, "toxic not found")


async def version(request: web.Request) -> web.Response:
    return web.json_response({"version": VERSION})


async def reset(request: web.Request) -> web.Response:
    for proxy in request.app[_STATE].values():
        await proxy.start()
        proxy.set_toxics([])
    return web.Response(status=204)


async def proxy_index(request: web.Request) -> web.Response:
    return web.json_response({name: p.to_json() for name, p in request.app[_STATE].items()})


async def proxy_create(request: web.Request) -> web.Response:
    data = await _body(request)
    name = data.get("name")
    if not isinstance(name, str) or not name:
        raise _ApiError(400, "missing required field: name")
    if name in request.app[_STATE]:
        raise _ApiError(409, "proxy already exists")
    proxy = _Proxy(
        name,
        _address(data.get("listen", "127.0.0.1:0"), "listen"),
        _address(data.get("upstream"), "upstream"),
    )
    if data.get("enabled", True):
        try:
            await proxy.start()
        except OSError as exc:
            raise _ApiError(500, f"listen {proxy.listen}: {exc}") from None
    request.app[_STATE][name] = proxy
    return web.json_response(proxy.to_json(), status=201)


async def proxy_show(request: web.Request) -> web.Response:
    return web.json_response(_proxy(request).to_json())


async def proxy_update(request: web.Request) -> web.Response:
    proxy, data = _proxy(request), await _body(request)
    if "upstream" in data or "listen" in data:
        await proxy.stop()
        proxy.upstream = _address(data.get("upstream", _join(proxy.upstream)), "upstream")
        proxy.listen = _address(data.get("listen", _join(proxy.listen)), "listen")
        data.setdefault("enabled", True)
    if data.get("enabled", proxy.enabled) and not proxy.enabled:
        await proxy.start()
    elif not data.get("enabled", proxy.enabled) and proxy.enabled:
        await proxy.stop()
    return web.json_response(proxy.to_json())


async def proxy_delete(request: web.Request) -> web.Response:
    proxy = _proxy(request)
    await proxy.stop()
    del request.app[_STATE][proxy.name]
    return web.Response(status=204)


async def toxic_index(request: web.Request) -> web.Response:
    return web.json_response([t.to_dict() for t in _proxy(request).toxics])


async def toxic_create(request: web.Request) -> web.Response:
    proxy, data = _proxy(request), await _body(request)
    try:
        toxic = toxic_from_dict(data)
    except (ValueError, TypeError) as exc:
        raise _ApiError(400, f"bad request body: {exc}") from None
    if any(t.name == toxic.name for t in proxy.toxics):
        raise _ApiError(409, "toxic already exists")
    proxy.set_toxics([*proxy.toxics, toxic])
    return web.json_response(toxic.to_dict())


async def toxic_show(request: web.Request) -> web.Response:
    proxy = _proxy(request)
    return web.json_response(
        proxy.toxics[_toxic_index(proxy, request.match_info["toxic"])].to_dict()
    )


async def toxic_update(request: web.Request) -> web.Response:
    proxy, data = _proxy(request), await _body(request)
    index = _toxic_index(proxy, request.match_info["toxic"])
    merged = proxy.toxics[index].to_dict()
    merged["attributes"] = {**merged["attributes"], **data.get("attributes", {})}
    merged.update({k: data[k] for k in ("stream", "toxicity") if k in data})
    try:
        toxic = toxic_from_dict(merged)
    except (ValueError, TypeError) as exc:
        raise _ApiError(400, f"bad request body: {exc}") from None
    toxics = list(proxy.toxics)
    toxics[index] = toxic
    proxy.set_toxics(toxics)
    return web.json_response(toxic.to_dict())


async def toxic_delete(request: web.Request) -> web.Response:
    proxy = _proxy(request)
    index = _toxic_index(proxy, request.match_info["toxic"])
    proxy.set_toxics(proxy.toxics[:index] + proxy.toxics[index + 1 :])
    return web.Response(status=204)


def _join(address: tuple[str, int]) -> str:
    return f"{address[0]}:{address[1]}"


async def _close_all(app: web.Application) -> None:
    for proxy in app[_STATE].values():
        await proxy.stop()


def toxiproxy_app() -> web.Application:
    """The API as an aiohttp application; its proxies close with the app."""
    app = web.Application()
    app[_STATE] = {}
    app.on_cleanup.append(_close_all)
    app.router.add_get("/version", version)
    app.router.add_post("/reset", reset)
    app.router.add_get("/proxies", proxy_index)
    app.router.add_post("/proxies", proxy_create)
    app.router.add_get("/proxies/{proxy}", proxy_show)
    app.router.add_post("/proxies/{proxy}", proxy_update)
    app.router.add_delete("/proxies/{proxy}", proxy_delete)
    app.router.add_get("/proxies/{proxy}/toxics", toxic_index)
    app.router.add_post("/proxies/{proxy}/toxics", toxic_create)
    app.router.add_get("/proxies/{proxy}/toxics/{toxic}", toxic_show)
    app.router.add_post("/proxies/{proxy}/toxics/{toxic}", toxic_update)
    app.router.add_delete("/proxies/{proxy}/toxics/{toxic}", toxic_delete)
    return app
