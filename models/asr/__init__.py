"""Speech-to-text: audio decoding and the faster-whisper backend, behind plain transcript types."""

from models.asr.audio import SAMPLE_RATE, AudioDecodeError, decode_audio
from models.asr.languages import UnknownLanguage, language_code, language_name
from models.asr.whisper import (
    Segment,
    Transcript,
    TranscriptStream,
    UnsupportedLanguage,
    WhisperASR,
    Word,
)

__all__ = [
    "SAMPLE_RATE",
    "AudioDecodeError",
    "Segment",
    "Transcript",
    "TranscriptStream",
    "UnknownLanguage",
    "UnsupportedLanguage",
    "WhisperASR",
    "Word",
    "decode_audio",
    "language_code",
    "language_name",
]
