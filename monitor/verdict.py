"""Verdicts: one vocabulary for code, database, alerts and dashboards (DESIGN.md).

``judge`` turns a Reading (what the frame carries) and what the probe expected (whose
camera it asked for, and when) into a Judgement.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum

from canaries import FrameDecodeError, Reader, Reading


class Verdict(StrEnum):
    OWN = "own"
    OWN_STALE = "own_stale"
    FOREIGN_CANARY = "foreign_canary"
    FOREIGN = "foreign"
    SPLICED = "spliced"
    DEGRADED = "degraded"
    BLANK = "blank"
    ERROR = "error"

    @property
    def is_leak(self) -> bool:
        return self in LEAKS


LEAKS = frozenset({Verdict.FOREIGN_CANARY, Verdict.FOREIGN, Verdict.SPLICED})


@dataclass(frozen=True)
class Judgement:
    verdict: Verdict
    canary: str | None  # the canary whose code was read (the source, for a leak)
    distance: int | None  # global-layer Hamming distance to ``canary`` (or the nearest)
    age_s: float | None  # how old the frame's time code is, for own frames
    detail: str
    frame_at: datetime | None = None  # the time code the frame carries, if readable


def classify(
    reader: Reader, frame: bytes, expected: str, now: datetime, stale_after_s: float
) -> Judgement:
    """The whole classification of one returned frame, decode included; never raises
    for bad input (an undecodable frame is an ``error`` judgement with the reason)."""
    try:
        reading = reader.read(frame)
    except FrameDecodeError as exc:
        return Judgement(Verdict.ERROR, None, None, None, exc.reason)
    return judge(reading, expected, now, stale_after_s)


def judge(reading: Reading, expected: str, now: datetime, stale_after_s: float) -> Judgement:
    """Decide what a frame means for the canary that asked for it."""
    return replace(_judge(reading, expected, now, stale_after_s), frame_at=reading.at)


def _judge(reading: Reading, expected: str, now: datetime, stale_after_s: float) -> Judgement:
    if reading.blank:
        return Judgement(Verdict.BLANK, None, None, None, "uniform frame")
    votes = Counter(name for name in reading.tiles if name is not None)
    own_tiles = votes.pop(expected, 0)
    others = sorted(votes, key=lambda name: -votes[name])
    distance = reading.distance
    if reading.canary == expected:
        if others:
            return Judgement(
                Verdict.SPLICED,
                others[0],
                distance,
                None,
                f"own global code, {sum(votes.values())} tile(s) of {others[0]}",
            )
        return _own(reading, distance, now, stale_after_s, own_tiles)
    if reading.canary is not None:
        if own_tiles:
            return Judgement(
                Verdict.SPLICED,
                reading.canary,
                distance,
                None,
                f"global code of {reading.canary}, {own_tiles} own tile(s)",
            )
        return Judgement(
            Verdict.FOREIGN_CANARY,
            reading.canary,
            distance,
            None,
            f"frame carries {reading.canary}'s code",
        )
    if own_tiles and others:
        return Judgement(
            Verdict.SPLICED,
            others[0],
            None,
            None,
            f"{own_tiles} own tile(s), {sum(votes.values())} tile(s) of {others[0]}",
        )
    if own_tiles:
        return Judgement(
            Verdict.DEGRADED,
            expected,
            None,
            None,
            f"global code unreadable, {own_tiles} of {len(reading.tiles)} own tiles read",
        )
    if others:
        return Judgement(
            Verdict.FOREIGN_CANARY,
            others[0],
            None,
            None,
            f"{votes[others[0]]} tile(s) carry {others[0]}'s code",
        )
    return Judgement(
        Verdict.FOREIGN,
        None,
        distance,
        None,
        f"no canary code (nearest {reading.nearest} at distance {distance})",
    )


def _own(
    reading: Reading, distance: int, now: datetime, stale_after_s: float, own_tiles: int
) -> Judgement:
    at = reading.at
    if at is None:
        return Judgement(Verdict.OWN, reading.canary, distance, None, "time code unreadable")
    age = (now - at).total_seconds()
    if age > stale_after_s:
        return Judgement(
            Verdict.OWN_STALE,
            reading.canary,
            distance,
            age,
            f"own frame from {at:%Y-%m-%d %H:%M:%S}Z, {age:.0f} s old",
        )
    return Judgement(Verdict.OWN, reading.canary, distance, age, f"{own_tiles} own tiles")
