"""The running service: the one composition root, the scheduler loop and metrics."""

from __future__ import annotations

from monitor.service.monitor import Monitor, probe_matrix

__all__ = ["Monitor", "probe_matrix"]
