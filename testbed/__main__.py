"""Run the testbed cloud standalone for manual drills.

    python -m testbed --port 8080 --tenants a,b,c

prints the URL, each tenant's bearer token, the admin token and the secrets, then
serves until interrupted (Ctrl-C or SIGTERM).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import secrets
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

from canaries import CanaryError
from testbed.cloud import TestbedCloud
from testbed.server import TestbedServer


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m testbed", description="Serve the simulated camera cloud."
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--tenants", default="a,b,c", help="comma-separated tenant names")
    parser.add_argument("--fps", type=float, default=2.0)
    parser.add_argument(
        "--secret-file", type=Path, help="deployment (codebook) secret; random when omitted"
    )
    parser.add_argument(
        "--killswitch-secret-file", type=Path, help="kill switch HMAC key; random when omitted"
    )
    parser.add_argument("--admin-token", help="admin bearer token; random when omitted")
    parser.add_argument("--bug", action="append", default=[], help="deploy this bug at start")
    parser.add_argument(
        "--killswitch-poll",
        metavar="URL",
        help="poll camcanary's kill switch flags at URL "
        "(e.g. http://127.0.0.1:8400/api/v1/killswitch) instead of taking signed webhooks",
    )
    return parser


def _secret(path: Path | None) -> bytes:
    # Text, as the monitor reads its secrets (``CAMCANARY_SECRET``): random hex by default.
    return path.read_bytes().strip() if path is not None else secrets.token_hex(32).encode()


def _shown(secret: bytes) -> str:
    try:
        return secret.decode("ascii")
    except UnicodeDecodeError:
        return "(binary: use the file given)"


async def _serve(
    cloud: TestbedCloud, host: str, port: int, secret: bytes, poll: str | None = None
) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):  # not on Windows
            loop.add_signal_handler(signum, stop.set)
    async with TestbedServer(cloud, host, port, killswitch_poll=poll) as server:
        print(f"testbed cloud at {server.url}")
        print(f"RTSP server at {server.rtsp_url}")
        if poll is not None:
            print(f"kill switches follow {poll}")
        print(f"export CAMCANARY_SECRET={_shown(secret)}")
        print(f"export CAMCANARY_KILLSWITCH_SECRET={_shown(cloud.killswitch_secret)}")
        print(f"admin token: {cloud.admin_token}")
        for tenant in cloud.tenants:
            variable = f"CANARY_{tenant.name.upper().replace('-', '_')}_TOKEN"
            print(f"export {variable}={tenant.token}  # tenant {tenant.name}, {tenant.camera_id}")
        print(f"bugs deployed: {', '.join(sorted(cloud.bugs)) or 'none'}", flush=True)
        await stop.wait()


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        secret = _secret(args.secret_file)
        cloud = TestbedCloud.create(
            secret,
            [name.strip() for name in args.tenants.split(",") if name.strip()],
            fps=args.fps,
            killswitch_secret=_secret(args.killswitch_secret_file),
            admin_token=args.admin_token or secrets.token_urlsafe(24),
        )
        for bug in args.bug:
            cloud.set_bug(bug, True)
    except (OSError, ValueError, LookupError, CanaryError) as exc:
        parser.error(str(exc))
    asyncio.run(_serve(cloud, args.host, args.port, secret, args.killswitch_poll))
    return 0


if __name__ == "__main__":
    sys.exit(main())
