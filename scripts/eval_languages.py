"""Rate a chat model per language on human references (NTREX-128) and write the ratings the
server reads (GET /v1/languages, the warnings and refusals of pipelines/coverage.py).

For each target language X and each source language of --directions (zh: the merchant's
direction; en: NTREX's original), --sentences sentences spread evenly over NTREX-128's sentences
0-999 are translated twice, with one loaded model:
  pipeline  pipelines.text.translate.Translator with the defaults of POST /v1/translations (its
            prompt, segmentation, checks and retries); a sentence whose checks never passed is
            not answered, as the API would answer it with 422;
  raw       one greedy chat call per sentence with a plain translate prompt, no checks.
Each is scored against the human reference: chrF (sacrebleu) with a bootstrap 95% confidence
interval (an unanswered sentence counts as an empty translation), the share answered, and the
share of the answered sentences' numbers kept (pipelines.text.guardrails). The pipeline's figures
in the first measured direction (zh, else en) give the rating, by the file's thresholds:
  good      chrF >= good_chrf, answered >= good_answered, numbers kept >= good_kept;
  unusable  the whole confidence interval below unusable_chrf (the server refuses the language
            unless a request sets allow_unusable_languages);
  weak      anything else (answered with a warning that gives the figure).
README ("Language coverage") shows sentences at each band and what the ratings rest on today.

NTREX-128 (Microsoft, CC-BY-SA 4.0) is read from a clone or its bare git directory and never
copied into this repository:
    git clone https://github.com/MicrosoftTranslator/NTREX /data/NTREX
    .venv/bin/python -m scripts.eval_languages --ntrex /data/NTREX --sentences 100
    .venv/bin/python -m scripts.eval_languages --ntrex /data/NTREX --languages de,ar --show
    .venv/bin/python -m scripts.eval_languages --rerate      # thresholds edited: rate again

A run replaces the languages and directions it measured, for the model it measured; the rest of
the file is kept.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import yaml
from sacrebleu.metrics import CHRF

from models.chat.base import ChatBackend
from models.registry import ModelRegistry
from pipelines.coverage import (
    DirectionScore,
    Figures,
    LanguageScore,
    ModelRatings,
    RatingBook,
    load_ratings,
)
from pipelines.languages import Language, load_languages
from pipelines.llm import chat_answer
from pipelines.settings import load_settings
from pipelines.text.guardrails import missing_tokens, protected_tokens
from pipelines.text.translate import Translator
from pipelines.text.translation_schema import TranslationInput

NTREX_SENTENCES = 1000  # 0-999 only: the rest is left for choosing prompts and examples
# catalogue code -> NTREX-128 file suffix (newstest2019-ref.<suffix>.txt); English is the source
NTREX_FILES = {
    "zh": "zho-CN", "zh-Hant": "zho-TW", "es": "spa", "pt": "por-BR", "fr": "fra", "de": "deu",
    "it": "ita", "ru": "rus", "ar": "arb", "tr": "tur", "ja": "jpn", "ko": "kor", "vi": "vie",
    "th": "tha", "id": "ind", "ms": "msa", "hi": "hin", "ur": "urd", "bn": "ben", "fa": "fas",
    "pl": "pol", "nl": "nld", "uk": "ukr", "ro": "ron", "cs": "ces", "el": "ell", "he": "heb",
    "sv": "swe", "hu": "hun", "da": "dan", "fi": "fin", "fil": "fil", "sw": "swa", "ha": "hau",
    "yo": "yor", "zu": "zul", "am": "amh", "kk": "kaz", "uz": "uzb", "my": "mya", "km": "khm",
    "ta": "tam",
}  # fmt: skip
BOOTSTRAP_SAMPLES = 1000
HEADER = """\
# Chat quality per model and language, measured by scripts/eval_languages.py against NTREX-128's
# human references (README: "Language coverage"); the server only reads it. GET /v1/languages
# shows it; a request for a weak or unrated language is answered with a warning, one for a
# language measured unusable is refused unless it sets allow_unusable_languages.
# --rerate applies edited thresholds; a language or model missing here is "unrated".
"""


class Ntrex:
    """NTREX-128's sentences 0-999 in each language, from a clone or a bare git directory."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _file(self, name: str) -> str:
        path = self.root / "NTREX-128" / name
        if path.is_file():
            return path.read_text(encoding="utf-8")
        shown = subprocess.run(
            ["git", f"--git-dir={self.root}", "show", f"HEAD:NTREX-128/{name}"],
            capture_output=True,
            check=True,
        )
        return shown.stdout.decode("utf-8")

    def sentences(self, code: str, indexes: Sequence[int]) -> list[str]:
        name = (
            "newstest2019-src.eng.txt"
            if code == "en"
            else f"newstest2019-ref.{NTREX_FILES[code]}.txt"
        )
        lines = self._file(name).splitlines()[:NTREX_SENTENCES]
        return [lines[i].strip() for i in indexes]


