"""Does the translation pipeline refuse good translations, and is it at least as good as a plain
prompt to the same model? Measured on our own dev corpus (scripts/data/dev_product_lines.json).

Every line of each direction (zh->en, en->zh) is translated twice on the same loaded weights:
  pipeline  pipelines.text.translate.Translator, as POST /v1/translations runs it (the API's
            defaults: its temperature, seed and attempts), so its prompt, checks and retries;
  raw       one chat call with a plain prompt ("Translate into X. Keep every number."), greedy.
Per direction it prints:
  answered        share of lines the pipeline answered (the rest were refused, a 422 in the API);
  false refusals  refused lines whose raw answer keeps every fact (no number, price, SKU or URL
                  lost or invented), and those whose raw answer passes every check the pipeline
                  applies to itself (facts, script, nothing left untranslated...);
  chrF            sacrebleu chrF against our reference, of the pipeline (a refused line counts
                  as empty: the merchant got nothing) and of the raw answers;
  facts lost / invented numbers   summed over the lines, for both.

    .venv/bin/python -m scripts.eval_translation_dev                      # 20 lines each way
    .venv/bin/python -m scripts.eval_translation_dev --lines 30 --show --save out.json
    .venv/bin/python -m scripts.eval_translation_dev --rescore out.json   # score saved outputs

--rescore judges outputs saved by another checkout (e.g. before a change) with this one's checks.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from sacrebleu.metrics import CHRF

from models.chat.base import ChatBackend
from models.registry import ModelRegistry
from pipelines.languages import load_languages
from pipelines.llm import chat_answer
from pipelines.settings import load_settings
from pipelines.text.guardrails import invented_numbers, missing_tokens
from pipelines.text.translate import Translator
from pipelines.text.translation_checks import translation_problems
from pipelines.text.translation_schema import TranslationInput

CORPUS = Path(__file__).parent / "data" / "dev_product_lines.json"
DIRECTIONS = {"zh_en": ("zh", "en"), "en_zh": ("en", "zh")}
LANGUAGES = load_languages()


@dataclass
class Line:
    direction: str
    source: str
    reference: str
    pipeline: str | None  # None: refused
    candidate: str | None  # a refused line's last candidate
    problems: list[str]  # why the pipeline refused it (its last attempt's problems)
    attempts: int
    raw: str


async def plain_answer(backend: ChatBackend, text: str, target: str) -> str:
    """What the engine answers to a plain request, greedy."""
    name = LANGUAGES.get(target).name
    messages = [
        {"role": "system", "content": f"Translate into {name}. Keep every number."},
        {"role": "user", "content": text},
    ]
    answer = await chat_answer(backend, messages, max_tokens=256, temperature=0.0, seed=0)
    return answer.text


async def translate_direction(
    translator: Translator,
    backend: ChatBackend,
    direction: str,
    pairs: list[dict[str, str]],
    temperature: float | None,
) -> list[Line]:
    source, target = DIRECTIONS[direction]
    sources = [pair["source"] for pair in pairs]
    request = TranslationInput(
        text=sources, source_language=source, target_languages=[target], on_failure="report"
    )
    if temperature is not None:
        request = request.model_copy(update={"temperature": temperature})
    result, raw = await asyncio.gather(
        translator.translate(request),
        asyncio.gather(*(plain_answer(backend, text, target) for text in sources)),
    )
    lines = []
    for item in result.translations:
        pair = pairs[item.index]
        lines.append(
            Line(
                direction=direction,
                source=pair["source"],
                reference=pair["reference"],
                pipeline=item.text,
                candidate=next((f.output for f in item.failures if f.output), None),
                problems=[p for failure in item.failures for p in failure.problems],
                attempts=item.attempts,
                raw=raw[item.index],
            )
        )
    return lines


def keeps_facts(source: str, output: str) -> bool:
    return not missing_tokens(source, output) and not invented_numbers(source, output)


def passes_checks(line: Line) -> bool:
    """Whether the raw answer passes every check the pipeline applies to its own."""
    source, target = (LANGUAGES.get(code) for code in DIRECTIONS[line.direction])
    return not translation_problems(line.source, line.raw, target, [], source_language=source)


def chrf(hypotheses: list[str], references: list[str]) -> float:
    return float(CHRF().corpus_score(hypotheses, [references]).score) if hypotheses else 0.0


def report(lines: list[Line]) -> None:
    for direction in DIRECTIONS:
        these = [line for line in lines if line.direction == direction]
        if not these:
            continue
        answered = [line for line in these if line.pipeline is not None]
        refused = [line for line in these if line.pipeline is None]
        false = [line for line in refused if keeps_facts(line.source, line.raw)]
        passing = [line for line in refused if passes_checks(line)]
        references = [line.reference for line in these]
        ours = [line.pipeline or "" for line in these]
        raws = [line.raw for line in these]
        print(f"\n{direction.replace('_', ' -> ')}  ({len(these)} lines)")
        print(f"  answered          {len(answered)}/{len(these)}")
        print(
            f"  false refusals    {len(false)} (raw keeps every fact), {len(passing)} (raw passes every check)"
        )
        print(f"  chrF pipeline     {chrf(ours, references):.1f}   (refused lines count as empty)")
        print(f"  chrF raw          {chrf(raws, references):.1f}")
        print(
            f"  chrF answered     {chrf([line.pipeline or '' for line in answered], [line.reference for line in answered]):.1f}"
            f" pipeline vs {chrf([line.raw for line in answered], [line.reference for line in answered]):.1f}"
            " raw, on the lines the pipeline answered"
        )
        for name, outputs in (("pipeline", ours), ("raw", raws)):
            sources = [line.source for line in these]
            lost = sum(
                len(missing_tokens(s, o)) for s, o in zip(sources, outputs, strict=True) if o
            )
            added = sum(
                len(invented_numbers(s, o)) for s, o in zip(sources, outputs, strict=True) if o
            )
            print(f"  {name:9} facts lost {lost}, invented numbers {added} (answered lines)")
        print(f"  generate calls    {sum(line.attempts for line in these)} (pipeline)")


def show(lines: list[Line]) -> None:
    for line in lines:
        mark = "REFUSED" if line.pipeline is None else "ok"
        print(f"\n[{line.direction}] {line.source}")
        print(f"  ref  {line.reference}")
        print(
            f"  pipe {mark} ({line.attempts}) {line.pipeline or line.candidate} {line.problems or ''}"
        )
        print(f"  raw  {line.raw}")
        if not keeps_facts(line.source, line.raw):
            lost = missing_tokens(line.source, line.raw)
            print(f"       raw lost {lost} invented {invented_numbers(line.source, line.raw)}")


async def run(
    config: Path | None, model: str | None, count: int, temperature: float | None
) -> list[Line]:
    corpus = json.loads(CORPUS.read_text(encoding="utf-8"))
    settings = load_settings(config)
    registry = ModelRegistry(settings.models, settings.model_dir, settings.registry)
    spec = registry.resolve(model, kind="chat") if model else registry.default("chat")
    lines: list[Line] = []
    try:
        async with registry.use(spec.id, kind="chat") as backend:
            translator = Translator(
                backend, spec.id, max_parallel=int(spec.options.get("max_batch_size", 4))
            )
            for direction in DIRECTIONS:
                started = time.monotonic()
                pairs = corpus[direction][:count]
                lines += await translate_direction(
                    translator, backend, direction, pairs, temperature
                )
                print(f"{direction}: {time.monotonic() - started:.0f} s", flush=True)
    finally:
        await registry.close()
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", type=Path, help="server config (default: configs/default.yaml)")
    parser.add_argument("--model", help="chat model id or alias (default: the default chat model)")
    parser.add_argument("--lines", type=int, default=20, help="lines per direction (1 to 30)")
    parser.add_argument(
        "--temperature", type=float, help="the pipeline's (default: the API's default)"
    )
    parser.add_argument("--show", action="store_true", help="print every line's outputs")
    parser.add_argument("--save", type=Path, help="write the outputs to this JSON file")
    parser.add_argument("--rescore", type=Path, help="score outputs saved with --save; no model")
    args = parser.parse_args(argv)
    if args.rescore:
        saved = json.loads(args.rescore.read_text(encoding="utf-8"))
        lines = [Line(**{"candidate": None, **line}) for line in saved]
    else:
        lines = asyncio.run(run(args.config, args.model, args.lines, args.temperature))
    if args.save:
        args.save.write_text(
            json.dumps([asdict(line) for line in lines], ensure_ascii=False, indent=1),
            encoding="utf-8",
        )
    if args.show:
        show(lines)
    report(lines)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
