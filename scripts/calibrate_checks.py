"""Calibrate the translation checks (POST /v1/translations/checks) on labelled pairs.

scripts/data/translation_checks.json holds faithful human translations ("good") and broken ones,
one defect each, labelled with the finding that must catch it (polarity_flip, meaning_differs,
fact_changed, fact_invented, hallucinated_line, leftover), zh<->en and zh<->es. Each pair is
checked as the endpoint checks it, on the embedding model of the config, without
back-translation (so the verdict is the deterministic part; --back-translate adds the chat
model's reading and its similarity). It prints:
  similarities    cross-lingual similarity of each good pair and of each meaning_differs pair
                  (the threshold must lie between them), and each hallucinated line's closest;
  confusion       label x verdict counts;
  caught          per broken class, how many got review/fail *with the labelled finding*;
  misses          every good pair not judged pass, every broken pair not caught, and why.

    .venv/bin/python -m scripts.calibrate_checks
    .venv/bin/python -m scripts.calibrate_checks --model-dir ~/.cache/localshang/test-models
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
from collections import Counter
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

from models.registry import ModelRegistry
from pipelines.languages import load_languages
from pipelines.settings import load_settings
from pipelines.text.back_translation import back_translate
from pipelines.text.faithfulness import BackTranslate, FaithfulnessChecker
from pipelines.text.faithfulness_schema import TranslationCheckInput, TranslationCheckResult
from pipelines.text.translate import Translator

CORPUS = Path(__file__).parent / "data" / "translation_checks.json"
VERDICTS = ("pass", "review", "fail")


async def check_all(
    registry: ModelRegistry, cases: list[dict[str, Any]], with_back_translation: bool
) -> list[TranslationCheckResult]:
    catalogue = load_languages()
    embedding = registry.default("embedding").id
    chat = registry.default("chat").id
    results = []
    async with AsyncExitStack() as stack:
        embedder = await stack.enter_async_context(registry.use(embedding, kind="embedding"))
        translator = None
        if with_back_translation:
            backend = await stack.enter_async_context(registry.use(chat, kind="chat"))
            translator = Translator(backend, chat)
        for case in cases:
            request = TranslationCheckInput(
                source=case["source"],
                translation=case["translation"],
                source_language=case["source_language"],
                target_language=case["target_language"],
                back_translate=with_back_translation,
            )
            source = catalogue.get(case["source_language"])
            target = catalogue.get(case["target_language"])
            reader: BackTranslate | None = None
            if translator is not None:
                reader = functools.partial(
                    back_translate, translator, language=target.code, merchant_language="zh", seed=0
                )
            checker = FaithfulnessChecker(
                functools.partial(embedder.embed, input_type="query"),
                reader,
                model=chat,
                embedding_model=embedding,
            )
            results.append(await checker.check(request, source, target, catalogue.get("zh")))
    return results


def report(cases: list[dict[str, Any]], results: list[TranslationCheckResult]) -> None:
    pairs = list(zip(cases, results, strict=True))

    def scores(label: str, aligned: bool, back: bool = False) -> list[float]:
        return sorted(
            (line.back_similarity if back else line.similarity) or 0.0
            for case, result in pairs
            if case["label"] == label
            for line in result.lines
            if (line.source is not None) == aligned
        )

    print("similarity of each line to its source (lines with no source: to the closest one)")
    print("  good              ", scores("good", True))
    print("  meaning_differs   ", scores("meaning_differs", True))
    print("  hallucinated_line ", scores("hallucinated_line", False), "(no source)")
    if any(line.back_translation for result in results for line in result.lines):
        print("similarity of each line's back-translation to its source")
        for label in ("good", "meaning_differs", "polarity_flip"):
            print(f"  {label:18}", scores(label, True, back=True))
    labels = list(dict.fromkeys(case["label"] for case in cases))
    table: Counter[tuple[str, str]] = Counter((c["label"], r.verdict) for c, r in pairs)
    print("\nconfusion (rows: label; columns: verdict; caught: review/fail with that finding)")
    print(f"  {'':20}" + "".join(f"{v:>8}" for v in VERDICTS) + f"{'caught':>10}")
    for label in labels:
        row = "".join(f"{table[(label, verdict)]:>8}" for verdict in VERDICTS)
        mine = [result for case, result in pairs if case["label"] == label]
        caught = "" if label == "good" else f"{sum(_caught(label, r) for r in mine)}/{len(mine)}"
        print(f"  {label:20}{row}{caught:>10}")
    print("\nmisses")
    for case, result in pairs:
        label = case["label"]
        if result.verdict != "pass" if label == "good" else not _caught(label, result):
            found = [f"{f.code}: {f.message}" for line in result.lines for f in line.findings]
            found += [f"{f.code}: {f.message}" for f in result.findings]
            print(f"  [{label}] {case['translation']!r} -> {result.verdict} {found}")


def _caught(label: str, result: TranslationCheckResult) -> bool:
    findings = [f for line in result.lines for f in line.findings] + result.findings
    return result.verdict != "pass" and any(f.code == label for f in findings)


async def run(config: Path | None, model_dir: Path | None, with_back: bool) -> None:
    cases = json.loads(CORPUS.read_text(encoding="utf-8"))["cases"]
    overrides = {"model_dir": model_dir} if model_dir else {}
    settings = load_settings(config, **overrides)
    registry = ModelRegistry(settings.models, settings.model_dir, settings.registry)
    try:
        results = await check_all(registry, cases, with_back)
    finally:
        await registry.close()
    report(cases, results)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", type=Path, help="server config (default: configs/default.yaml)")
    parser.add_argument("--model-dir", type=Path, help="where the weights are (default: config's)")
    parser.add_argument(
        "--back-translate", action="store_true", help="also back-translate (chat model; slow)"
    )
    args = parser.parse_args(argv)
    asyncio.run(run(args.config, args.model_dir, args.back_translate))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
