"""A sealed frame opens only in its own row: the AES-GCM associated data names the
evidence id and the incident, so a ciphertext copied to another row, or a row moved
to another incident, fails with a clear `EvidenceError` and nothing of the frame
logged. Rows sealed before migration ``0009`` (the constant associated data) still
open. On SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterator
from datetime import timedelta

import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from alerts.evidence import EvidenceError, EvidenceVault
from alerts.tables import evidence
from monitor.store import Store
from tests.alerts.slack_helpers import EVIDENCE_KEY, frame
from tests.fleet import T0, alembic, canaries, leak, registered_store, snapshot_paths

RETENTION = timedelta(days=7)


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    with registered_store(db_url, canaries("lobby", "nursery"), snapshot_paths("app", "hub")) as s:
        yield s


def incidents(store: Store) -> tuple[int, int]:
    """Two open incidents, one per path."""
    first, _ = store.add_leak(leak(path="hub"))
    second, _ = store.add_leak(leak(path="app"))
    return first.id, second.id


def seal(store: Store, vault: EvidenceVault, picture: bytes, incident_id: int) -> int:
    with store.engine.begin() as conn:
        return vault.store(conn, picture, incident_id, T0).id


def copy_sealed(store: Store, source: int, target: int) -> None:
    """What someone with write access to the table does: move one row's sealed frame."""
    with store.engine.begin() as conn:
        nonce, sealed = conn.execute(
            sa.select(evidence.c.nonce, evidence.c.ciphertext).where(evidence.c.id == source)
        ).one()
        conn.execute(
            sa.update(evidence)
            .where(evidence.c.id == target)
            .values(nonce=nonce, ciphertext=sealed)
        )


def refused(store: Store, vault: EvidenceVault, evidence_id: int) -> EvidenceError:
    with store.engine.connect() as conn, pytest.raises(EvidenceError) as caught:
        vault.open(conn, evidence_id)
    return caught.value


def test_a_ciphertext_copied_to_another_row_does_not_open(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    vault = EvidenceVault(EVIDENCE_KEY, retention=RETENTION)
    hub, _ = incidents(store)
    private, decoy = frame(), frame(seed=2)
    shown = seal(store, vault, decoy, hub)
    secret = seal(store, vault, private, hub)

    copy_sealed(store, secret, shown)

    error = refused(store, vault, shown)
    assert f"evidence #{shown}" in str(error)
    assert "another row" in str(error)
    with store.engine.connect() as conn:
        assert vault.open(conn, secret) == private  # the source row itself still opens
    assert private.hex()[:64] not in caplog.text
    assert repr(private[:32])[2:-1] not in caplog.text


def test_a_row_moved_to_another_incident_does_not_open(store: Store) -> None:
    vault = EvidenceVault(EVIDENCE_KEY, retention=RETENTION)
    hub, app = incidents(store)
    row = seal(store, vault, frame(), hub)

    with store.engine.begin() as conn:
        conn.execute(sa.update(evidence).where(evidence.c.id == row).values(incident_id=app))

    assert f"evidence #{row}" in str(refused(store, vault, row))


def test_a_ciphertext_from_another_incident_does_not_open(store: Store) -> None:
    vault = EvidenceVault(EVIDENCE_KEY, retention=RETENTION)
    hub, app = incidents(store)
    elsewhere = seal(store, vault, frame(), app)
    here = seal(store, vault, frame(seed=2), hub)

    copy_sealed(store, elsewhere, here)

    refused(store, vault, here)


def test_frames_sealed_before_0009_still_open(store: Store) -> None:
    """A row written by the older code (constant associated data), then migrated."""
    hub, _ = incidents(store)
    picture = frame()
    alembic(store, "downgrade", "0008")
    nonce = b"\x01" * 12
    sealed = AESGCM(EVIDENCE_KEY).encrypt(nonce, picture, b"camcanary evidence v1")
    older = sa.table("alert_evidence", *(sa.column(c.name) for c in evidence.c if c.name != "seal"))
    with store.engine.begin() as conn:
        conn.execute(
            sa.insert(older).values(
                id=41, incident_id=hub, sha256=hashlib.sha256(picture).hexdigest(),
                size=len(picture), nonce=nonce, ciphertext=sealed, silhouette=None,
                created_at=T0, expires_at=T0 + RETENTION,
            )
        )  # fmt: skip
    store.migrate()
    vault = EvidenceVault(EVIDENCE_KEY, retention=RETENTION)

    with store.engine.connect() as conn:
        assert vault.open(conn, 41) == picture
    fresh = seal(store, vault, frame(seed=2), hub)
    copy_sealed(store, 41, fresh)  # a legacy ciphertext gains nothing in a new row
    refused(store, vault, fresh)
