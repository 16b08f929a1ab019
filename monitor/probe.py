"""One probe: (canary, path, network profile) -> ProbeResult. Never raises.

The prober owns the deadline and stamps duration and outcome; the path adapter only
captures, the reader only reads, the verdict step only judges.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from canaries import Reader
from monitor.config import CanaryConfig, PathConfig
from monitor.judge import classify
from monitor.network import PROFILES, RouteBackend
from monitor.paths import Capture, IntegrationPath
from monitor.results import ProbeResult
from monitor.verdict import Judgement, Verdict, severity

log = logging.getLogger(__name__)


class ProberFault(Exception):
    """The prober itself could not run the probe (not the path's failure)."""


@dataclass(frozen=True)
class ProbeSpec:
    canary: CanaryConfig
    path: PathConfig
    profile: str

    @property
    def key(self) -> str:
        return f"{self.path.name}/{self.profile}/{self.canary.name}"


def _utcnow() -> datetime:
    return datetime.now(UTC)


class Prober:
    def __init__(
        self,
        reader: Reader,
        adapters: Mapping[str, IntegrationPath],
        pool: RouteBackend,
        *,
        deadline_s: float,
        stale_after_s: float,
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        self._reader = reader
        self._adapters = adapters
        self._pool = pool
        self._deadline_s = deadline_s
        self._stale_after_s = stale_after_s
        self._clock = clock

    async def probe(self, spec: ProbeSpec) -> ProbeResult:
        started_at = self._clock()
        began = time.monotonic()
        try:
            async with asyncio.timeout(self._deadline_s):
                outcome = await self._run(spec)
        except TimeoutError:
            outcome = _Outcome(Verdict.ERROR, detail=f"deadline of {self._deadline_s:g} s passed")
        except ProberFault as exc:
            log.warning("probe %s could not run: %s", spec.key, exc)
            outcome = _Outcome(Verdict.ERROR, detail=str(exc), prober_fault=True)
        except Exception as exc:  # the loop must survive anything a probe hits
            log.exception("probe %s failed inside camcanary", spec.key)
            outcome = _Outcome(
                Verdict.ERROR, detail=f"internal error: {type(exc).__name__}", prober_fault=True
            )
        return ProbeResult(
            canary=spec.canary.name,
            path=spec.path.name,
            profile=spec.profile,
            started_at=started_at,
            duration_s=time.monotonic() - began,
            verdict=outcome.verdict,
            source_canary=outcome.source,
            distance=outcome.distance,
            age_s=outcome.age_s,
            status=outcome.status,
            bytes_received=outcome.bytes_received,
            bytes_decoded=outcome.bytes_decoded,
            detail=outcome.detail,
            frame=outcome.frame if outcome.verdict.is_leak else None,
            prober_fault=outcome.prober_fault,
        )

    async def _run(self, spec: ProbeSpec) -> _Outcome:
        profile = PROFILES[spec.profile]

        async def router(host: str, port: int) -> tuple[str, int]:
            try:
                return await self._pool.route(host, port, profile)
            except (OSError, RuntimeError) as exc:
                raise ProberFault(
                    f"proxy error: cannot start the {profile.name} route: {exc}"
                ) from exc

        capture = await self._adapters[spec.path.name].capture(spec.canary, spec.profile, router)
        if not isinstance(capture, Capture):
            return _Outcome(
                Verdict.ERROR,
                status=capture.status,
                bytes_received=capture.bytes_received,
                bytes_decoded=capture.bytes_decoded,
                detail=capture.reason,
            )
        if not capture.frames:
            return _Outcome(
                Verdict.ERROR,
                status=capture.status,
                bytes_received=capture.bytes_received,
                bytes_decoded=capture.bytes_decoded,
                detail="no frame returned",
            )
        index, judgement = await asyncio.to_thread(
            judge_frames,
            self._reader,
            capture.frames,
            spec.canary.name,
            self._clock(),
            self._stale_after_s,
        )
        detail = judgement.detail
        if len(capture.frames) > 1:
            detail = f"{detail} (frame {index + 1} of {len(capture.frames)})"
        return _Outcome(
            judgement.verdict,
            source=judgement.canary,
            distance=judgement.distance,
            age_s=judgement.age_s,
            status=capture.status,
            bytes_received=capture.bytes_received,
            bytes_decoded=capture.bytes_decoded,
            detail=detail,
            frame=capture.frames[index],
        )


def judge_frames(
    reader: Reader,
    frames: Sequence[bytes],
    expected: str,
    now: datetime,
    stale_after_s: float,
) -> tuple[int, Judgement]:
    """Classify every frame; the worst judgement by `SEVERITY` and its index (first wins)."""
    judged = [classify(reader, frame, expected, now, stale_after_s) for frame in frames]
    index = min(range(len(judged)), key=lambda i: severity(judged[i].verdict))
    return index, judged[index]


@dataclass(frozen=True)
class _Outcome:
    verdict: Verdict
    source: str | None = None
    distance: int | None = None
    age_s: float | None = None
    status: int | None = None
    bytes_received: int = 0
    bytes_decoded: int | None = None
    detail: str = ""
    frame: bytes | None = field(default=None, repr=False)
    prober_fault: bool = False
