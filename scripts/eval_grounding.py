"""How well does grounding (pipelines.text.grounding) catch invented specs, and how many good lines
does it flag? Two measures:

  corpus  no model: the 60 reference translations of scripts/data/dev_product_lines.json against
          their source (good lines: every flag is a false one), and the same references with
          one hand-written invented spec appended (shelf life, a material, a certification...),
          one per line in rotation (every one should be caught);
  model   the default chat model writes keyword scripts (as a dub does: the problems of each
          attempt, a grounding retry's included, are printed) and copy (one attempt, so what it
          invents is listed, not retried away) for a few products; every line is printed with
          what grounding found, for a person to label (flag right / flag wrong / missed).

    .venv/bin/python -m scripts.eval_grounding               # corpus only
    .venv/bin/python -m scripts.eval_grounding --model-runs  # and the model's scripts and copy
"""

from __future__ import annotations

import argparse
import asyncio
import json
from pathlib import Path

from models.registry import ModelRegistry
from pipelines.errors import OutputRejected
from pipelines.languages import load_languages
from pipelines.settings import load_settings
from pipelines.text.copywriting import Copywriter
from pipelines.text.copywriting_schema import CopywritingInput, ProductFacts
from pipelines.text.grounding import ungrounded_facts
from pipelines.video.script import ScriptRequest, write_script

CORPUS = Path(__file__).parent / "data" / "dev_product_lines.json"
# one invented spec per line, in the reference's language: what a model adds to sound complete
INVENTED = {
    "en": [
        "24-month shelf life.",
        "Made of durable bamboo.",
        "FDA approved.",
        "With a transparent lid.",
        "Choose your favourite flavour.",
        "Made in China for durability.",
        "Ideal for sensitive health conditions.",
        "Available in many colours.",
        "Dishwasher safe.",
        "Comes with a 2-year warranty.",
    ],
    "zh": [
        "保质期24个月。",
        "采用优质竹材。",
        "通过FDA认证。",
        "透明杯盖，随时查看。",
        "多种口味可选。",
        "中国制造，经久耐用。",
        "适合敏感健康人群。",
        "多种颜色可选。",
        "可放入洗碗机清洗。",
        "质保两年。",
    ],
}
PRODUCTS = [
    (
        "不锈钢保温杯",
        [
            "不锈钢保温杯",
            "500毫升",
            "保冷24小时",
            "防漏杯盖",
            "不含BPA",
            "单价3.2美元",
            "起订量100个",
        ],
    ),
    ("硅胶折叠水杯", ["硅胶折叠水杯", "350毫升", "可折叠", "户外旅行", "每个2.5美元"]),
    ("LED小夜灯", ["LED小夜灯", "USB充电", "1200毫安时", "三档亮度", "起订量200个"]),
]
STEEL_CUP = ProductFacts(
    name="Stainless steel cup",
    materials=["stainless steel"],
    sizes=["500 ml"],
    price="USD 3.20",
    moq=100,
    features=["keeps drinks cold for 24 hours", "leak-proof lid", "BPA free"],
)


def corpus() -> None:
    pairs = json.loads(CORPUS.read_text(encoding="utf-8"))
    good = flagged = caught = 0
    for direction, language in (("zh_en", "en"), ("en_zh", "zh")):
        for i, pair in enumerate(pairs[direction]):
            good += 1
            found = ungrounded_facts(pair["reference"], [pair["source"]])
            if found:
                flagged += 1
                print(f"  false flag: {pair['reference']} {[f.describe() for f in found]}")
            joiner = " " if language == "en" else ""
            invented = INVENTED[language][i % len(INVENTED[language])]
            if ungrounded_facts(pair["reference"] + joiner + invented, [pair["source"]]):
                caught += 1
            else:
                print(f"  missed: {invented} ({pair['source']})")
    print(f"corpus: good lines flagged {flagged}/{good}; invented specs caught {caught}/{good}")


async def model_runs(seeds: int, scripts: bool) -> None:
    settings = load_settings(None)
    registry = ModelRegistry(settings.models, settings.model_dir, settings.registry)
    spec = registry.default("chat")
    languages = load_languages()
    try:
        async with registry.use(spec.id, kind="chat") as backend:
            for name, keywords in PRODUCTS if scripts else []:
                request = ScriptRequest(tuple(keywords), "", "", 15.0)
                for code in ("zh", "en"):
                    for seed in range(seeds):
                        lines, report = await write_script(
                            backend, request, languages.get(code), seed=seed
                        )
                        print(f"\n[script {name} {code} seed {seed}] {report['source']}")
                        for problem in report["problems"]:
                            print(f"  problem {problem}")
                        for item in report.get("ungrounded", []):
                            print(f"  FLAGGED {item['line']}  <- {item['fact']}")
                        for line in lines:
                            print(f"  ok      {line.text}")
            copywriter = Copywriter(backend, spec.id)
            for seed in range(seeds):
                for code in ("en", "zh"):  # apart: one language refused loses not the other
                    try:
                        result = await copywriter.write(
                            CopywritingInput(
                                product=STEEL_CUP,
                                target_languages=[code],
                                max_attempts=1,
                                seed=seed,
                            )
                        )
                    except OutputRejected as exc:  # the one attempt did not validate
                        print(f"\n[copy {code} seed {seed}] rejected: {exc}")
                        continue
                    copy = result.copies[0]
                    print(f"\n[copy {copy.language} seed {seed}]")
                    for item in copy.ungrounded:
                        print(f"  FLAGGED {item.action} {item.field}: {item.line}  <- {item.fact}")
                    print(f"  title   {copy.title}")
                    for point in copy.selling_points:
                        print(f"  point   {point}")
                    print(f"  desc    {copy.description}")
                    for spoken in copy.video_script:
                        print(f"  voice   {spoken.voiceover}")
    finally:
        await registry.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model-runs", action="store_true", help="also run the chat model")
    parser.add_argument("--copy-only", action="store_true", help="model runs: copy only")
    parser.add_argument("--seeds", type=int, default=2, help="runs per product and language")
    args = parser.parse_args(argv)
    corpus()
    if args.model_runs:
        asyncio.run(model_runs(args.seeds, not args.copy_only))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
