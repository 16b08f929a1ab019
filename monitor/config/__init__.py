"""Configuration: one YAML file, parsed once into frozen, validated models.

Defaults are declared in these models and nowhere else; secrets come from the
environment through one resolver (`monitor.config.secrets`), and this package is the
only code that reads the environment. It imports no implementation package: where a
value must name a registry's entry (path kinds, kill switches, network profiles and
backends, notifiers), the names are owned here and tests/monitor/test_config_registries.py
keeps them equal to the registries.

    base        Model (frozen, unknown keys refused), NAME_PATTERN
    secrets     read_secret: $NAME or the file at $NAME_FILE; the two shapes of secret field
    canaries    DeploymentConfig, CanaryConfig
    paths       PathConfig and one option model per kind, the union Config.paths holds
    network     NetworkConfig, the profile and backend names
    killswitch  KillSwitchConfig
    alerts      NotifierConfig, SlackConfig, EvidenceConfig, slack_environ
    service     ScheduleConfig, ProbeConfig, StoreConfig, IncidentsConfig
    web         WebConfig, is_loopback
    root        Config, the whole file
    loading     parse_config, load_config, one line per problem
"""

from __future__ import annotations

from monitor.config.alerts import (
    NOTIFIER_KINDS,
    SLACK_ENVIRON,
    EvidenceConfig,
    NotifierConfig,
    SlackConfig,
    slack_environ,
)
from monitor.config.base import NAME_PATTERN, Model
from monitor.config.canaries import CanaryConfig, DeploymentConfig
from monitor.config.killswitch import KillSwitchConfig, KillSwitchKind
from monitor.config.loading import describe, load_config, parse_config
from monitor.config.network import NETWORK_BACKENDS, PROFILE_NAMES, NetworkConfig
from monitor.config.paths import (
    PATH_OPTIONS,
    AlexaOptions,
    AnyPath,
    BrowserOptions,
    GoogleHomeOptions,
    HlsOptions,
    HttpStreamOptions,
    IndexOptions,
    LoginStep,
    MjpegOptions,
    PathConfig,
    PlaylistOptions,
    RtspOptions,
    SnapshotOptions,
    StreamOptions,
    ThumbnailsOptions,
)
from monitor.config.root import Config
from monitor.config.secrets import read_secret
from monitor.config.service import IncidentsConfig, ProbeConfig, ScheduleConfig, StoreConfig
from monitor.config.web import WebConfig, is_loopback

__all__ = [
    "NAME_PATTERN",
    "NETWORK_BACKENDS",
    "NOTIFIER_KINDS",
    "PATH_OPTIONS",
    "PROFILE_NAMES",
    "SLACK_ENVIRON",
    "AlexaOptions",
    "AnyPath",
    "BrowserOptions",
    "CanaryConfig",
    "Config",
    "DeploymentConfig",
    "EvidenceConfig",
    "GoogleHomeOptions",
    "HlsOptions",
    "HttpStreamOptions",
    "IncidentsConfig",
    "IndexOptions",
    "KillSwitchConfig",
    "KillSwitchKind",
    "LoginStep",
    "MjpegOptions",
    "Model",
    "NetworkConfig",
    "NotifierConfig",
    "PathConfig",
    "PlaylistOptions",
    "ProbeConfig",
    "RtspOptions",
    "ScheduleConfig",
    "SlackConfig",
    "SnapshotOptions",
    "StoreConfig",
    "StreamOptions",
    "ThumbnailsOptions",
    "WebConfig",
    "describe",
    "is_loopback",
    "load_config",
    "parse_config",
    "read_secret",
    "slack_environ",
]
