"""Who is asking, and may they: the web app's access control.

Credentials, in the order the middleware looks for them:

1. ``Authorization: Bearer <token>``: an API token (``camcanary users add``). A header
   that is present but wrong is refused (401) even where anonymous reading is on, so a
   misconfigured client fails loudly instead of reading as nobody.
2. The ``camcanary_session`` cookie set by ``POST /login`` (user name + API token: the
   token is the only secret a person has, so there is no password store to protect).
   HttpOnly, SameSite=Strict, a random id stored only as its SHA-256 digest, 12 hours.
3. Otherwise anonymous; a viewer only when ``web.anonymous_viewer`` is on (loopback).

Roles rank ``anonymous < viewer = publisher < operator``; ``publisher`` (CI/CD) may
additionally post events. Contract for handlers:

* `identity(request)`: the caller, resolved by the middleware.
* `require(request, role)`: the identity, or raises. API paths (``/api/...``) get JSON
  401 (no or bad credentials) or 403 (role too low); pages get a redirect to
  ``/login?next=...`` when anonymous and a 403 page otherwise. A cookie-authenticated
  API request that changes state must carry ``X-CSRF-Token``; token-authenticated
  ones are CSRF-immune (a browser never adds the header by itself).
* `csrf_token(request)`: per browser (derived from its session or pre-session cookie);
  forms put it in a hidden input named ``csrf_token``.
* `checked_form(request)`: the POSTed form, after the CSRF token and (when sent) the
  Origin/Referer were verified; 403 otherwise.
* `safe_next(target, default)`: a ``next=`` value fit for ``Location`` (a path on this
  site), else ``default``; every redirect to a client-chosen target goes through it.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import secrets
import unicodedata
from dataclasses import dataclass
from typing import Final, Literal, TypeVar
from urllib.parse import quote, unquote, urlsplit

from aiohttp import web
from aiohttp.typedefs import Handler
from multidict import MultiDict, MultiDictProxy

from monitor.store.accounts import Accounts, Principal
from monitor.web.context import CONTEXT

Role = Literal["anonymous", "viewer", "publisher", "operator"]
Needed = Literal["viewer", "publisher", "operator"]
_E = TypeVar("_E", bound=web.HTTPException)


@dataclass(frozen=True)
class Identity:
    name: str
    role: Role
    via: Literal["token", "session", "anonymous"]


SESSION_COOKIE: Final = "camcanary_session"
CSRF_COOKIE: Final = "camcanary_csrf"  # before login: the login form's CSRF secret
CSRF_HEADER: Final = "X-CSRF-Token"
ACCOUNTS: Final = web.AppKey("camcanary.accounts", Accounts)
# Served without looking anyone up: gateways poll the flag endpoint, Slack signs its
# own requests, /metrics checks its own bearer token.
PUBLIC_PREFIXES: Final = ("/api/v1/killswitch/", "/slack/", "/healthz", "/metrics", "/static/")
SAFE_METHODS: Final = frozenset({"GET", "HEAD", "OPTIONS"})
_RANK: Final[dict[str, int]] = {"anonymous": 0, "viewer": 1, "publisher": 1, "operator": 2}
_IDENTITY: Final = web.RequestKey("camcanary.identity", Identity)
_BAD_CREDENTIALS: Final = web.RequestKey("camcanary.bad_credentials", bool)
_MINTED: Final = web.RequestKey("camcanary.minted_csrf", str)
ANONYMOUS: Final = Identity("anonymous", "anonymous", "anonymous")
ANONYMOUS_VIEWER: Final = Identity("anonymous", "viewer", "anonymous")


def identity(request: web.Request) -> Identity:
    found = request.get(_IDENTITY)
    return found if isinstance(found, Identity) else ANONYMOUS


def allowed(who: Identity, role: Needed) -> bool:
    if role == "operator":
        return who.role == "operator"
    if role == "publisher":
        return who.role in ("publisher", "operator")
    return _RANK[who.role] >= _RANK[role]


def is_api(request: web.Request) -> bool:
    return request.path.startswith("/api/")


def require(request: web.Request, role: Needed) -> Identity:
    who = identity(request)
    api = is_api(request)
    if request.get(_BAD_CREDENTIALS):
        raise _unauthorized("invalid or revoked API token")
    if not allowed(who, role):
        if who.role == "anonymous" or (who.via == "anonymous" and role != "viewer"):
            if api:
                raise _unauthorized(f"this needs the {role} role: send a bearer token")
            raise web.HTTPFound("/login?next=" + quote(request.path_qs, safe=""))
        if api:
            raise _json_error(web.HTTPForbidden, f"this needs the {role} role, not {who.role}")
        raise web.HTTPForbidden(
            text=f"<!doctype html><title>403</title><p>This needs the {role} role.</p>",
            content_type="text/html",
        )
    if api and who.via == "session" and request.method not in SAFE_METHODS:
        sent = request.headers.get(CSRF_HEADER, "")
        if not hmac.compare_digest(sent.encode(), csrf_token(request).encode()):
            raise _json_error(web.HTTPForbidden, f"cookie-authenticated writes need {CSRF_HEADER}")
    return who


def csrf_token(request: web.Request) -> str:
    base = request.cookies.get(SESSION_COOKIE) if identity(request).via == "session" else None
    if base is None:
        base = request.cookies.get(CSRF_COOKIE) or request.get(_MINTED)
    if base is None:
        base = request[_MINTED] = secrets.token_urlsafe(32)
    mac = hmac.new(str(base).encode(), b"camcanary-csrf", hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).decode().rstrip("=")


async def checked_form(request: web.Request) -> MultiDictProxy[str]:
    if not _same_origin(request):
        raise _forbidden(request, "cross-site form refused")
    form = await request.post()
    sent = form.get("csrf_token")
    had_secret = SESSION_COOKIE in request.cookies or CSRF_COOKIE in request.cookies
    if (
        not had_secret
        or not isinstance(sent, str)
        or not hmac.compare_digest(sent.encode(), csrf_token(request).encode())
    ):
        raise _forbidden(request, "missing or wrong CSRF token: reload the page and retry")
    # Text fields only: no handler of ours takes file uploads.
    return MultiDictProxy(MultiDict((k, v) for k, v in form.items() if isinstance(v, str)))


def safe_next(target: str | None, default: str = "/") -> str:
    """``target`` if it is a path on this site, else ``default``: never an open redirect.

    Browsers (WHATWG URL) drop tabs and newlines anywhere in a ``Location`` and read a
    backslash as a slash, and yarl strips them too, so ``/<TAB>/evil.example`` arrives as
    ``//evil.example``. Rather than clean such a value we refuse it, and check it decoded
    once more as well, for any proxy or client that unquotes it again.
    """
    if not target or not (_local_path(target) and _local_path(unquote(target))):
        return default
    return target


def _local_path(target: str) -> bool:
    if any(c == "\\" or unicodedata.category(c) == "Cc" for c in target):
        return False  # control characters (C0, DEL, C1) and backslashes: never ours
    # One leading slash exactly: browsers read any run of them as "another host follows"
    # (``///evil.example``), where urlsplit sees an empty netloc.
    parts = urlsplit(target)
    return target[:1] == "/" and target[1:2] != "/" and not parts.scheme and not parts.netloc


def _same_origin(request: web.Request) -> bool:
    origin = request.headers.get("Origin") or request.headers.get("Referer")
    if not origin or origin == "null":
        return origin is None  # a "null" Origin (sandboxed, file:) is never us
    parts = urlsplit(origin)
    return parts.netloc == request.host


def _unauthorized(message: str) -> web.HTTPUnauthorized:
    error = _json_error(web.HTTPUnauthorized, message)
    error.headers["WWW-Authenticate"] = 'Bearer realm="camcanary"'
    return error


def _json_error(kind: type[_E], message: str) -> _E:
    return kind(
        text=json.dumps({"error": message, "status": kind.status_code}),
        content_type="application/json",
    )


def _forbidden(request: web.Request, message: str) -> web.HTTPForbidden:
    if is_api(request):
        return _json_error(web.HTTPForbidden, message)
    return web.HTTPForbidden(text=message)


async def _resolve(request: web.Request) -> tuple[Identity, bool]:
    ctx = request.app[CONTEXT]
    accounts = request.app[ACCOUNTS]
    header = request.headers.get("Authorization")
    if header is not None:
        scheme, _, secret = header.partition(" ")
        if scheme.lower() != "bearer" or not secret.strip():
            return ANONYMOUS, True
        principal = await asyncio.to_thread(accounts.by_token, secret.strip())
        return (ANONYMOUS, True) if principal is None else (_of(principal, "token"), False)
    session = request.cookies.get(SESSION_COOKIE)
    if session:
        found = await asyncio.to_thread(accounts.by_session, session, ctx.clock())
        if found is not None:
            return _of(found, "session"), False
    return (ANONYMOUS_VIEWER if ctx.config.anonymous_viewer else ANONYMOUS), False


def _of(principal: Principal, via: Literal["token", "session"]) -> Identity:
    return Identity(principal.name, principal.role, via)


@web.middleware
async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    if not request.path.startswith(PUBLIC_PREFIXES):
        request[_IDENTITY], request[_BAD_CREDENTIALS] = await _resolve(request)
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        _finish(request, exc)
        raise
    _finish(request, response)
    return response


def _finish(request: web.Request, response: web.StreamResponse) -> None:
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    minted = request.get(_MINTED)
    if minted is not None and CSRF_COOKIE not in request.cookies:
        secure = request.app[CONTEXT].config.secure_cookies
        response.set_cookie(
            CSRF_COOKIE, minted, httponly=True, samesite="Strict", secure=secure, path="/"
        )
