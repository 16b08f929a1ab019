"""The state of the simulated camera cloud: tenants, cameras, kill switches, bugs.

Each tenant owns one camera, which shows the tenant's canary. The cloud knows nothing
about HTTP; `testbed.server` puts it on the wire. Kill switch requests are signed like
Slack's and Stripe's webhooks: ``v1=`` hex HMAC-SHA256 over ``"{timestamp}." + body``.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import re
import secrets
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final, Literal

from canaries import Codebook, VirtualCanaryCamera
from testbed.bugs import BUGS, UnknownPathError, UnknownTenantError, get_bug
from testbed.hub import QualityCache
from testbed.stale import StaleReplay

PATHS: Final = ("app", "hub", "web", "google", "alexa", "events", "mjpeg", "hls", "rtsp")
KillSwitchState = Literal["armed", "tripped", "verifying"]
KILLSWITCH_STATES: Final = ("armed", "tripped", "verifying")
"""``verifying`` serves canary tenants only; every tenant of the testbed is a canary."""

MAX_CLOCK_SKEW: Final = 300
"""Seconds a kill switch request's timestamp may be off from now (replay window)."""
TOKEN: Final = re.compile(r"[A-Za-z0-9._~+/=-]{1,256}")
"""What a bearer token may look like (RFC 6750 token68, bounded)."""
_TENANT_NAME = re.compile(r"[a-z0-9][a-z0-9-]{0,39}")
_TIMESTAMP = re.compile(r"[0-9]{1,12}")
_SIGNATURE = re.compile(r"v1=([0-9a-f]{64})")


