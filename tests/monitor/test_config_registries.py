"""The names config owns are the registries' names, and config imports no implementation.

``monitor.config`` validates kinds, profiles and backends without importing the
packages that register them (that was an import cycle with ``monitor.paths``), so it
keeps their names as data. These tests are what keeps the two lists one.
"""

from __future__ import annotations

import subprocess
import sys
import typing
from pathlib import Path

import pytest

from alerts import NOTIFIERS
from monitor.config import (
    NETWORK_BACKENDS,
    NOTIFIER_KINDS,
    PATH_OPTIONS,
    PROFILE_NAMES,
    AnyPath,
    KillSwitchKind,
    PathConfig,
)
from monitor.killswitch import KILL_SWITCHES
from monitor.network import BACKENDS, PROFILES
from monitor.paths import PATH_KINDS

REPO = Path(__file__).resolve().parents[2]


def test_path_option_models_are_the_path_registry_kinds_in_its_order() -> None:
    assert list(PATH_OPTIONS) == list(PATH_KINDS)


def test_the_paths_union_holds_exactly_the_registered_option_models() -> None:
    union, _discriminator = typing.get_args(AnyPath)
    assert list(typing.get_args(union)) == list(PATH_OPTIONS.values())


def test_each_option_model_is_tagged_with_its_own_kind() -> None:
    for kind, model in PATH_OPTIONS.items():
        assert typing.get_args(model.model_fields["kind"].annotation) == (kind,)
        assert model.model_fields["kind"].default == kind


def test_each_adapter_takes_the_option_model_of_its_kind() -> None:
    for kind, adapter in PATH_KINDS.items():
        assert adapter.kind == kind
        assert typing.get_type_hints(adapter)["config"] is PATH_OPTIONS[kind], adapter
        init = typing.get_type_hints(adapter.__init__)
        assert init["config"] is PATH_OPTIONS[kind], adapter


def test_kill_switch_kinds_are_the_kill_switch_registry() -> None:
    assert set(typing.get_args(KillSwitchKind)) == set(KILL_SWITCHES)


def test_network_names_are_the_network_registries_in_their_order() -> None:
    # The order is the order error messages list them in.
    assert tuple(PROFILES) == PROFILE_NAMES
    assert tuple(BACKENDS) == NETWORK_BACKENDS


def test_notifier_kinds_are_the_notifier_registry() -> None:
    assert tuple(NOTIFIERS) == NOTIFIER_KINDS


def test_loading_and_validating_a_config_imports_no_implementation_package() -> None:
    # In a fresh interpreter: validators used to import monitor.paths and
    # monitor.network lazily, so validate a file that exercises every section.
    script = """
import sys
from monitor.config import parse_config
parse_config(
    {
        "deployment": {"secret": "deployment-secret"},
        "canaries": [{"name": "lobby", "camera_id": "cam", "token": "t"}],
        "paths": [
            {"name": kind.replace("_", "-"), "kind": kind, "url": "http://cloud.test/x"}
            for kind in ("snapshot", "mjpeg", "hls", "rtsp", "browser", "google_home",
                         "alexa", "thumbnails")
        ],
        "profiles": ["good", "3g", "lossy"],
        "alerts": [{"kind": "console"}],
        "killswitch": {"kind": "webhook", "url": "http://cloud.test/k", "secret": "s"},
        "network": {"backend": "toxiproxy"},
    },
    environ={},
)
forbidden = ("monitor.paths", "monitor.network", "monitor.killswitch", "alerts")
print(sorted(m for m in sys.modules if m.split(".")[0] == "alerts" or m.startswith(forbidden)))
"""
    done = subprocess.run(  # noqa: S603 -- fixed argv: this interpreter, our script
        [sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, check=True
    )
    assert done.stdout == "[]\n", done.stdout + done.stderr


@pytest.mark.parametrize("kind", sorted(PATH_OPTIONS))
def test_a_path_dumped_without_defaults_reloads_as_its_kind(kind: str) -> None:
    path = PathConfig(name="p", kind=kind, url="http://127.0.0.1:1/")
    dumped = path.model_dump(mode="json", exclude_defaults=True)
    assert dumped["kind"] == kind
    assert type(PathConfig.model_validate(dumped)) is type(path)
