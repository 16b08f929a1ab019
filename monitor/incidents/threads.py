"""An incident's Slack thread: the parent message, its edits and its replies.

Every message is an outbox row (``alerts.outbox``) enqueued through a `Tx`, in the
transaction of the change it reports; without Slack nothing is enqueued and no thread
row exists: the incident keeps its own state either way. Standalone messages (a
warning, a probe-health note) are lines of a per-channel digest (``alerts.digest``), at
most one per ``warning_every_s`` per scope.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from alerts.blocks import IncidentView, approve_message, escape, incident_message, text_message
from alerts.evidence import EvidenceRecord, silhouette_text
from monitor.config import SlackConfig
from monitor.killswitch.machine import KillSwitchService, Transition
from monitor.store import Incident
from monitor.store.incidents import IncidentStore, Tx

log = logging.getLogger(__name__)
# A Slack user id, as our buttons report the presser: U or W, then capitals and digits.
_SLACK_USER_ID = re.compile(r"[UW][A-Z0-9]{2,}")


class Threads:
    def __init__(
        self,
        ledger: IncidentStore,
        slack: SlackConfig | None,
        kill_switches: KillSwitchService,
        *,
        warning_every_s: float,
        clock: Callable[[], datetime],
        wake: Callable[[], None],
    ) -> None:
        self._ledger = ledger
        self._slack = slack
        self._kill_switches = kill_switches
        self._every_s = warning_every_s
        self._clock = clock
        self._wake = wake

    @property
    def enabled(self) -> bool:
        return self._slack is not None

    @property
    def channel(self) -> str:
        return self._slack.channel or "" if self._slack is not None else ""

    @property
    def health_channel(self) -> str:
        return self._slack.health_channel if self._slack is not None else ""

    def on_leak(
        self,
        tx: Tx,
        incident: Incident,
        opened: bool,
        switch: str,
        record: EvidenceRecord | None,
        distance: int | None,
        now: datetime,
    ) -> None:
        """The first hit posts the parent; later hits edit it (count, last seen)."""
        if self._slack is None:
            return
        payload = self.message(tx, incident, switch, record, distance)
        if opened:
            tx.open_thread(incident.id, self.channel, payload, now)
        else:
            tx.update_parent(incident.id, payload, now)

    def refresh(self, tx: Tx, incident: Incident, switch: str, now: datetime) -> None:
        """Edit the parent to the incident's state as of ``tx``."""
        tx.update_parent(incident.id, self.message(tx, incident, switch), now)

    def reply_in(self, tx: Tx, incident_id: int, key: str, text: str, now: datetime) -> None:
        tx.reply(incident_id, key, text_message(text), now)

    def reply(
        self,
        incident_id: int,
        key: str,
        text: str,
        *,
        refresh: bool = False,
        approve_path: str = "",
    ) -> None:
        """A reply in its own transaction (``refresh``: and a parent edit, if the reply
        is new; ``approve_path``: with an approve button)."""
        if self._slack is None:
            return
        payload = (
            approve_message(text, incident_id, approve_path) if approve_path else text_message(text)
        )

        def work(tx: Tx) -> None:
            now = self._clock()
            fresh = tx.reply(incident_id, key, payload, now)
            incident = tx.incident(incident_id)
            if fresh and refresh and incident is not None:
                self.refresh(tx, incident, self._kill_switches.state(incident.path), now)

        self._ledger.transaction(work)
        self._wake()

    def announce(self, transition: Transition, incident_id: int | None = None) -> int:
        """A kill switch transition, as a reply and a parent edit in its path's threads
        (the given incident's, or every open one's); the number of threads, 0 without
        Slack."""
        if self._slack is None:
            return 0
        verb = "would go" if transition.dry_run else "went"
        text = (
            f":rotating_light: kill switch `{transition.path}` {verb} "
            f"{transition.from_state} → *{transition.to_state}* "
            f"(by {_who(transition.actor)}): {escape(transition.reason)}"
        )
        if transition.dry_run:
            text = f"[dry run] {text}"
        stamp = f"{transition.at.timestamp():.6f}"
        told = [incident_id] if incident_id is not None else self._ledger.open_ids(transition.path)
        for incident in told:
            key = f"incident:{incident}:ks:{transition.to_state}:{stamp}"
            self.reply(incident, key, text, refresh=True)
        return len(told)

    def post(self, channel: str, scope: str, text: str) -> None:
        """A standalone message, as a line of the channel's warning digest (at most one
        per ``scope`` and ``warning_every_s``); logged instead without Slack or a
        channel."""
        if self._slack is None or not channel:
            log.info("%s", text)
            return
        now, window = self._clock(), timedelta(seconds=self._every_s)
        if self._ledger.transaction(lambda tx: tx.warn(channel, scope, text, now, window=window)):
            self._wake()

    def message(
        self,
        tx: Tx,
        incident: Incident,
        switch: str,
        record: EvidenceRecord | None = None,
        distance: int | None = None,
    ) -> dict[str, Any]:
        """The parent message: the incident, its switch, its first frame's silhouette."""
        assert self._slack is not None  # only called with Slack on
        sha: str | None
        shape: list[list[int]] | None
        if record is not None:
            sha, shape = record.sha256, record.silhouette
        else:
            sha, shape = tx.first_evidence(incident.id) or (None, None)
        kind = max(incident.verdicts, key=lambda v: incident.verdicts[v])
        view = IncidentView(
            id=incident.id,
            path=incident.path,
            kind=kind,
            status=incident.status,
            hits=incident.hits,
            canaries=incident.canaries,
            sources=incident.sources,
            profiles=incident.profiles,
            first_seen=incident.first_seen,
            last_seen=incident.last_seen,
            kill_switch=switch,
            url=f"{self._slack.web_base_url.rstrip('/')}/incidents/{incident.id}",
            population=self._slack.population.get(incident.path),
            acked_by=incident.acked_by,
            evidence_sha256=sha,
            distance=distance,
            silhouette=silhouette_text(shape) if shape else None,
        )
        return incident_message(view)


def _who(actor: str) -> str:
    """A Slack user id (a press of our button) as a mention; any other actor (a login,
    ``--actor`` typed at the CLI, ``policy``) as the text it is."""
    return f"<@{actor}>" if _SLACK_USER_ID.fullmatch(actor) else escape(actor)
