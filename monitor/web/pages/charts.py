"""Server-side SVG charts for the dashboard: no JavaScript, no CDN, readable offline.

* `outcome_chart`: probe outcomes per time bucket as stacked bars, with change
  markers (deploys, cache updates) as vertical lines;
* `monitor.web.pages.latency.latency_chart`: p50/p95/p99 probe latency per network
  profile as grouped bars, built from the same pieces.

Every drawn data point carries its values as ``data-*`` attributes (``data-at``,
``data-outcome``, ``data-count``; ``data-profile``, ``data-percentile``,
``data-value``) and a ``<title>`` tooltip, so a person hovering and a test reading the
DOM see the same numbers. Each chart has a ``<title>``, a ``<desc>``, axis labels and
a legend; colours come from the stylesheet's ``o-<outcome>`` classes, the same as the
overview matrix. Text is escaped here: the result is safe ``Markup``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import count

from markupsafe import Markup, escape

from monitor.verdict import OUTCOMES

MIN_SEGMENT_PX = 2.0  # a single leak among hundreds of own probes must still be visible
_TIME_STEPS = (60, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400, 172800, 604800)
_ids = count(1)


@dataclass(frozen=True)
class Bucket:
    """Probe outcomes counted over ``[at, at + bucket_s)``."""

    at: datetime
    counts: Mapping[str, int]


@dataclass(frozen=True)
class Marker:
    """A change worth seeing against the outcomes: a deploy, a cache update."""

    at: datetime
    kind: str
    label: str


@dataclass(frozen=True)
class Frame:
    """The plot area inside the SVG's viewBox."""

    width: int
    height: int
    left: int = 48
    right: int = 12
    top: int = 14
    bottom: int = 34

    @property
    def plot_w(self) -> float:
        return float(self.width - self.left - self.right)

    @property
    def plot_h(self) -> float:
        return float(self.height - self.top - self.bottom)

    @property
    def base(self) -> float:
        return float(self.height - self.bottom)


def _iso(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def num(value: float) -> str:
    return f"{value:.2f}".rstrip("0").rstrip(".")


def nice_ceiling(value: float) -> float:
    """The smallest 1, 2 or 5 times a power of ten that is at least ``value`` (>= 1)."""
    if value <= 1:
        return 1.0
    power = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 5, 10):
        if step * power >= value:
            return float(step * power)
    return float(10 * power)  # pragma: no cover - the loop always returns


def time_ticks(since: datetime, until: datetime, most: int = 7) -> list[datetime]:
    """Round UTC times between ``since`` and ``until``, at most ``most`` of them."""
    span = max(1.0, (until - since).total_seconds())
    step = next((s for s in _TIME_STEPS if span / s <= most), _TIME_STEPS[-1])
    first = math.ceil(since.timestamp() / step) * step
    ticks = []
    moment = first
    while moment <= until.timestamp():
        ticks.append(datetime.fromtimestamp(moment, UTC))
        moment += step
    return ticks


def _tick_label(at: datetime, span: timedelta) -> str:
    return f"{at:%H:%M}" if span <= timedelta(days=2) else f"{at:%m-%d}"


def open_svg(frame: Frame, css: str, title: str, desc: str) -> tuple[list[str], str]:
    uid = f"chart{next(_ids)}"
    parts = [
        f'<svg class="chart {css}" viewBox="0 0 {frame.width} {frame.height}" role="img" '
        f'aria-labelledby="{uid}-t {uid}-d">',  # inline in HTML: no xmlns needed
        f'<title id="{uid}-t">{escape(title)}</title>',
        f'<desc id="{uid}-d">{escape(desc)}</desc>',
    ]
    return parts, uid


def legend(items: Iterable[tuple[str, str]], x: float, y: float) -> str:
    out = ['<g class="legend">']
    for css, label in items:
        out.append(
            f'<rect class="{css}" x="{num(x)}" y="{num(y - 8)}" width="9" height="9"/>'
            f'<text x="{num(x + 12)}" y="{num(y)}">{escape(label)}</text>'
        )
        x += 12 + 7 * len(label) + 14
    out.append("</g>")
    return "".join(out)


