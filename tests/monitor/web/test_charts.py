"""Server-side SVG charts: the drawn data points are exactly the input's."""

from __future__ import annotations

import random
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta

import pytest

from monitor.web.pages.charts import (
    OUTCOMES,
    Bucket,
    Marker,
    nice_ceiling,
    outcome_chart,
    time_ticks,
)
from monitor.web.pages.latency import Latency, latency_chart

SVG = ""  # inline SVG in HTML: no namespace
SINCE = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)
UNTIL = SINCE + timedelta(hours=1)


def parse(markup: str) -> ET.Element:
    # our own output, not untrusted input; parsing also proves the SVG is well-formed XML
    return ET.fromstring(str(markup))  # noqa: S314


def seeded_buckets(seed: int = 7) -> list[Bucket]:
    rng = random.Random(seed)
    buckets = []
    for minute in range(0, 60, 2):
        counts = {o: rng.choice([0, 0, 1, 3, 40]) for o in OUTCOMES}
        buckets.append(Bucket(SINCE + timedelta(minutes=minute), counts))
    return buckets


def test_every_nonzero_count_is_one_rect_with_its_values() -> None:
    buckets = seeded_buckets()
    svg = parse(outcome_chart(buckets, since=SINCE, until=UNTIL, bucket_s=120, title="hub/3g"))
    drawn = {
        (rect.get("data-at"), rect.get("data-outcome")): int(rect.get("data-count", "-1"))
        for rect in svg.iter(f"{SVG}rect")
        if rect.get("data-outcome")
    }
    expected = {
        (b.at.strftime("%Y-%m-%dT%H:%M:%SZ"), o): n
        for b in buckets
        for o, n in b.counts.items()
        if n
    }
    assert drawn == expected


def test_bars_stack_in_outcome_order_and_heights_follow_counts() -> None:
    bucket = Bucket(SINCE + timedelta(minutes=10), {"own": 50, "leak": 25, "error": 25})
    svg = parse(outcome_chart([bucket], since=SINCE, until=UNTIL, bucket_s=60, title="t"))
    rects = [r for r in svg.iter(f"{SVG}rect") if r.get("data-outcome")]
    assert [r.get("data-outcome") for r in rects] == ["own", "leak", "error"]
    heights = [float(r.get("height", "0")) for r in rects]
    assert heights[0] == pytest.approx(2 * heights[1], rel=0.01)
    assert heights[1] == pytest.approx(heights[2], rel=0.01)
    tops = [float(r.get("y", "0")) for r in rects]
    assert tops == sorted(tops, reverse=True)  # own at the bottom, each next one above
    assert all(r.get("class") == f"o-{r.get('data-outcome')}" for r in rects)


def test_a_single_leak_among_many_probes_stays_visible() -> None:
    bucket = Bucket(SINCE, {"own": 10_000, "leak": 1})
    svg = parse(outcome_chart([bucket], since=SINCE, until=UNTIL, bucket_s=60, title="t"))
    leak = next(r for r in svg.iter(f"{SVG}rect") if r.get("data-outcome") == "leak")
    assert float(leak.get("height", "0")) >= 2


def test_buckets_outside_the_window_are_not_drawn() -> None:
    buckets = [
        Bucket(SINCE - timedelta(minutes=5), {"own": 3}),
        Bucket(SINCE + timedelta(minutes=5), {"own": 4}),
        Bucket(UNTIL + timedelta(minutes=5), {"own": 5}),
    ]
    svg = parse(outcome_chart(buckets, since=SINCE, until=UNTIL, bucket_s=60, title="t"))
    counts = [r.get("data-count") for r in svg.iter(f"{SVG}rect") if r.get("data-outcome")]
    assert counts == ["4"]


def test_change_markers_are_vertical_lines_with_escaped_titles() -> None:
    at = SINCE + timedelta(minutes=30)
    markers = [Marker(at, "cache_update", '<script>alert("x")</script> v2 & more')]
    markup = str(
        outcome_chart(
            seeded_buckets(), since=SINCE, until=UNTIL, bucket_s=120, title="t", markers=markers
        )
    )
    assert "<script>" not in markup
    svg = parse(markup)
    (marker,) = [g for g in svg.iter(f"{SVG}g") if g.get("class") == "marker"]
    assert marker.get("data-at") == "2026-11-22T09:30:00Z"
    assert marker.get("data-kind") == "cache_update"
    assert marker.get("data-label") == '<script>alert("x")</script> v2 & more'
    line = marker.find(f"{SVG}line")
    assert line is not None
    assert line.get("x1") == line.get("x2")
    title = marker.find(f"{SVG}title")
    assert title is not None
    assert "cache_update" in (title.text or "")


def test_chart_is_accessible_title_axes_and_legend() -> None:
    svg = parse(outcome_chart(seeded_buckets(), since=SINCE, until=UNTIL, bucket_s=120, title="X"))
    assert svg.get("role") == "img"
    title = svg.find(f"{SVG}title")
    assert title is not None
    assert title.text == "X"
    texts = [t.text for t in svg.iter(f"{SVG}text")]
    assert "time (UTC)" in texts
    assert "probes per bucket" in texts
    legend = next(g for g in svg.iter(f"{SVG}g") if g.get("class") == "legend")
    assert [t.text for t in legend.iter(f"{SVG}text")] == list(OUTCOMES)
    assert "09:30" in texts  # a round time tick


def test_empty_history_draws_axes_and_no_bars() -> None:
    svg = parse(outcome_chart([], since=SINCE, until=UNTIL, bucket_s=60, title="nothing"))
    assert not [r for r in svg.iter(f"{SVG}rect") if r.get("data-outcome")]
    desc = svg.find(f"{SVG}desc")
    assert desc is not None
    assert "0 probes" in (desc.text or "")


def test_latency_bars_carry_each_percentile() -> None:
    latency = {
        "good": Latency(0.12, 0.3, 0.45, 200),
        "3g": Latency(1.5, 4.25, 7.0, 180),
        "edge": Latency(None, None, None, 0),
    }
    svg = parse(latency_chart(latency, title="latency"))
    values = {
        (r.get("data-profile"), r.get("data-percentile")): float(r.get("data-value", "nan"))
        for r in svg.iter(f"{SVG}rect")
        if r.get("data-percentile")
    }
    assert values == {
        ("good", "p50"): 0.12,
        ("good", "p95"): 0.3,
        ("good", "p99"): 0.45,
        ("3g", "p50"): 1.5,
        ("3g", "p95"): 4.25,
        ("3g", "p99"): 7.0,
    }
    widths = {
        key: float(r.get("width", "0"))
        for r in svg.iter(f"{SVG}rect")
        if (key := (r.get("data-profile"), r.get("data-percentile")))[1]
    }
    assert widths[("3g", "p99")] == pytest.approx(widths[("3g", "p50")] * 7.0 / 1.5, rel=0.01)
    assert "no probes in this window" in [t.text for t in svg.iter(f"{SVG}text")]


def test_nice_ceiling_and_time_ticks() -> None:
    assert [nice_ceiling(v) for v in (0, 1, 3, 7, 10, 11, 180, 501)] == [
        1,
        1,
        5,
        10,
        10,
        20,
        200,
        1000,
    ]
    ticks = time_ticks(SINCE + timedelta(minutes=1), UNTIL)
    assert len(ticks) <= 7
    assert all(t.minute % 10 == 0 and t.second == 0 for t in ticks)
    week = time_ticks(SINCE - timedelta(days=7), SINCE)
    assert 1 <= len(week) <= 7
    assert all(t.hour == 0 for t in week)
