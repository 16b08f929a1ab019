"""The drill's camera cloud in a process of its own.

The testbed renders, encodes (JPEG, H.264 for HLS and RTSP) and serves every path;
the monitor proxies, decodes, reads and records. In one event loop each stalls the
other; in two processes they use two cores, and the drill talks to the cloud only as
a monitor talks to a real one: over loopback HTTP (and RTSP), deploying bugs through
the admin API and tripping kill switches through the signed webhook.

``async with TestbedProcess(...) as cloud:`` starts the child (``spawn``: nothing of
the parent's threads or loop is inherited), waits for its address and tenants, and on
exit asks it to stop, then terminates and finally kills it if it does not.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
from dataclasses import dataclass
from multiprocessing.connection import Connection
from types import TracebackType
from typing import Any, Final

import httpx

from monitor.errors import CamcanaryError

START_TIMEOUT_S: Final = 60.0
STOP_TIMEOUT_S: Final = 10.0
LOG_FORMAT: Final = "%(asctime)s %(levelname)s %(name)s: %(message)s"  # as the CLI's


class TestbedProcessError(CamcanaryError):
    """The testbed process did not start, or said why it could not."""

    __test__ = False  # not a pytest test class, whatever its name says


@dataclass(frozen=True)
class RemoteTenant:
    name: str
    camera_id: str
    token: str
    canary: str

    def __repr__(self) -> str:  # keep the bearer token out of logs and tracebacks
        return f"RemoteTenant(name={self.name!r}, camera_id={self.camera_id!r})"


@dataclass(frozen=True)
class RemoteTestbed:
    url: str
    facts: dict[str, str]
    """The placeholders of `testbed.manifest.path_config` (``rtsp_url``, ...)."""
    tenants: tuple[RemoteTenant, ...]


class TestbedProcess:
    """A `testbed.TestbedServer` with ``tenants`` in a child process."""

    __test__ = False  # not a pytest test class, whatever its name says

    def __init__(
        self, secret: bytes, tenants: list[str], *, killswitch_secret: bytes, admin_token: str
    ) -> None:
        self._args = (secret, list(tenants), killswitch_secret, admin_token)
        context = multiprocessing.get_context("spawn")
        self._conn, child = context.Pipe()
        self._process = context.Process(
            target=_child, args=(child, *self._args), name="camcanary-drill-testbed", daemon=True
        )
        self._child_conn = child

    @property
    def running(self) -> bool:
        return self._process.is_alive()

    async def __aenter__(self) -> RemoteTestbed:
        self._process.start()
        self._child_conn.close()  # the child's end lives in the child now
        try:
            ready = await asyncio.to_thread(self._conn.poll, START_TIMEOUT_S)
            answer: dict[str, Any] = self._conn.recv() if ready else {}
        except (EOFError, OSError):
            answer = {}
        if "url" not in answer:
            await self._stop()
            why = answer.get("error") or f"no answer within {START_TIMEOUT_S:g} s"
            raise TestbedProcessError(f"the drill's testbed did not start: {why}")
        return RemoteTestbed(
            url=answer["url"],
            facts=dict(answer["facts"]),
            tenants=tuple(RemoteTenant(*tenant) for tenant in answer["tenants"]),
        )

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._stop()

    async def _stop(self) -> None:
        with contextlib.suppress(OSError):  # the child may be gone already
            self._conn.send("stop")
        await asyncio.to_thread(self._process.join, STOP_TIMEOUT_S)
        if self._process.is_alive():
            self._process.terminate()
            await asyncio.to_thread(self._process.join, STOP_TIMEOUT_S)
        if self._process.is_alive():
            self._process.kill()
            await asyncio.to_thread(self._process.join, STOP_TIMEOUT_S)
        self._conn.close()


async def deploy_bug(url: str, admin: str, bug: str) -> None:
    """Deploy ``bug`` through the testbed's admin API (raises httpx.HTTPError)."""
    async with httpx.AsyncClient(trust_env=False, timeout=10) as client:
        response = await client.post(
            f"{url}/admin/v1/bugs",
            json={"bug": bug, "enabled": True},
            headers={"Authorization": f"Bearer {admin}"},
        )
        response.raise_for_status()


def _child(
    conn: Connection, secret: bytes, tenants: list[str], killswitch_secret: bytes, admin: str
) -> None:
    logging.basicConfig(level=logging.WARNING, format=LOG_FORMAT)
    try:
        asyncio.run(_serve(conn, secret, tenants, killswitch_secret, admin))
    except Exception as exc:  # tell the parent why, instead of leaving it to time out
        with contextlib.suppress(OSError):
            conn.send({"error": f"{type(exc).__name__}: {exc}"})
    finally:
        conn.close()


async def _serve(
    conn: Connection, secret: bytes, tenants: list[str], killswitch_secret: bytes, admin: str
) -> None:
    from testbed import TestbedCloud, TestbedServer
    from testbed.manifest import server_facts

    cloud = TestbedCloud.create(
        secret, tenants, killswitch_secret=killswitch_secret, admin_token=admin
    )
    async with TestbedServer(cloud) as server:
        conn.send(
            {
                "url": server.url,
                "facts": server_facts(server),
                "tenants": [(t.name, t.camera_id, t.token, t.canary) for t in cloud.tenants],
            }
        )
        with contextlib.suppress(EOFError, OSError):
            await asyncio.to_thread(conn.recv)  # "stop", or EOF when the parent is gone
