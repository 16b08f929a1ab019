"""The prober judges every frame a path returns: the worst verdict wins (a leak in any)."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta

from canaries import Codebook, Reader, render
from monitor.probe import judge_frames
from monitor.verdict import Verdict

SECRET = b"probe frames: deployment secret"
NOW = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)


def jpeg(canary: str, at: datetime = NOW) -> bytes:
    out = io.BytesIO()
    render(Codebook(SECRET), canary, at, (640, 360)).convert("RGB").save(out, "JPEG", quality=85)
    return out.getvalue()


def test_a_foreign_frame_anywhere_makes_the_probe_a_leak_naming_that_frame() -> None:
    reader = Reader(Codebook(SECRET), ["lobby", "nursery"])
    frames = [jpeg("lobby"), jpeg("nursery"), jpeg("lobby")]
    index, judgement = judge_frames(reader, frames, "lobby", NOW, 60)
    assert (index, judgement.verdict, judgement.canary) == (1, Verdict.FOREIGN_CANARY, "nursery")


def test_all_own_frames_are_own_and_a_stale_one_outranks_them() -> None:
    reader = Reader(Codebook(SECRET), ["lobby", "nursery"])
    index, judgement = judge_frames(reader, [jpeg("lobby"), jpeg("lobby")], "lobby", NOW, 60)
    assert (index, judgement.verdict) == (0, Verdict.OWN)
    old = jpeg("lobby", NOW - timedelta(hours=3))
    index, judgement = judge_frames(reader, [jpeg("lobby"), old], "lobby", NOW, 60)
    assert (index, judgement.verdict) == (1, Verdict.OWN_STALE)
