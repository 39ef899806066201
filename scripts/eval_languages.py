"""Rate a chat model per language and write the ratings the server reads (GET /v1/languages).

Each language X gets the first --lines product lines below translated en -> X and back X -> en
through the real translation pipeline (its prompts, checks and retries), scored by:
  chrf    chrF (sacrebleu, 0-100) of the round trip against the source lines, numbers and SKUs
          left out (they are `kept`);
  passed  share of lines whose en -> X translation passed the pipeline's checks (script,
          numbers, not left in English) within --attempts attempts;
  kept    share of the numbers, prices, sizes and SKUs the en -> X translations kept;
  native  share of the translations' words that are not copied from the English source.
English, the pivot, is scored on the Chinese versions of the lines translated into English
(chrF against the English lines, or the best round trip if higher: each is read and written in
English). The thresholds in the ratings file turn the scores into good / weak / unsupported;
the server refuses unsupported languages and warns on weak ones. A few lines per language make
a coarse, somewhat noisy rating (batched decoding is not bit-identical run to run): it tells a
usable language from an unusable one, not one good model from another.

    .venv/bin/python -m scripts.eval_languages                   # the default chat model
    .venv/bin/python -m scripts.eval_languages --model qwen2.5-coder-0.5b-instruct --lines 4
    .venv/bin/python -m scripts.eval_languages --rerate          # thresholds edited: rate again

Other models' entries in the file are kept; the run replaces only the evaluated model's.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import re
import sys
import time
from pathlib import Path

import yaml
from sacrebleu.metrics import CHRF

from models.registry import ModelRegistry
from pipelines.coverage import (
    LanguageScore,
    ModelRatings,
    RatingBook,
    RatingThresholds,
    load_ratings,
)
from pipelines.languages import ISO_SCRIPTS, load_languages, script_units
from pipelines.settings import load_settings
from pipelines.text.guardrails import missing_tokens, normalize, protected_tokens
from pipelines.text.translate import Translator
from pipelines.text.translation_schema import TranslationInput, TranslationItem

# (English, Chinese): short product and trade lines, each with something that must be kept
LINES = [
    (
        "Stainless steel water bottle, 500 ml, leak-proof, USD 3.20 per piece, MOQ 500, "
        "SKU YW-8823.",
        "不锈钢水瓶，500 ml，防漏，每件 USD 3.20，MOQ 500，SKU YW-8823。",
    ),
    ("Keeps drinks cold for 24 hours and hot for 12 hours.", "饮品保冷 24 小时，保温 12 小时。"),
    (
        "Bamboo toothbrush with soft bristles, pack of 4, SKU BT-204.",
        "软毛竹牙刷，4 支装，SKU BT-204。",
    ),
    (
        "Free shipping on orders over $50; delivery in 7 to 15 days.",
        "订单满 $50 包邮，7 至 15 天送达。",
    ),
    (
        "Available in black, white and navy blue, sizes S/M/L/XL.",
        "有黑色、白色和藏青色可选，尺码 S/M/L/XL。",
    ),
    (
        "Wholesale price: EUR 1.85 per piece for 1,000 pieces or more.",
        "批发价：1,000 件及以上每件 EUR 1.85。",
    ),
    ("100% cotton T-shirt, machine washable at 30 °C.", "100% 纯棉 T 恤，可在 30 °C 机洗。"),
    (
        "The LED desk lamp has 3 brightness levels and a USB-C charging port.",
        "这款 LED 台灯有 3 档亮度，并配有 USB-C 充电口。",
    ),
    ("Samples ship within 3 working days after payment.", "付款后 3 个工作日内寄出样品。"),
    ("Lightweight and easy to carry, it weighs only 250 g.", "轻巧便携，仅重 250 g。"),
    (
        "We print your logo for free on orders of 2,000 units or more.",
        "订单 2,000 件及以上免费印制您的标志。",
    ),
    (
        "Please confirm the quantity and your delivery address before we ship.",
        "发货前请确认数量和您的收货地址。",
    ),
]
HEADER = """\
# Chat quality per model and language: what GET /v1/languages shows and what the server
# enforces (unsupported: 400 language_not_supported; weak: a warning in the answer). Written by
# scripts/eval_languages.py; re-run it for another chat model (README: "Language coverage").
# The thresholds turn scores into ratings (--rerate applies edited ones); a language or model
# missing here is "unrated": allowed, and flagged as such.
"""


def _output(item: TranslationItem) -> str:
    """The translation, or the last candidate of a line that failed the checks."""
    if item.text is not None:
        return item.text
    return (item.failures[0].output or "") if item.failures else ""


_LATIN_RUN = re.compile(r"[A-Za-z]{4,}")


def _without_protected(text: str) -> str:
    """The text less its numbers, prices, sizes and SKUs (those are scored by `kept`)."""
    text = normalize(text)
    for token in protected_tokens(text):
        text = text.replace(token.text, " ")
    return text


def _native(sources: list[str], outputs: list[str], source: str, target: str) -> float:
    """Share of the outputs' words (characters, in scripts without spaces) that are not left over
    from the source: a model that cannot write the language copies the source's words."""
    catalogue = load_languages()
    target_scripts = ISO_SCRIPTS[catalogue.get(target).script]
    foreign_scripts = ISO_SCRIPTS[catalogue.get(source).script] - target_scripts
    units = copied = 0
    for text, output in zip(sources, outputs, strict=True):
        rest = _without_protected(output)
        counted = script_units(rest)
        units += sum(counted.values())
        copied += sum(counted[script] for script in foreign_scripts)
        if "Latin" in target_scripts:  # English words among the target's own letters
            copied += sum(1 for run in _LATIN_RUN.findall(rest) if run.lower() in text.lower())
    return 1.0 - copied / units if units else 0.0


