"""The latency chart: p50/p95/p99 probe duration per network profile, as grouped
horizontal bars (see `monitor.web.pages.charts` for the conventions every chart follows)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from markupsafe import Markup, escape

from monitor.web.pages.charts import Frame, legend, nice_ceiling, num, open_svg

PERCENTILES = ("p50", "p95", "p99")


@dataclass(frozen=True)
class Latency:
    p50: float | None
    p95: float | None
    p99: float | None
    count: int


def latency_chart(
    latency: Mapping[str, Latency], *, title: str, width: int = 760, row_h: int = 15
) -> Markup:
    """Horizontal p50/p95/p99 bars per profile, in seconds; a profile with no probes
    gets a row saying so."""
    profiles = list(latency)
    height = 44 + max(1, len(profiles)) * (row_h * len(PERCENTILES) + 12)
    frame = Frame(width, height, left=90, right=44, top=24, bottom=30)
    values = [v for p in latency.values() for v in (p.p50, p.p95, p.p99) if v is not None and v > 0]
    x_max = _seconds_ceiling(max(values, default=1.0))
    parts, _uid = open_svg(
        frame,
        "latency",
        title,
        "probe latency percentiles per network profile: "
        + "; ".join(
            f"{name} p50 {_fmt_s(p.p50)}, p95 {_fmt_s(p.p95)}, p99 {_fmt_s(p.p99)} "
            f"of {p.count} probes"
            for name, p in latency.items()
        ),
    )
    parts.append('<g class="axis">')
    for i in range(5):
        value = x_max * i / 4
        x = frame.left + value / x_max * frame.plot_w
        parts.append(
            f'<line class="grid" x1="{num(x)}" y1="{frame.top}" x2="{num(x)}" '
            f'y2="{num(frame.base)}"/><text class="tick" x="{num(x)}" '
            f'y="{num(frame.base + 14)}" text-anchor="middle">{_fmt_s(value)}</text>'
        )
    parts.append(
        f'<text class="axis-label" x="{num(frame.left + frame.plot_w / 2)}" '
        f'y="{height - 3}" text-anchor="middle">probe duration</text></g><g class="bars">'
    )
    y = float(frame.top + 4)
    for name, p in latency.items():
        group_h = row_h * len(PERCENTILES)
        parts.append(
            f'<text class="profile" x="{frame.left - 8}" y="{num(y + group_h / 2 + 4)}" '
            f'text-anchor="end">{escape(name)}</text>'
        )
        for i, label in enumerate(PERCENTILES):
            value = getattr(p, label)
            row_y = y + i * row_h
            if value is None:
                if i == 0:
                    parts.append(
                        f'<text class="empty" x="{frame.left + 4}" y="{num(row_y + 11)}">'
                        "no probes in this window</text>"
                    )
                continue
            w = max(1.0, value / x_max * frame.plot_w)
            parts.append(
                f'<rect class="lat-{label}" x="{frame.left}" y="{num(row_y + 1)}" '
                f'width="{num(w)}" height="{row_h - 3}" data-profile="{escape(name)}" '
                f'data-percentile="{label}" data-value="{value:.6g}" data-count="{p.count}">'
                f"<title>{escape(name)} {label}: {_fmt_s(value)} ({p.count} probes)</title></rect>"
                f'<text class="value" x="{num(frame.left + w + 4)}" y="{num(row_y + 11)}">'
                f"{label} {_fmt_s(value)}</text>"
            )
        y += group_h + 12
    parts.append("</g>")
    parts.append(legend(((f"lat-{p}", p) for p in PERCENTILES), frame.left, 12))
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - every interpolated text is escaped above


def _seconds_ceiling(value: float) -> float:
    if value >= 1:
        return nice_ceiling(value)
    return nice_ceiling(value * 1000) / 1000


def _fmt_s(value: float | None) -> str:
    if value is None:
        return "–"
    if value == 0:
        return "0 s"
    return f"{value * 1000:.0f} ms" if value < 1 else f"{value:.2f} s"
