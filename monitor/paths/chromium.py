"""Find and launch Chromium for Playwright, owning the whole browser process tree.

``find_chromium(configured)`` tries, in order: the configured executable, Debian's
``/usr/bin/chromium`` or ``/usr/bin/chromium-browser``, then Playwright's own downloaded
browser (only if that file exists); none usable raises `BrowserError` listing what was
tried.

``launch_chromium(playwright, ...)`` starts Chromium itself, in a new process group
(session), and attaches Playwright over CDP (``connect_over_cdp``). Playwright's own
``launch()`` hides the browser's pid inside its driver, so a hung ``close()`` could leave
renderers behind; owning the process group lets teardown kill the whole tree with one
``killpg`` — also when the probe is cancelled at its deadline. Teardown does not ask
the browser to close (a probe's browser keeps nothing): SIGKILL to the group, reap
(at most ``REAP_TIMEOUT_S``), disconnect Playwright, remove the profile directory.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import tempfile
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from playwright.async_api import Browser, Playwright
from playwright.async_api import Error as PlaywrightError

from monitor.errors import CamcanaryError

SYSTEM_CHROMIUM: Final = ("/usr/bin/chromium", "/usr/bin/chromium-browser")
CHROMIUM_FLAGS: Final = (
    "--headless=new",
    "--no-sandbox",  # containers and CI workers run without user namespaces
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",  # the impairment proxy is TCP only
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-dev-shm-usage",
    "--mute-audio",
    # Less work at start and nothing throttled in a page nobody looks at (Playwright's
    # own launch passes the same).
    "--disable-extensions",
    "--disable-default-apps",
    "--disable-breakpad",
    "--disable-client-side-phishing-detection",
    "--disable-renderer-backgrounding",
    "--disable-background-timer-throttling",
    "--disable-features=Translate,MediaRouter,OptimizationHints,AutofillServerCommunication",
    "--password-store=basic",
    "--use-mock-keychain",
    "--metrics-recording-only",
)
REAP_TIMEOUT_S: Final = 5.0
STARTUP_TIMEOUT_S: Final = 15.0


class BrowserError(CamcanaryError):
    """Chromium cannot be found or started; the message says what was tried."""


def find_chromium(configured: str | None = None, *, bundled: str | None = None) -> str:
    """The Chromium executable to use; raises BrowserError naming every candidate tried.

    ``bundled`` is Playwright's ``chromium.executable_path`` when the caller already runs
    Playwright; otherwise it is asked for (a short-lived driver in a worker thread, only
    when no system Chromium exists).
    """
    tried: list[str] = []
    candidates = [configured] if configured else []
    candidates += SYSTEM_CHROMIUM
    for candidate in candidates:
        if candidate is None:
            continue
        tried.append(candidate)
        if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    if bundled is None:
        bundled = _playwright_chromium()
    if bundled is not None:
        tried.append(bundled)
        if os.path.isfile(bundled) and os.access(bundled, os.X_OK):
            return bundled
    else:
        tried.append("Playwright's bundled Chromium (not installed)")
    raise BrowserError(
        "no Chromium found; tried: " + ", ".join(tried) + " (install Debian's `chromium` "
        "or set the path's chromium executable)"
    )


def _playwright_chromium() -> str | None:
    """Where Playwright keeps its own Chromium (asked in a thread: no event loop there)."""
    from concurrent.futures import ThreadPoolExecutor

    from playwright.sync_api import sync_playwright

    def ask() -> str:
        with sync_playwright() as p:
            return p.chromium.executable_path

    try:
        with ThreadPoolExecutor(1) as pool:
            return pool.submit(ask).result(timeout=30)
    except Exception:  # a broken driver means: not available
        return None


@dataclass
class ChromiumSession:
    """A running Chromium: ``browser`` is attached over CDP, ``pid`` leads its group."""

    browser: Browser
    pid: int


@contextlib.asynccontextmanager
async def launch_chromium(
    playwright: Playwright,
    executable: str,
    extra_args: Sequence[str] = (),
    *,
    startup_timeout_s: float = STARTUP_TIMEOUT_S,
) -> AsyncIterator[ChromiumSession]:
    """Start ``executable`` with `CHROMIUM_FLAGS` + ``extra_args``; kill its tree on exit."""
    profile = Path(tempfile.mkdtemp(prefix="camcanary-chromium-"))
    try:
        process = await _start(executable, extra_args, profile)
    except OSError as exc:
        shutil.rmtree(profile, ignore_errors=True)
        raise BrowserError(f"cannot start {executable}: {exc.strerror or exc}") from exc
    browser: Browser | None = None
    try:
        async with asyncio.timeout(startup_timeout_s):
            port = await _devtools_port(profile, process)
            browser = await playwright.chromium.connect_over_cdp(
                f"http://127.0.0.1:{port}", timeout=startup_timeout_s * 1000
            )
        yield ChromiumSession(browser, process.pid)
    except TimeoutError as exc:
        if browser is None:
            message = f"{executable} did not start within {startup_timeout_s:g} s"
            raise BrowserError(message) from exc
        raise
    except PlaywrightError as exc:
        if browser is None:
            raise BrowserError(f"cannot attach to {executable}: {exc.message}") from exc
        raise
    finally:
        # Shielded: a second cancellation must not leave the tree (or its profile) behind.
        await asyncio.shield(_teardown(browser, process, profile))


async def _start(
    executable: str, extra_args: Sequence[str], profile: Path
) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        executable,
        *CHROMIUM_FLAGS,
        *extra_args,
        f"--user-data-dir={profile}",
        "--remote-debugging-address=127.0.0.1",
        "--remote-debugging-port=0",
        "about:blank",
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
        start_new_session=True,  # its own process group: one killpg ends every child
    )


async def _devtools_port(profile: Path, process: asyncio.subprocess.Process) -> int:
    """Chromium writes the port it bound into ``DevToolsActivePort`` in its profile."""
    marker = profile / "DevToolsActivePort"
    while True:
        if process.returncode is not None:
            raise BrowserError(f"Chromium exited at start with status {process.returncode}")
        with contextlib.suppress(OSError, ValueError, IndexError):
            return int(marker.read_text().splitlines()[0])
        await asyncio.sleep(0.05)


async def _teardown(
    browser: Browser | None, process: asyncio.subprocess.Process, profile: Path
) -> None:
    # Renderers and zygotes outlive the main process after a crash; the group does not.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(REAP_TIMEOUT_S):
            await process.wait()
    if browser is not None:  # already disconnected by the kill: this only tidies up
        with contextlib.suppress(PlaywrightError, TimeoutError, OSError):
            async with asyncio.timeout(1.0):
                await browser.close()
    await asyncio.to_thread(shutil.rmtree, profile, True)
