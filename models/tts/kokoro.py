"""Kokoro-82M backend (ONNX Runtime): one neural model, many voice styles, Mandarin and English.

The model folder holds the ONNX model, a voices file (numpy .npz: style name -> 510x1x256 style
vectors, one per input length) and `vocab.json` (phoneme -> token). Text becomes phonemes through
a G2P per language: misaki's Mandarin G2P (`misaki[zh]`, the `kokoro` extra) for `zh`, the
espeak-ng program for `en`, `en-us`, `en-gb`. A style is not tied to a language, so a voice id
names both: `zh:jm_kumo` is the style `jm_kumo` speaking Mandarin. Any `LANG:STYLE` pair is
accepted; `GET /v1/audio/voices` lists the mapped ones and each style in its own language.

The bundled weights (`kokoro-82m`) carry only Japanese styles (jf_alpha, jf_gongitsune,
jf_nezumi, jf_tebukuro, jm_kumo): their Mandarin is understood by Whisper but has an accent.
Kokoro's own Mandarin styles (zf_xiaobei, zm_yunjian... in kokoro-onnx's `voices-v1.0.bin`, a
numpy archive) can be copied into the model folder and chosen here: `voices_file:
voices-v1.0.bin`, `languages: {zh: zf_xiaobei}`. The v1.1-zh model comes with its own styles
and vocabulary: `model_file`, `voices_file`, `vocab_file` (its config.json) and `zh_g2p_version:
"1.1"` (written for its export's inputs, but no copy of it was at hand to test).

Options (all optional):
    languages: {zh: jm_kumo, en: jm_kumo}   language -> style, over each style's own language
    default_voice: en:jm_kumo               voice for OpenAI stock names (alloy, ...)
    threads: 1                              ONNX Runtime intra-op threads
    model_file: kokoro-v1.0.int8.onnx
    voices_file: voices_ja.npz
    vocab_file: vocab.json
    zh_g2p_version: null                    misaki's ZHG2P version ("1.1" for Kokoro v1.1-zh)
    espeak_binary: espeak-ng                for English phonemes
    timeout_s: 60                           per espeak-ng call
"""

from __future__ import annotations

import json
import logging
import re
import shutil
import subprocess
from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from models.spec import ModelSpec
from models.tts.base import (
    SpeechAudio,
    SpeechBackend,
    Voice,
    VoiceCatalogue,
    declared_catalogue,
    language_tag,
    split_sentences,
)

SAMPLE_RATE = 24000
MAX_TOKENS = 510  # the model's context is 512, two of which are the padding tokens
_STYLE_LANGUAGES = {"a": "en-us", "b": "en-gb", "z": "zh"}  # Kokoro's style-name prefixes
_GENDERS = {"f": "female", "m": "male"}
_ESPEAK_VOICES = {"en": "en-us", "en-us": "en-us", "en-gb": "en-gb"}
# control characters (NUL...) are not text; tabs and new lines are spacing
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
# espeak-ng drops punctuation, so text is phonemized between marks that are put back after;
# a '.' or ',' inside a number (9.99) is not a mark
_CLAUSE_MARK = re.compile(r"([,.!?;:…—]+)(?=\s|$)|([!?;…—()\"“”]+)")
# Latin words in Chinese text (SKU YW-8823, brands); a number after a space stays Chinese
_LATIN_RUN = re.compile(r"[A-Za-z][\w'’-]*(?:\s+[A-Za-z][\w'’-]*)*", re.ASCII)
_HAN = re.compile(r"[\u4e00-\u9fff]")

G2P = Callable[[str], str]


class KokoroError(RuntimeError):
    pass


@dataclass(frozen=True)
class KokoroVoices(VoiceCatalogue):
    """Also any `LANG:STYLE` pair of a style of the voices file and a language with a G2P."""

    styles: frozenset[str] = frozenset()
    g2p_languages: frozenset[str] = frozenset()

    def resolve_voice(self, name: str) -> str:
        return self.pair(name) or super().resolve_voice(name)

    def pair(self, name: str) -> str | None:
        """`zh:jm_kumo` (any case of the language) as a voice id, if both halves are known."""
        lang, sep, style = name.strip().partition(":")
        tag = language_tag(lang)
        if sep and style in self.styles and _g2p_language(tag, self.g2p_languages) is not None:
            return f"{tag}:{style}"
        return None


