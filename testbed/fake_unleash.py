"""A small fake of Unleash's admin API, enough for camcanary's ``unleash`` kill switch.

    POST /api/admin/projects/{project}/features/{feature}/environments/{env}/on|off
    GET  /api/admin/projects/{project}/features/{feature}

Authorization is the admin token itself (Unleash also accepts ``Bearer <token>``);
a wrong token is 401, an unknown project, feature or environment 404, as Unleash
answers. ``fail_next`` makes the next calls answer 500, to test retries.
"""

from __future__ import annotations

from types import TracebackType
from typing import Any

from aiohttp import web

from testbed.serving import serve


class FakeUnleash:
    """``async with FakeUnleash(token, {"default": {"hub": ["production"]}}) as fake:``"""

    def __init__(
        self,
        token: str,
        projects: dict[str, dict[str, list[str]]],
        *,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.token = token
        # project -> feature -> environment -> enabled
        self.features: dict[str, dict[str, dict[str, bool]]] = {
            project: {feature: dict.fromkeys(envs, True) for feature, envs in features.items()}
            for project, features in projects.items()
        }
        self.calls: list[tuple[str, str]] = []  # (method, path) of every request
        self.fail_next = 0
        self.host, self.port = host, port
        self._runner: web.AppRunner | None = None
        self.url = ""

    def enabled(self, project: str, feature: str, environment: str) -> bool:
        return self.features[project][feature][environment]

    def _authorized(self, request: web.Request) -> bool:
        given = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        return given == self.token

    def _environments(self, request: web.Request) -> dict[str, bool]:
        project, feature = request.match_info["project"], request.match_info["feature"]
        try:
            return self.features[project][feature]
        except KeyError:
            raise web.HTTPNotFound(
                text='{"name": "NotFoundError", "message": "Could not find feature"}',
                content_type="application/json",
            ) from None

    async def _toggle(self, request: web.Request) -> web.Response:
        self.calls.append((request.method, request.path))
        if self.fail_next > 0:
            self.fail_next -= 1
            return web.json_response({"message": "internal error"}, status=500)
        if not self._authorized(request):
            return web.json_response({"message": "You must log in"}, status=401)
        environments = self._environments(request)
        environment = request.match_info["env"]
        if environment not in environments:
            return web.json_response({"message": "Could not find environment"}, status=404)
        environments[environment] = request.match_info["action"] == "on"
        return web.json_response({})

    async def _feature(self, request: web.Request) -> web.Response:
        self.calls.append((request.method, request.path))
        if not self._authorized(request):
            return web.json_response({"message": "You must log in"}, status=401)
        environments = self._environments(request)
        body: dict[str, Any] = {
            "name": request.match_info["feature"],
            "project": request.match_info["project"],
            "environments": [{"name": n, "enabled": e} for n, e in environments.items()],
        }
        return web.json_response(body)

    def app(self) -> web.Application:
        app = web.Application()
        base = "/api/admin/projects/{project}/features/{feature}"
        app.router.add_post(base + "/environments/{env}/{action:on|off}", self._toggle)
        app.router.add_get(base, self._feature)
        return app

    async def __aenter__(self) -> FakeUnleash:
        self._runner, self.url = await serve(self.app(), self.host, self.port, access_log=None)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()
