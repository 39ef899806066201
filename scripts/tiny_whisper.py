"""Build a tiny random multilingual Whisper in faster-whisper (CTranslate2) form, fully offline.

    python scripts/tiny_whisper.py OUT_DIR

The model has Whisper's real token layout (50257 text tokens, <|endoftext|>, <|startoftranscript|>,
99 language tokens, task tokens, <|notimestamps|>, 1501 timestamp tokens) so faster-whisper and
CTranslate2 treat it as a multilingual Whisper, but a tiny width and random weights: its
transcripts are gibberish, its shapes, timestamps and languages are real.
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
from pathlib import Path

# Bump when the recipe changes, so cached copies get rebuilt.
RECIPE = "tiny-whisper-1"
_STAMP = "tiny_whisper.json"
TEXT_VOCAB = 50257  # GPT-2 sized text vocabulary, as in every multilingual Whisper
N_TIMESTAMPS = 1501  # <|0.00|> ... <|30.00|>
_CORPUS = [
    "the quick brown fox jumps over the lazy dog",
    "welcome to our shop, the new summer collection is here",
    "free shipping on every order over fifty dollars",
    "this bag is made of soft leather and fits a laptop",
    "please tell me the price and the delivery time",
    "hello, how are you today? thank you very much!",
]
_NON_LANGUAGE_SPECIALS = (
    "<|translate|>",
    "<|transcribe|>",
    "<|startoflm|>",
    "<|startofprev|>",
    "<|nocaptions|>",
    "<|notimestamps|>",
)


def build_tiny_whisper_model(out_dir: Path) -> Path:
    """Write the tiny model into `out_dir` (a faster-whisper folder) unless it is already there."""
    out_dir = Path(out_dir)
    if _is_built(out_dir):
        return out_dir
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out_dir.parent, prefix=f".{out_dir.name}.") as tmp:
        hf_dir, ct2_dir = Path(tmp) / "hf", Path(tmp) / "ct2"
        _save_transformers_model(hf_dir)
        _convert(hf_dir, ct2_dir)
        (ct2_dir / _STAMP).write_text(json.dumps({"recipe": RECIPE}))
        try:
            if out_dir.exists():  # an older recipe
                shutil.rmtree(out_dir)
            ct2_dir.rename(out_dir)  # same filesystem: the folder appears whole or not at all
        except OSError:
            if not _is_built(out_dir):  # else another process (a parallel test run) won the race
                raise
    return out_dir


def _is_built(out_dir: Path) -> bool:
    stamp = out_dir / _STAMP
    return stamp.is_file() and json.loads(stamp.read_text()).get("recipe") == RECIPE


def _languages() -> list[str]:
    from transformers.models.whisper.tokenization_whisper import LANGUAGES

    # Whisper base..large-v2 know 99 languages; large-v3 added Cantonese as the 100th.
    return [code for code in LANGUAGES if code != "yue"]


def _text_vocab() -> tuple[dict[str, int], list[tuple[str, str]]]:
    """A byte-level BPE trained on a few sentences, padded with filler words to Whisper's size."""
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    trainer = trainers.BpeTrainer(
        vocab_size=512,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    bpe.train_from_iterator(_CORPUS, trainer)
    state = json.loads(bpe.to_str())["model"]
    vocab: dict[str, int] = dict(state["vocab"])
    merges = [tuple(m.split(" ", 1)) if isinstance(m, str) else tuple(m) for m in state["merges"]]
    filler = 0
    while len(vocab) < TEXT_VOCAB - 1:
        # "Ġ" is byte-level for a leading space: fillers decode as separate words
        vocab.setdefault(f"Ġw{filler}", len(vocab))
        filler += 1
    # The real multilingual vocabulary ends with an empty token; CTranslate2 only treats the
    # model as multilingual (languages, translation) when it finds it there.
    vocab[""] = TEXT_VOCAB - 1
    return vocab, [(a, b) for a, b in merges]


def _save_transformers_model(hf_dir: Path) -> None:
    import torch
    from transformers import (
        WhisperConfig,
        WhisperFeatureExtractor,
        WhisperForConditionalGeneration,
        WhisperTokenizer,
    )

    vocab, merges = _text_vocab()
    tokenizer = WhisperTokenizer(vocab=vocab, merges=merges)
    specials = [
        "<|startoftranscript|>",
        *(f"<|{code}|>" for code in _languages()),
        *_NON_LANGUAGE_SPECIALS,
    ]
    tokenizer.add_special_tokens({"additional_special_tokens": specials})
    eot = tokenizer.convert_tokens_to_ids("<|endoftext|>")
    sot = tokenizer.convert_tokens_to_ids("<|startoftranscript|>")
    assert eot == TEXT_VOCAB and sot == eot + 1, (eot, sot)
    vocab_size = len(tokenizer) + N_TIMESTAMPS

    config = WhisperConfig(
        vocab_size=vocab_size,
        num_mel_bins=80,
        d_model=64,
        encoder_layers=2,
        encoder_attention_heads=2,
        decoder_layers=2,
        decoder_attention_heads=2,
        encoder_ffn_dim=128,
        decoder_ffn_dim=128,
        max_source_positions=1500,  # 30 s of 10 ms frames, halved by the conv stride
        max_target_positions=448,
        bos_token_id=eot,
        eos_token_id=eot,
        pad_token_id=eot,
        decoder_start_token_id=sot,
        suppress_tokens=[],
        begin_suppress_tokens=[vocab["Ġ"], eot],
    )
    torch.manual_seed(0)
    model = WhisperForConditionalGeneration(config).eval()
    model.save_pretrained(hf_dir)
    tokenizer.save_pretrained(hf_dir)
    WhisperFeatureExtractor(feature_size=80).save_pretrained(hf_dir)


def _convert(hf_dir: Path, ct2_dir: Path) -> None:
    from ctranslate2.converters import TransformersConverter

    converter = TransformersConverter(
        str(hf_dir), copy_files=["tokenizer.json", "preprocessor_config.json"]
    )
    converter.convert(str(ct2_dir), force=True)
    # The converter takes language ids from a hub generation config, which a model built from a
    # bare WhisperConfig lacks; CTranslate2 needs them for multilingual decoding and detection.
    tokenizer = json.loads((ct2_dir / "tokenizer.json").read_text())
    ids = {t["content"]: t["id"] for t in tokenizer["added_tokens"]}
    config_file = ct2_dir / "config.json"
    config = json.loads(config_file.read_text())
    config["lang_ids"] = sorted(ids[f"<|{code}|>"] for code in _languages())
    config_file.write_text(json.dumps(config, indent=2))


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    print(build_tiny_whisper_model(Path(sys.argv[1])))