class KokoroTTS(SpeechBackend):
    """Voices are `LANG:STYLE`; synthesis is G2P of LANG, then one model run per <= 510 tokens."""

    def __init__(
        self,
        session: Any,  # onnxruntime.InferenceSession
        styles: dict[str, np.ndarray],
        vocab: dict[str, int],
        g2p: dict[str, G2P],
        catalogue: KokoroVoices,
    ) -> None:
        self._session = session
        # exports differ: v1.0 takes `tokens` and a float speed, v1.1-zh `input_ids` and an int
        inputs = {i.name: i.type for i in session.get_inputs()}
        self._token_input = "input_ids" if "input_ids" in inputs else "tokens"
        self._speed_type = np.int32 if inputs.get("speed") == "tensor(int32)" else np.float32
        self._styles = styles
        self._vocab = vocab
        self._g2p = g2p  # G2P language -> phonemizer
        self.catalogue = catalogue

    @classmethod
    def read_catalogue(cls, spec: ModelSpec, path: Path) -> VoiceCatalogue:
        voices_file = _files(spec.options, path)["voices_file"]
        if not voices_file.is_file():
            return declared_catalogue(spec.options, lambda language, style: f"{language}:{style}")
        with np.load(voices_file) as archive:  # its directory only: no style is read
            styles = list(archive.files)
        return _catalogue(styles, _g2p_languages(spec.options), spec.options)

    @classmethod
    def load(cls, spec: ModelSpec, path: Path) -> KokoroTTS:
        try:
            import onnxruntime
        except ImportError as exc:
            raise KokoroError(
                "onnxruntime is not installed: pip install 'localshang[kokoro]'"
            ) from exc
        options: dict[str, Any] = spec.options
        files = _files(options, path)
        for key, file in files.items():
            if not file.is_file():
                raise KokoroError(f"Kokoro {key} {file} is missing (localshang models pull)")
        with np.load(files["voices_file"]) as archive:
            styles = {name: archive[name].reshape(-1, 256).astype(np.float32) for name in archive}
        vocab = json.loads(files["vocab_file"].read_text(encoding="utf-8"))["vocab"]
        session_options = onnxruntime.SessionOptions()
        session_options.intra_op_num_threads = int(options.get("threads", 1))
        session = onnxruntime.InferenceSession(
            str(files["model_file"]),
            sess_options=session_options,
            providers=["CPUExecutionProvider"],
        )
        g2p = _phonemizers(options)
        return cls(session, styles, vocab, g2p, _catalogue(list(styles), set(g2p), options))

    def synthesize(self, text: str, voice: str, speed: float = 1.0) -> SpeechAudio:
        parts = list(self.synthesize_sentences(text, voice, speed))
        return SpeechAudio.concatenate(parts, SAMPLE_RATE)

    def synthesize_sentences(
        self, text: str, voice: str, speed: float = 1.0
    ) -> Iterator[SpeechAudio]:
        lang, _, style = self.resolve_voice(voice).partition(":")
        g2p = self._g2p[_g2p_language(lang, self._g2p) or lang]
        for sentence in split_sentences(_CONTROL.sub(" ", text)):
            phonemes = g2p(sentence)
            if not any(p.isalpha() for p in phonemes):
                continue  # nothing to pronounce ("..."): no sound, as the other engines
            for chunk in _token_chunks([self._vocab[p] for p in phonemes if p in self._vocab]):
                yield self._run(chunk, self._styles[style], speed)

    def _run(self, tokens: list[int], style: np.ndarray, speed: float) -> SpeechAudio:
        # the style vector is chosen by input length, as Kokoro was trained
        audio = self._session.run(
            None,
            {
                self._token_input: np.array([[0, *tokens, 0]], dtype=np.int64),
                "style": style[min(len(tokens), len(style)) - 1].reshape(1, 256),
                "speed": np.array([speed], dtype=self._speed_type),
            },
        )[0]
        return SpeechAudio(np.asarray(audio, dtype=np.float32).reshape(-1), SAMPLE_RATE)

    def close(self) -> None:
        self._session = None


def _files(options: Mapping[str, Any], path: Path) -> dict[str, Path]:
    return {
        key: path / str(options.get(key, default))
        for key, default in (
            ("model_file", "kokoro-v1.0.int8.onnx"),
            ("voices_file", "voices_ja.npz"),
            ("vocab_file", "vocab.json"),
        )
    }


