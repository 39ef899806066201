"""Speech-to-text: audio decoding and the transcription interface, behind plain transcript types.

Engines (models/asr/whisper.py) are reached through the model registry, never imported here.
"""

from models.asr.audio import SAMPLE_RATE, AudioDecodeError, decode_audio
from models.asr.base import (
    Segment,
    Task,
    Transcript,
    TranscriptionBackend,
    TranscriptStream,
    UnsupportedLanguage,
    Word,
)
from models.asr.languages import UnknownLanguage, language_code, language_name

__all__ = [
    "SAMPLE_RATE",
    "AudioDecodeError",
    "Segment",
    "Task",
    "Transcript",
    "TranscriptStream",
    "TranscriptionBackend",
    "UnknownLanguage",
    "UnsupportedLanguage",
    "Word",
    "decode_audio",
    "language_code",
    "language_name",
]
