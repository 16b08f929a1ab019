"""Errors of the canaries package.

CanaryError                 bad arguments (empty secret, impossible size, ...)
└── FrameDecodeError        the bytes are not a readable image
    └── FrameTooLargeError  the image declares more pixels than the reader accepts
"""

from __future__ import annotations


class CanaryError(Exception):
    """Root of the canaries errors."""


class FrameDecodeError(CanaryError):
    """A frame could not be decoded; ``reason`` is short and safe to log."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class FrameTooLargeError(FrameDecodeError):
    """The frame declares more pixels than allowed (decompression-bomb guard)."""
