"""Warning digests: the warnings of one window are one Slack message per channel.

A warning is never a page. Posting one message per path per window buried the page that
mattered: after a Slack outage, five availability warnings went out before the leak. So
each warning is a line in the channel's *digest*, an outbox row of kind ``digest``:

- a scope (a path's warnings, its inconclusive probes) is told at most once per window
  (``window``, aligned to the epoch as ``warning_every_s`` always was);
- while a digest is still pending (Slack down, or behind a page), a new warning joins it
  and a scope's line is replaced by its newest text, so an outage queues one message,
  not one per path and window;
- once a digest is claimed or sent nothing changes it; the next warning opens a new one.

The outbox sends digests after every incident message (``outbox.PRIORITY``). The lines
live in the payload (``payload["lines"]``), which the transport ignores: it sends only
``text`` and ``blocks``.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from alerts.blocks import text_message
from alerts.outbox import DIGEST, PENDING, insert_ignore, new_row
from alerts.tables import outbox

MAX_LINES = 40  # shown; a longer digest says how many more
SECTION_CHARS = 2900  # Slack refuses a section over 3,000 characters
LINE_CHARS = 400


def warn(
    conn: sa.Connection,
    channel: str,
    scope: str,
    line: str,
    now: datetime,
    *,
    window: timedelta,
) -> bool:
    """Add ``scope``'s warning ``line`` to ``channel``'s digest, in the caller's
    transaction; False if ``scope`` was already told in this window."""
    seconds = window.total_seconds()
    bucket = int(now.timestamp() // seconds)
    since = datetime.fromtimestamp(bucket * seconds, tz=now.tzinfo)
    recent = conn.execute(
        sa.select(outbox.c.id, outbox.c.status, outbox.c.payload)
        .where(outbox.c.kind == DIGEST, outbox.c.channel == channel)
        .where(sa.or_(outbox.c.status == PENDING, outbox.c.created_at >= since))
        .order_by(outbox.c.id)
        .with_for_update()  # PostgreSQL: two warnings at once both land; SQLite: no-op
    ).all()
    told = (entry for row in recent for entry in row.payload.get("lines", ()))
    if any(entry["scope"] == scope and entry["bucket"] == bucket for entry in told):
        return False
    entry = {"scope": scope, "bucket": bucket, "text": line}
    for row in recent:
        if row.status != PENDING:
            continue
        lines = [e for e in row.payload.get("lines", ()) if e["scope"] != scope] + [entry]
        joined = conn.execute(  # compare-and-set: the sender may have claimed it meanwhile
            sa.update(outbox)
            .where(outbox.c.id == row.id, outbox.c.status == PENDING)
            .values(payload=message(lines))
        )
        if joined.rowcount == 1:
            return True
    key = f"digest:{channel}:{bucket}:{scope}"
    return insert_ignore(conn, outbox, new_row(DIGEST, key, channel, None, message([entry]), now))


def message(lines: list[dict[str, Any]]) -> dict[str, Any]:
    """The digest's Slack payload: one warning as it is, several as a list."""
    if len(lines) == 1:
        return {**text_message(lines[0]["text"][:SECTION_CHARS]), "lines": lines}
    shown = [f"• {entry['text'][:LINE_CHARS]}" for entry in lines[:MAX_LINES]]
    if len(lines) > MAX_LINES:
        shown.append(f"… and {len(lines) - MAX_LINES} more: see the dashboard")
    heading = f":large_yellow_circle: {len(lines)} warnings (not a leak) in this window:"
    sections: list[list[str]] = [[heading]]
    for text in shown:
        if sum(len(t) + 1 for t in sections[-1]) + len(text) > SECTION_CHARS:
            sections.append([])
        sections[-1].append(text)
    blocks = [text_message("\n".join(section))["blocks"][0] for section in sections]
    return {"text": "\n".join([heading, *shown]), "blocks": blocks, "lines": lines}
