"""The kill switches in the database: rows and records (`records`), the state
machine's transactions (`ledger`) and four-eyes re-enable requests (`reenable`).

No switch changes without its append-only audit row in the same transaction.
"""

from __future__ import annotations

from monitor.store.killswitch.ledger import Ledger
from monitor.store.killswitch.records import (
    POLICY,
    SET,
    AuditRecord,
    Conflict,
    SwitchStatus,
    Target,
    Transition,
    set_state,
)

__all__ = [
    "POLICY",
    "SET",
    "AuditRecord",
    "Conflict",
    "Ledger",
    "SwitchStatus",
    "Target",
    "Transition",
    "set_state",
]
