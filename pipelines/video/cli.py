"""`localshang dub VIDEO --keywords ... --lang zh,en`: a dubbing job run in this process.

server/cli.py adds it with `register(commands)`; the command's `run(args, settings)` returns
the exit status like the other commands.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

from pipelines.errors import PipelineError


def register(commands: Any) -> None:
    """Add the `dub` command to the `localshang` argument parser's subcommands."""
    dub = commands.add_parser("dub", help="dub a product video into other languages")
    dub.add_argument("video", type=Path, help="the clip (MP4, MOV, MKV, WebM...)")
    dub.add_argument("--lang", required=True, help="target languages, comma-separated: zh,en")
    dub.add_argument("--keywords", default="", help="comma-separated product keywords")
    dub.add_argument("--facts", default="", help="product facts for the script")
    dub.add_argument("--mode", choices=["script", "translate"], default="script")
    dub.add_argument("--source-lang", help="language spoken in the clip (default: detected)")
    dub.add_argument("--replace-audio", action="store_true", help="drop the original sound")
    dub.add_argument("--burn-in", action="store_true", help="burn the subtitles into the picture")
    dub.add_argument("--loudness", type=float, default=-16.0, help="LUFS target (default -16)")
    dub.add_argument("--keep-intermediates", action="store_true")
    dub.add_argument(
        "--require-pass",
        action="store_true",
        help="exit with an error (files still written) unless every language's QA verdict is pass",
    )
    dub.add_argument("--out", type=Path, help="output folder (default: VIDEO-dubbed next to it)")
    dub.set_defaults(run=run)


def run(args: argparse.Namespace, settings: Any) -> int:
    try:
        result, error = asyncio.run(_dub(args, settings))
    except PipelineError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 2 if exc.status == 400 else 1
    print(json.dumps(result, ensure_ascii=False, indent=2))
    verdict = result.get("verdict")
    if verdict is not None:  # last on the terminal, where it is read
        print(f"QA verdict: {verdict.upper()}", file=sys.stderr)
        for reason in result.get("reasons", []):
            print(f"  - {reason}", file=sys.stderr)
    if error is not None:
        print(f"error: {error.get('message')}", file=sys.stderr)
        return 1
    return 0


def _split(value: str) -> list[str]:
    return [part.strip() for part in value.replace("，", ",").split(",") if part.strip()]


async def _dub(
    args: argparse.Namespace, settings: Any
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """The job's result (with the output folder and files), and its error when its QA verdict
    failed --require-pass (the files are written all the same)."""
    from models.registry import ModelRegistry
    from pipelines.platform.jobs.job_type import JobTypes
    from pipelines.platform.jobs.service import JobService
    from pipelines.video.dubbing_job import DUBBING_JOB, JOB_TYPE
    from pipelines.video.uploads import accept_clip

    out = args.out or args.video.with_name(args.video.stem + "-dubbed")
    registry = ModelRegistry(settings.models, settings.model_dir, settings.registry)
    # A job store of its own (never the configured jobs.database): a server sharing it would
    # see this process's start-up recovery as a crash of its running jobs.
    with tempfile.TemporaryDirectory(prefix="localshang-dub-") as scratch:
        # Not encrypted either: the scratch store is gone when the command ends, and what is
        # copied out of it below is the merchant's plaintext result.
        jobs = settings.jobs.model_copy(
            update={"encryption_key": None, "database": None, "role": "all"}
        )
        local = settings.model_copy(update={"data_dir": Path(scratch), "jobs": jobs})
        service = JobService.from_settings(local, registry, types=JobTypes([DUBBING_JOB]))
        await service.start()
        try:
            staged = Path(scratch) / args.video.name
            shutil.copy(args.video, staged)
            upload_id, _ = await asyncio.to_thread(
                accept_clip, local.data_dir, "default", staged, settings.video
            )
            job = await service.submit(
                "default",
                JOB_TYPE,
                {
                    "upload_id": upload_id,
                    "mode": args.mode,
                    "languages": _split(args.lang),
                    "keywords": _split(args.keywords),
                    "product_facts": args.facts,
                    "source_language": args.source_lang,
                    "audio": "replace" if args.replace_audio else "duck",
                    "burn_in_subtitles": args.burn_in,
                    "loudness_lufs": args.loudness,
                    "keep_intermediates": args.keep_intermediates,
                    "require_pass": args.require_pass,
                },
            )
            shown = None
            async for record in service.watch("default", job.id, poll_s=0.5):
                if record is not None and (record.stage, round(record.progress, 2)) != shown:
                    shown = (record.stage, round(record.progress, 2))
                    print(f"{record.progress:6.1%}  {record.stage}", file=sys.stderr)
            job = await service.get("default", job.id)
            if job.error is not None and job.error.get("code") != "qa_not_passed":
                raise PipelineError(job.error.get("message", "the dubbing job failed"))
            out.mkdir(parents=True, exist_ok=True)
            for artifact in job.artifacts:
                shutil.copy(service.files.path(job.id, artifact.name), out / artifact.name)
        finally:
            await service.close()
            await registry.close()
    result = {"output": str(out), "files": sorted(a.name for a in job.artifacts)}
    return {**result, **(job.result or {})}, job.error