def spread(count: int) -> list[int]:
    """`count` sentence indexes spread evenly over 0-999 (NTREX's documents come in runs)."""
    step = NTREX_SENTENCES / count
    return [int(i * step) for i in range(count)]


def figures(sources: list[str], outputs: list[str | None], references: list[str]) -> Figures:
    """chrF with a percentile bootstrap over sentences; an unanswered sentence scores as empty."""
    metric = CHRF()
    hypotheses = [output or "" for output in outputs]
    # per-sentence statistics once, then every resample is a sum (sacrebleu's own bootstrap
    # reports only a symmetric half-width)
    stats = np.array(metric._extract_corpus_statistics(hypotheses, [references]), dtype=float)
    rng = np.random.default_rng(0)
    picks = rng.integers(0, len(stats), size=(BOOTSTRAP_SAMPLES, len(stats)))
    resampled = [metric._compute_score_from_stats(list(stats[p].sum(0))).score for p in picks]
    low, high = np.percentile(resampled, [2.5, 97.5])
    answered = [(s, o) for s, o in zip(sources, outputs, strict=True) if o]
    wanted = sum(len(protected_tokens(source)) for source, _ in answered)
    lost = sum(len(missing_tokens(source, output)) for source, output in answered)
    return Figures(
        sentences=len(sources),
        chrf=round(metric.corpus_score(hypotheses, [references]).score, 1),
        chrf_low=round(float(low), 1),
        chrf_high=round(float(high), 1),
        answered=round(len(answered) / len(sources), 3),
        kept=round(1.0 - lost / wanted, 3) if wanted else 1.0,
    )


@dataclass
class Evaluation:
    translator: Translator
    backend: ChatBackend
    parallel: int
    show: bool = False

    async def pipeline(self, texts: list[str], source: str, target: str) -> list[str | None]:
        """As POST /v1/translations answers them: None where the checks never passed."""
        request = TranslationInput(
            text=texts, source_language=source, target_languages=[target], on_failure="report"
        )
        result = await self.translator.translate(request)
        outputs: list[str | None] = [None] * len(texts)
        for item in result.translations:
            outputs[item.index] = item.text
        return outputs

    async def raw(self, texts: list[str], source: Language, target: Language) -> list[str | None]:
        """A plain prompt to the same weights: what the model does without the pipeline."""
        slots = asyncio.Semaphore(self.parallel)

        async def one(text: str) -> str | None:
            messages = [
                {
                    "role": "system",
                    "content": f"Translate the user's text from {source.name} into "
                    f"{target.name}. Reply with the translation only.",
                },
                {"role": "user", "content": text},
            ]
            async with slots:
                answer = await chat_answer(
                    self.backend,
                    messages,
                    max_tokens=6 * self.backend.count_tokens(text) + 64,
                    temperature=0.0,
                    seed=0,
                )
            return answer.text.strip() or None

        return list(await asyncio.gather(*(one(text) for text in texts)))

    async def direction(
        self, ntrex: Ntrex, indexes: list[int], source: Language, target: Language
    ) -> DirectionScore:
        texts = ntrex.sentences(source.code, indexes)
        references = ntrex.sentences(target.code, indexes)
        piped = await self.pipeline(texts, source.code, target.code)
        raw = await self.raw(texts, source, target)
        if self.show:
            chrf = CHRF()
            for text, reference, p, r in zip(texts, references, piped, raw, strict=True):
                print(f"  [{source.code}->{target.code}] {text}\n    ref  {reference}")
                for name, output in (("pipe", p), ("raw ", r)):
                    score = chrf.sentence_score(output or "", [reference]).score
                    print(f"    {name} {score:5.1f} {output}", flush=True)
        return DirectionScore(
            pipeline=figures(texts, piped, references), raw=figures(texts, raw, references)
        )


@dataclass
class RatingsFile:
    """The ratings file, written again after every direction measured: a run of many hours that
    stops keeps what it measured."""

    path: Path
    book: RatingBook
    started: float = field(default_factory=time.monotonic)

    def record(self, model_id: str, code: str, source: str, score: DirectionScore) -> None:
        ratings = self.book.models.get(model_id)
        languages = dict(ratings.languages) if ratings else {}
        directions = {**(languages[code].directions if code in languages else {}), source: score}
        languages[code] = rated(self.book, directions)
        self.book.models[model_id] = ModelRatings(
            evaluated=datetime.date.today().isoformat(),
            reference="NTREX-128 newstest2019: sentences spread evenly over 0-999 (`sentences` "
            "per direction), against the human references",
            seconds=round(time.monotonic() - self.started),
            languages=languages,
        )
        write_book(self.path, self.book)


