"""The one result type every probe produces, failed or not."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from monitor.verdict import Verdict


@dataclass(frozen=True)
class ProbeResult:
    canary: str
    path: str
    profile: str
    started_at: datetime
    duration_s: float
    verdict: Verdict
    source_canary: str | None = None  # whose code the frame carried (the leak's source)
    distance: int | None = None
    age_s: float | None = None
    status: int | None = None  # HTTP status, where there was one
    bytes_received: int = 0  # off the wire
    bytes_decoded: int | None = None  # after Content-Encoding; None: the same as received
    detail: str = ""  # the reason for an error, what was read otherwise
    # The error is the prober's own (its impairment route, an internal failure), not the
    # path's: inconclusive, it says nothing about the integration and never pages.
    prober_fault: bool = False
    # The returned frame, kept only for leak verdicts: it is somebody's private image,
    # for the encrypted evidence store and nothing else (never logged, never alerted).
    frame: bytes | None = field(default=None, repr=False, compare=False)
