"""`localshang dub` in this process, with tiny real models: the QA verdict is printed, and
--require-pass turns a verdict short of pass into a failing exit status (the files written)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from models.spec import ModelSpec
from pipelines.video import cli
from tests.fixtures_server import make_settings
from tests.fixtures_video import Clip


def test_dub_prints_the_verdict_and_require_pass_fails_the_command(
    tmp_path: Path,
    clips: dict[str, Clip],
    video_model_specs: list[ModelSpec],
    capsys: pytest.CaptureFixture[str],
):
    parser = argparse.ArgumentParser(prog="localshang")
    cli.register(parser.add_subparsers())
    out = tmp_path / "dubbed"
    args = parser.parse_args(
        ["dub", str(clips["portrait_silent"].path), "--lang", "zh", "--keywords", "保温杯,轻便",
         "--out", str(out), "--require-pass"]
    )  # fmt: skip
    code = cli.run(args, make_settings(tmp_path, video_model_specs))
    stdout, stderr = capsys.readouterr()
    result = json.loads(stdout)
    # the tiny chat model writes no usable script: the keywords stand in, for review
    assert result["verdict"] in ("review", "fail")
    assert result["languages"]["zh"]["qa"]["script_source"] == "fallback"
    assert f"QA verdict: {result['verdict'].upper()}" in stderr
    assert all(f"  - {reason}" in stderr for reason in result["reasons"])
    assert code == 1 and "error: The dub's QA verdict is" in stderr
    assert {"zh.mp4", "zh.qa.json"} <= {p.name for p in out.iterdir()}
