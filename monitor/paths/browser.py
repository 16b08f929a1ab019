"""``browser``: a web viewer in Chromium, driven by Playwright, as a customer sees it.

One Chromium per probe (`monitor.paths.chromium.launch_chromium`: its own process group,
killed whole after the probe, also on cancellation). Steps: open ``url``, run the
configured ``login`` steps (fill the canary's token / camera id / a literal, click),
wait for ``selector`` (``<img>``, ``<canvas>`` or ``<video>``) to show pixels, then
screenshot that element as JPEG: that screenshot is the frame.

Impairment, both ways the design asks for:

- the proxy: Chromium is started with ``--host-resolver-rules="MAP host:port
  proxy:port"`` for the page's origin, so every connection to the origin dials the
  probe's impairment proxy; the URL, the ``Host`` header and TLS names stay the
  origin's. Requests to any other host:port are aborted (`page.route`), so no byte
  bypasses the proxy, and untrusted pages cannot make the browser fetch elsewhere;
- Chromium's own throttling: CDP ``Network.emulateNetworkConditions`` with the
  profile's ``cdp_conditions()``.

Bounds: every wait uses ``read_timeout_s``; the bytes the page receives (CDP
``Network.dataReceived``) are capped by ``max_bytes``; the prober's deadline cancels
the rest.
"""

from __future__ import annotations

import contextlib
from typing import Any, Final
from urllib.parse import urlsplit

from playwright.async_api import Browser, Page, Request, Response, Route, async_playwright
from playwright.async_api import Error as PlaywrightError
from playwright.async_api import TimeoutError as PlaywrightTimeout

from monitor.config import BrowserOptions, CanaryConfig
from monitor.network import PROFILES
from monitor.paths.base import Capture, CaptureFailure, IntegrationPath, Router
from monitor.paths.chromium import BrowserError, find_chromium, launch_chromium
from monitor.paths.streams import default_port

JPEG_QUALITY: Final = 90
# True once the element shows a picture: an image decoded, a video past its first
# frame, a 2D canvas with something drawn (a sparse sample of its alpha; a WebGL or
# cross-origin-tainted canvas cannot be sampled and counts once it has a size).
_HAS_PIXELS: Final = """el => {
  if (el instanceof HTMLImageElement) return el.complete && el.naturalWidth > 0;
  if (el instanceof HTMLVideoElement) return el.readyState >= 2 && el.currentTime > 0;
  if (el instanceof HTMLCanvasElement) {
    if (el.width === 0 || el.height === 0) return false;
    try {
      const context = el.getContext("2d");
      if (!context) return true;
      const data = context.getImageData(0, 0, el.width, el.height).data;
      for (let i = 3; i < data.length; i += 4 * 97) if (data[i] !== 0) return true;
      return false;
    } catch (error) { return true; }
  }
  return el.getBoundingClientRect().width > 0;
}"""


