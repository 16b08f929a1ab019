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
report (``alerts.outbox``); the sender delivers them.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.orm import Session

from alerts import Alert, AlertKind, Notifier, NotifierError, outbox
from alerts.blocks import IncidentView, approve_message, incident_message, text_message
from alerts.evidence import EvidenceRecord, EvidenceVault, silhouette_text
from alerts.tables import evidence, silences, threads
from monitor.config import IncidentsConfig, PathConfig, SlackConfig
from monitor.errors import KillSwitchError
from monitor.killswitch import KillSwitchBackend
from monitor.killswitch.machine import KillSwitchService, Transition
from monitor.results import ProbeResult
from monitor.store import Incident, Store
from monitor.store.models import IncidentRow
from monitor.verdict import CLEAN, WARNINGS, KillSwitchState, Verdict

log = logging.getLogger(__name__)
T = TypeVar("T")

EVIDENCE_PER_INCIDENT = 3  # frames kept per incident: enough to show, not a collection


def utcnow() -> datetime:
    return datetime.now(UTC)


def probe_side(result: ProbeResult) -> bool:
    """An ``error`` caused by the prober itself: inconclusive, says nothing of the path."""
    return result.verdict is Verdict.ERROR and result.prober_fault


class IncidentEngine:
    def __init__(
        self,
        store: Store,
        notifiers: Sequence[Notifier],
        kill_switch: KillSwitchBackend,
        paths: Sequence[PathConfig],
        *,
        kill_switches: KillSwitchService | None = None,
        slack: SlackConfig | None = None,
        incidents: IncidentsConfig | None = None,
        vault: EvidenceVault | None = None,
        profiles: Sequence[str] = ("good", "3g"),
        wake: Callable[[], None] | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._store = store
        self._notifiers = tuple(notifiers)
        self._kill_switches = kill_switches or KillSwitchService(
            store, kill_switch, paths, profiles=profiles
        )
        self._slack = slack if slack is not None and slack.enabled else None
        self._config = incidents or IncidentsConfig()
        self._vault = vault
        self._profiles = frozenset(profiles)
        self._wake = wake or (lambda: None)
        self._clock = clock
        self._db = ThreadPoolExecutor(max_workers=1, thread_name_prefix="incidents-db")

    @property
    def store(self) -> Store:
        return self._store

    # -- probe results -------------------------------------------------------------

    async def handle(self, result: ProbeResult) -> int | None:
        """Record ``result``; returns the incident id it joined, if it is a leak.

        Its database work runs on the engine's own thread, one call at a time and in
        the order asked: off the event loop (milliseconds a result, which the probes
        in flight would otherwise wait out), and serial, as it was on the loop.
        """
        incident_id = None
        if result.verdict.is_leak:
            incident_id = await self._leak(result)
        else:
            await self._in_db(self._record_clean, result)
        try:
            transition = await self._kill_switches.on_result(result)
        except KillSwitchError as exc:
            log.error("kill switch could not count the result for %s: %s", result.path, exc)
            transition = None
        if transition is not None:
            await self._in_db(self.announce, transition)
        self._wake()
        return incident_id

    def close(self) -> None:
        """End the engine's database thread, after the work already asked of it."""
        self._db.shutdown(wait=True)

    async def _in_db(self, call: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._db, call, *args)

    def _record_clean(self, result: ProbeResult) -> None:
        self._store.record(result)
        self._clean_or_warning(result)

    async def _leak(self, result: ProbeResult) -> int:
        key = f"{result.path}/{result.verdict}"
        incident, opened, switch = await self._in_db(self._record_leak, result, key)
        self._wake()
        if opened:
            await self._notify(AlertKind.INCIDENT_OPENED, incident, result, switch)
        try:
            transition = await self._kill_switches.on_leak(result, incident.id)
        except KillSwitchError as exc:  # the switch was put back: the next leak retries
            await self._notify(
                AlertKind.KILL_SWITCH_FAILED, incident, result, switch, detail=str(exc)
            )
            await self._in_db(
                self._reply,
                incident.id,
                f"incident:{incident.id}:ks-failed:{incident.hits}",
                f":warning: kill switch for `{result.path}` could NOT be tripped: {exc}",
            )
            return incident.id
        if transition is not None:
            if not transition.dry_run and transition.to_state == KillSwitchState.TRIPPED:
                await self._notify(
                    AlertKind.KILL_SWITCH_TRIPPED, incident, result, KillSwitchState.TRIPPED
                )
            await self._in_db(self.announce, transition, incident.id)
        return incident.id

    def _record_leak(self, result: ProbeResult, key: str) -> tuple[Incident, bool, str]:
        """The incident joined (or opened), whether it was opened, the switch's state."""
        switch = self._kill_switches.state(result.path)

        def within(session: Session, incident: Incident, opened: bool) -> None:
            conn, now = session.connection(), self._clock()
            record = None
            if self._vault is not None and result.frame and incident.hits <= EVIDENCE_PER_INCIDENT:
                record = self._vault.store(conn, result.frame, incident.id, now)
            payload = None
            if self._slack is not None:
                payload = self._message(conn, incident, switch, record, result.distance)
            if opened:
                outbox.open_thread(conn, incident.id, self._channel, payload, now)
                return
            conn.execute(  # a leak restarts the count of clean rounds
                sa.update(threads)
                .where(threads.c.incident_id == incident.id)
                .values(clean_rounds=0, clean_profiles=[])
            )
            if payload is not None:
                outbox.update_parent(conn, incident.id, payload, now)

        incident, opened = self._store.add_leak(result, key=key, within=within)
        self._store.record(result, incident.id)
        return incident, opened, switch

    def _clean_or_warning(self, result: ProbeResult) -> None:
        if probe_side(result):
            self._post(
                self._slack.health_channel if self._slack else "",
                f"inconclusive:{result.path}",
                f":grey_question: inconclusive probe on `{result.path}/{result.profile}` "
                f"({result.canary}): {result.detail}. The prober, not the path, failed; "
                "leaks are still checked on every other probe.",
            )
            return
        if result.verdict in CLEAN:
            self._count_clean(result)
        if result.verdict in WARNINGS:
            self._warn(result)

    def _count_clean(self, result: ProbeResult) -> None:
        if result.profile not in self._profiles:
            return
        k = self._config.resolve_after_rounds
        with self._store.session() as session, session.begin():
            rows = session.execute(
                sa.select(IncidentRow.id, threads.c.clean_rounds, threads.c.clean_profiles)
                .join(threads, threads.c.incident_id == IncidentRow.id)
                .where(IncidentRow.path == result.path, IncidentRow.status == "open")
                .with_for_update()
            ).all()
            for incident_id, rounds, seen in rows:
                seen = sorted({*seen, result.profile})
                if self._profiles <= set(seen):
                    rounds, seen = rounds + 1, []
                session.execute(
                    sa.update(threads)
                    .where(threads.c.incident_id == incident_id)
                    .values(clean_rounds=rounds, clean_profiles=seen)
                )
                if rounds >= k:
                    self._resolve(session, incident_id, k)

    def _resolve(self, session: Session, incident_id: int, rounds: int) -> None:
        row = session.get(IncidentRow, incident_id)
        if row is None or row.status != "open":
            return
        row.status, row.open_key = "resolved", None
        session.flush()
        log.info("incident #%d on %s resolved after %d clean rounds", incident_id, row.path, rounds)
        if self._slack is None:
            return
        conn, now = session.connection(), self._clock()
        incident = Incident.of(row)
        switch = self._kill_switches.state(row.path)
        outbox.update_parent(conn, incident_id, self._message(conn, incident, switch), now)
        outbox.reply(
            conn,
            incident_id,
            f"incident:{incident_id}:resolved",
            text_message(
                f":white_check_mark: resolved: {rounds} clean rounds across "
                f"{', '.join(sorted(self._profiles))} on `{row.path}` "
                f"({incident.hits} hits in all; kill switch {switch})."
            ),
            now,
        )

    def _warn(self, result: ProbeResult) -> None:
        window, threshold = self._config.warning_window, self._config.warning_threshold
        recent = self._store.results(path=result.path, limit=window)
        counts = Counter(row.verdict for row in recent)
        noisy = sum(counts[str(v)] for v in WARNINGS)
        if noisy < threshold or self.silenced(f"warnings:{result.path}"):
            return
        if self._kill_switches.state(result.path) != "armed":
            return  # a switched-off path is expected to fail: not news
        detail = ", ".join(f"{counts[str(v)]} {v}" for v in sorted(WARNINGS) if counts[str(v)])
        self._post(
            self._slack.channel or "" if self._slack else "",
            f"warning:{result.path}",
            f":large_yellow_circle: warning (not a leak): `{result.path}` returned "
            f"{noisy} of the last {len(recent)} probes stale, degraded or failed ({detail}).",
        )

    # -- timers --------------------------------------------------------------------

    def renotify_due(self) -> int:
        """Remind the thread of every unacknowledged open leak incident that is due."""
        if self._slack is None:
            return 0
        now = self._clock()
        due_before = now - timedelta(seconds=self._config.renotify_s)
        sent = 0
        with self._store.session() as session, session.begin():
            rows = session.execute(
                sa.select(IncidentRow, threads.c.renotified)
                .join(threads, threads.c.incident_id == IncidentRow.id)
                .where(
                    IncidentRow.status == "open",
                    threads.c.acked_by.is_(None),
                    threads.c.notified_at <= due_before,
                )
            ).all()
            conn = session.connection()
            for row, count in rows:
                claimed = conn.execute(  # compare-and-set: one replica reminds
                    sa.update(threads)
                    .where(threads.c.incident_id == row.id, threads.c.renotified == count)
                    .values(renotified=count + 1, notified_at=now)
                )
                if claimed.rowcount != 1:
                    continue
                outbox.reply(
                    conn,
                    row.id,
                    f"incident:{row.id}:renotify:{count + 1}",
                    text_message(
                        f":rotating_light: still open and unacknowledged: {row.hits} hits, "
                        f"last seen {row.last_seen:%H:%M:%S} UTC. Acknowledge to stop reminders."
                    ),
                    now,
                )
                sent += 1
        if sent:
            self._wake()
        return sent

    def purge_evidence(self) -> int:
        """Delete evidence past retention, except what open incidents hold."""
        if self._vault is None:
            return 0
        with self._store.engine.begin() as conn:
            held = conn.execute(
                sa.select(IncidentRow.id).where(IncidentRow.status == "open")
            ).scalars()
            return self._vault.purge(conn, self._clock(), set(held))

    # -- people --------------------------------------------------------------------

    def acknowledge(self, incident_id: int, user: str) -> bool:
        """Stop re-notification; False if already acknowledged (or unknown)."""
        with self._store.session() as session, session.begin():
            conn, now = session.connection(), self._clock()
            changed = conn.execute(
                sa.update(threads)
                .where(threads.c.incident_id == incident_id, threads.c.acked_by.is_(None))
                .values(acked_by=user, acked_at=now)
            )
            row = session.get(IncidentRow, incident_id)
            if changed.rowcount != 1 or row is None:
                return False
            if self._slack is not None:
                switch = self._kill_switches.state(row.path)
                payload = self._message(conn, Incident.of(row), switch)
                outbox.update_parent(conn, incident_id, payload, now)
                outbox.reply(
                    conn,
                    incident_id,
                    f"incident:{incident_id}:ack",
                    text_message(f":eyes: acknowledged by <@{user}>; reminders stop."),
                    now,
                )
        self._wake()
        return True

    def silence_warnings(self, path: str, user: str, hours: float = 1.0) -> datetime:
        until = self._clock() + timedelta(hours=hours)
        with self._store.engine.begin() as conn:
            scope = f"warnings:{path}"
            conn.execute(sa.delete(silences).where(silences.c.scope == scope))
            conn.execute(sa.insert(silences).values(scope=scope, until=until, by=user))
        return until

    def silenced(self, scope: str) -> bool:
        with self._store.engine.connect() as conn:
            until = conn.execute(
                sa.select(silences.c.until).where(silences.c.scope == scope)
            ).scalar_one_or_none()
        return until is not None and until > self._clock()

    def announce(self, transition: Transition, incident_id: int | None = None) -> int:
        """A kill switch transition, as a reply and a parent edit in its path's threads
        (queued in the outbox); returns the number of threads, 0 without Slack."""
        if self._slack is None:
            return 0
        verb = "would go" if transition.dry_run else "went"
        text = (
            f":rotating_light: kill switch `{transition.path}` {verb} "
            f"{transition.from_state} → *{transition.to_state}* "
            f"(by {_who(transition.actor)}): {transition.reason}"
        )
        if transition.dry_run:
            text = f"[dry run] {text}"
        stamp = f"{transition.at.timestamp():.6f}"
        threads = self._threads_of(transition.path, incident_id)
        for incident in threads:
            key = f"incident:{incident}:ks:{transition.to_state}:{stamp}"
            self._reply(incident, key, text, refresh=True)
        return len(threads)

    def reply(self, incident_id: int, key: str, text: str, *, approve_path: str = "") -> None:
        """A reply in an incident's thread (``approve_path``: with an approve button)."""
        self._reply(incident_id, key, text, approve_path=approve_path)

    # -- helpers -------------------------------------------------------------------

    @property
    def _channel(self) -> str:
        return self._slack.channel or "" if self._slack is not None else ""

    def _threads_of(self, path: str, incident_id: int | None) -> list[int]:
        if incident_id is not None:
            return [incident_id]
        with self._store.session() as session:
            query = sa.select(IncidentRow.id).where(
                IncidentRow.path == path, IncidentRow.status == "open"
            )
            return list(session.scalars(query))

    def _reply(
        self,
        incident_id: int,
        key: str,
        text: str,
        *,
        refresh: bool = False,
        approve_path: str = "",
    ) -> None:
        if self._slack is None:
            return
        payload = (
            approve_message(text, incident_id, approve_path) if approve_path else text_message(text)
        )
        with self._store.session() as session, session.begin():
            conn, now = session.connection(), self._clock()
            fresh = outbox.reply(conn, incident_id, key, payload, now)
            row = session.get(IncidentRow, incident_id)
            if fresh and refresh and row is not None:
                switch = self._kill_switches.state(row.path)
                message = self._message(conn, Incident.of(row), switch)
                outbox.update_parent(conn, incident_id, message, now)
        self._wake()

    def _post(self, channel: str, scope: str, text: str) -> None:
        if self._slack is None or not channel:
            log.info("%s", text)
            return
        now = self._clock()
        bucket = int(now.timestamp() // self._config.warning_every_s)
        with self._store.engine.begin() as conn:
            fresh = outbox.post(conn, channel, f"{scope}:{bucket}", text_message(text), now)
        if fresh:
            self._wake()

    def _message(
        self,
        conn: sa.Connection,
        incident: Incident,
        switch: str,
        record: EvidenceRecord | None = None,
        distance: int | None = None,
    ) -> dict[str, Any]:
        assert self._slack is not None  # only called with Slack on
        if record is None:
            first = conn.execute(
                sa.select(evidence.c.sha256, evidence.c.silhouette)
                .where(evidence.c.incident_id == incident.id)
                .order_by(evidence.c.id)
                .limit(1)
            ).one_or_none()
            sha, shape = (first.sha256, first.silhouette) if first is not None else (None, None)
        else:
            sha, shape = record.sha256, record.silhouette
        acked = conn.execute(
            sa.select(threads.c.acked_by).where(threads.c.incident_id == incident.id)
        ).scalar_one_or_none()
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
            acked_by=acked,
            evidence_sha256=sha,
            distance=distance,
            silhouette=silhouette_text(shape) if shape else None,
        )
        return incident_message(view)

    async def _notify(
        self,
        kind: AlertKind,
        incident: Incident,
        result: ProbeResult,
        switch: str,
        detail: str = "",
    ) -> None:
        alert = Alert(
            kind=kind,
            incident_id=incident.id,
            path=incident.path,
            verdict=str(result.verdict),
            canary=result.canary,
            source=result.source_canary,
            profile=result.profile,
            hits=incident.hits,
            first_seen=incident.first_seen,
            last_seen=incident.last_seen,
            kill_switch=switch,
            detail=detail,
        )
        for notifier in self._notifiers:
            try:
                await notifier.send(alert)
            except NotifierError as exc:  # Slack has its own durable outbox
                log.error(
                    "notifier %s failed for incident #%s: %s",
                    type(notifier).__name__,
                    incident.id,
                    exc,
                )


def _who(actor: str) -> str:
    return actor if actor == "policy" or not actor.startswith("U") else f"<@{actor}>"
