"""Settings of the video workflows: what clips are accepted, and the QA verdict's limits."""

from __future__ import annotations

from pydantic import BaseModel, Field


class VideoQASettings(BaseModel):
    """Limits of the QA verdict of each dubbed language: within all of them, `pass`; over one,
    `review`; over `fail_factor` times one, `fail`."""

    max_wer: float = Field(
        0.3, gt=0, description="back-transcription word error rate (languages with spaces)"
    )
    max_cer: float = Field(
        0.35, gt=0, description="back-transcription character error rate (zh, ja, th...)"
    )
    max_drift_s: float = Field(0.25, gt=0, description="a line's voice off its slot start")
    max_duration_diff_s: float = Field(0.05, gt=0, description="dubbed MP4 vs the clip")
    max_loudness_diff_lu: float = Field(2.0, gt=0, description="vs the job's loudness target")
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
