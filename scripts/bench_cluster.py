"""Benchmark: the job system on one and two nodes sharing a PostgreSQL database vs one node on
the embedded SQLite default, all measured in the same run.

    python -m scripts.bench_cluster                        # 60 jobs per setup, 4 at once a node
    python -m scripts.bench_cluster --jobs 16 --rounds 3   # setups alternate in order per round

Each setup starts its nodes (uvicorn processes with the test job types, role all, one data
folder, a throwaway PostgreSQL 15 server's fresh database or a fresh SQLite file), waits for a
warm-up job, then one client submits --jobs slow test jobs at once to the first node's HTTP API.
A slow job mostly sleeps ((steps + 1) x step_s) and writes two small artifacts and a progress
row per step: the figures measure dispatch, claiming and progress writes, not the CPU.

jobs/min: jobs / (last finish - first submit), the finish being the submit answer's time plus
the job's timings.queued_s and running_s (the server's clock, not the polling's). Queue wait: a
job's started_at - created_at (timings.queued_s). Ratios are each setup's jobs/min and p95 queue
wait over SQLite's on one node (the issue's target: PostgreSQL on one node >= 0.9 x jobs/min).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tests.fixtures_jobs import auth, job_test_settings, node_processes
from tests.fixtures_postgres import PostgresServer, throwaway_postgresql, upgrade_database

TENANT = "shop-a"
FINISHED = ("succeeded", "failed", "cancelled")


@dataclass(frozen=True)
class Setup:
    name: str
    nodes: int
    postgresql: bool


SETUPS = (
    Setup("sqlite", 1, False),
    Setup("postgresql", 1, True),
    Setup("postgresql", 2, True),
)


@dataclass
class Result:
    jobs_per_min: list[float] = field(default_factory=list)  # one per round
    waits: list[float] = field(default_factory=list)  # every job of every round


async def submit(client: httpx.AsyncClient, job_input: dict[str, Any]) -> tuple[str, float]:
    """The job's id and when its submit was answered (time.monotonic)."""
    response = await client.post(
        "/v1/jobs", json={"type": "slow", "input": job_input}, headers=auth(TENANT)
    )
    response.raise_for_status()
    return response.json()["id"], time.monotonic()


async def finished_jobs(client: httpx.AsyncClient, ids: set[str]) -> list[dict[str, Any]]:
    """Poll the job list (light: one request each 0.25 s) until every job of `ids` ended."""
    while True:
        response = await client.get("/v1/jobs", params={"limit": 1000}, headers=auth(TENANT))
        response.raise_for_status()
        jobs = [job for job in response.json()["data"] if job["id"] in ids]
        if len(jobs) == len(ids) and all(job["state"] in FINISHED for job in jobs):
            return jobs
        await asyncio.sleep(0.25)


async def run_setup(
    setup: Setup, postgresql: PostgresServer, args: argparse.Namespace, result: Result
) -> None:
    with tempfile.TemporaryDirectory(prefix="bench-cluster-") as tmp:
        settings = job_test_settings(Path(tmp), [], concurrency={"test": args.per_node})
        settings.tenants.defaults.concurrent_jobs = args.jobs + 1  # the warm-up's too
        if setup.postgresql:
            settings.jobs.database = postgresql.new_database()
            await upgrade_database(settings.jobs.database)
        async with node_processes(Path(tmp), settings, setup.nodes) as processes:
            for process in processes:
                await process.start()
            async with httpx.AsyncClient(base_url=processes[0].url, timeout=120) as client:
                warm_up, _ = await submit(client, {"steps": 1, "step_s": 0, "big_bytes": 1})
                await finished_jobs(client, {warm_up})
                job_input = {"steps": args.steps, "step_s": args.step_s, "big_bytes": 1024}
                start = time.monotonic()
                answered = dict(
                    await asyncio.gather(*(submit(client, job_input) for _ in range(args.jobs)))
                )
                jobs = await finished_jobs(client, set(answered))
    failed = [job for job in jobs if job["state"] != "succeeded"]
    if failed:
        raise RuntimeError(f"{setup}: {len(failed)} jobs did not succeed: {failed[0]['error']}")
    ends = [
        answered[job["id"]] + job["timings"]["queued_s"] + job["timings"]["running_s"]
        for job in jobs
    ]
    result.jobs_per_min.append(len(jobs) / (max(ends) - start) * 60)
    result.waits.extend(job["timings"]["queued_s"] for job in jobs)


def percentile(values: list[float], share: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[share - 1]


def report(results: dict[Setup, Result]) -> None:
    sqlite = results[SETUPS[0]]
    base_rate = statistics.median(sqlite.jobs_per_min)
    base_p95 = percentile(sqlite.waits, 95)
    print(
        f"{'setup':11} {'nodes':>5} {'jobs/min':>9} {'p50 wait s':>10} {'p95 wait s':>10} "
        f"{'jobs/min vs sqlite':>18} {'p95 vs sqlite':>13}"
    )
    for setup, result in results.items():
        rate = statistics.median(result.jobs_per_min)
        p95 = percentile(result.waits, 95)
        print(
            f"{setup.name:11} {setup.nodes:5} {rate:9.1f} {percentile(result.waits, 50):10.2f} "
            f"{p95:10.2f} {rate / base_rate:18.3f} {p95 / base_p95:13.3f}"
        )


async def bench(args: argparse.Namespace) -> dict[Setup, Result]:
    results = {setup: Result() for setup in SETUPS}
    with throwaway_postgresql() as postgresql:
        for round_ in range(args.rounds):
            for setup in SETUPS[:: 1 if round_ % 2 == 0 else -1]:  # drift hits every setup alike
                await run_setup(setup, postgresql, args, results[setup])
    return results


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--jobs", type=int, default=60, help="jobs submitted at once per setup")
    parser.add_argument("--per-node", type=int, default=4, help="jobs a node runs at once")
    parser.add_argument("--steps", type=int, default=4, help="progress writes per job")
    parser.add_argument("--step-s", type=float, default=0.25, help="sleep per step (s)")
    parser.add_argument("--rounds", type=int, default=1, help="runs of every setup")
    args = parser.parse_args()
    if args.jobs < 2 or args.jobs > 999:
        parser.error("--jobs: 2 to 999 (percentiles need two, the job list shows 1000)")
    results = asyncio.run(bench(args))
    sleep_s = (args.steps + 1) * args.step_s
    print(
        f"{args.jobs} slow jobs ({sleep_s:g} s asleep each) submitted at once, "
        f"{args.per_node} at once per node; jobs/min: median of {args.rounds} round(s); "
        "queue waits over all rounds"
    )
    report(results)


if __name__ == "__main__":
    main()
