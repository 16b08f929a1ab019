"""``camcanary killswitch`` through click's runner: messages and exit codes."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner, Result

from monitor.cli import main
from testbed.fake_slack import FakeSlack
from tests.alerts.slack_helpers import (
    CANARIES,
    CHANNEL,
    PATHS,
    drain,
    engine,
    leak,
    open_store,
    sender,
)


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    path = tmp_path / "camcanary.yaml"
    config = {
        "deployment": {"secret": "cli kill switch secret"},
        "canaries": [{"name": "lobby", "camera_id": "cam-lobby", "token": "t"}],
        "paths": [
            {"name": "app", "kind": "snapshot", "url": "http://cloud.test/app/{camera_id}"},
            {"name": "hub", "kind": "snapshot", "url": "http://cloud.test/hub/{camera_id}"},
        ],
        "store": {"url": f"sqlite:///{tmp_path / 'camcanary.db'}"},
        "killswitch": {"kind": "record"},
    }
    path.write_text(yaml.safe_dump(config))
    return path


def cli(config_file: Path, *args: str, user: str = "alice") -> Result:
    runner = CliRunner()
    return runner.invoke(
        main, ["killswitch", *args, "--config", str(config_file)], env={"USER": user}
    )


def test_trip_request_and_approve_by_two_people(config_file: Path) -> None:
    tripped = cli(config_file, "trip", "hub", "--reason", "drill", "--actor", "carol")
    requested = cli(config_file, "request-reenable", "hub", "--reason", "fix deployed")
    approved = cli(config_file, "approve", "hub", "--actor", "bob")

    assert (tripped.exit_code, tripped.output) == (0, "hub: armed -> tripped by carol: drill\n")
    assert (requested.exit_code, requested.output) == (
        0,
        "hub: re-enable requested by alice; another operator must run "
        "'camcanary killswitch approve hub'\n",
    )
    assert (approved.exit_code, approved.output) == (
        0,
        "hub: tripped -> verifying by bob: approved alice's request: fix deployed\n",
    )


def test_approving_your_own_request_is_refused_with_exit_1(config_file: Path) -> None:
    cli(config_file, "trip", "hub", "--reason", "drill")
    cli(config_file, "request-reenable", "hub", "--reason", "fixed")

    own = cli(config_file, "approve", "hub")

    assert own.exit_code == 1
    assert own.output == (
        "camcanary: refused: hub: alice requested this re-enable and cannot approve it too "
        "(four eyes: another operator must approve)\n"
    )


def test_refusals_exit_1_and_usage_errors_exit_2(config_file: Path, tmp_path: Path) -> None:
    early = cli(config_file, "request-reenable", "hub", "--reason", "nothing to do")
    unknown = cli(config_file, "trip", "nowhere", "--reason", "typo")
    no_reason = cli(config_file, "trip", "hub")
    bad_config = cli(tmp_path / "missing.yaml", "status")
    nobody = cli(config_file, "trip", "hub", "--reason", "x", user="")

    assert (early.exit_code, early.output) == (
        1,
        "camcanary: refused: hub is armed, not tripped: there is nothing to re-enable\n",
    )
    assert (unknown.exit_code, unknown.output) == (
        1,
        "camcanary: refused: unknown path 'nowhere'\n",
    )
    assert no_reason.exit_code == 2
    assert "Missing option '--reason'" in no_reason.output
    assert bad_config.exit_code == 2
    assert "missing.yaml: cannot read" in bad_config.output
    assert nobody.exit_code == 2
    assert "no --actor given and $USER is not set" in nobody.output


def test_tripping_twice_says_nothing_changed(config_file: Path) -> None:
    cli(config_file, "trip", "hub", "--reason", "drill")

    again = cli(config_file, "trip", "hub", "--reason", "drill again")

    assert (again.exit_code, again.output) == (0, "hub: already tripped; nothing changed\n")


def test_status_lists_every_path_with_state_actor_reason_and_pending_request(
    config_file: Path,
) -> None:
    cli(config_file, "trip", "hub", "--reason", "incident #7", "--actor", "carol")
    cli(config_file, "request-reenable", "hub", "--reason", "fixed")

    status = cli(config_file, "status")

    assert status.exit_code == 0
    header, app, hub = status.output.splitlines()
    assert header.split() == ["PATH", "STATE", "SINCE", "BY", "REASON"]
    assert app.split()[:2] == ["app", "armed"]
    assert app.endswith("registered")
    assert hub.split()[:2] == ["hub", "tripped"]
    assert hub.split()[4] == "carol"
    assert hub.endswith("incident #7 [re-enable requested by alice, awaiting approval]")


def slack_config_file(tmp_path: Path) -> tuple[str, Path]:
    """A config with Slack on and its store's URL, for the announcement tests."""
    url = f"sqlite:///{tmp_path / 'camcanary.db'}"
    config_file = tmp_path / "camcanary.yaml"
    config_file.write_text(
        yaml.safe_dump(
            {
                "deployment": {"secret": "cli kill switch secret"},
                "canaries": [c.model_dump(mode="json") | {"token": "t"} for c in CANARIES],
                "paths": [p.model_dump(mode="json", exclude_defaults=True) for p in PATHS],
                "store": {"url": url},
                "killswitch": {"kind": "record"},
                "slack": {"channel": CHANNEL, "min_interval_s": 0},
            }
        )
    )
    return url, config_file


