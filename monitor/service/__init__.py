"""The running service: the one composition root (`compose`), the scheduler loop
(`scheduler`), the timers (`timers`), metrics (`metrics`), and `Monitor`, which runs them."""

from __future__ import annotations

from monitor.service.monitor import Monitor, probe_matrix

__all__ = ["Monitor", "probe_matrix"]
