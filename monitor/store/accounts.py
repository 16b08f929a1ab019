"""Users, API tokens and browser sessions, in the service's database.

A credential never sits in the database in the clear: API tokens and session ids are
32 random bytes (urlsafe base64) handed out once and stored as their SHA-256 hex
digest. A digest is looked up by equality (it is unique and indexed) and then compared
again with `hmac.compare_digest`, so the check itself takes constant time. Roles:

* ``viewer``: reads everything except clear evidence;
* ``operator``: also trips, requests re-enable, approves, views clear evidence;
* ``publisher``: a CI/CD identity that reads like a viewer and may only post change
  markers (``POST /api/v1/events``); CI secrets leak more often than people's, so a
  deploy pipeline's token cannot flip kill switches.

Synchronous, one short transaction per call (the web app runs them in a thread).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final, Literal, cast

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from monitor.errors import CamcanaryError
from monitor.store.models import UTCDateTime

UserRole = Literal["viewer", "publisher", "operator"]
USER_ROLES: Final[tuple[UserRole, ...]] = ("viewer", "publisher", "operator")
SESSION_LIFETIME: Final = timedelta(hours=12)

metadata = sa.MetaData()
users = sa.Table(
    "access_users",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(63), nullable=False, unique=True),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
)
tokens = sa.Table(
    "access_tokens",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("user_id", sa.Integer, sa.ForeignKey("access_users.id"), nullable=False),
    sa.Column("digest", sa.String(64), nullable=False, unique=True),
    sa.Column("label", sa.String(100), nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("revoked_at", UTCDateTime, nullable=True),
)
sessions = sa.Table(
    "access_sessions",
    metadata,
    sa.Column("digest", sa.String(64), primary_key=True),
    sa.Column("user_id", sa.Integer, sa.ForeignKey("access_users.id"), nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("expires_at", UTCDateTime, nullable=False),
)


class AccessError(CamcanaryError):
    """A user or token operation that cannot be done (unknown user, duplicate name)."""


@dataclass(frozen=True)
class Principal:
    name: str
    role: UserRole


@dataclass(frozen=True)
class TokenInfo:
    id: int
    user: str
    role: UserRole
    label: str
    created_at: datetime
    revoked_at: datetime | None


def new_secret() -> str:
    return secrets.token_urlsafe(32)


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


class Accounts:
    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine

    # -- users and tokens (the CLI) ---------------------------------------------------

    def add_user(self, name: str, role: UserRole, now: datetime, label: str = "initial") -> str:
        """Create a user and its first API token; returns the token (shown once)."""
        if role not in USER_ROLES:
            raise AccessError(f"unknown role {role!r} (valid: {', '.join(USER_ROLES)})")
        try:
            with self.engine.begin() as conn:
                conn.execute(users.insert().values(name=name, role=role, created_at=now))
                user_id = conn.scalar(sa.select(users.c.id).where(users.c.name == name))
                return self._issue(conn, int(user_id or 0), label, now)
        except IntegrityError as exc:
            raise AccessError(f"user {name!r} exists already") from exc

    def issue_token(self, name: str, now: datetime, label: str = "") -> str:
        with self.engine.begin() as conn:
            user_id = conn.scalar(sa.select(users.c.id).where(users.c.name == name))
            if user_id is None:
                raise AccessError(f"no user {name!r}")
            return self._issue(conn, int(user_id), label, now)

    @staticmethod
    def _issue(conn: sa.Connection, user_id: int, label: str, now: datetime) -> str:
        secret = new_secret()
        conn.execute(
            tokens.insert().values(
                user_id=user_id, digest=digest(secret), label=label[:100], created_at=now
            )
        )
        return secret

    def revoke(self, token_id: int, now: datetime) -> bool:
        """Revoke a token and end the browser sessions opened with its user's tokens."""
        with self.engine.begin() as conn:
            row = conn.execute(
                sa.select(tokens.c.user_id).where(
                    tokens.c.id == token_id, tokens.c.revoked_at.is_(None)
                )
            ).first()
            if row is None:
                return False
            conn.execute(tokens.update().where(tokens.c.id == token_id).values(revoked_at=now))
            # A session outlives no revocation: log the user out everywhere.
            conn.execute(sessions.delete().where(sessions.c.user_id == row.user_id))
            return True

    def tokens(self) -> list[TokenInfo]:
        query = (
            sa.select(tokens, users.c.name, users.c.role)
            .join(users, users.c.id == tokens.c.user_id)
            .order_by(tokens.c.id)
        )
        with self.engine.connect() as conn:
            return [
                TokenInfo(r.id, r.name, cast(UserRole, r.role), r.label, r.created_at, r.revoked_at)
                for r in conn.execute(query)
            ]

    # -- authentication (the web app) -------------------------------------------------

    def by_token(self, secret: str) -> Principal | None:
        wanted = digest(secret)
        query = (
            sa.select(tokens.c.digest, users.c.name, users.c.role)
            .join(users, users.c.id == tokens.c.user_id)
            .where(tokens.c.digest == wanted, tokens.c.revoked_at.is_(None))
        )
        with self.engine.connect() as conn:
            row = conn.execute(query).first()
        if row is None or not hmac.compare_digest(row.digest, wanted):
            return None
        return Principal(row.name, cast(UserRole, row.role))

    def open_session(self, token: str, name: str, now: datetime) -> tuple[str, Principal] | None:
        """Exchange a user's API token for a browser session id (None: wrong pair)."""
        principal = self.by_token(token)
        if principal is None or not hmac.compare_digest(principal.name, name):
            return None
        secret = new_secret()
        with self.engine.begin() as conn:
            user_id = conn.scalar(sa.select(users.c.id).where(users.c.name == principal.name))
            conn.execute(sessions.delete().where(sessions.c.expires_at < now))
            conn.execute(
                sessions.insert().values(
                    digest=digest(secret),
                    user_id=user_id,
                    created_at=now,
                    expires_at=now + SESSION_LIFETIME,
                )
            )
        return secret, principal

    def by_session(self, secret: str, now: datetime) -> Principal | None:
        wanted = digest(secret)
        query = (
            sa.select(sessions.c.digest, users.c.name, users.c.role)
            .join(users, users.c.id == sessions.c.user_id)
            .where(sessions.c.digest == wanted, sessions.c.expires_at > now)
        )
        with self.engine.connect() as conn:
            row = conn.execute(query).first()
        if row is None or not hmac.compare_digest(row.digest, wanted):
            return None
        return Principal(row.name, cast(UserRole, row.role))

    def close_session(self, secret: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(sessions.delete().where(sessions.c.digest == digest(secret)))
