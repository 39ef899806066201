"""Benchmark of a dub: a 30 s narrated clip into 2 languages on the embedded default models.

    python scripts/bench_dub.py [--config configs/default.yaml] [--seconds 30] [--lang zh,en]
                                [--mode script|translate|own] [--clip real.mp4 --lines]

Prints the wall time of each stage, the time spent inside the models (chat, ASR, TTS), and the
share of the job's wall time that is not model inference (target: under 15 %). Model loading is
done before the clock starts and reported on its own. Models missing from the model dir are
fetched first (`localshang models pull`). `--mode own` voices the fixed scripts below (no chat
model): what the dub costs without the LLM, QA included. `--clip` dubs a clip of yours (real
speech, real music) instead, and `--lines` prints each voiced line as read back in Chinese with
what its checks found: how to judge the dub by what the buyer gets.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

NARRATION = (
    "Meet the new steel bottle. It keeps water cold for a whole day. "
    "The lid is leak proof, so it rides safely in your bag. "
    "It holds half a litre and weighs only three hundred grams. "
    "Take it to the gym, the office, or the mountains."
)

# mode own: spelled-out numbers, a price and an MOQ, as a merchant writes them (plain lines)
OWN_SCRIPTS = {
    "en": "Meet the new steel bottle.\nIt keeps drinks cold for twenty-four hours.\n"
    "The lid is leak proof, so it rides safely in your bag.\nIt holds half a litre.\n"
    "Only three dollars twenty, minimum order one hundred bottles.\nOrder yours today.",
    "zh": "全新不锈钢保温杯。\n保冷二十四小时。\n杯盖防漏，放包里很安全。\n容量五百毫升。\n"
    "单价三点二美元，起订量一百个。\n今天就下单吧。",
}


def make_clip(path: Path, seconds: float) -> Path:
    """A 640x360, 25 fps H.264 clip with an espeak-ng narration (AAC) of `seconds`."""
    narration = path.with_suffix(".wav")
    subprocess.run(["espeak-ng", "-v", "en-us", "-w", str(narration), NARRATION], check=True)
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc=size=640x360:rate=25",
         "-i", str(narration), "-t", str(seconds), "-af", "apad", "-c:v", "libx264",
         "-preset", "veryfast", "-pix_fmt", "yuv420p", "-c:a", "aac", str(path)],
        check=True,
    )  # fmt: skip
    return path


async def bench(args: argparse.Namespace) -> dict[str, Any]:
    from models.fetch import fetch
    from models.registry import ModelRegistry
    from pipelines.platform.jobs.job_type import JobTypes
    from pipelines.platform.jobs.service import JobService
    from pipelines.settings import load_settings
    from pipelines.video.dubbing_job import DUBBING_JOB, JOB_TYPE
    from pipelines.video.uploads import accept_clip

    with tempfile.TemporaryDirectory(prefix="bench-dub-") as scratch:
        settings = load_settings(args.config, data_dir=Path(scratch) / "data")
        registry = ModelRegistry(settings.models, settings.model_dir, settings.registry)
        # what a job uses by default: the first chat and ASR models, each language's voice
        kinds = ("asr",) if args.mode == "own" else ("chat", "asr")
        used = [next(s for s in settings.models if s.kind == k) for k in kinds]
        used += list(
            {
                registry.tts_for(code).id: registry.tts_for(code) for code in args.lang.split(",")
            }.values()
        )
        for spec in used:
            path = spec.resolve_path(settings.model_dir)
            if spec.fetch and not path.exists():
                print(f"fetching {spec.id} ...", file=sys.stderr)
                fetch(spec.fetch, path)
        started = time.monotonic()
        await registry.preload([s.id for s in used])
        load_s = time.monotonic() - started
        service = JobService.from_settings(settings, registry, types=JobTypes([DUBBING_JOB]))
        await service.start()
        try:
            clip = Path(scratch) / "clip.mp4"  # an upload is moved in: yours stays where it is
            _ = shutil.copy(args.clip, clip) if args.clip else make_clip(clip, args.seconds)
            upload_id, info = accept_clip(settings.data_dir, "default", clip, settings.video)
            started = time.monotonic()
            job = await service.submit(
                "default",
                JOB_TYPE,
                {"upload_id": upload_id, "mode": args.mode, "languages": args.lang.split(","),
                 "source_language": args.source_language,
                 "back_translate": not args.no_back_translate,
                 "keywords": args.keywords.split(","), "product_facts": args.facts,
                 **({"keywords": [], "product_facts": "USD 3.20, MOQ 100",
                     "scripts": {code: OWN_SCRIPTS[code] for code in args.lang.split(",")}}
                    if args.mode == "own" else {})},
            )  # fmt: skip
            while not job.state.finished:
                await asyncio.sleep(0.2)
                job = await service.get("default", job.id)
            wall_s = time.monotonic() - started
        finally:
            await service.close()
            await registry.close()
    if job.result is None:
        raise SystemExit(f"the job failed: {job.error}")
    timings = job.result["timings"]
    stages_s = sum(timings["stages_s"].values())
    other = 1 - timings["inference_wall_s"] / stages_s
    qa = {
        lang: {k: v["qa"][k] for k in ("verdict", "reasons", "script_source",
                                        "back_transcription", "duration_diff_ms",
                                        "loudness_lufs", "speed_factors", "lines_shortened")}
        for lang, v in job.result["languages"].items()
    }  # fmt: skip
    if args.lines:  # each voiced line, what it says in Chinese, and what its checks found
        for lang, v in job.result["languages"].items():
            qa[lang]["read_back"] = [
                {k: line[k] for k in ("source", "text", "back_translation", "verdict")}
                | {"findings": [f["message"] for f in line["findings"]]}
                for line in v["qa"].get("read_back", [])
            ]
    return {
        "clip_s": info.duration_s,
        "languages": args.lang,
        "mode": args.mode,
        "model_load_s": round(load_s, 2),
        "job_wall_s": round(wall_s, 2),
        "stages_s": timings["stages_s"],
        "inference_s": timings["inference_s"],
        "inference_wall_s": timings["inference_wall_s"],
        "not_inference_share": round(other, 3),
        "qa": qa,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--lang", default="zh,en")
    parser.add_argument("--mode", choices=["script", "translate", "own"], default="script")
    parser.add_argument("--clip", type=Path, help="dub this clip (default: a narrated test card)")
    parser.add_argument(
        "--keywords", default="steel bottle,cold for 24 hours,leak-proof lid,500 ml"
    )
    parser.add_argument("--facts", default="Stainless steel, 500 ml, 300 g, double wall vacuum.")
    parser.add_argument("--source-language", default="en", help="of the clip's speech")
    parser.add_argument("--lines", action="store_true", help="print each line as read back")
    parser.add_argument(
        "--no-back-translate",
        action="store_true",
        help="without reading each line back in Chinese: what the read-back costs",
    )
    result = asyncio.run(bench(parser.parse_args()))
    print(json.dumps(result, ensure_ascii=False, indent=2))
    share = result["not_inference_share"]
    print(
        f"\n{result['clip_s']:.0f} s clip -> {result['languages']}: {result['job_wall_s']:.1f} s "
        f"wall; not model inference: {share:.1%} (target < 15%)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
