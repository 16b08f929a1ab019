"""The evidence vault: a leaked frame is somebody's private image.

It is kept only encrypted (AES-256-GCM, the key from the environment), only for
``retention`` unless an open incident still holds it, and nothing of it leaves except
its SHA-256, its size and a silhouette: 8x5 grayscale blocks, too coarse to show a
person or a room.

The associated data names the row's evidence id and incident id (`bound_aad`), so a
ciphertext copied into another row, or a row moved to another incident, does not
open: the clear-view audit says which frame an operator saw, and it must be that
one. Rows sealed before migration ``0009`` (``seal`` 1) used one constant for every
row; they still open with it, and only they, until their retention ends. A decrypted
frame must also match the row's SHA-256, the digest that audit records.
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from PIL import Image, UnidentifiedImageError

from alerts.tables import evidence

log = logging.getLogger(__name__)
SILHOUETTE_SIZE = (8, 5)
LEGACY_AAD = b"camcanary evidence v1"  # ``seal`` 1: the same for every row
BOUND = 2  # ``seal`` 2: `bound_aad`


class EvidenceError(Exception):
    """The evidence cannot be opened (wrong key, tampered row, unknown id)."""


@dataclass(frozen=True)
class EvidenceRecord:
    """What may be shown of a stored frame: never the frame itself."""

    id: int
    incident_id: int | None
    sha256: str
    size: int
    silhouette: list[list[int]] | None
    expires_at: datetime


def bound_aad(evidence_id: int, incident_id: int | None) -> bytes:
    """The associated data of a ``seal`` 2 row: its evidence id and incident id."""
    incident = "none" if incident_id is None else str(incident_id)
    return f"camcanary evidence v2 id={evidence_id} incident={incident}".encode()


def silhouette(frame: bytes) -> list[list[int]] | None:
    """8x5 grayscale block means (0-255) of the frame, or None if it does not decode."""
    try:
        with Image.open(io.BytesIO(frame)) as image:
            image.draft("L", (64, 40))  # JPEG: decode at reduced scale
            small = image.convert("L").resize(SILHOUETTE_SIZE, Image.Resampling.BOX)
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError):
        return None
    width, height = SILHOUETTE_SIZE
    pixels = small.tobytes()  # mode L: one byte per pixel
    return [[int(pixels[y * width + x]) for x in range(width)] for y in range(height)]


def silhouette_text(blocks: list[list[int]]) -> str:
    """The silhouette as shade characters, for a chat message."""
    shades = " ░▒▓█"
    return "\n".join("".join(shades[min(4, v * 5 // 256)] * 2 for v in row) for row in blocks)


class EvidenceVault:
    def __init__(self, key: bytes | None, *, retention: timedelta) -> None:
        """``key`` is 32 bytes; without one, frames are not kept (only their digest)."""
        if key is not None and len(key) != 32:
            raise ValueError("the evidence key must be 32 bytes (AES-256)")
        self._aead = AESGCM(key) if key is not None else None
        self.retention = retention

    @property
    def keeps_frames(self) -> bool:
        return self._aead is not None

    def store(
        self, conn: sa.Connection, frame: bytes, incident_id: int | None, now: datetime
    ) -> EvidenceRecord:
        """Seal ``frame`` into the caller's transaction; returns what may be shown."""
        digest = hashlib.sha256(frame).hexdigest()
        shape = silhouette(frame)
        nonce = os.urandom(12)
        expires = now + self.retention
        row_id = conn.execute(
            sa.insert(evidence)
            .values(
                incident_id=incident_id,
                sha256=digest,
                size=len(frame),
                nonce=nonce,
                ciphertext=b"",
                seal=BOUND,
                silhouette=shape,
                created_at=now,
                expires_at=expires,
            )
            .returning(evidence.c.id)
        ).scalar_one()
        if self._aead is not None:  # the id exists only now: seal in the same transaction
            sealed = self._aead.encrypt(nonce, frame, bound_aad(row_id, incident_id))
            conn.execute(
                sa.update(evidence).where(evidence.c.id == row_id).values(ciphertext=sealed)
            )
        return EvidenceRecord(row_id, incident_id, digest, len(frame), shape, expires)

    def open(self, conn: sa.Connection, evidence_id: int) -> bytes:
        """The decrypted frame, for an operator in the web UI; raises EvidenceError."""
        row = conn.execute(sa.select(evidence).where(evidence.c.id == evidence_id)).one_or_none()
        if row is None or self._aead is None or not row.ciphertext:
            raise EvidenceError(f"no readable evidence #{evidence_id}")
        accepted = [bound_aad(row.id, row.incident_id)]
        if row.seal != BOUND:
            accepted.append(LEGACY_AAD)
        for aad in accepted:
            try:
                frame = self._aead.decrypt(row.nonce, row.ciphertext, aad)
            except InvalidTag:
                continue
            if hashlib.sha256(frame).hexdigest() != row.sha256:
                break
            return frame
        raise EvidenceError(
            f"evidence #{evidence_id} does not open: another key, or sealed for another row"
        )

    def purge(self, conn: sa.Connection, now: datetime, held: Collection[int]) -> int:
        """Delete expired evidence not held by an open incident (ids in ``held``)."""
        query = sa.delete(evidence).where(evidence.c.expires_at <= now)
        if held:
            query = query.where(
                sa.or_(evidence.c.incident_id.is_(None), evidence.c.incident_id.not_in(held))
            )
        deleted = int(conn.execute(query).rowcount)
        if deleted:
            log.info("deleted %d expired evidence frames", deleted)
        return deleted

    @staticmethod
    def records(conn: sa.Connection, incident_id: int) -> list[EvidenceRecord]:
        rows = conn.execute(
            sa.select(evidence).where(evidence.c.incident_id == incident_id).order_by(evidence.c.id)
        )
        return [
            EvidenceRecord(r.id, r.incident_id, r.sha256, r.size, r.silhouette, r.expires_at)
            for r in rows
        ]
