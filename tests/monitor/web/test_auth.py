"""Access control against the real app on loopback: tokens, roles on every API route,
browser login with CSRF-checked forms, anonymous viewing only where configured."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from monitor.config import WebConfig
from monitor.store.accounts import Accounts, digest
from monitor.web.api.base import PREFIX
from monitor.web.api.routes import ROUTES
from tests.monitor.web.api_rig import Rig, rig

VALID_BODY = {"reason": "drill", "kind": "deploy", "title": "v1.2.3"}


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rig]:
    db = tmp_path_factory.mktemp("auth") / "camcanary.db"
    with rig(f"sqlite:///{db}") as r:
        yield r


def _url(route_path: str) -> str:
    return PREFIX + route_path.replace("{id}", "1").replace("{path}", "hub")


def _body(route_path: str, method: str) -> dict[str, str] | None:
    if method != "POST":
        return None
    if route_path == "/events":
        return {"kind": "deploy", "title": "v1.2.3"}
    return {"reason": "drill"}


def _call(r: Rig, method: str, path: str, who: str | None, **kw: object) -> httpx.Response:
    headers = {} if who is None else {"Authorization": f"Bearer {r.tokens.get(who, who)}"}
    return httpx.request(method, r.url + path, headers=headers, timeout=20, **kw)  # type: ignore[arg-type]


def test_every_api_route_refuses_callers_without_a_valid_token(served: Rig) -> None:
    for route in ROUTES:
        url, body = _url(route.path), _body(route.path, route.method)
        for who in (None, "not-a-token", "rex"):  # none, unknown, revoked
            response = _call(served, route.method, url, who, json=body)
            assert response.status_code == 401, (route.method, url, who)
            assert response.headers["WWW-Authenticate"].startswith("Bearer")
            assert response.json()["status"] == 401


def test_a_malformed_authorization_header_is_refused_not_ignored(served: Rig) -> None:
    for header in ("Basic dmVyYTp4", "Bearer", "Token abc"):
        response = httpx.get(
            served.url + "/api/v1/paths", headers={"Authorization": header}, timeout=20
        )
        assert response.status_code == 401, header


def test_role_boundaries_on_every_api_route(tmp_path: Path) -> None:
    """viewer reads; publisher reads and posts events; operator does everything."""
    allowed = {"viewer": {"viewer"}, "publisher": {"publisher"}, "operator": {"operator"}}
    allowed["viewer"] |= {"publisher", "operator"}
    allowed["publisher"] |= {"operator"}
    users = {"vera": "viewer", "ci": "publisher", "olga": "operator"}
    with rig(f"sqlite:///{tmp_path / 'roles.db'}") as r:
        for route in ROUTES:
            url, body = _url(route.path), _body(route.path, route.method)
            for who, role in users.items():
                response = _call(r, route.method, url, who, json=body)
                if role in allowed[route.role]:
                    assert response.status_code not in (401, 403), (route.path, who, response.text)
                else:
                    assert response.status_code == 403, (route.path, who)
                    assert route.role in response.json()["error"]


def test_tokens_are_stored_only_as_sha256_digests(served: Rig) -> None:
    with served.store.engine.connect() as conn:
        stored = set(conn.scalars(sa.text("SELECT digest FROM access_tokens")))
    for token in served.tokens.values():
        assert token not in stored
        assert digest(token) in stored
        assert len(token) >= 43  # 32 random bytes, urlsafe base64


def test_anonymous_reads_only_when_anonymous_viewer_is_on(tmp_path: Path) -> None:
    with rig(f"sqlite:///{tmp_path / 'anon.db'}", web_config=WebConfig(anonymous_viewer=True)) as r:
        assert httpx.get(r.url + "/api/v1/paths", timeout=20).status_code == 200
        trip = httpx.post(r.url + "/api/v1/killswitches/hub/trip", json={"reason": "x"})
        assert trip.status_code == 401
        # a wrong token is still refused, not downgraded to anonymous
        assert _call(r, "GET", "/api/v1/paths", "not-a-token").status_code == 401


def test_anonymous_viewer_cannot_be_configured_off_loopback() -> None:
    with pytest.raises(ValueError, match="loopback"):
        WebConfig(host="0.0.0.0", anonymous_viewer=True)  # noqa: S104


def _csrf(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found is not None, html
    return found.group(1)


def _login(client: httpx.Client, name: str, token: str) -> httpx.Response:
    page = client.get("/login?next=/api/v1/paths")
    return client.post(
        "/login",
        data={"csrf_token": _csrf(page.text), "name": name, "token": token, "next": "/x"},
    )


def test_browser_login_sets_a_strict_httponly_session_that_reads_the_api(served: Rig) -> None:
    with httpx.Client(base_url=served.url, timeout=20) as client:
        assert client.get("/api/v1/paths").status_code == 401
        response = _login(client, "vera", served.tokens["vera"])
        assert response.status_code == 302
        assert response.headers["Location"] == "/x"
        cookie = next(
            h for h in response.headers.get_list("Set-Cookie") if "camcanary_session=" in h
        )
        assert "HttpOnly" in cookie
        assert "SameSite=Strict" in cookie
        assert client.get("/api/v1/paths").status_code == 200
        secret = client.cookies["camcanary_session"]
        with served.store.engine.connect() as conn:
            stored = set(conn.scalars(sa.text("SELECT digest FROM access_sessions")))
        assert secret not in stored
        assert digest(secret) in stored


def test_login_refuses_a_wrong_pair_a_missing_csrf_token_and_a_foreign_origin(
    served: Rig,
) -> None:
    with httpx.Client(base_url=served.url, timeout=20) as client:
        assert _login(client, "olga", served.tokens["vera"]).status_code == 401
        assert _login(client, "rex", served.tokens["rex"]).status_code == 401
        no_csrf = client.post("/login", data={"name": "vera", "token": served.tokens["vera"]})
        assert no_csrf.status_code == 403
        page = client.get("/login")
        foreign = client.post(
            "/login",
            data={"csrf_token": _csrf(page.text), "name": "vera", "token": served.tokens["vera"]},
            headers={"Origin": "https://evil.example"},
        )
        assert foreign.status_code == 403
        assert "camcanary_session" not in client.cookies


# Browsers drop tabs and newlines anywhere in a Location and read "\\" as "/" (WHATWG
# URL), so each of these would leave the site if it were echoed back.
OFFSITE_NEXT = [
    "//evil.example/",
    "///evil.example/",
    "/\t/evil.example/",
    "/\n/evil.example/",
    "/\r/evil.example/",
    "/\\evil.example/",
    "/\t\\evil.example/",
    "\\\\evil.example/",
    " //evil.example/",
    "/\x00/evil.example/",
    "/\x7f/evil.example/",
    "/%09/evil.example/",  # decoded once more by a careless proxy: still refused
    "https://evil.example/",
    "javascript:alert(1)",
    "evil.example",
]


@pytest.mark.parametrize("target", OFFSITE_NEXT)
def test_login_never_redirects_off_site(
    served: Rig, target: str, caplog: pytest.LogCaptureFixture
) -> None:
    with httpx.Client(base_url=served.url, timeout=20) as client:
        page = client.get("/login", params={"next": target})
        assert 'name="next" value="/"' in page.text
        response = client.post(
            "/login",
            data={
                "csrf_token": _csrf(page.text),
                "name": "vera",
                "token": served.tokens["vera"],
                "next": target,
            },
        )
        assert response.status_code == 302
        assert response.headers["Location"] == "/"
        # already logged in: GET /login redirects at once, as safely
        again = client.get("/login", params={"next": target})
        assert again.status_code == 302
        assert again.headers["Location"] == "/"
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []


def test_login_returns_to_a_local_page_with_its_query(served: Rig) -> None:
    target = "/paths/hub?profile=3g&window=1h#latest"
    with httpx.Client(base_url=served.url, timeout=20) as client:
        page = client.get("/login", params={"next": target})
        response = client.post(
            "/login",
            data={
                "csrf_token": _csrf(page.text),
                "name": "vera",
                "token": served.tokens["vera"],
                "next": target,
            },
        )
        assert response.headers["Location"] == target


def test_cookie_sessions_need_the_csrf_header_for_api_writes(tmp_path: Path) -> None:
    with (
        rig(f"sqlite:///{tmp_path / 'csrf.db'}") as r,
        httpx.Client(base_url=r.url, timeout=20) as client,
    ):
        assert _login(client, "olga", r.tokens["olga"]).status_code == 302
        refused = client.post("/api/v1/killswitches/hub/trip", json={"reason": "drill"})
        assert refused.status_code == 403
        assert "X-CSRF-Token" in refused.json()["error"]
        token = _csrf(_page_with_session_csrf(client))
        done = client.post(
            "/api/v1/killswitches/hub/trip",
            json={"reason": "drill"},
            headers={"X-CSRF-Token": token},
        )
        assert done.status_code == 200, done.text
        assert done.json()["to_state"] == "tripped"
        assert done.json()["actor"] == "olga"


def _page_with_session_csrf(client: httpx.Client) -> str:
    """A logged-in browser's CSRF token, as a page form carries it (the logout form)."""
    response = client.get("/login/csrf")
    assert response.status_code == 200, response.text
    return f'<input name="csrf_token" value="{response.json()["csrf_token"]}">'


def test_logout_and_revocation_end_browser_sessions(tmp_path: Path) -> None:
    with (
        rig(f"sqlite:///{tmp_path / 'logout.db'}") as r,
        httpx.Client(base_url=r.url, timeout=20) as client,
    ):
        assert _login(client, "vera", r.tokens["vera"]).status_code == 302
        assert client.get("/api/v1/paths").status_code == 200
        accounts = Accounts(r.store.engine)
        vera = next(t for t in accounts.tokens() if t.user == "vera")
        assert accounts.revoke(vera.id, vera.created_at)
        assert client.get("/api/v1/paths").status_code == 401
        assert _call(r, "GET", "/api/v1/paths", "vera").status_code == 401

        assert _login(client, "olga", r.tokens["olga"]).status_code == 302
        assert client.get("/api/v1/paths").status_code == 200
        csrf = _csrf(_page_with_session_csrf(client))
        assert client.post("/logout", data={"csrf_token": csrf}).status_code == 302
        assert client.get("/api/v1/paths").status_code == 401
