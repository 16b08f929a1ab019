"""Canary patterns: keyed codewords, rendering, reading, and a virtual canary camera.

This package imports nothing else of camcanary's.
"""

from canaries.camera import CameraFrame, VirtualCanaryCamera
from canaries.codebook import Codebook
from canaries.codes import FleetError
from canaries.errors import CanaryError, FrameDecodeError, FrameTooLargeError
from canaries.pattern import EPOCH_SECONDS, epoch_of, render, time_of
from canaries.reader import Reader, Reading

__all__ = [
    "EPOCH_SECONDS",
    "CameraFrame",
    "CanaryError",
    "Codebook",
    "FleetError",
    "FrameDecodeError",
    "FrameTooLargeError",
    "Reader",
    "Reading",
    "VirtualCanaryCamera",
    "epoch_of",
    "render",
    "time_of",
]
