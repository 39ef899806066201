"""Settings of the video workflows: what clips are accepted, and the QA verdict's limits."""

from __future__ import annotations

from pydantic import BaseModel, Field


class VideoQASettings(BaseModel):
    """Limits of the QA verdict of each dubbed language, on what the buyer hears (the final mix):
    within all of them, `pass`; over one, `review`; over `fail_factor` times one, `fail`.

    Set on the dub QA corpus (scripts/calibrate_dub_qa.py: 12 good dubs, Piper en and Kokoro
    zh/en over LibriSpeech speech and CC-BY music, and 18 broken ones), values observed:

    | limit                        | value | good dubs         | broken (its defect)          |
    |------------------------------|-------|-------------------|------------------------------|
    | min_voice_over_background_db | 6     | 9.4 .. 19.0 dB    | buried -8.3 .. 3.7 dB        |
    | min_language_probability     | 0.8   | own language 0.93+| other language 0.99 .. 1.0   |
    | max_true_peak_dbtp           | -0.5  | -1.8 .. -1.2      | clipped +0.6 .. +2.1         |
    | max_silence_s                | 3     | 0 .. 1.05 s       | gap 4.2 .. 5.0 s             |
    | min_voice_coverage           | 0.25  | 0.76 .. 1.0       | wrong language 0.0           |

    A buried Mandarin voice is heard as another language at 0.30 .. 0.60: under 0.8, so it is
    called buried, not foreign. The one good dub short of pass (11 of 12) is Kokoro's accented
    Mandarin over a man's English narration: Whisper base hears its price wrong (review)."""

    max_wer: float = Field(
        0.3,
        gt=0,
        description="share of the script's words not heard, in the final mix and in "
        "each line (languages with spaces)",
    )
    max_cer: float = Field(
        0.35, gt=0, description="the same by characters (zh by sound, ja, th...)"
    )
    max_duration_diff_s: float = Field(
        0.05, gt=0, description="dubbed MP4 vs the clip (reported as duration_ok, not judged)"
    )
    max_speech_rate: float = Field(
        2.0,
        gt=0,
        description="a line spoken faster than this many times the language's natural "
        "rate (characters per second for zh/ja/ko, words elsewhere)",
    )
    max_true_peak_dbtp: float = Field(
        -0.5, description="true peak of the final mix (the mix aims at -1.5); above 0: fail"
    )
    max_silence_s: float = Field(3.0, gt=0, description="longest stretch of silence in the mix")
    min_voice_coverage: float = Field(
        0.25, ge=0, le=1, description="share of the clip during which the voice is heard"
    )
    min_voice_over_background_db: float = Field(
        6.0,
        description="the voice's level over the clip's own sound in the final mix, while it "
        "speaks (dB); under it the voice is buried",
    )
    min_language_probability: float = Field(
        0.8,
        ge=0,
        le=1,
        description="Whisper hearing another language than the dub's with at least this "
        "probability fails it",
    )
    fail_factor: float = Field(2.0, ge=1.0, description="this many times a limit fails")


class VideoSettings(BaseModel):
    """Limits of the video workflows: anything outside them is refused with a 400 up front."""

    min_duration_s: float = Field(1.0, gt=0, description="shortest clip accepted")
    max_duration_s: float = Field(120.0, gt=0, description="longest clip accepted")
    max_pixels: int = Field(3840 * 2160, gt=0, description="largest frame (width x height)")
    max_fps: float = Field(120.0, gt=0)
    max_languages: int = Field(8, ge=1, description="target languages per job")
    ffmpeg_timeout_s: float = Field(600.0, gt=0, description="per ffmpeg/ffprobe call")
    upload_ttl_s: float = Field(
        24 * 3600.0, gt=0, description="uploads never turned into a job are removed after this"
    )
    qa: VideoQASettings = Field(default_factory=VideoQASettings)
