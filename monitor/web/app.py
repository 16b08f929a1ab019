"""The service's web application (aiohttp) and the runner that serves it."""

from __future__ import annotations

import importlib.util
from types import TracebackType

from aiohttp import web

from monitor.store.accounts import Accounts
from monitor.web.api.killswitch import install_killswitch_routes
from monitor.web.auth.guard import ACCOUNTS, auth_middleware
from monitor.web.context import CONTEXT, WebContext
from monitor.web.slack_actions import SlackActions, install_slack_routes


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


def create_app(ctx: WebContext, slack_actions: SlackActions | None = None) -> web.Application:
    """The whole web face: access control, JSON API, /metrics, kill switch flags,
    Slack actions and (when ``monitor.web.pages.routes`` exists) the dashboard pages."""
    from monitor.web.api.routes import install_api_routes
    from monitor.web.auth.login import install_login_routes
    from monitor.web.metrics import install_metrics_route

    app = web.Application(client_max_size=64 * 1024, middlewares=[auth_middleware])
    app[CONTEXT] = ctx
    app[ACCOUNTS] = Accounts(ctx.store.engine)
    app.router.add_get("/healthz", healthz)
    install_killswitch_routes(app, ctx.kill_switches)
    if slack_actions is not None:  # Slack interactivity: the incident buttons
        install_slack_routes(app, slack_actions)
    install_login_routes(app)
    install_api_routes(app)
    install_metrics_route(app)
    if importlib.util.find_spec("monitor.web.pages.routes") is not None:
        from monitor.web.pages.routes import install_page_routes

        install_page_routes(app, ctx)
    return app


class WebServer:
    """``async with WebServer(app, host, port) as server:`` serves at ``server.url``;
    ``start()``/``stop()`` for the service's own lifecycle. Port 0 picks a free port."""

    def __init__(self, app: web.Application, host: str = "127.0.0.1", port: int = 8400) -> None:
        self.app = app
        self.host = host
        self.port = port
        self._runner: web.AppRunner | None = None
        self._url: str | None = None

    @property
    def url(self) -> str:
        if self._url is None:
            raise RuntimeError("the web server is not running")
        return self._url

    async def start(self) -> None:
        runner = web.AppRunner(self.app, shutdown_timeout=5.0, access_log=None)
        await runner.setup()
        try:
            await web.TCPSite(runner, self.host, self.port).start()
        except BaseException:
            await runner.cleanup()
            raise
        host, port = runner.addresses[0][:2]
        self._runner = runner
        self._url = f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"

    async def stop(self) -> None:
        runner, self._runner, self._url = self._runner, None, None
        if runner is not None:
            await runner.cleanup()

    async def __aenter__(self) -> WebServer:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()
