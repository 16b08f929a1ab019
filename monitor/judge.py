"""Judging one frame: a Reading and what the probe expected -> a Judgement.

``judge`` turns a Reading (what the frame carries) and what the probe expected (whose
camera it asked for, and when) into a Judgement. The rules, in order:

1. uniform frame -> ``blank``;
2. evidence of *another* canary needs two components (the global layer and/or tenant
   tiles) voting for it, or its whole tenant code within the joint radius: a single
   tile matching by chance never accuses anyone;
3. own code within the joint radius and no foreign evidence -> ``own`` or, by the
   frame's time code, ``own_stale``;
4. own evidence and other evidence together -> ``spliced``; own evidence plus tiles of
   unexplained picture content -> ``spliced`` (a real picture pasted in);
5. only another canary's evidence -> ``foreign_canary`` (naming it);
6. no canary evidence and picture content -> ``foreign``; own evidence but damage
   only -> ``degraded``;
7. every leak verdict is confirmed against the expected render (phase correlation +
   SSIM, scikit-image) before it is returned: a frame that is the expected frame,
   only damaged, is ``degraded``, never a leak.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from datetime import datetime

from canaries import Codebook, FrameDecodeError, Reader, Reading, epoch_of
from canaries.confirm import Comparison, compare
from canaries.reader import JOINT_RADIUS
from monitor.verdict import Judgement, Verdict


def classify(
    reader: Reader, frame: bytes, expected: str, now: datetime, stale_after_s: float
) -> Judgement:
    """The whole classification of one returned frame, decode included; never raises
    for bad input (an undecodable frame is an ``error`` judgement with the reason)."""
    try:
        reading = reader.read(frame)
    except FrameDecodeError as exc:
        return Judgement(Verdict.ERROR, None, None, None, exc.reason)
    return judge(reading, expected, now, stale_after_s, book=reader.book)


def judge(
    reading: Reading, expected: str, now: datetime, stale_after_s: float, *, book: Codebook
) -> Judgement:
    """Decide what a frame means for the canary that asked for it."""
    at = reading.at
    if (
        reading.global_canary == expected
        and reading.canary == expected
        and at is not None
        and all(tile == expected for tile in reading.tiles)
    ):
        # The common case, kept lean: every component is own and the time reads. Such
        # a frame is not uniform, so the (lazily computed) blank gate is not consulted.
        return _own(reading, expected, now, stale_after_s, at)
    judgement = _Judge(reading, expected, now, stale_after_s, book).run()
    return replace(judgement, frame_at=at)


SPLICE_AREA = 0.2  # this much of the frame unexplained beside own code is a splice
OWN_CORRELATION = 0.8  # a frame this correlated with the expected render is own, damaged
SOURCE_SHARE = 0.6  # a splice's source must explain this share of the unexplained cells


class _Judge:
    def __init__(
        self, reading: Reading, expected: str, now: datetime, stale_after_s: float, book: Codebook
    ) -> None:
        self.reading, self.expected, self.now = reading, expected, now
        self.stale_after_s, self.book = stale_after_s, book
        votes = Counter(name for name in reading.tiles if name is not None)
        if reading.global_canary is not None:
            votes[reading.global_canary] += 1
        self.own_votes = votes.pop(expected, 0)
        self.others = {name: n for name, n in votes.items() if n >= 2}
        self.own_distance = reading.distance_to(expected)
        self._comparison: Comparison | None = None

    @property
    def _code_intact(self) -> bool:
        """The global layer and at least four tenant tiles read own, within 15 bits."""
        distance = self.own_distance
        return (
            self.reading.global_canary == self.expected
            and self.own_votes >= 5
            and distance is not None
            and distance <= 15
        )

    @property
    def _epoch(self) -> int:
        return self.reading.epoch if self.reading.epoch is not None else epoch_of(self.now)

    @property
    def comparison(self) -> Comparison:
        if self._comparison is None:
            self._comparison = compare(self.reading, self.book, self.expected, self._epoch)
        return self._comparison

    def run(self) -> Judgement:
        reading = self.reading
        if reading.blank:
            return Judgement(Verdict.BLANK, None, None, None, "uniform frame", confidence=1.0)
        other = max(self.others, key=lambda n: self.others[n], default=None)
        if other is not None and not self._explains(other):
            other = None  # votes its pattern does not bear out: chance matches
        if reading.canary is not None and reading.canary != self.expected:
            other = reading.canary
        if other is not None and not self.own_votes:
            return self._leak(Verdict.FOREIGN_CANARY, other, f"frame carries {other}'s code")
        if other is not None:
            detail = f"{self.own_votes} own component(s), {self._votes_for(other)} of {other}"
            return self._leak(Verdict.SPLICED, other, detail)
        if self.own_votes == 6 and reading.epoch is not None:
            return self._own()  # every component is own and the time reads: nothing to weigh
        if self.own_votes or reading.canary == self.expected:
            unexplained = self.comparison.unexplained
            if unexplained >= SPLICE_AREA:
                source = self._splice_source()
                if source is None and self._code_intact and self.comparison.detailed < 0.5:
                    # The own code reads almost perfectly and what it does not explain
                    # has no picture detail: concealed (smeared) rows, not a splice.
                    return (
                        self._own()
                        if reading.canary == self.expected
                        else self._degraded(
                            f"own code intact, {unexplained:.0%} of the frame concealed or smeared"
                        )
                    )
                what = f"{source}'s pattern" if source else "other picture content"
                detail = (
                    f"{self.own_votes} own component(s), {unexplained:.0%} of the frame is {what}"
                )
                return self._leak(Verdict.SPLICED, source, detail)
            if reading.canary == self.expected:
                return self._own()
            return self._degraded(f"own code partly readable ({self.own_votes} of 6 components)")
        detail = f"no canary code (nearest {reading.nearest} at {reading.distance} of 243 bits)"
        return self._leak(Verdict.FOREIGN, None, detail)

    def _explains(self, name: str) -> bool:
        """Does ``name``'s pattern account for a good part of the frame?"""
        return compare(self.reading, self.book, name, self._epoch).unexplained <= 0.6

    def _splice_source(self) -> str | None:
        """The canary whose pattern fills the unexplained part, if one does.

        A single tile vote may be chance; it names the source only if that canary's
        own render explains most of what the expected canary's leaves unexplained.
        """
        candidates = {t for t in self.reading.tiles if t is not None and t != self.expected}
        if self.reading.global_canary not in (None, self.expected):
            candidates.add(str(self.reading.global_canary))
        candidates.update(n for n in self.reading.nearest_canaries(3) if n != self.expected)
        missing = self.comparison.cells
        for name in sorted(candidates):
            theirs = compare(self.reading, self.book, name, self._epoch).cells
            explained = sum(m and not t for m, t in zip(missing, theirs, strict=True))
            if explained >= SOURCE_SHARE * sum(missing):
                return name
        return None

    def _votes_for(self, name: str) -> int:
        votes = sum(1 for tile in self.reading.tiles if tile == name)
        return votes + (self.reading.global_canary == name)

    def _leak(self, verdict: Verdict, source: str | None, detail: str) -> Judgement:
        comparison = self.comparison
        own_like = comparison.correlation >= OWN_CORRELATION or (
            verdict is Verdict.SPLICED and comparison.unexplained < SPLICE_AREA / 2
        )
        if own_like:
            return self._degraded(
                f"looked like {verdict} ({detail}) but matches the expected frame "
                f"(correlation {comparison.correlation:.2f}, SSIM {comparison.ssim:.2f}): "
                "damage, not a leak"
            )
        distance = self.reading.distance_to(source) if source else self.reading.distance
        confidence = 1.0 - max(0.0, comparison.ssim) / 2
        if source is not None and distance is not None:
            confidence = min(confidence, 1.0 - distance / 243)
        return Judgement(
            verdict,
            source,
            distance,
            None,
            f"{detail}; confirmed: SSIM {comparison.ssim:.2f} with the expected frame",
            confidence=round(confidence, 3),
        )

    def _degraded(self, detail: str) -> Judgement:
        return Judgement(
            Verdict.DEGRADED,
            self.expected,
            self.own_distance,
            None,
            detail,
            confidence=round(0.5 + self.own_votes / 12, 3),
        )

    def _own(self) -> Judgement:
        at = self.reading.at
        if at is None:
            return Judgement(
                Verdict.OWN,
                self.expected,
                self.own_distance,
                None,
                "own code; time code unreadable",
                confidence=_own_confidence(self.own_distance),
            )
        return _own(self.reading, self.expected, self.now, self.stale_after_s, at)


def _own_confidence(distance: int | None) -> float:
    return round(1.0 - (distance or 0) / (2 * JOINT_RADIUS + 1) / 2, 3)


def _own(
    reading: Reading, expected: str, now: datetime, stale_after_s: float, at: datetime
) -> Judgement:
    distance = reading.distance_to(expected)
    confidence = _own_confidence(distance)
    age = (now - at).total_seconds()
    if age > stale_after_s:
        return Judgement(
            Verdict.OWN_STALE,
            expected,
            distance,
            age,
            f"own frame from {at:%Y-%m-%d %H:%M:%S}Z, {age:.0f} s old",
            frame_at=at,
            confidence=confidence,
        )
    return Judgement(
        Verdict.OWN,
        expected,
        distance,
        age,
        f"own code at {distance} of 243 bits",
        frame_at=at,
        confidence=confidence,
    )
