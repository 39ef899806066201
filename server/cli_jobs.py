"""`localshang jobs ls|show|cancel|download`, `localshang translate`, `localshang copy`: clients
of a running server's HTTP API (--url, --api-key or $LOCALSHANG_API_KEY)."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import urllib.error
import urllib.parse
import urllib.request
from datetime import datetime
from pathlib import Path
from typing import Any

DEFAULT_URL = "http://127.0.0.1:8000"


class CliError(Exception):
    """An error to print (the server's message, or why the server could not be reached)."""


class ApiClient:
    def __init__(self, url: str, api_key: str | None, timeout_s: float = 3600) -> None:
        self.url = url.rstrip("/")
        self.api_key = api_key
        self.timeout_s = timeout_s

    def _open(self, method: str, path: str, body: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.url + path, data=data, method=method)
        if data is not None:
            request.add_header("Content-Type", "application/json")
        if self.api_key:
            request.add_header("Authorization", f"Bearer {self.api_key}")
        try:
            return urllib.request.urlopen(request, timeout=self.timeout_s)
        except urllib.error.HTTPError as exc:
            raise CliError(_error_message(exc)) from exc
        except urllib.error.URLError as exc:
            raise CliError(f"cannot reach {self.url}: {exc.reason}") from exc

    def call(self, method: str, path: str, body: Any = None) -> Any:
        with self._open(method, path, body) as response:
            return json.loads(response.read())

    def download(self, path: str, target: Path) -> int:
        """Stream a file to `target` (via a temp name, so a broken download leaves nothing)."""
        temp = target.with_name(f".{target.name}.part")
        with self._open("GET", path) as response, temp.open("wb") as file:
            shutil.copyfileobj(response, file)
        temp.replace(target)
        return target.stat().st_size


def _error_message(exc: urllib.error.HTTPError) -> str:
    try:
        error = json.loads(exc.read())["error"]
        code = f" [{error['code']}]" if error.get("code") else ""
        return f"HTTP {exc.code}{code}: {error['message']}"
    except (ValueError, KeyError, TypeError):
        return f"HTTP {exc.code}: {exc.reason}"


# --- registration -----------------------------------------------------------------------------
def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `jobs`, `translate` and `copy` to the `localshang` command."""
    server = argparse.ArgumentParser(add_help=False)
    server.add_argument(
        "--url", default=os.environ.get("LOCALSHANG_URL", DEFAULT_URL), help="server URL"
    )
    server.add_argument(
        "--api-key", default=os.environ.get("LOCALSHANG_API_KEY"), help="$LOCALSHANG_API_KEY"
    )
    server.add_argument("--json", action="store_true", help="print the server's JSON")

    jobs = subparsers.add_parser("jobs", help="list, inspect and cancel your jobs")
    job_commands = jobs.add_subparsers(dest="jobs_command", required=True)
    ls = job_commands.add_parser("ls", parents=[server], help="your jobs, newest first")
    ls.add_argument("--state", choices=["queued", "running", "succeeded", "failed", "cancelled"])
    ls.add_argument("--limit", type=int, default=50)
    show = job_commands.add_parser("show", parents=[server], help="one job in detail")
    show.add_argument("job_id")
    cancel = job_commands.add_parser(
        "cancel", parents=[server], help="cancel a running job; delete a finished one"
    )
    cancel.add_argument("job_id")
    download = job_commands.add_parser("download", parents=[server], help="save an artifact")
    download.add_argument("job_id")
    download.add_argument("name")
    download.add_argument("-o", "--output", type=Path, help="file (default: the artifact name)")
    jobs.set_defaults(run=_run(_jobs))

    translate = subparsers.add_parser(
        "translate", parents=[server], help="translate texts with merchant guardrails"
    )
    translate.add_argument("text", nargs="*", help="texts (default: --file, or stdin)")
    translate.add_argument("--file", type=Path, help="translate this file's text")
    translate.add_argument("--to", required=True, help="target languages, e.g. de,fr,ar")
    translate.add_argument("--from", dest="source", help="source language (default: detect)")
    translate.add_argument("--glossary", help="name of one of your stored glossaries")
    translate.add_argument("--model", help="chat model (default: the server's first)")
    translate.add_argument("--max-attempts", type=int)
    translate.add_argument(
        "--report", action="store_true", help="print passing translations even if some fail"
    )
    translate.add_argument("--job", action="store_true", help="submit as a job, print its id")
    translate.set_defaults(run=_run(_translate))

    copy = subparsers.add_parser(
        "copy", parents=[server], help="titles, selling points, descriptions and video scripts"
    )
    copy.add_argument("--facts", type=Path, help="product facts as a JSON file")
    copy.add_argument("--name", help="product name")
    copy.add_argument("--category")
    copy.add_argument("--brand")
    copy.add_argument("--sku")
    copy.add_argument("--price", help='with currency, e.g. "USD 12.99"')
    copy.add_argument("--moq", help="minimum order quantity")
    for plural in ("materials", "sizes", "colours", "keywords", "features"):
        copy.add_argument(f"--{plural}", help="comma-separated")
    copy.add_argument("--transcript-file", type=Path, help="the product video's transcript")
    copy.add_argument("--to", default="en", help="target languages, e.g. en,de,es")
    copy.add_argument("--preset", default="marketplace_listing")
    copy.add_argument("--tone")
    copy.add_argument("--model")
    copy.add_argument("--job", action="store_true", help="submit as a job, print its id")
    copy.set_defaults(run=_run(_copy))


def _run(command: Any) -> Any:
    """Wrap a command: settings are not needed (it talks to a server); errors print, exit 1."""

    def run(args: argparse.Namespace, settings: Any = None) -> int:
        client = ApiClient(args.url, args.api_key)
        try:
            code: int = command(args, client)
            return code
        except CliError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1

    return run


def _print_json(value: Any) -> None:
    print(json.dumps(value, ensure_ascii=False, indent=2))


# --- jobs -------------------------------------------------------------------------------------
def _jobs(args: argparse.Namespace, client: ApiClient) -> int:
    if args.jobs_command == "ls":
        query = {"limit": str(args.limit), **({"state": args.state} if args.state else {})}
        listed = client.call("GET", "/v1/jobs?" + urllib.parse.urlencode(query))
        if args.json:
            _print_json(listed)
        else:
            print(f"{'ID':28} {'TYPE':14} {'STATE':10} {'PROGRESS':>8}  {'STAGE':12} CREATED")
            for job in listed["data"]:
                print(_job_line(job))
        return 0
    job_path = f"/v1/jobs/{urllib.parse.quote(args.job_id)}"
    if args.jobs_command == "show":
        job = client.call("GET", job_path)
        _print_json(job) if args.json else _print_job(job)
        return 0
    if args.jobs_command == "cancel":
        job = client.call("DELETE", job_path)
        done = "deleted" if job.get("deleted") else f"{job['state']}, artifacts deleted"
        _print_json(job) if args.json else print(f"{job['id']}: {done}")
        return 0
    target = args.output or Path(args.name)
    size = client.download(f"{job_path}/artifacts/{urllib.parse.quote(args.name)}", target)
    print(f"{target}: {size} bytes")
    return 0


def _job_line(job: dict[str, Any]) -> str:
    state = job["state"]
    if job.get("queue_position"):
        state = f"queued #{job['queue_position']}"
    created = datetime.fromtimestamp(job["created_at"]).strftime("%Y-%m-%d %H:%M:%S")
    progress = f"{100 * job['progress']:.0f}%"
    return f"{job['id']:28} {job['type']:14} {state:10} {progress:>8}  {job['stage'] or '-':12} {created}"


def _print_job(job: dict[str, Any]) -> None:
    print(_job_line(job))
    timings = job["timings"]
    running = f", ran {timings['running_s']:.1f}s" if timings["running_s"] is not None else ""
    print(
        f"  stages {job['stages_completed']}/{job['stage_count']}, queued {timings['queued_s']:.1f}s{running}, attempts {job['attempts']}"
    )
    if job["error"]:
        code = f" [{job['error']['code']}]" if job["error"].get("code") else ""
        print(f"  error{code}: {job['error']['message']}")
    for artifact in job["artifacts"]:
        print(
            f"  artifact {artifact['name']} ({artifact['content_type']}, {artifact['bytes']} bytes)"
        )


# --- translate --------------------------------------------------------------------------------
def _translate(args: argparse.Namespace, client: ApiClient) -> int:
    texts = list(args.text)
    if args.file:
        texts.append(args.file.read_text(encoding="utf-8"))
    if not texts:
        texts.append(sys.stdin.read())
    body: dict[str, Any] = {
        "text": texts if len(texts) > 1 else texts[0],
        "target_languages": [code.strip() for code in args.to.split(",") if code.strip()],
        "source_language": args.source,
        "glossary": args.glossary,
        "model": args.model,
        "on_failure": "report" if args.report else "error",
    }
    if args.max_attempts:
        body["max_attempts"] = args.max_attempts
    if args.job:
        return _submit(client, "translation", body, args.json)
    result = client.call("POST", "/v1/translations", body)
    if args.json:
        _print_json(result)
        return 1 if result["failed"] else 0
    for item in result["translations"]:
        label = f"[{item['index']}] {item['source_language'] or '?'} -> {item['target_language']}"
        if item["status"] == "ok":
            print(f"{label}\n{item['text']}\n")
        else:
            for failure in item["failures"]:
                print(
                    f"{label}: FAILED segment {failure['segment_index']}: "
                    f"{'; '.join(failure['problems'])}\n",
                    file=sys.stderr,
                )
    for warning in result.get("warnings", []):  # a language the chat model is rated weak in
        print(f"warning: {warning['message']}", file=sys.stderr)
    return 1 if result["failed"] else 0


# --- copy -------------------------------------------------------------------------------------
def _copy(args: argparse.Namespace, client: ApiClient) -> int:
    facts: dict[str, Any] = json.loads(args.facts.read_text()) if args.facts else {}
    for field in ("name", "category", "brand", "sku", "price", "moq"):
        if getattr(args, field) is not None:
            facts[field] = getattr(args, field)
    for field in ("materials", "sizes", "colours", "keywords", "features"):
        if getattr(args, field):
            facts[field] = [v.strip() for v in getattr(args, field).split(",") if v.strip()]
    if args.transcript_file:
        facts["transcript"] = args.transcript_file.read_text(encoding="utf-8")
    if "name" not in facts:
        raise CliError("give the product's --name (or a --facts file with a name)")
    body: dict[str, Any] = {
        "product": facts,
        "target_languages": [code.strip() for code in args.to.split(",") if code.strip()],
        "preset": args.preset,
        "tone": args.tone,
        "model": args.model,
    }
    if args.job:
        return _submit(client, "copywriting", body, args.json)
    _print_json(client.call("POST", "/v1/copywriting", body))
    return 0


def _submit(client: ApiClient, job_type: str, body: dict[str, Any], as_json: bool) -> int:
    job = client.call("POST", "/v1/jobs", {"type": job_type, "input": body})
    _print_json(job) if as_json else print(job["id"])
    return 0
