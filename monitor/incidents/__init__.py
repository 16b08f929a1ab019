"""The incident engine: what each probe result means for on-call.

- A leak verdict (``foreign_canary``, ``foreign``, ``spliced``) pages at once: it
  opens or joins the incident of its path and leak kind; the first hit enqueues the
  Slack parent message, later hits an edit of it (count, last seen), never a new one.
  The frame goes to the encrypted evidence vault, nowhere else.
- The path's kill switch policy runs (``KillSwitchService.on_leak``); every
  transition becomes a reply in the incident's thread and an edit of its parent.
- Unacknowledged leak incidents are re-notified in their thread every
  ``renotify_s``; an incident resolves after ``resolve_after_rounds`` clean rounds
  across all profiles of its path (parent edited, a resolve reply).
- ``own_stale``, ``degraded`` and availability ``error`` are warnings counted over
  the last probes of the path ("X of the last Y"), never pages; probe-side failures
  (the prober's own network, proxy or code) go to the probe-health channel.

Slack messages are outbox rows written in the same transaction as the change they
report (``alerts.outbox``); the sender delivers them. An incident's own state (clean
rounds, acknowledgement) lives on the incident, so it resolves with or without Slack.

    engine      IncidentEngine: one probe result at a time, the leak policy
    resolution  clean rounds across the profiles -> resolved
    warnings    stale/degraded/error over a window; probe-side failures
    threads     the Slack thread: parent, edits, replies, kill switch announcements
    actions     acknowledge, silence
    timers      reminders, evidence retention
The SQL is in `monitor.store.incidents`.
"""

from __future__ import annotations

from monitor.incidents.engine import EVIDENCE_PER_INCIDENT, IncidentEngine
from monitor.incidents.warnings import probe_side

__all__ = ["EVIDENCE_PER_INCIDENT", "IncidentEngine", "probe_side"]
