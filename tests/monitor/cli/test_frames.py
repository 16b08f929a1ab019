"""``camcanary render`` and ``camcanary classify`` through click's runner, on real files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from PIL import Image

from canaries import Codebook, Reader
from monitor.cli import main

SECRET = "cli tests: deployment secret"
ENV = {"CAMCANARY_SECRET": SECRET}
AT = "2026-07-19T13:48:00Z"
FLEET = "alpha,bravo,charlie"


def invoke(*args: str) -> Result:
    return CliRunner().invoke(main, list(args), env=ENV)


def render_file(path: Path, canary: str = "alpha", *extra: str) -> Path:
    result = invoke("render", "--canary", canary, "--at", AT, "-o", str(path), *extra)
    assert result.exit_code == 0, result.output
    return path


def classify(*args: str) -> Result:
    return invoke("classify", "--fleet", FLEET, "--now", AT, *args)


def json_lines(result: Result) -> list[dict[str, object]]:
    return [json.loads(line) for line in result.stdout.splitlines()]


@pytest.mark.parametrize(
    ("name", "fmt"), [("frame.png", "PNG"), ("frame.jpg", "JPEG"), ("frame.JPEG", "JPEG")]
)
def test_render_writes_a_file_that_reads_as_the_canary(tmp_path: Path, name: str, fmt: str) -> None:
    path = tmp_path / name
    result = invoke("render", "--canary", "bravo", "--at", AT, "--size", "640x360", "-o", str(path))
    assert result.exit_code == 0, result.output
    assert result.stderr == f"wrote {path} (640x360, canary bravo)\n"
    with Image.open(path) as image:
        assert image.format == fmt
        assert image.size == (640, 360)
        image.load()
    reading = Reader(Codebook(SECRET.encode()), ["alpha", "bravo"]).read(path.read_bytes())
    assert reading.canary == "bravo"
    assert reading.tiles == ("bravo",) * 5
    assert reading.at is not None
    assert reading.at.isoformat() == "2026-07-19T13:48:00+00:00"


def test_render_png_is_luminance_and_jpeg_is_rgb(tmp_path: Path) -> None:
    png = render_file(tmp_path / "a.png")
    jpg = render_file(tmp_path / "a.jpg", "alpha", "--quality", "30")
    with Image.open(png) as image:
        assert image.mode == "L"
    with Image.open(jpg) as image:
        assert image.mode == "RGB"
    assert jpg.stat().st_size < png.stat().st_size


def test_render_without_a_secret_is_a_usage_error(tmp_path: Path) -> None:
    args = ["render", "--canary", "a", "-o", str(tmp_path / "a.png")]
    result = CliRunner().invoke(main, args, env={"CAMCANARY_SECRET": None})
    assert result.exit_code == 2
    assert "Missing option '--secret'" in result.output
    assert not (tmp_path / "a.png").exists()


@pytest.mark.parametrize("suffix", [".gif", ".webp", ""])
def test_render_bad_output_suffix_is_a_usage_error(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"frame{suffix}"
    result = invoke("render", "--canary", "alpha", "-o", str(path))
    assert result.exit_code == 2
    assert f"--output must end in .png, .jpg or .jpeg, not {suffix!r}" in result.output
    assert not path.exists()


@pytest.mark.parametrize(
    ("size", "message"),
    [
        ("big", "'big' is not a size such as 1280x720"),
        ("1280x", "'1280x' is not a size such as 1280x720"),
        ("1280x720x3", "'1280x720x3' is not a size such as 1280x720"),
        ("16x16", "frame size 16x16 is outside 32..8192 pixels per side"),
        ("9000x720", "frame size 9000x720 is outside 32..8192 pixels per side"),
    ],
)
def test_render_bad_size_is_a_usage_error(tmp_path: Path, size: str, message: str) -> None:
    path = tmp_path / "frame.png"
    result = invoke("render", "--canary", "alpha", "--size", size, "-o", str(path))
    assert result.exit_code == 2
    assert message in result.output
    assert not path.exists()


def test_render_bad_time_is_a_usage_error(tmp_path: Path) -> None:
    result = invoke("render", "--canary", "alpha", "--at", "noon", "-o", str(tmp_path / "f.png"))
    assert result.exit_code == 2
    assert "'noon' is not an ISO 8601 time such as 2026-11-22T10:00:00Z" in result.output


def test_classify_json_prints_one_object_per_file(tmp_path: Path) -> None:
    files = [
        render_file(tmp_path / "own.jpg", "alpha"),
        render_file(tmp_path / "own.png", "alpha"),
        render_file(tmp_path / "charlie.jpg", "charlie"),
    ]
    result = classify("--expect", "alpha", "--json", *map(str, files))
    records = json_lines(result)
    assert [record["file"] for record in records] == [str(path) for path in files]
    for record in records:
        assert {"file", "verdict", "canary", "distance", "age_s", "confidence"} <= record.keys()
        assert 0.0 <= record["confidence"] <= 1.0
    assert [record["verdict"] for record in records] == ["own", "own", "foreign_canary"]
    assert records[0]["confidence"] > 0.9  # a clean own frame: 0 of 243 bits off
    assert result.exit_code == 1


def test_classify_own_file_is_own_and_exits_0(tmp_path: Path) -> None:
    path = render_file(tmp_path / "own.jpg", "alpha")
    result = classify("--expect", "alpha", "--json", str(path))
    assert result.exit_code == 0, result.output
    [record] = json_lines(result)
    assert record["verdict"] == "own"
    assert record["canary"] == "alpha"
    assert isinstance(record["distance"], int)
    assert record["distance"] <= 2
    assert record["age_s"] == 0.0
    assert record["frame_time"] == "2026-07-19T13:48:00+00:00"


def test_classify_another_canarys_file_is_foreign_canary_and_exits_1(tmp_path: Path) -> None:
    path = render_file(tmp_path / "bravo.jpg", "bravo")
    result = classify("--expect", "alpha", "--json", str(path))
    assert result.exit_code == 1
    [record] = json_lines(result)
    assert record["verdict"] == "foreign_canary"
    assert record["canary"] == "bravo"
    assert record["age_s"] is None


def test_classify_expected_canary_outside_fleet_is_still_decoded(tmp_path: Path) -> None:
    path = render_file(tmp_path / "delta.jpg", "delta")
    result = classify("--expect", "delta", "--json", str(path))
    assert result.exit_code == 0, result.output
    assert json_lines(result)[0]["verdict"] == "own"


def test_classify_two_hours_later_is_own_stale(tmp_path: Path) -> None:
    path = render_file(tmp_path / "old.jpg", "alpha")
    result = invoke(
        "classify",
        "--fleet",
        FLEET,
        "--expect",
        "alpha",
        "--now",
        "2026-07-19T15:48:00Z",
        "--json",
        str(path),
    )
    assert result.exit_code == 0, result.output
    [record] = json_lines(result)
    assert record["verdict"] == "own_stale"
    assert record["canary"] == "alpha"
    assert record["age_s"] == pytest.approx(7200, abs=2)


def test_classify_stale_after_option_moves_the_threshold(tmp_path: Path) -> None:
    path = render_file(tmp_path / "old.jpg", "alpha")
    later = "2026-07-19T15:48:00Z"
    lenient = invoke(
        "classify",
        "--fleet",
        FLEET,
        "--expect",
        "alpha",
        "--now",
        later,
        "--stale-after",
        "7201",
        "--json",
        str(path),
    )
    assert json_lines(lenient)[0]["verdict"] == "own"


def test_classify_corrupt_file_is_error_and_exits_0(tmp_path: Path) -> None:
    good = render_file(tmp_path / "own.jpg", "alpha")
    corrupt = tmp_path / "corrupt.jpg"
    corrupt.write_bytes(good.read_bytes()[:1500])
    garbage = tmp_path / "garbage.jpg"
    garbage.write_bytes(b"not a jpeg at all")
    result = classify("--expect", "alpha", "--json", str(corrupt), str(garbage), str(good))
    assert result.exit_code == 0, result.output
    bad, junk, fine = json_lines(result)
    assert (bad["verdict"], bad["canary"], bad["distance"], bad["age_s"]) == (
        "error",
        None,
        None,
        None,
    )
    assert str(bad["detail"]).startswith("corrupt JPEG data")
    assert junk["verdict"] == "error"
    assert junk["detail"] == "not an image (17 bytes)"
    assert fine["verdict"] == "own"


def test_classify_human_output_names_the_verdict(tmp_path: Path) -> None:
    own = render_file(tmp_path / "own.jpg", "alpha")
    other = render_file(tmp_path / "bravo.jpg", "bravo")
    result = classify("--expect", "alpha", str(own), str(other))
    assert result.exit_code == 1
    own_line, other_line = result.stdout.splitlines()
    assert own_line.startswith(f"{own}: own canary=alpha distance=")
    assert " age 0s " in own_line
    assert other_line.startswith(f"{other}: foreign_canary canary=bravo distance=")
    assert "frame carries bravo's code" in other_line


def test_classify_missing_file_is_a_usage_error(tmp_path: Path) -> None:
    result = classify("--expect", "alpha", str(tmp_path / "absent.jpg"))
    assert result.exit_code == 2
    assert "does not exist" in result.output