def _mac(secret: bytes, timestamp: str, body: bytes) -> str:
    return hmac.new(secret, f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def sign_killswitch(secret: bytes, body: bytes, timestamp: int) -> dict[str, str]:
    """The headers that authenticate ``body`` for ``POST /admin/v1/killswitch``."""
    return {
        "X-Camcanary-Timestamp": str(timestamp),
        "X-Camcanary-Signature": f"v1={_mac(secret, str(timestamp), body)}",
    }


def verify_killswitch(
    secret: bytes, body: bytes, timestamp: str | None, signature: str | None, now: float
) -> bool:
    """True when the signature is valid and the timestamp within ``MAX_CLOCK_SKEW`` of now."""
    if timestamp is None or signature is None or not _TIMESTAMP.fullmatch(timestamp):
        return False
    if abs(now - int(timestamp)) > MAX_CLOCK_SKEW:
        return False
    match = _SIGNATURE.fullmatch(signature.strip())
    if match is None:
        return False
    return hmac.compare_digest(match.group(1), _mac(secret, timestamp, body))


@dataclass(frozen=True)
class Tenant:
    name: str
    token: str
    camera_id: str
    canary: str
    """The canary name the tenant's camera shows (what `canaries.Reader` decodes)."""

    def __repr__(self) -> str:  # keep the bearer token out of logs and tracebacks
        return f"Tenant(name={self.name!r}, camera_id={self.camera_id!r})"


@dataclass(frozen=True)
class KillSwitch:
    path: str
    state: KillSwitchState
    reason: str
    changed_at: datetime

    def to_json(self) -> dict[str, str]:
        return {
            "path": self.path,
            "state": self.state,
            "reason": self.reason,
            "changed_at": self.changed_at.isoformat(),
        }


class TestbedCloud:
    """Tenants with one canary camera each, per-path kill switches and deployed bugs."""

    __test__ = False  # not a pytest test class, whatever its name says

    def __init__(
        self,
        tenants: Iterable[Tenant],
        cameras: dict[str, VirtualCanaryCamera],
        *,
        killswitch_secret: bytes,
        admin_token: str,
        hub_cache: QualityCache | None = None,
        stale: StaleReplay | None = None,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.tenants: tuple[Tenant, ...] = tuple(tenants)
        if not self.tenants:
            raise ValueError("the cloud needs at least one tenant")
        if {t.camera_id for t in self.tenants} != set(cameras):
            raise ValueError("cameras must be exactly the tenants' camera ids")
        if not killswitch_secret:
            raise ValueError("killswitch_secret must not be empty")
        if not TOKEN.fullmatch(admin_token):
            raise ValueError("admin_token must be 1-256 characters of A-Z a-z 0-9 . _ ~ + / = -")
        self.cameras = dict(cameras)
        self.killswitch_secret = bytes(killswitch_secret)
        self.admin_token = admin_token
        self.hub_cache = hub_cache if hub_cache is not None else QualityCache()
        self.stale = stale  # the archive the stale-cache bug replays (testbed.stale)
        self.wall_clock = wall_clock
        now = datetime.fromtimestamp(wall_clock(), UTC)
        self._killswitches = {p: KillSwitch(p, "armed", "", now) for p in PATHS}
        self._bugs: set[str] = set()

    @classmethod
    def create(
        cls,
        secret: bytes,
        tenant_names: list[str],
        *,
        fps: float = 2.0,
        size: tuple[int, int] = (640, 360),
        killswitch_secret: bytes,
        admin_token: str,
        hub_cache_ttl: float = 3.0,
    ) -> TestbedCloud:
        """A cloud whose tenants get random bearer tokens and cameras ``cam-<name>``."""
        if len(set(tenant_names)) != len(tenant_names):
            raise ValueError(f"tenant names must be unique: {tenant_names!r}")
        for name in tenant_names:
            if not _TENANT_NAME.fullmatch(name):
                raise ValueError(
                    f"tenant name {name!r} must be 1-40 of a-z, 0-9 and '-', "
                    "starting with a letter or digit"
                )
        book = Codebook(secret)
        tenants = [
            Tenant(name=n, token=secrets.token_urlsafe(24), camera_id=f"cam-{n}", canary=n)
            for n in tenant_names
        ]
        cameras = {
            t.camera_id: VirtualCanaryCamera(book, t.canary, fps=fps, size=size) for t in tenants
        }
        return cls(
            tenants,
            cameras,
            killswitch_secret=killswitch_secret,
            admin_token=admin_token,
            hub_cache=QualityCache(hub_cache_ttl),
            stale=StaleReplay(book, {t.camera_id: t.canary for t in tenants}, fps=fps, size=size),
        )

    # -- cameras -------------------------------------------------------------------

    async def start(self) -> None:
        started: list[VirtualCanaryCamera] = []
        try:
            for camera in self.cameras.values():
                await camera.start()
                started.append(camera)
        except BaseException:
            await asyncio.gather(*(camera.stop() for camera in started))
            raise

    async def stop(self) -> None:
        await asyncio.gather(*(camera.stop() for camera in self.cameras.values()))

    # -- tenants and auth ------------------------------------------------------------

    def tenant(self, name: str) -> Tenant:
        for tenant in self.tenants:
            if tenant.name == name:
                return tenant
        raise UnknownTenantError(f"unknown tenant {name!r}")

    def authenticate(self, token: str) -> Tenant | None:
        """The tenant whose bearer token this is; compares against every tenant."""
        found = None
        for tenant in self.tenants:
            if hmac.compare_digest(tenant.token.encode(), token.encode()):
                found = tenant
        return found

    def is_admin(self, token: str) -> bool:
        return hmac.compare_digest(self.admin_token.encode(), token.encode())

    def camera_of(self, tenant: Tenant, camera_id: str) -> VirtualCanaryCamera | None:
        """The camera if ``tenant`` owns it; None for other tenants' and unknown ids alike."""
        return self.cameras[tenant.camera_id] if camera_id == tenant.camera_id else None

    # -- kill switches -------------------------------------------------------------

    def killswitch(self, path: str) -> KillSwitch:
        try:
            return self._killswitches[path]
        except KeyError:
            raise UnknownPathError(
                f"unknown path {path!r}; valid paths: {', '.join(PATHS)}"
            ) from None

    def verify_killswitch(self, body: bytes, timestamp: str | None, signature: str | None) -> bool:
        return verify_killswitch(
            self.killswitch_secret, body, timestamp, signature, self.wall_clock()
        )

    def is_tripped(self, path: str) -> bool:
        return self.killswitch(path).state == "tripped"

    def set_killswitch(self, path: str, state: KillSwitchState, reason: str = "") -> KillSwitch:
        self.killswitch(path)  # validates the path
        if state not in KILLSWITCH_STATES:
            raise ValueError(
                f"unknown state {state!r}; valid states: {', '.join(KILLSWITCH_STATES)}"
            )
        changed_at = datetime.fromtimestamp(self.wall_clock(), UTC)
        switch = KillSwitch(path=path, state=state, reason=reason, changed_at=changed_at)
        self._killswitches[path] = switch
        return switch

    # -- bugs ----------------------------------------------------------------------

    @property
    def bugs(self) -> frozenset[str]:
        return frozenset(self._bugs)

    def set_bug(self, name: str, enabled: bool) -> frozenset[str]:
        """Deploy or remove a bug. Like a real cache update, this starts the cache empty."""
        get_bug(name)
        if enabled:
            self._bugs.add(name)
        else:
            self._bugs.discard(name)
        self.hub_cache.clear()
        return self.bugs

    # -- admin view ----------------------------------------------------------------

    def describe(self) -> dict[str, Any]:
        """JSON-ready state for the admin endpoint; never contains tokens or secrets."""
        stats = self.hub_cache.stats()
        return {
            "bugs": {
                name: {"deployed": name in self._bugs, "path": bug.path}
                for name, bug in BUGS.items()
            },
            "killswitches": {p: s.to_json() for p, s in self._killswitches.items()},
            "hub_cache": {
                "hits": stats.hits,
                "misses": stats.misses,
                "entries": stats.entries,
                "ttl": stats.ttl,
            },
            "tenants": [
                {"name": t.name, "camera_id": t.camera_id, "canary": t.canary} for t in self.tenants
            ],
        }
