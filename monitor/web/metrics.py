"""``GET /metrics``: the Prometheus text exposition of the service's `Metrics`.

Prometheus scrapes without cookies, so access is by bearer token only:

* ``web.metrics_token`` set (``$CAMCANARY_METRICS_TOKEN``): that token is required;
* otherwise, on a loopback host: open (only local processes can reach it);
* otherwise: any API token of a viewer, publisher or operator.
"""

from __future__ import annotations

import asyncio
import hmac

from aiohttp import web

from monitor.config import is_loopback
from monitor.service.metrics import CONTENT_TYPE
from monitor.web.auth.guard import ACCOUNTS
from monitor.web.context import CONTEXT


async def metrics(request: web.Request) -> web.Response:
    ctx = request.app[CONTEXT]
    if ctx.metrics is None:
        raise web.HTTPNotFound(text="metrics are off in this app")
    scheme, _, sent = request.headers.get("Authorization", "").partition(" ")
    sent = sent.strip() if scheme.lower() == "bearer" else ""
    expected = ctx.config.metrics_token
    if expected is not None:
        ok = hmac.compare_digest(sent.encode(), expected.get_secret_value().encode())
    elif is_loopback(ctx.config.host):
        ok = True
    else:
        ok = (
            bool(sent) and await asyncio.to_thread(request.app[ACCOUNTS].by_token, sent) is not None
        )
    if not ok:
        raise web.HTTPUnauthorized(
            text="a bearer token is needed for /metrics\n",
            headers={"WWW-Authenticate": 'Bearer realm="camcanary metrics"'},
        )
    body = await asyncio.to_thread(ctx.metrics.exposition)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE})


def install_metrics_route(app: web.Application) -> None:
    app.router.add_get("/metrics", metrics)
