"""Block Kit for incident messages (https://api.slack.com/block-kit).

Facts only: path, leak kind, canaries, profiles, counts, times, kill switch, the
evidence's digest and silhouette and a link to it in the web UI; never a frame.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

# action_id of each button; the value is JSON {"incident": id, "path": path}.
ACK, TRIP, REENABLE, APPROVE, SILENCE = "ack", "trip", "reenable", "approve", "silence"
SEVERITY_LABEL = {"foreign": "CRITICAL", "spliced": "CRITICAL", "foreign_canary": "HIGH"}


@dataclass(frozen=True)
class IncidentView:
    id: int
    path: str
    kind: str  # the leak verdict the incident groups
    status: str  # open | resolved
    hits: int
    canaries: tuple[str, ...]
    sources: tuple[str, ...]
    profiles: tuple[str, ...]
    first_seen: datetime
    last_seen: datetime
    kill_switch: str
    url: str
    population: int | None = None
    acked_by: str | None = None
    evidence_sha256: str | None = None
    distance: int | None = None
    silhouette: str | None = None  # shade characters, see alerts.evidence


def escape(text: str) -> str:
    """``text`` as Slack shows it literally in mrkdwn (and a message's ``text``).

    Slack parses ``&``, ``<`` and ``>`` as control characters (``<!channel>``,
    ``<@U…>``, ``<url|label>``) and decodes only these three entities, so exactly these
    are replaced: https://api.slack.com/reference/surfaces/formatting#escaping
    Use it on every piece of text a person typed or a remote cloud sent, never on the
    mrkdwn we compose on purpose (bold, code spans, our own links).
    """
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _when(moment: datetime) -> str:
    return f"{moment:%Y-%m-%d %H:%M:%S} UTC"


def headline(view: IncidentView) -> str:
    state = "RESOLVED" if view.status == "resolved" else SEVERITY_LABEL.get(view.kind, "HIGH")
    return f"[{state}] privacy leak on path {view.path}: {view.kind} (incident #{view.id})"


def incident_message(view: IncidentView) -> dict[str, Any]:
    """The parent message of an incident's thread."""
    whose = ", ".join(view.sources) if view.sources else "no canary (a real picture?)"
    fields = [
        ("Severity", SEVERITY_LABEL.get(view.kind, "HIGH")),
        ("Path", view.path),
        ("Leak kind", view.kind),
        ("Seen by canary", ", ".join(view.canaries)),
        ("Whose frame", whose),
        ("Network profile", ", ".join(view.profiles)),
        ("Hits", str(view.hits)),
        ("Kill switch", view.kill_switch),
        ("First seen", _when(view.first_seen)),
        ("Last seen", _when(view.last_seen)),
    ]
    if view.population is not None:
        fields.append(("Affected", f"{view.population:,} accounts use this integration"))
    if view.acked_by:
        fields.append(("Acknowledged", f"<@{view.acked_by}>"))
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": headline(view)[:150]}},
        {
            "type": "section",
            "fields": [{"type": "mrkdwn", "text": f"*{k}*\n{v}"} for k, v in fields[:10]],
        },
    ]
    if fields[10:]:
        blocks.append(
            {
                "type": "section",
                "fields": [{"type": "mrkdwn", "text": f"*{k}*\n{v}"} for k, v in fields[10:]],
            }
        )
    proof = f"<{view.url}|Evidence in the camcanary web UI> (operators only)"
    if view.evidence_sha256:
        proof += f" · frame sha256 `{view.evidence_sha256[:16]}…`"
    if view.distance is not None:
        proof += f" · code distance {view.distance}"
    blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": proof}]})
    if view.silhouette:
        blocks.append(
            {
                "type": "section",
                "text": {"type": "mrkdwn", "text": f"Silhouette (8×5):\n```{view.silhouette}```"},
            }
        )
    if view.status != "resolved":
        value = json.dumps({"incident": view.id, "path": view.path})
        blocks.append(
            {
                "type": "actions",
                "block_id": f"incident-{view.id}",
                "elements": [
                    _button("Acknowledge", ACK, value, "primary"),
                    _button("Trip kill switch", TRIP, value, "danger"),
                    _button("Request re-enable", REENABLE, value),
                    _button("Silence warnings 1h", SILENCE, value),
                ],
            }
        )
    return {"text": headline(view), "blocks": blocks}


def approve_message(text: str, incident_id: int, path: str) -> dict[str, Any]:
    """A thread reply asking a second operator to approve a re-enable."""
    value = json.dumps({"incident": incident_id, "path": path})
    return {
        "text": text,
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": text}},
            {"type": "actions", "elements": [_button("Approve re-enable", APPROVE, value)]},
        ],
    }


def text_message(text: str) -> dict[str, Any]:
    return {"text": text, "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": text}}]}


def _button(label: str, action_id: str, value: str, style: str | None = None) -> dict[str, Any]:
    button: dict[str, Any] = {
        "type": "button",
        "text": {"type": "plain_text", "text": label},
        "action_id": action_id,
        "value": value,
    }
    if style:
        button["style"] = style
    return button
