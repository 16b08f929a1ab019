"""Raw probe rows: keyset pages, incident evidence, retention and rollup rebuilds.

``ProbeLog`` is the raw-row half of ``History`` (``store/history.py``). Pages are
newest id first over the ``(filter, id)`` indexes of migration 0004, so a page costs
the same on the first and the ten-thousandth page.

Retention: ``expire`` deletes raw rows older than the retention in short batches
(never one long lock), but never a row attached to an incident (leak evidence); it
trims minute rollups after ``minute_retention_s`` and keeps the coarser ones,
so charts and percentiles outlive the raw rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Engine, Table, delete, func, select

from monitor.store import rollups
from monitor.store.models import PathRow, ProbeResultRow, probe_rollups
from monitor.store.rollups import HOUR, MINUTE, bucket_start
from monitor.store.views import ProbePage, ProbeRecord, utc
from monitor.verdict import OUTCOMES, Verdict, outcome_of

MAX_PAGE = 500
EXPIRE_BATCH = 5000
RAW = cast(Table, ProbeResultRow.__table__)
R = probe_rollups.c


class ProbeLog:
    """Raw probe rows of a migrated database; every call is its own short transaction."""

    engine: Engine

    def probes(
        self,
        *,
        path: str | None = None,
        profile: str | None = None,
        verdict: str | Sequence[str] | None = None,
        outcome: str | None = None,
        canary: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 50,
        before_id: int | None = None,
    ) -> ProbePage:
        """Raw probes, newest id first, ``limit`` clamped to 1..500; filters combine (AND).

        ``verdict`` is one verdict or several; ``outcome`` a chart category ("leak").
        """
        limit = max(1, min(MAX_PAGE, limit))
        query = select(RAW).order_by(RAW.c.id.desc()).limit(limit + 1)
        verdicts = _verdicts(verdict, outcome)
        if verdicts is not None:
            query = query.where(RAW.c.verdict.in_(verdicts))
        for column, value in (("path", path), ("profile", profile), ("canary", canary)):
            if value is not None:
                query = query.where(RAW.c[column] == value)
        if since is not None:
            query = query.where(RAW.c.started_at >= utc(since, "since"))
        if until is not None:
            query = query.where(RAW.c.started_at < utc(until, "until"))
        if before_id is not None:
            query = query.where(RAW.c.id < before_id)
        with self.engine.connect() as conn:
            rows = conn.execute(query).mappings().all()
        items = [_record(row) for row in rows[:limit]]
        return ProbePage(items, items[-1].id if len(rows) > limit else None)

    def probe(self, probe_id: int) -> ProbeRecord | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(RAW).where(RAW.c.id == probe_id)).mappings().first()
        return None if row is None else _record(row)

    def incident_hits(self, incident_id: int, limit: int = 500) -> list[ProbeRecord]:
        """The raw probes attached to an incident, oldest first (never expired)."""
        query = (
            select(RAW)
            .where(RAW.c.incident_id == incident_id)
            .order_by(RAW.c.id)
            .limit(max(1, min(5000, limit)))
        )
        with self.engine.connect() as conn:
            return [_record(row) for row in conn.execute(query).mappings()]

    def expire(
        self, now: datetime, raw_retention_s: float, *, minute_retention_s: float = 3 * 86400.0
    ) -> int:
        """Delete expired raw rows (not incident evidence) and old minute rollups.

        Returns the number of raw rows deleted. Each batch of at most 5000 rows is its
        own transaction, so writers never wait long behind the cleanup.
        """
        if raw_retention_s < 0:
            raise ValueError("raw_retention_s must not be negative")
        if minute_retention_s < 2 * HOUR:
            raise ValueError("minute_retention_s must cover the 1h chart: at least 7200 s")
        now = utc(now, "now")
        cutoff = now - timedelta(seconds=raw_retention_s)
        with self.engine.connect() as conn:
            # Raw rows reference registered paths (foreign key): no DISTINCT over the table.
            paths = list(conn.scalars(select(PathRow.name)))
        deleted = 0
        for path in paths:  # per path: the (path, started_at) index finds the old rows
            while True:
                batch = (
                    select(RAW.c.id)
                    .where(RAW.c.path == path, RAW.c.started_at < cutoff)
                    .where(RAW.c.incident_id.is_(None))
                    .limit(EXPIRE_BATCH)
                    .scalar_subquery()
                )
                with self.engine.begin() as conn:
                    n = int(conn.execute(delete(RAW).where(RAW.c.id.in_(batch))).rowcount)
                deleted += n
                if n < EXPIRE_BATCH:
                    break
        self._trim_minutes(bucket_start(now - timedelta(seconds=minute_retention_s), MINUTE))
        return deleted

    def _trim_minutes(self, before: int) -> None:
        while True:  # six hours of minute rollups per transaction
            with self.engine.begin() as conn:
                oldest = conn.scalar(select(func.min(R.bucket_start)).where(R.resolution == MINUTE))
                if oldest is None or oldest >= before:
                    return
                conn.execute(
                    delete(probe_rollups).where(
                        R.resolution == MINUTE, R.bucket_start < min(before, oldest + 6 * HOUR)
                    )
                )

    def rebuild_rollups(self, since: datetime | None = None) -> int:
        """Recompute rollups from raw rows (see ``rollups.rebuild``); rows written."""
        with self.engine.begin() as conn:
            return rollups.rebuild(conn, None if since is None else utc(since, "since"))


def _verdicts(verdict: str | Sequence[str] | None, outcome: str | None) -> list[str] | None:
    chosen: set[str] | None = None
    if verdict is not None:
        wanted = [verdict] if isinstance(verdict, str) else list(verdict)
        for v in wanted:
            outcome_of(v)  # ValueError for an unknown verdict
        chosen = set(wanted)
    if outcome is not None:
        if outcome not in OUTCOMES:
            raise ValueError(f"unknown outcome {outcome!r}; choose one of {', '.join(OUTCOMES)}")
        of_outcome = {v.value for v in Verdict if outcome_of(v) == outcome}
        chosen = of_outcome if chosen is None else chosen & of_outcome
    return None if chosen is None else sorted(chosen)


def _record(row: Any) -> ProbeRecord:
    return ProbeRecord(**{name: row[name] for name in ProbeRecord.__dataclass_fields__})