def _catalogue(
    styles: list[str], g2p_languages: Collection[str], options: Mapping[str, Any]
) -> KokoroVoices:
    """Each style in its own language (by its name's prefix) where a G2P speaks it, under the
    configured `languages` (language -> style) and `default_voice` (LANG:STYLE)."""
    automatic: dict[str, str] = {}
    for style in styles:
        own = _STYLE_LANGUAGES.get(style[:1])
        if own is not None and own in g2p_languages:
            automatic.setdefault(own, f"{own}:{style}")
            if own.startswith("en"):
                automatic.setdefault("en", f"{own}:{style}")
    configured: dict[str, str] = {}
    for lang, style in (options.get("languages") or {}).items():
        tag = language_tag(lang)
        if style not in styles:
            raise ValueError(f"languages: '{lang}' -> '{style}', but there is no such style")
        if _g2p_language(tag, g2p_languages) is None:
            raise ValueError(f"languages: Kokoro has no phonemizer for '{lang}'")
        configured[tag] = f"{tag}:{style}"
    language_voices = automatic | configured
    voices = {voice_id: _voice(voice_id) for voice_id in dict.fromkeys(language_voices.values())}
    if not voices:
        raise ValueError("no style speaks a language here: map one in `languages`")
    catalogue = KokoroVoices(
        voices=(),
        language_voices=language_voices,
        default_voice=language_voices.get("en", next(iter(voices))),
        styles=frozenset(styles),
        g2p_languages=frozenset(g2p_languages),
    )
    default = options.get("default_voice")
    if default is not None:
        pair = catalogue.pair(str(default))
        if pair is None:
            raise ValueError(f"default_voice '{default}' is not LANG:STYLE of this model")
        voices.setdefault(pair, _voice(pair))
        catalogue = replace(catalogue, default_voice=pair)
    return replace(catalogue, voices=tuple(voices.values()))


def _g2p_languages(options: Mapping[str, Any]) -> set[str]:
    """The languages `_phonemizers` gives a G2P, without building one: English where the
    espeak-ng program is installed; Mandarin always (misaki is a dependency of the backend)."""
    binary = shutil.which(str(options.get("espeak_binary", "espeak-ng")))
    return {"zh", *(_ESPEAK_VOICES if binary is not None else ())}


def _voice(voice_id: str) -> Voice:
    lang, _, style = voice_id.partition(":")
    return Voice(id=voice_id, languages=(lang,), gender=_GENDERS.get(style[1:2]), name=style)


def _g2p_language(tag: str, g2p: Collection[str]) -> str | None:
    """The G2P language that speaks `tag` (zh-hans-cn -> zh), if any."""
    while tag:
        if tag in g2p:
            return tag
        tag = tag.rpartition("-")[0]
    return None


