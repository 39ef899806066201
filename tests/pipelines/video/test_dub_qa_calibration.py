"""The dub QA's calibration (issue 20): on a labelled corpus of dubs over real speech and real
music (tests/data/dub_qa), in two voices and two languages, every broken dub is judged review or
fail *by the check for its defect*, and the good ones pass. The corpus and its cases are
scripts/calibrate_dub_qa.py's (which prints the values the thresholds rest on); each case goes
through assess_final_mix, what the dubbing job's QA stage runs on the final MP4."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from models.asr import TranscriptionBackend
from models.asr.whisper import WhisperASR
from scripts.calibrate_dub_qa import Case, assess, cases, caught
from tests.fixtures_stt import whisper_base_spec


@pytest.fixture(scope="module")
def whisper(whisper_base_dir: Path) -> Iterator[TranscriptionBackend]:
    asr = WhisperASR.load(whisper_base_spec(whisper_base_dir), whisper_base_dir)
    yield asr
    asr.close()


@pytest.fixture(scope="module")
def judged(whisper: TranscriptionBackend) -> dict[Case, dict[str, Any]]:
    return {case: assess(case, whisper) for case in cases(lean=True)}


def test_every_broken_dub_is_caught_by_the_check_for_its_defect(
    judged: dict[Case, dict[str, Any]],
) -> None:
    broken = {case: qa for case, qa in judged.items() if case.label != "good"}
    assert {case.label for case in broken} == {
        "voice_buried", "cut", "fact_not_heard", "silence", "clipping", "wrong_language",
    }  # fmt: skip
    missed = {
        case.name: (qa["verdict"], qa["reasons"])
        for case, qa in broken.items()
        if not caught(case, qa)
    }
    assert missed == {}


def test_good_dubs_over_real_speech_and_music_pass(judged: dict[Case, dict[str, Any]]) -> None:
    good = {case: qa for case, qa in judged.items() if case.label == "good"}
    assert {case.voice for case in good} >= {"piper_en", "kokoro_zh"}
    failed = {case.name: qa["reasons"] for case, qa in good.items() if qa["verdict"] != "pass"}
    assert len(failed) <= 0.1 * len(good), failed