def test_a_change_from_the_cli_is_announced_in_the_open_incident_thread(tmp_path: Path) -> None:
    # On-call sees a change made from a terminal as one made from Slack or the
    # dashboard: a reply in the path's open incident thread, through the outbox.
    url, config_file = slack_config_file(tmp_path)

    async def scenario() -> tuple[Result, list[str]]:
        store = open_store(url)
        try:
            async with FakeSlack() as fake:
                await engine(store, fake).handle(leak(path="app"))
                env = {
                    "USER": "alice",
                    "SLACK_BOT_TOKEN": fake.token,
                    "CAMCANARY_SLACK_API_URL": fake.url,
                }
                args = ["killswitch", "trip", "app", "--reason", "contain it"]
                args += ["--actor", "carol", "--config", str(config_file)]
                result = await asyncio.to_thread(CliRunner().invoke, main, args, env=env)
                await drain(sender(store, fake))
                return result, [c.text or "" for c in fake.posted(thread=True)]
        finally:
            store.close()

    result, replies = asyncio.run(scenario())

    assert result.exit_code == 0, result.output
    assert result.stdout == "app: armed -> tripped by carol: contain it\n"
    assert "app: announced in 1 open incident thread" in result.stderr
    assert len(replies) == 1
    assert "kill switch `app` went armed → *tripped*" in replies[0]
    assert "contain it" in replies[0]


def test_without_slack_the_cli_announces_nothing(config_file: Path) -> None:
    tripped = cli(config_file, "trip", "app", "--reason", "drill")

    assert (tripped.exit_code, tripped.stderr) == (0, "")


HOSTILE = "<!channel> see <https://evil.example|status page> & <@U0BOSS>"
HOSTILE_ESCAPED = (
    "&lt;!channel&gt; see &lt;https://evil.example|status page&gt; &amp; &lt;@U0BOSS&gt;"
)


def test_a_typed_reason_and_actor_reach_slack_escaped_never_as_a_ping_or_a_link(
    tmp_path: Path,
) -> None:
    # What an operator types is shown in Slack as typed: no @channel, no disguised link.
    url, config_file = slack_config_file(tmp_path)

    async def scenario() -> list[str]:
        store = open_store(url)
        try:
            async with FakeSlack() as fake:
                await engine(store, fake).handle(leak(path="app"))
                env = {
                    "USER": "alice",
                    "SLACK_BOT_TOKEN": fake.token,
                    "CAMCANARY_SLACK_API_URL": fake.url,
                }
                args = ["killswitch", "trip", "app", "--reason", HOSTILE]
                args += ["--actor", "U<!here>", "--config", str(config_file)]
                result = await asyncio.to_thread(CliRunner().invoke, main, args, env=env)
                assert result.exit_code == 0, result.output
                await drain(sender(store, fake))
                return [
                    text
                    for c in fake.posted(thread=True)
                    for text in (c.text or "", json.dumps(c.blocks))
                ]
        finally:
            store.close()

    [text, blocks] = asyncio.run(scenario())

    assert text == (
        ":rotating_light: kill switch `app` went armed → *tripped* "
        f"(by U&lt;!here&gt;): {HOSTILE_ESCAPED}"
    )
    for sent in (text, blocks):
        assert "<!" not in sent
        assert "<http" not in sent
        assert "<@" not in sent
