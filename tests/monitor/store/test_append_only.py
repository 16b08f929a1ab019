"""The audit tables stay append-only against the statements that bypass row triggers:
SQLite's INSERT OR REPLACE and upserts, PostgreSQL's TRUNCATE (also by CASCADE), and
plain UPDATE / DELETE, on SQLite and PostgreSQL (migration ``0008``)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from monitor.store import Store
from monitor.store.evidence_views import StoredEvidence, record_view
from tests.fleet import alembic, canaries, snapshot_paths, store_fixture

APPEND_ONLY = ("kill_switch_audit", "evidence_views")
T0 = datetime(2026, 12, 4, 10, 0, tzinfo=UTC)

store = store_fixture(canaries("lobby"), snapshot_paths("hub"))


def seed(store: Store) -> None:
    """One row in each audit table, written the service's way."""
    assert store.set_kill_switch("hub", "tripped", "drill", expect="armed")
    item = StoredEvidence(7, None, "ab" * 32, 10, T0, T0, kept=True)
    with store.engine.begin() as conn:
        record_view(conn, at=T0, actor="olga", via="reveal", item=item, reason="checking")


def rows(store: Store, table: str) -> list[Any]:
    with store.engine.connect() as conn:
        query = f"SELECT * FROM {table} ORDER BY id"  # noqa: S608 (a name of APPEND_ONLY)
        return list(conn.execute(sa.text(query)).all())


Forge = Callable[[sa.Table, dict[str, Any]], sa.Executable]


def _upsert(dialect: Any) -> Forge:
    return lambda t, row: (
        dialect.insert(t)
        .values(row)
        .on_conflict_do_update(index_elements=["id"], set_={"reason": row["reason"]})
    )


# Statements that would rewrite or remove row 1, by dialect.
FORGERIES: dict[str, dict[str, Forge]] = {
    "sqlite": {
        "INSERT OR REPLACE": lambda t, row: sa.insert(t).values(row).prefix_with("OR REPLACE"),
        "REPLACE INTO": lambda t, row: sa.text(
            f"REPLACE INTO {t.name} ({', '.join(row)}) "  # noqa: S608 (the reflected names)
            f"VALUES ({', '.join(':' + k for k in row)})"
        ).bindparams(**row),
        "ON CONFLICT DO UPDATE": _upsert(sqlite),
    },
    "postgresql": {
        "ON CONFLICT DO UPDATE": _upsert(postgresql),
        "TRUNCATE": lambda t, row: sa.text(f"TRUNCATE {t.name}"),
        "TRUNCATE incidents CASCADE": lambda t, row: sa.text("TRUNCATE incidents CASCADE"),
        "TRUNCATE paths CASCADE": lambda t, row: sa.text("TRUNCATE paths CASCADE"),
    },
}
BOTH: dict[str, Forge] = {
    "UPDATE": lambda t, row: sa.update(t).where(t.c.id == 1).values(reason=row["reason"]),
    "DELETE all": lambda t, row: sa.delete(t),
}


def attempt(store: Store, table: str, forge: Forge) -> None:
    with store.engine.begin() as conn:
        reflected = sa.Table(table, sa.MetaData(), autoload_with=conn)
        row = dict(conn.execute(sa.select(reflected).where(reflected.c.id == 1)).one()._mapping)
        row["reason"] = "nothing happened here"
        conn.execute(forge(reflected, row))


def forgeries(store: Store) -> dict[str, Forge]:
    return {**FORGERIES[store.engine.dialect.name], **BOTH}


@pytest.mark.parametrize("table", APPEND_ONLY)
def test_no_statement_rewrites_or_removes_an_audit_row(store: Store, table: str) -> None:
    seed(store)
    before = rows(store, table)

    for name, forge in forgeries(store).items():
        with pytest.raises(sa.exc.DBAPIError, match="append-only"):
            attempt(store, table, forge)
        assert rows(store, table) == before, name


def test_sqlite_refuses_replace_even_with_recursive_triggers_off(sqlite_url: str) -> None:
    """The gap itself: REPLACE's delete fires no DELETE trigger while the pragma is off
    (SQLite's default), so only the INSERT trigger stands in its way."""
    store = Store(sqlite_url)
    try:
        store.migrate()
        store.register(canaries("lobby"), snapshot_paths("hub"))
        seed(store)
        with store.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA recursive_triggers").scalar() == 0
        with pytest.raises(sa.exc.IntegrityError, match="append-only: id exists"):
            attempt(store, "kill_switch_audit", FORGERIES["sqlite"]["INSERT OR REPLACE"])
    finally:
        store.close()


def test_downgrade_drops_only_the_new_triggers(store: Store) -> None:
    """Before 0008 the gap is open (the proof the test above can fail); after the
    downgrade the row triggers of 0002 and 0006 still refuse UPDATE."""
    seed(store)
    alembic(store, "downgrade", "0007")
    gap = "INSERT OR REPLACE" if store.engine.dialect.name == "sqlite" else "TRUNCATE"

    attempt(store, "kill_switch_audit", FORGERIES[store.engine.dialect.name][gap])

    assert [r.reason for r in rows(store, "kill_switch_audit")] == (
        ["nothing happened here"] if gap == "INSERT OR REPLACE" else []
    )
    with pytest.raises(sa.exc.DBAPIError, match="append-only"):
        attempt(store, "evidence_views", BOTH["UPDATE"])
    alembic(store, "upgrade", "head")
    with pytest.raises(sa.exc.DBAPIError, match="append-only"):
        attempt(store, "evidence_views", FORGERIES[store.engine.dialect.name][gap])