def _token_chunks(tokens: list[int]) -> Iterator[list[int]]:
    """Runs of at most MAX_TOKENS, cut after the last space or mark that fits (a sentence
    longer than the model's context is rare: one with no punctuation at all)."""
    while tokens:
        if len(tokens) <= MAX_TOKENS:
            yield tokens
            return
        cut = MAX_TOKENS
        for i in range(MAX_TOKENS - 1, MAX_TOKENS // 2, -1):
            if tokens[i] in _BREAK_TOKENS:
                cut = i + 1
                break
        yield tokens[:cut]
        tokens = tokens[cut:]


# Kokoro v1.0's tokens for ; : , . ! ? and space (identical in v1.1-zh)
_BREAK_TOKENS = frozenset({1, 2, 3, 4, 5, 6, 16})


# --- grapheme to phoneme ----------------------------------------------------------------------
def _phonemizers(options: Mapping[str, Any]) -> dict[str, G2P]:
    """The G2P of each language this machine can phonemize (English needs espeak-ng)."""
    g2p: dict[str, G2P] = {}
    binary = shutil.which(str(options.get("espeak_binary", "espeak-ng")))
    if binary is not None:
        timeout_s = float(options.get("timeout_s", 60.0))
        for lang, espeak_voice in _ESPEAK_VOICES.items():
            g2p[lang] = EspeakEnglishG2P(binary, espeak_voice, timeout_s)
    try:
        g2p["zh"] = MandarinG2P(options.get("zh_g2p_version"), g2p.get("en"))
    except ImportError as exc:
        raise KokoroError(
            "misaki[zh] is not installed (Kokoro's Mandarin G2P): pip install 'localshang[kokoro]'"
        ) from exc
    return g2p


def _tidy(phonemes: str) -> str:
    """No space before a closing mark: the pieces were phonemized apart."""
    return re.sub(r"\s+([,.!?;:…)\"”])", r"\1", phonemes).strip()


class MandarinG2P:
    """misaki's ZHG2P (jieba + pypinyin, all local); Latin runs (SKUs, brands) go to English."""

    def __init__(self, version: str | None, english: G2P | None) -> None:
        import jieba
        from misaki.zh import ZHG2P

        jieba.setLogLevel(logging.WARNING)
        jieba.initialize()  # builds its dictionary now, not in the first request
        self._g2p = ZHG2P(version=version, en_callable=english)
        self._english = english

    def __call__(self, text: str) -> str:
        if self._english is None:
            return self._chinese(text)
        if not _HAN.search(text):  # an English line given to a Mandarin voice
            return self._english(text) if re.search("[A-Za-z]", text) else self._chinese(text)
        pieces, pos = [], 0
        for match in _LATIN_RUN.finditer(text):
            pieces += [self._chinese(text[pos : match.start()]), self._english(match.group())]
            pos = match.end()
        pieces.append(self._chinese(text[pos:]))
        return _tidy(" ".join(piece for piece in pieces if piece))

    def _chinese(self, text: str) -> str:
        return str(self._g2p(text)[0]).strip() if text.strip() else ""


class EspeakEnglishG2P:
    """espeak-ng's IPA, rewritten into Kokoro's English phoneme set as misaki's espeak
    fallback does; the text goes in on stdin (an argument could be read as an option)."""

    # misaki.espeak.EspeakFallback.E2M: espeak's diphthongs and affricates (tied with '^')
    _E2M = sorted(
        {
            "ʔˌn\u0329": "ʔn",
            "ʔn\u0329": "ʔn",
            "a^ɪ": "I",
            "a^ʊ": "W",
            "d^ʒ": "ʤ",
            "e^ɪ": "A",
            "e": "A",
            "t^ʃ": "ʧ",
            "ɔ^ɪ": "Y",
            "ə^l": "ᵊl",
            "ʲo": "jo",
            "ʲə": "jə",
            "ʲ": "",
            "ɚ": "əɹ",
            "r": "ɹ",
            "x": "k",
            "ç": "k",
            "ɐ": "ə",
            "ɬ": "l",
            "\u0303": "",
        }.items(),
        key=lambda kv: -len(kv[0]),
    )

    def __init__(self, binary: str, voice: str, timeout_s: float) -> None:
        self._cmd = [binary, "-q", "--ipa", "--tie=^", "-b", "1", "-v", voice, "--stdin"]
        self._british = voice == "en-gb"
        self._timeout_s = timeout_s

    def __call__(self, text: str) -> str:
        out, pos = [], 0
        for match in _CLAUSE_MARK.finditer(text):
            out += [self._phonemes(text[pos : match.start()]), match.group()]
            pos = match.end()
        out.append(self._phonemes(text[pos:]))
        return _tidy(" ".join(p for p in out if p))

    def _phonemes(self, text: str) -> str:
        if not text.strip():
            return ""
        try:
            result = subprocess.run(
                self._cmd, input=text.encode("utf-8"), capture_output=True, timeout=self._timeout_s
            )
        except subprocess.TimeoutExpired as exc:
            raise KokoroError(f"espeak-ng took longer than {self._timeout_s} s") from exc
        if result.returncode != 0:
            message = result.stderr.decode("utf-8", "replace").strip()
            raise KokoroError(f"espeak-ng failed ({result.returncode}): {message}")
        ps = " ".join(result.stdout.decode("utf-8", "replace").split())
        for old, new in self._E2M:
            ps = ps.replace(old, new)
        ps = re.sub(r"(\S)\u0329", r"ᵊ\1", ps).replace("\u0329", "")
        if self._british:
            ps = ps.replace("e^ə", "ɛː").replace("iə", "ɪə").replace("ə^ʊ", "Q")
        else:
            ps = ps.replace("o^ʊ", "O").replace("ɜːɹ", "ɜɹ").replace("ɜː", "ɜɹ")
            ps = ps.replace("ɪə", "iə").replace("ː", "")
        ps = ps.replace("o", "ɔ")  # espeak-ng < 1.52
        return ps.replace("ɾ", "T").replace("ʔ", "t").replace("^", "")
