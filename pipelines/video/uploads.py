"""An uploaded clip is accepted only if ffprobe finds a video within the limits."""

from __future__ import annotations

from pathlib import Path

from pipelines.platform.uploads import accept_upload
from pipelines.video.ffmpeg import FFmpeg, MediaInfo, probe
from pipelines.video.settings import VideoSettings


def accept_clip(
    data_dir: Path, tenant: str, source: Path, settings: VideoSettings
) -> tuple[str, MediaInfo]:
    """Stage `source` as an upload of `tenant` and probe it; what is not an acceptable video
    raises InvalidInput and leaves nothing behind."""

    def probe_video(video: Path) -> MediaInfo:
        return probe(FFmpeg(video.parent, settings.ffmpeg_timeout_s), video, settings)

    return accept_upload(data_dir, tenant, source, probe_video)
