"""What a job page shows, read from the stored job alone (so a reload, or another browser,
shows the same): its stages, each dubbed language's steps, and the QA report in plain words.

The QA report's verdict and reasons come from the pipeline (pipelines.video.qa.judge); the page
sorts them into the checks a merchant understands, without judging anything again.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from pipelines.platform.jobs.job_type import JobType
from pipelines.platform.jobs.types import JobRecord
from server.console.i18n import N_

STAGE_LABELS = {
    "probe": N_("Checking the clip"),
    "transcribe": N_("Listening to the speech"),
    "script": N_("Writing the script"),
    "voice": N_("Recording the voice"),
    "mix": N_("Mixing the sound"),
    "mux": N_("Adding subtitles"),
    "qa": N_("Quality check"),
}
STATE_LABELS = {
    "queued": N_("Waiting"),
    "running": N_("Running"),
    "succeeded": N_("Done"),
    "failed": N_("Failed"),
    "cancelled": N_("Cancelled"),
}
TYPE_LABELS = {
    "video_dubbing": N_("Video dubbing"),
    "translation": N_("Translation"),
    "copywriting": N_("Copywriting"),
}
MODE_LABELS = {
    "script": N_("Script from keywords"),
    "translate": N_("Translate the speech"),
    "own": N_("My own script"),
}
VERDICT_LABELS = {"pass": N_("Passed"), "review": N_("Needs review"), "fail": N_("Failed")}
# A dubbed language's steps, by the checkpoint key each one fills in when it is done.
LANGUAGE_STEPS = (
    ("scripts", N_("Script")),
    ("voices", N_("Voice")),
    ("mixes", N_("Sound")),
    ("qa", N_("Checked")),
)
# The QA checks, each with the start of the pipeline's reasons that are about it (qa.judge).
QA_CHECKS = (
    ("script", N_("The script was written by the model"), ("the script is a fallback",)),
    (
        "speech",
        N_("The voice says what the script says"),
        ("back-transcription", "the voice was not back-transcribed"),
    ),
    ("timing", N_("Each line is spoken in time with the picture"), ("line drift",)),
    ("duration", N_("The dub is as long as the original"), ("duration difference",)),
    ("loudness", N_("The loudness is right"), ("loudness", "the dubbed audio has no measurable")),
    ("streams", N_("The MP4 has picture and sound"), ("the dubbed mp4 has no",)),
)
DOWNLOADS = (
    ("mp4", N_("Video (MP4)")),
    ("srt", N_("Subtitles (SRT)")),
    ("vtt", N_("Subtitles (VTT)")),
    ("script.json", N_("Script (JSON)")),
)


@dataclass(frozen=True)
class StageRow:
    name: str
    label: str
    status: str  # done | current | pending
    percent: int


@dataclass(frozen=True)
class LineView:
    """A voiced line as the merchant checks it: what it says in their language, and why it
    needs a look (each problem in English and, where the check wrote one, in Chinese)."""

    start: float
    text: str
    back_translation: str | None
    verdict: str
    problems: list[tuple[str, str]]


@dataclass
class LanguageView:
    code: str
    steps: list[tuple[str, bool]] = field(default_factory=list)
    verdict: str | None = None
    passed: list[str] = field(default_factory=list)
    review: list[tuple[str, str]] = field(default_factory=list)  # (check label or "", reason)
    downloads: list[tuple[str, str]] = field(default_factory=list)  # (label, artifact name)
    video: str | None = None
    subtitles: str | None = None
    lines: list[LineView] = field(default_factory=list)


def stage_rows(job: JobRecord, job_type: JobType | None) -> list[StageRow]:
    """Every stage of the job's type: done, the current one (with its share done), or pending."""
    if job_type is None:
        return []
    rows = []
    for index, stage in enumerate(job_type.stages):
        percent = 0
        if index < job.stage_index or job.state == "succeeded":
            status, percent = "done", 100
        elif index == job.stage_index and job.state == "running":
            status = "current"
            start, end = job_type.progress(index), job_type.progress(index + 1)
            share = (job.progress - start) / (end - start) if end > start else 0.0
            percent = round(100 * min(max(share, 0.0), 1.0))
        else:
            status = "pending"
        rows.append(StageRow(stage.name, STAGE_LABELS.get(stage.name, stage.name), status, percent))
    return rows


def language_views(job: JobRecord) -> list[LanguageView]:
    """Per target language of a dubbing job: its steps so far and, once checked, its QA and
    files (only those actually published)."""
    codes = [c for c in job.input.get("languages", []) if isinstance(c, str)]
    outputs = (job.result or {}).get("languages", {})
    published = {a.name for a in job.artifacts}
    views = []
    for code in codes:
        view = LanguageView(code)
        view.steps = [
            (label, code in (job.checkpoint.get(key) or {})) for key, label in LANGUAGE_STEPS
        ]
        report = (outputs.get(code) or {}).get("qa")
        if report is not None:
            view.verdict = str(report.get("verdict"))
            view.passed, view.review = _sort_reasons(list(report.get("reasons", [])))
            view.lines = line_views(report)
        for suffix, label in DOWNLOADS:
            if f"{code}.{suffix}" in published:
                view.downloads.append((label, f"{code}.{suffix}"))
        view.video = f"{code}.mp4" if f"{code}.mp4" in published else None
        view.subtitles = f"{code}.vtt" if f"{code}.vtt" in published else None
        views.append(view)
    return views


def line_views(report: dict[str, Any]) -> list[LineView]:
    """Each voiced line with its back-translation and the findings of its checks: what was
    heard of it in the final mix (line_checks) and what it says (read_back), worst first."""
    heard = report.get("line_checks") or []
    views = []
    for number, entry in enumerate(report.get("read_back") or []):
        listened = heard[number] if number < len(heard) else {}
        problems = [
            (str(finding["message"]), str(finding.get("message_zh") or ""))
            for finding in entry.get("findings", [])
        ] + [(str(reason), "") for reason in listened.get("reasons", [])]
        verdicts = [entry.get("verdict", "pass"), listened.get("verdict", "pass")]
        views.append(
            LineView(
                start=float(entry.get("start") or 0.0),
                text=str(entry["text"]),
                back_translation=entry.get("back_translation"),
                verdict=max(verdicts, key=list(VERDICT_LABELS).index),
                problems=problems,
            )
        )
    return views


def _sort_reasons(reasons: list[str]) -> tuple[list[str], list[tuple[str, str]]]:
    """The checks that passed, and the reasons to review (with their check's label, where a
    reason belongs to one)."""
    passed: list[str] = []
    review: list[tuple[str, str]] = []
    claimed: set[int] = set()
    for _, label, starts in QA_CHECKS:
        mine = [i for i, r in enumerate(reasons) if r.lower().startswith(starts)]
        claimed.update(mine)
        if mine:
            review.extend((label, reasons[i]) for i in mine)
        else:
            passed.append(label)
    review.extend(("", r) for i, r in enumerate(reasons) if i not in claimed)
    return passed, review


def when(stamp: float | None) -> str:
    """A time as the server's clock shows it (date and minute), for lists and job pages."""
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(stamp)) if stamp else ""