class _Failed(Exception):
    def __init__(self, reason: str, status: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status


class BrowserPath(IntegrationPath):
    kind = "browser"
    config: BrowserOptions

    def __init__(self, config: BrowserOptions) -> None:
        super().__init__(config)
        self.last_browser_pid: int | None = None  # the last Chromium's process group

    async def capture(
        self, canary: CanaryConfig, profile: str, router: Router
    ) -> Capture | CaptureFailure:
        url = self.config.url.format(camera_id=canary.camera_id, canary=canary.name)
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        port = parts.port or default_port(parts.scheme)
        proxy_host, proxy_port = await router(host, port)
        rule = f"MAP {_bracket(host)}:{port} {_bracket(proxy_host)}:{proxy_port}"
        flags = [f"--host-resolver-rules={rule}", "--no-proxy-server"]
        run = _Run(self.config, canary, {(host, port)})
        try:
            async with async_playwright() as playwright:
                executable = find_chromium(
                    self.config.chromium, bundled=playwright.chromium.executable_path
                )
                async with launch_chromium(playwright, executable, flags) as session:
                    self.last_browser_pid = session.pid
                    frame = await run.drive(session.browser, url, profile)
        except _Failed as exc:
            return CaptureFailure(exc.reason, exc.status, run.received)
        except BrowserError as exc:
            return CaptureFailure(str(exc))
        except PlaywrightError as exc:
            first_line = exc.message.strip().splitlines()[0] if exc.message.strip() else ""
            return CaptureFailure(f"browser: {first_line[:200]}", run.status, run.received)
        return Capture((frame,), run.status, run.received, "image/jpeg")


def _bracket(host: str) -> str:
    return f"[{host}]" if ":" in host else host


class _Run:
    """The state of one probe's page: bytes received, main-document status, refusals."""

    def __init__(
        self, config: BrowserOptions, canary: CanaryConfig, origins: set[tuple[str, int]]
    ) -> None:
        self.config = config
        self.canary = canary
        self.origins = origins
        self.received = 0
        self.status: int | None = None
        self.refused: list[str] = []

    async def drive(self, browser: Browser, url: str, profile: str) -> bytes:
        timeout_ms = self.config.read_timeout_s * 1000
        context = await browser.new_context(
            viewport={"width": 1280, "height": 720}, service_workers="block"
        )
        context.set_default_timeout(timeout_ms)
        page = await context.new_page()
        cdp = await context.new_cdp_session(page)
        cdp.on("Network.dataReceived", self._count)
        await cdp.send("Network.enable")
        await cdp.send("Network.emulateNetworkConditions", PROFILES[profile].cdp_conditions())
        await page.route("**/*", self._gate)
        page.on("response", self._document_status)
        await page.goto(url, wait_until="domcontentloaded")
        self._check()
        for step in self.config.login:
            if step.fill is not None:
                await page.fill(step.fill, self._value(step.value_from, step.value))
            elif step.click is not None:
                await page.click(step.click)
            self._check()
        return await self._picture(page, timeout_ms)

    async def _picture(self, page: Page, timeout_ms: float) -> bytes:
        selector = self.config.selector
        try:
            element = await page.wait_for_selector(selector, state="visible")
            if element is None:  # pragma: no cover - only for state="detached"/"hidden"
                raise _Failed(f"selector {selector!r} matched nothing", self.status)
            await page.wait_for_function(_HAS_PIXELS, arg=element, timeout=timeout_ms)
        except PlaywrightTimeout:
            self._check()
            seconds = self.config.read_timeout_s
            raise _Failed(
                f"selector {selector!r} showed no picture within {seconds:g} s", self.status
            ) from None
        self._check()
        shot = await element.screenshot(type="jpeg", quality=JPEG_QUALITY, animations="disabled")
        self._check()
        return shot

    def _value(self, source: str, literal: str) -> str:
        if source == "token":
            return self.canary.token.get_secret_value()
        if source == "camera_id":
            return self.canary.camera_id
        return literal

    def _check(self) -> None:
        if self.received > self.config.max_bytes:
            raise _Failed(f"page received more than {self.config.max_bytes} bytes", self.status)
        if self.status is not None and self.status >= 400:
            raise _Failed(f"HTTP {self.status}", self.status)

    def _count(self, event: dict[str, Any]) -> None:
        with contextlib.suppress(TypeError, ValueError):
            self.received += int(event.get("encodedDataLength") or event.get("dataLength") or 0)

    def _document_status(self, response: Response) -> None:
        request: Request = response.request
        if request.is_navigation_request() and request.frame.parent_frame is None:
            self.status = response.status

    async def _gate(self, route: Route) -> None:
        parts = urlsplit(route.request.url)
        try:
            origin = ((parts.hostname or "").lower(), parts.port or default_port(parts.scheme))
        except ValueError:
            origin = ("", 0)
        if origin in self.origins and self.received <= self.config.max_bytes:
            await route.continue_()
        else:
            self.refused.append(origin[0])
            await route.abort("blockedbyclient")
