"""Browser login: ``GET/POST /login`` and ``POST /logout``.

A person logs in with their user name and one of their API tokens; the service then
sets the session cookie (see `monitor.web.auth.guard`). Both forms are CSRF-checked: the
login form against the pre-session cookie, so a foreign site cannot log a victim's
browser into the attacker's account.
"""

from __future__ import annotations

import asyncio
from html import escape

from aiohttp import web

from monitor.store.accounts import SESSION_LIFETIME
from monitor.web.auth.guard import (
    ACCOUNTS,
    CSRF_COOKIE,
    SESSION_COOKIE,
    checked_form,
    csrf_token,
    identity,
    safe_next,
)
from monitor.web.context import CONTEXT

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>camcanary: log in</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{{font-family:system-ui,sans-serif;max-width:24rem;margin:4rem auto}}
label{{display:block;margin:.8rem 0}}input{{width:100%;padding:.4rem}}
.error{{color:#b00020}}</style></head>
<body><h1>camcanary</h1>{message}
<form method="post" action="/login">
<input type="hidden" name="csrf_token" value="{csrf}">
<input type="hidden" name="next" value="{next}">
<label>User name <input name="name" autocomplete="username" required></label>
<label>API token <input name="token" type="password" autocomplete="current-password"
 required></label>
<button type="submit">Log in</button></form>
<p>No token? An administrator creates one with
<code>camcanary users add NAME --role viewer --config FILE</code>.</p></body></html>"""


def _page(request: web.Request, target: str, message: str = "", status: int = 200) -> web.Response:
    html = _PAGE.format(
        csrf=escape(csrf_token(request)),
        next=escape(safe_next(target)),
        message=f'<p class="error">{escape(message)}</p>' if message else "",
    )
    return web.Response(text=html, content_type="text/html", status=status)


async def login_page(request: web.Request) -> web.Response:
    target = safe_next(request.query.get("next"))
    if identity(request).via == "session":
        raise web.HTTPFound(target)
    return _page(request, target)


async def login(request: web.Request) -> web.Response:
    form = await checked_form(request)
    target = safe_next(form.get("next"))
    name, token = form.get("name", "").strip(), form.get("token", "").strip()
    ctx = request.app[CONTEXT]
    opened = None
    if name and token:
        opened = await asyncio.to_thread(
            request.app[ACCOUNTS].open_session, token, name, ctx.clock()
        )
    if opened is None:
        return _page(request, target, "Wrong user name or token.", status=401)
    secret, _principal = opened
    response = web.HTTPFound(target)
    response.set_cookie(
        SESSION_COOKIE,
        secret,
        max_age=int(SESSION_LIFETIME.total_seconds()),
        httponly=True,
        samesite="Strict",
        secure=ctx.config.secure_cookies,
        path="/",
    )
    raise response


async def logout(request: web.Request) -> web.Response:
    await checked_form(request)
    session = request.cookies.get(SESSION_COOKIE)
    if session:
        await asyncio.to_thread(request.app[ACCOUNTS].close_session, session)
    response = web.HTTPFound("/login")
    response.del_cookie(SESSION_COOKIE, path="/")
    response.del_cookie(CSRF_COOKIE, path="/")
    raise response


async def csrf(request: web.Request) -> web.Response:
    """This browser's CSRF token, for scripts that post with its session cookie (the
    same-origin policy keeps other sites from reading it)."""
    return web.json_response(
        {"csrf_token": csrf_token(request), "user": identity(request).name},
        headers={"Cache-Control": "no-store"},
    )


def install_login_routes(app: web.Application) -> None:
    app.router.add_get("/login", login_page)
    app.router.add_get("/login/csrf", csrf)
    app.router.add_post("/login", login)
    app.router.add_post("/logout", logout)