def _kept(sources: list[str], outputs: list[str]) -> float:
    wanted = sum(len(protected_tokens(source)) for source in sources)
    lost = sum(len(missing_tokens(s, o)) for s, o in zip(sources, outputs, strict=True))
    return 1.0 - lost / wanted if wanted else 1.0


def _chrf(hypotheses: list[str], references: list[str]) -> float:
    """chrF of the words: the protected tokens, kept both ways, would lift every score."""
    plain = [" ".join(_without_protected(h).split()) for h in hypotheses]
    wanted = [" ".join(_without_protected(r).split()) for r in references]
    return float(CHRF().corpus_score(plain, [wanted]).score)


class Evaluation:
    def __init__(self, translator: Translator, attempts: int, show: bool = False) -> None:
        self.translator = translator
        self.attempts = attempts
        self.show = show

    async def translate(
        self, texts: list[str], source: str, target: str
    ) -> tuple[list[str], float]:
        """The output for every text ("" for an empty one), and the share that passed the checks."""
        todo = [i for i, text in enumerate(texts) if text.strip()]
        if not todo:
            return ["" for _ in texts], 0.0
        request = TranslationInput(
            text=[texts[i] for i in todo],
            source_language=source,
            target_languages=[target],
            max_attempts=self.attempts,
            temperature=0.0,
            seed=0,
            on_failure="report",
        )
        result = await self.translator.translate(request)
        outputs = ["" for _ in texts]
        for item in result.translations:
            outputs[todo[item.index]] = _output(item)
        passed = sum(1 for item in result.translations if item.status == "ok")
        return outputs, passed / len(texts)

    async def language(self, code: str, lines: list[tuple[str, str]]) -> dict[str, float]:
        """Round trip en -> code -> en. English, the pivot, gets zh -> en scored against the
        English lines (see `with_english`)."""
        english, chinese = [en for en, _ in lines], [zh for _, zh in lines]
        if code == "en":
            outputs, passed = await self.translate(chinese, "zh", "en")
            if self.show:
                for text, there in zip(chinese, outputs, strict=True):
                    print(f"  [en] {text}\n    -> {there}", flush=True)
            return {
                "chrf": _chrf(outputs, english),
                "passed": passed,
                "kept": _kept(chinese, outputs),
                "native": _native(chinese, outputs, "zh", "en"),
            }
        outputs, passed = await self.translate(english, "en", code)
        back, _ = await self.translate(outputs, code, "en")
        if self.show:
            for text, there, again in zip(english, outputs, back, strict=True):
                print(f"  [{code}] {text}\n    -> {there}\n    -> {again}", flush=True)
        return {
            "chrf": _chrf(back, english),
            "passed": passed,
            "kept": _kept(english, outputs),
            "native": _native(english, outputs, "en", code),
        }


