"""docker/postgres/roles.sql and grants.sql on the real PostgreSQL: the owner migrates,
the app role runs the service's writes, and cannot drop or disable the audit
triggers, truncate, or rewrite an audit row. Roles and schema are made for the test
(unique names) and dropped afterwards."""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from alerts.evidence import EvidenceVault
from monitor.store import Store
from monitor.store.evidence_views import one_evidence, record_view
from tests.alerts.slack_helpers import EVIDENCE_KEY, frame
from tests.conftest import POSTGRES_URL
from tests.fleet import T0, canaries, leak, snapshot_paths

pytestmark = pytest.mark.postgres
SQL = Path(__file__).parents[3] / "docker" / "postgres"


@dataclass(frozen=True)
class Roles:
    owner: str
    app: str
    schema: str

    def url(self, role: str) -> str:
        base = sa.make_url(POSTGRES_URL).set(username=role)
        return base.render_as_string(hide_password=False)

    def psql(self, script: str, role: str) -> None:
        url = sa.make_url(POSTGRES_URL)
        subprocess.run(  # noqa: S603 (fixed argv)
            ["psql",  # noqa: S607 (psql from PATH, as a DBA runs it)
             "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", url.host or "127.0.0.1",
             "-p", str(url.port or 5432), "-U", role, "-d", url.database or "test",
             "-v", f"owner={self.owner}", "-v", f"app={self.app}",
             "-v", f"schema={self.schema}", "-f", str(SQL / script)],
            check=True, capture_output=True, text=True, timeout=60,
        )  # fmt: skip


@pytest.fixture
def roles() -> Iterator[Roles]:
    if shutil.which("psql") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("psql is not installed under CI")
        pytest.skip("psql is not installed")
    admin = sa.make_url(POSTGRES_URL).username or "postgres"
    tag = uuid.uuid4().hex[:10]
    made = Roles(f"cc_owner_{tag}", f"cc_app_{tag}", f"cc_roles_{tag}")
    engine = sa.create_engine(POSTGRES_URL)
    try:
        made.psql("roles.sql", admin)
        made.psql("roles.sql", admin)  # again: it changes nothing
        yield made
    finally:
        with engine.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{made.schema}" CASCADE'))
            for role in (made.app, made.owner):
                if conn.execute(
                    sa.text("SELECT 1 FROM pg_roles WHERE rolname = :r"), {"r": role}
                ).first():
                    conn.execute(sa.text(f'DROP OWNED BY "{role}"'))
                    conn.execute(sa.text(f'DROP ROLE "{role}"'))
        engine.dispose()


def service_writes(store: Store) -> None:
    """The service's normal writes, as its role: fleet, leak, audit, evidence, views."""
    store.migrate()  # at head already: the app only reads alembic_version
    store.register(canaries("lobby", "nursery"), snapshot_paths("hub"))
    incident, _ = store.add_leak(leak(path="hub"))
    store.record(leak(path="hub"), incident.id)
    assert store.set_kill_switch("hub", "tripped", "drill", expect="armed")
    vault = EvidenceVault(EVIDENCE_KEY, retention=timedelta(days=1))
    with store.engine.begin() as conn:
        sealed = vault.store(conn, frame(), incident.id, T0)
        item = one_evidence(conn, sealed.id)
        assert item is not None
        record_view(conn, at=T0, actor="olga", via="reveal", item=item, reason="check")
        assert vault.open(conn, sealed.id) == frame()
        assert vault.purge(conn, T0 + timedelta(days=2), held=set()) == 1


REFUSED = {
    "DROP TRIGGER kill_switch_audit_append_only ON kill_switch_audit": "must be owner",
    "ALTER TABLE kill_switch_audit DISABLE TRIGGER ALL": "must be owner",
    "TRUNCATE kill_switch_audit": "permission denied",
    "TRUNCATE evidence_views": "permission denied",
    "UPDATE kill_switch_audit SET reason = 'x'": "permission denied",
    "DELETE FROM evidence_views": "permission denied",
    "UPDATE alembic_version SET version_num = '0001'": "permission denied",
    "CREATE TABLE mine (id int)": "permission denied",
}


def test_the_app_role_writes_but_cannot_undo_the_audit(roles: Roles) -> None:
    owner = Store(roles.url(roles.owner))
    try:
        owner.migrate()
    finally:
        owner.close()
    roles.psql("grants.sql", roles.owner)
    app = Store(roles.url(roles.app))
    try:
        service_writes(app)
        for statement, error in REFUSED.items():
            with pytest.raises(sa.exc.ProgrammingError, match=error), app.engine.begin() as c:
                c.execute(sa.text(statement))
        with app.engine.connect() as conn:
            assert conn.execute(sa.text("SELECT count(*) FROM kill_switch_audit")).scalar() == 1
            assert conn.execute(sa.text("SELECT count(*) FROM evidence_views")).scalar() == 1
    finally:
        app.close()
