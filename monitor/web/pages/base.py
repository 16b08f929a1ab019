"""What every dashboard page shares: the Jinja2 environment, filters and `render`.

Templates live in ``monitor/web/templates`` (autoescaped: every value is escaped unless
it is ``Markup``, which only `monitor.web.pages.charts` produces); one stylesheet and one
script are served from ``monitor/web/static``. Pages never reference another host.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final, ParamSpec, TypeVar

import jinja2
from aiohttp import web

from canaries import Codebook
from monitor.store.history import History
from monitor.verdict import outcome_of
from monitor.web.auth.guard import Identity, allowed, csrf_token, identity
from monitor.web.context import CONTEXT, WebContext
from monitor.web.pages.evidence import RevealGrants

HERE = Path(__file__).parent.parent  # monitor/web: templates/ and static/
TEMPLATES = HERE / "templates"
STATIC = HERE / "static"
# The deployment codebook renders a hit's *expected* canary frame on the incident page:
# ``WebContext.codebook`` when the context has one, else ``app[CODEBOOK]``; without
# either the page says the expected frame is unavailable.
CODEBOOK: Final = web.AppKey("camcanary.pages.codebook", Codebook)
GRANTS: Final = web.AppKey("camcanary.pages.grants", RevealGrants)
KS_MESSAGES: Final = {  # ?done=... after a redirect: fixed texts, never reflected input
    "trip": "Kill switch tripped.",
    "request": "Re-enable requested: a second operator must approve it.",
    "approve": "Re-enable approved: the path is verifying with canary accounts only.",
    "ack": "Incident acknowledged: reminders stop.",
}

P = ParamSpec("P")
R = TypeVar("R")


def utc(at: datetime | None) -> str:
    return "–" if at is None else f"{at.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC"


def age(seconds: float | None) -> str:
    if seconds is None:
        return "never"
    seconds = max(0.0, seconds)
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    if seconds < 172800:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} d"


def outcome_class(verdict: str | None) -> str:
    """The colour class of a verdict (``v-leak`` for every leak kind, ``v-none``)."""
    if verdict is None:
        return "v-none"
    try:
        return f"v-{outcome_of(verdict)}"
    except ValueError:
        return "v-none"


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=True,  # every template, whatever its name
        undefined=jinja2.StrictUndefined,  # a typo in a template fails the page test
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["utc"] = utc
    env.filters["age"] = age
    env.filters["vclass"] = outcome_class
    return env


ENV: Final = _environment()


def context_of(request: web.Request) -> WebContext:
    return request.app[CONTEXT]


def history_of(request: web.Request) -> History:
    history = context_of(request).history
    if history is None:
        raise web.HTTPServiceUnavailable(text="probe history is not available in this service")
    return history


def codebook_of(request: web.Request) -> Codebook | None:
    book = context_of(request).codebook
    return book if book is not None else request.app.get(CODEBOOK)


def render(
    request: web.Request,
    template: str,
    *,
    status: int = 200,
    headers: dict[str, str] | None = None,
    **values: Any,
) -> web.Response:
    """Render ``template`` for the caller; forms get the CSRF token only for operators."""
    who: Identity = identity(request)
    operator = allowed(who, "operator")
    values.setdefault("done", KS_MESSAGES.get(request.query.get("done", "")))
    values.setdefault("nav", "")
    html = ENV.get_template(template).render(
        identity=who,
        operator=operator,
        csrf=csrf_token(request) if who.via == "session" or operator else "",
        now=context_of(request).clock(),
        **values,
    )
    response = web.Response(text=html, content_type="text/html", status=status, headers=headers)
    response.headers.setdefault("Cache-Control", "no-cache")
    return response


def error_page(request: web.Request, status: int, title: str, message: str) -> web.Response:
    return render(request, "error.html", status=status, title=title, message=message)


def int_param(request: web.Request, name: str) -> int:
    raw = request.match_info[name]
    if not raw.isdigit() or len(raw) > 12:
        raise web.HTTPNotFound(text=f"no such {name}")
    return int(raw)


async def in_thread(function: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
    """Database work off the event loop (every store and history call is synchronous)."""
    return await asyncio.to_thread(function, *args, **kwargs)