def with_english(
    measured: dict[str, dict[str, float]], thresholds: RatingThresholds
) -> dict[str, dict[str, float]]:
    """English's chrF: every round trip is written and read back in English, so the best one
    shows the model's English at least that good (a reference score, zh -> en against the
    English lines, is stricter than the others' round trips). Only round trips that translated
    count: one that copied the English through scores 100."""
    if "en" in measured:
        trips = [
            scores["chrf"]
            for code, scores in measured.items()
            if code != "en"
            and scores["native"] >= thresholds.good_native
            and scores["passed"] >= thresholds.good_passed
        ]
        measured["en"] = {**measured["en"], "chrf": max([measured["en"]["chrf"], *trips])}
    return measured


async def evaluate(
    config: Path | None,
    model: str | None,
    codes: list[str],
    lines: int,
    attempts: int,
    show: bool = False,
) -> tuple[str, dict[str, dict[str, float]]]:
    """The chat model's id and the scores of each language."""
    settings = load_settings(config)
    registry = ModelRegistry(settings.models, settings.model_dir, settings.registry)
    spec = registry.resolve(model, kind="chat") if model else registry.default("chat")
    started = time.monotonic()
    measured: dict[str, dict[str, float]] = {}
    try:
        async with registry.use(spec.id, kind="chat") as backend:
            parallel = int(spec.options.get("max_batch_size", 4))
            translator = Translator(backend, spec.id, max_parallel=parallel)
            evaluation = Evaluation(translator, attempts, show)

            async def one(code: str) -> None:
                measured[code] = await evaluation.language(code, LINES[:lines])
                elapsed = time.monotonic() - started
                print(f"{code:8} {measured[code]}  {elapsed:.0f} s", flush=True)

            await asyncio.gather(*(one(code) for code in codes))
    finally:
        await registry.close()
    return spec.id, measured


def score(book: RatingBook, measured: dict[str, float]) -> LanguageScore:
    rounded = {name: round(value, 1 if name == "chrf" else 3) for name, value in measured.items()}
    return LanguageScore(rating=book.thresholds.rate(**rounded), **rounded)


def write_book(path: Path, book: RatingBook) -> None:
    data = book.model_dump(mode="json", exclude_none=True)
    text = yaml.safe_dump(data, allow_unicode=True, sort_keys=False, default_flow_style=None)
    path.write_text(HEADER + text, encoding="utf-8")


def rerate(book: RatingBook) -> RatingBook:
    """The same scores, rated again with the book's (edited) thresholds."""
    for ratings in book.models.values():
        for code, score in ratings.languages.items():
            rating = book.thresholds.rate(score.chrf, score.passed, score.kept, score.native)
            ratings.languages[code] = score.model_copy(update={"rating": rating})
    return book


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", type=Path, help="server config (default: configs/default.yaml)")
    parser.add_argument("--model", help="chat model id or alias (default: the default chat model)")
    parser.add_argument("--languages", help="comma-separated codes (default: every language)")
    parser.add_argument("--lines", type=int, default=2, help=f"1 to {len(LINES)} lines each")
    parser.add_argument(
        "--attempts", type=int, default=1, help="per line, as the API's max_attempts"
    )
    parser.add_argument("--out", type=Path, help="ratings file (default: the config's)")
    parser.add_argument("--show", action="store_true", help="print every translation")
    parser.add_argument("--rerate", action="store_true", help="only re-apply the thresholds")
    args = parser.parse_args(argv)
    settings = load_settings(args.config)
    out = args.out or settings.language_ratings
    book = load_ratings(out)
    if args.rerate:
        write_book(out, rerate(book))
        return 0
    if not 1 <= args.lines <= len(LINES):
        parser.error(f"--lines must be 1 to {len(LINES)}")
    catalogue = load_languages()
    codes = (
        [catalogue.get(code).code for code in args.languages.split(",")]
        if args.languages
        else catalogue.codes()
    )
    started = time.monotonic()
    model_id, measured = asyncio.run(
        evaluate(args.config, args.model, codes, args.lines, args.attempts, args.show)
    )
    measured = with_english(measured, book.thresholds)
    book.models[model_id] = ModelRatings(
        evaluated=datetime.date.today().isoformat(),
        lines=args.lines,
        attempts=args.attempts,
        seconds=round(time.monotonic() - started),
        languages={code: score(book, measured[code]) for code in codes},
    )
    write_book(out, book)
    print(f"{model_id}: {len(codes)} languages in {time.monotonic() - started:.0f} s -> {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
