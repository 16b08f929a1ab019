"""A client-side network quality estimate, reported as HTTP Client Hints.

Chromium-based clients (smart displays among them) measure their own round trip and
throughput and send them as ``ECT``, ``RTT`` and ``Downlink`` request headers
(https://wicg.github.io/netinfo/): servers use them to pick a stream quality. The
thresholds and rounding follow the Network Information API's table.
"""

from __future__ import annotations

from dataclasses import dataclass

# (effective connection type, minimum RTT in ms, maximum downlink in kbit/s)
_ECT_TABLE = (("slow-2g", 2000, 50), ("2g", 1400, 70), ("3g", 270, 700))
_ALPHA = 0.5  # EWMA weight of the newest observation
# Like Chromium's throughput analyzer, ignore small transfers: a body that arrives in
# the same packets as the headers is timed at ~0 s and would claim an absurd rate.
MIN_THROUGHPUT_BYTES = 32_000


@dataclass
class NetworkQualityEstimator:
    rtt_ms: float | None = None
    downlink_kbps: float | None = None

    def observe(self, ttfb_s: float, body_bytes: int, body_s: float) -> None:
        """One response: time to first byte, then ``body_bytes`` in ``body_s``."""
        self.rtt_ms = _ewma(self.rtt_ms, ttfb_s * 1000)
        if body_bytes >= MIN_THROUGHPUT_BYTES and body_s > 0:
            self.downlink_kbps = _ewma(self.downlink_kbps, body_bytes * 8 / 1000 / body_s)

    @property
    def effective_type(self) -> str | None:
        if self.rtt_ms is None:
            return None
        for name, min_rtt, max_kbps in _ECT_TABLE:
            slow_link = self.downlink_kbps is not None and self.downlink_kbps <= max_kbps
            if self.rtt_ms >= min_rtt or slow_link:
                return name
        return "4g"

    def headers(self) -> dict[str, str]:
        ect = self.effective_type
        if ect is None or self.rtt_ms is None:
            return {}
        hints = {"ECT": ect, "RTT": str(int(round(self.rtt_ms / 25) * 25))}
        if self.downlink_kbps is not None:
            hints["Downlink"] = f"{round(self.downlink_kbps / 25) * 25 / 1000:g}"
        return hints


def _ewma(old: float | None, new: float) -> float:
    return new if old is None else (1 - _ALPHA) * old + _ALPHA * new