def outcome_chart(
    buckets: Sequence[Bucket],
    *,
    since: datetime,
    until: datetime,
    bucket_s: float,
    title: str,
    markers: Sequence[Marker] = (),
    width: int = 760,
    height: int = 200,
) -> Markup:
    """Stacked outcome bars (``own`` at the bottom), one per bucket in ``[since, until]``."""
    frame = Frame(width, height, top=24)
    span_s = max(1.0, (until - since).total_seconds())
    totals = [sum(b.counts.get(o, 0) for o in OUTCOMES) for b in buckets]
    y_max = nice_ceiling(max(totals, default=0))
    scale = frame.plot_h / y_max
    bar_w = max(1.0, frame.plot_w * bucket_s / span_s - 1.0)
    probes = sum(totals)
    leaks = sum(b.counts.get("leak", 0) for b in buckets)
    parts, _uid = open_svg(
        frame,
        "outcomes",
        title,
        f"{probes} probes in {len(buckets)} buckets of {num(bucket_s)} s, {leaks} leaks, "
        f"{len(markers)} change markers",
    )
    parts.append(_axes(frame, since, until, y_max, "probes per bucket"))
    parts.append('<g class="bars">')
    for bucket in buckets:
        offset = (bucket.at - since).total_seconds()
        if offset < 0 or offset >= span_s:
            continue
        x = frame.left + offset / span_s * frame.plot_w
        y = frame.base
        for outcome in OUTCOMES:
            n = bucket.counts.get(outcome, 0)
            if n <= 0:
                continue
            h = max(MIN_SEGMENT_PX, n * scale)
            y -= h
            parts.append(
                f'<rect class="o-{outcome}" x="{num(x)}" y="{num(y)}" '
                f'width="{num(bar_w)}" height="{num(h)}" data-at="{_iso(bucket.at)}" '
                f'data-outcome="{outcome}" data-count="{n}">'
                f"<title>{_iso(bucket.at)}: {n} {outcome}</title></rect>"
            )
    parts.append("</g>")
    parts.append(_markers(frame, markers, since, span_s))
    parts.append(legend(((f"o-{o}", o) for o in OUTCOMES), frame.left, 12))
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - every interpolated text is escaped above


def _axes(frame: Frame, since: datetime, until: datetime, y_max: float, y_label: str) -> str:
    span = until - since
    span_s = max(1.0, span.total_seconds())
    out = [
        '<g class="axis">',
        f'<line x1="{frame.left}" y1="{num(frame.base)}" x2="{frame.width - frame.right}" '
        f'y2="{num(frame.base)}"/>',
        f'<line x1="{frame.left}" y1="{frame.top}" x2="{frame.left}" y2="{num(frame.base)}"/>',
    ]
    for tick in time_ticks(since, until):
        x = frame.left + (tick - since).total_seconds() / span_s * frame.plot_w
        out.append(
            f'<line x1="{num(x)}" y1="{num(frame.base)}" x2="{num(x)}" '
            f'y2="{num(frame.base + 4)}"/><text class="tick" x="{num(x)}" '
            f'y="{num(frame.base + 15)}" text-anchor="middle">{_tick_label(tick, span)}</text>'
        )
    for value in (0.0, y_max / 2, y_max):
        y = frame.base - value / y_max * frame.plot_h
        out.append(
            f'<line class="grid" x1="{frame.left}" y1="{num(y)}" x2="{frame.width - frame.right}"'
            f' y2="{num(y)}"/><text class="tick" x="{frame.left - 5}" y="{num(y + 4)}" '
            f'text-anchor="end">{num(value)}</text>'
        )
    out.append(
        f'<text class="axis-label" x="{num(frame.left + frame.plot_w / 2)}" '
        f'y="{frame.height - 3}" text-anchor="middle">time (UTC)</text>'
        f'<text class="axis-label" x="12" y="{num(frame.top + frame.plot_h / 2)}" '
        f'text-anchor="middle" transform="rotate(-90 12 {num(frame.top + frame.plot_h / 2)})">'
        f"{escape(y_label)}</text></g>"
    )
    return "".join(out)


def _markers(frame: Frame, markers: Sequence[Marker], since: datetime, span_s: float) -> str:
    out = ['<g class="markers">']
    for marker in markers:
        offset = (marker.at - since).total_seconds()
        if offset < 0 or offset > span_s:
            continue
        x = frame.left + offset / span_s * frame.plot_w
        text = f"{marker.kind}: {marker.label} ({_iso(marker.at)})"
        out.append(
            f'<g class="marker" data-at="{_iso(marker.at)}" data-kind="{escape(marker.kind)}" '
            f'data-label="{escape(marker.label)}"><title>{escape(text)}</title>'
            f'<line x1="{num(x)}" y1="{frame.top - 4}" x2="{num(x)}" y2="{num(frame.base)}"/>'
            f'<path d="M{num(x - 4)} {frame.top - 8} h8 l-4 6 z"/></g>'
        )
    out.append("</g>")
    return "".join(out)
