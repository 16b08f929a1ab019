"""A simulated camera cloud on loopback with injectable leak bugs, for drills and tests.

Tenants own one canary camera each; the vendor app path (``/app``) and the smart
display path (``/hub``) serve their pictures, each behind its own kill switch. A bug
from `BUGS` deployed through the admin API makes one path leak other tenants' frames.
"""

from __future__ import annotations

from testbed.bugs import (
    BUGS,
    Bug,
    TestbedError,
    UnknownBugError,
    UnknownPathError,
    UnknownTenantError,
    get_bug,
)
from testbed.cloud import (
    KILLSWITCH_STATES,
    PATHS,
    KillSwitch,
    Tenant,
    TestbedCloud,
    sign_killswitch,
    verify_killswitch,
)
from testbed.hub import CacheStats, QualityCache, Still, select_tier
from testbed.server import TestbedServer, create_app

__all__ = [
    "BUGS",
    "KILLSWITCH_STATES",
    "PATHS",
    "Bug",
    "CacheStats",
    "KillSwitch",
    "QualityCache",
    "Still",
    "Tenant",
    "TestbedCloud",
    "TestbedError",
    "TestbedServer",
    "UnknownBugError",
    "UnknownPathError",
    "UnknownTenantError",
    "create_app",
    "get_bug",
    "select_tier",
    "sign_killswitch",
    "verify_killswitch",
]