async def evaluate(
    config: Path | None,
    model: str | None,
    ntrex: Ntrex,
    pairs: list[tuple[str, str]],
    sentences: int,
    out: RatingsFile,
    show: bool,
) -> str:
    """Measure every (source, target) pair, recording each in `out`; the chat model's id."""
    settings = load_settings(config)
    registry = ModelRegistry(settings.models, settings.model_dir, settings.registry)
    spec = registry.resolve(model, kind="chat") if model else registry.default("chat")
    catalogue = load_languages()
    indexes = spread(sentences)
    try:
        async with registry.use(spec.id, kind="chat") as backend:
            parallel = int(spec.options.get("max_batch_size", 4))
            translator = Translator(backend, spec.id, max_parallel=parallel)
            evaluation = Evaluation(translator, backend, parallel, show)
            for source, code in pairs:
                began = time.monotonic()
                score = await evaluation.direction(
                    ntrex, indexes, catalogue.get(source), catalogue.get(code)
                )
                out.record(spec.id, code, source, score)
                print(
                    f"{source}->{code:8} pipeline {score.pipeline.describe()}\n"
                    f"{'':11}raw      {score.raw.describe() if score.raw else '-'}  "
                    f"[{time.monotonic() - began:.0f} s]",
                    flush=True,
                )
    finally:
        await registry.close()
    return spec.id


def rated(book: RatingBook, directions: dict[str, DirectionScore]) -> LanguageScore:
    """The language's score; the merchant's direction (zh) gives the rating where measured."""
    basis = "zh" if "zh" in directions else next(iter(directions))
    return LanguageScore(
        rating=book.thresholds.rate(directions[basis].pipeline), basis=basis, directions=directions
    )


def rerate(book: RatingBook) -> RatingBook:
    """The same scores, rated again with the book's (edited) thresholds."""
    for ratings in book.models.values():
        for code, score in ratings.languages.items():
            ratings.languages[code] = rated(book, score.directions)
    return book


def write_book(path: Path, book: RatingBook) -> None:
    data = book.model_dump(mode="json", exclude_none=True)
    text = yaml.safe_dump(data, allow_unicode=True, sort_keys=False, default_flow_style=None)
    path.write_text(HEADER + text, encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--ntrex", type=Path, help="a clone of MicrosoftTranslator/NTREX, or its git dir"
    )
    parser.add_argument("--config", type=Path, help="server config (default: configs/default.yaml)")
    parser.add_argument("--model", help="chat model id or alias (default: the default chat model)")
    parser.add_argument("--languages", help="comma-separated target codes (default: all)")
    parser.add_argument("--directions", default="zh,en", help="source languages (default: zh,en)")
    parser.add_argument(
        "--sentences", type=int, default=100, help="per language and direction, from 0-999"
    )
    parser.add_argument("--out", type=Path, help="ratings file (default: the config's)")
    parser.add_argument("--show", action="store_true", help="print every sentence and its chrF")
    parser.add_argument("--rerate", action="store_true", help="only re-apply the thresholds")
    args = parser.parse_args(argv)
    settings = load_settings(args.config)
    out = args.out or settings.language_ratings
    book = load_ratings(out)
    if args.rerate:
        write_book(out, rerate(book))
        return 0
    if args.ntrex is None:
        parser.error("--ntrex: a clone of https://github.com/MicrosoftTranslator/NTREX")
    if not 2 <= args.sentences <= NTREX_SENTENCES:
        parser.error(f"--sentences must be 2 to {NTREX_SENTENCES}")
    catalogue = load_languages()
    codes = [catalogue.get(c).code for c in args.languages.split(",")] if args.languages else None
    sources = [catalogue.get(c).code for c in args.directions.split(",")]
    for code in [*(codes or catalogue.codes()), *sources]:
        if code != "en" and code not in NTREX_FILES:
            parser.error(f"NTREX-128 has no {code}")
    pairs = [(s, c) for s in sources for c in codes or catalogue.codes() if c != s]
    out_file = RatingsFile(out, book)
    model_id = asyncio.run(
        evaluate(
            args.config, args.model, Ntrex(args.ntrex), pairs, args.sentences, out_file, args.show
        )
    )
    print(f"{model_id}: {len(pairs)} directions in {time.monotonic() - out_file.started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
