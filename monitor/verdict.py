"""The vocabulary, declared once: verdicts, what they count as, and kill-switch states.

Code, database, Slack and dashboard all speak these words (DESIGN.md, "Verdicts").
Every classification of verdicts lives here with its reason beside it; other modules
import them and declare none of their own. How a frame is judged is `monitor.judge`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from types import MappingProxyType


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


# A leak pages at once and is never retried away: another tenant's picture came back.
LEAKS = frozenset({Verdict.FOREIGN_CANARY, Verdict.FOREIGN, Verdict.SPLICED})
# A clean round resolves an incident and re-arms a verifying kill switch: nothing of
# anybody else's came back (damage and blank frames are availability noise, not leaks).
CLEAN = frozenset({Verdict.OWN, Verdict.DEGRADED, Verdict.BLANK})
# Warnings are counted over a window ("X of the last Y probes"), never paged:
# a replayed own frame, damage, or no frame at all.
WARNINGS = frozenset({Verdict.OWN_STALE, Verdict.DEGRADED, Verdict.ERROR})

# The one severity order, worst first. A leak outranks everything (foreign content
# above all: most likely a real customer's picture); then a replayed own frame; then
# evidence about the picture (damaged, blank) over its absence (error), because a
# frame that was returned says more about the path than one that was not; ``own``
# only when nothing else was seen. It picks a probe's verdict among its frames and a
# dashboard cell's colour among its probes.
SEVERITY: tuple[Verdict, ...] = (
    Verdict.FOREIGN,
    Verdict.SPLICED,
    Verdict.FOREIGN_CANARY,
    Verdict.OWN_STALE,
    Verdict.DEGRADED,
    Verdict.BLANK,
    Verdict.ERROR,
    Verdict.OWN,
)
_RANK: Mapping[str, int] = MappingProxyType({v.value: i for i, v in enumerate(SEVERITY)})


def severity(verdict: str) -> int:
    """The rank of ``verdict`` in `SEVERITY` (0 is worst); unknown ones rank last."""
    return _RANK.get(verdict, len(SEVERITY))


def worst(verdicts: Iterable[str]) -> str | None:
    """The most severe of ``verdicts`` (``None`` if empty); the first wins a tie."""
    return min(verdicts, key=severity, default=None)


class Outcome(StrEnum):
    """The chart categories: the three leak verdicts are one colour, ``leak``."""

    OWN = "own"
    STALE = "stale"
    LEAK = "leak"
    DEGRADED = "degraded"
    BLANK = "blank"
    ERROR = "error"


OUTCOMES: tuple[str, ...] = tuple(o.value for o in Outcome)
OUTCOME_OF: Mapping[str, Outcome] = MappingProxyType(
    {
        Verdict.OWN: Outcome.OWN,
        Verdict.OWN_STALE: Outcome.STALE,
        Verdict.FOREIGN_CANARY: Outcome.LEAK,
        Verdict.FOREIGN: Outcome.LEAK,
        Verdict.SPLICED: Outcome.LEAK,
        Verdict.DEGRADED: Outcome.DEGRADED,
        Verdict.BLANK: Outcome.BLANK,
        Verdict.ERROR: Outcome.ERROR,
    }
)


def outcome_of(verdict: str) -> str:
    """The chart category of a verdict; ``ValueError`` for an unknown one."""
    outcome = OUTCOME_OF.get(verdict)
    if outcome is None:
        known = ", ".join(v.value for v in Verdict)
        raise ValueError(f"unknown verdict {verdict!r}; known: {known}")
    return outcome.value


class KillSwitchState(StrEnum):
    """A path's kill switch (`monitor.killswitch.machine` moves it)."""

    ARMED = "armed"  # the path is on for everyone
    TRIPPED = "tripped"  # off for everyone
    VERIFYING = "verifying"  # on for canary accounts only, until clean rounds re-arm it


@dataclass(frozen=True)
class Judgement:
    verdict: Verdict
    canary: str | None  # the canary whose code was read (the source, for a leak)
    distance: int | None  # tenant-code distance (of 243 bits) to ``canary``
    age_s: float | None  # how old the frame's time code is, for own frames
    detail: str
    frame_at: datetime | None = None  # the time code the frame carries, if readable
    confidence: float = 1.0  # 0..1: how sure the verdict is
