"""`localshang keys create|list|revoke|quota`: tenants' API keys and quotas, kept in the jobs'
database (settings.jobs_database()); works with or without a server running on it."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import sys
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from pipelines.errors import PipelineError
from pipelines.platform.accounts.service import AccountService
from pipelines.platform.accounts.settings import TenantQuotas
from pipelines.settings import Settings

UNLIMITED = ("unlimited", "none", "null")


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `keys` to the `localshang` command."""
    keys = subparsers.add_parser("keys", help="create, list and revoke API keys; set quotas")
    commands = keys.add_subparsers(dest="keys_command", required=True)

    create = commands.add_parser(
        "create", help="a new key for a tenant: printed once, only its hash is kept"
    )
    create.add_argument("--tenant", required=True)
    create.add_argument("--admin", action="store_true", help="may use the /v1/admin endpoints")
    create.add_argument("--label", default="", help="a note, e.g. who holds the key")

    listing = commands.add_parser("list", help="keys (never their secrets), oldest first")
    listing.add_argument("--tenant", help="only this tenant's")
    listing.add_argument("--json", action="store_true")

    revoke = commands.add_parser("revoke", help="revoke a key by id, or all of a tenant's keys")
    revoke.add_argument("key_id", nargs="?", help="the id shown by `keys list`")
    revoke.add_argument("--tenant", help="revoke every key of this tenant")

    quota = commands.add_parser(
        "quota", help="show a tenant's quotas, or set some ('unlimited' lifts one)"
    )
    quota.add_argument("--tenant", required=True)
    for name, field in TenantQuotas.model_fields.items():
        quota.add_argument(
            f"--{name.replace('_', '-')}",
            dest=name,
            type=_limit,
            default=argparse.SUPPRESS,  # absent: left as it is
            help=field.description,
        )
    quota.add_argument("--reset", action="store_true", help="back to the defaults first")
    keys.set_defaults(run=_run)


def _limit(text: str) -> float | None:
    if text.strip().lower() in UNLIMITED:
        return None
    try:
        return float(text) if "." in text or "e" in text.lower() else int(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not a number nor 'unlimited': {text}") from exc


def _actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):  # no user name (e.g. a container's numeric uid)
        return "cli"


def _run(args: argparse.Namespace, settings: Settings) -> int:
    commands: dict[str, Callable[[argparse.Namespace, AccountService], Awaitable[int]]] = {
        "create": _create,
        "list": _list,
        "revoke": _revoke,
        "quota": _quota,
    }
    command = commands[args.keys_command]

    async def run() -> int:
        accounts = AccountService.from_settings(settings)
        await accounts.open()
        try:
            return await command(args, accounts)
        finally:
            await accounts.close()

    try:
        return asyncio.run(run())
    except PipelineError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 1


async def _create(args: argparse.Namespace, accounts: AccountService) -> int:
    record, key = await accounts.create_key(
        args.tenant, actor=_actor(), admin=args.admin, label=args.label
    )
    role = " (admin)" if record.is_admin else ""
    print(f"created key {record.id} for tenant {record.tenant}{role}", file=sys.stderr)
    print(key)  # alone on stdout, so that KEY=$(localshang keys create ...) works
    print("store it now: it is not shown again (only a salted hash is kept)", file=sys.stderr)
    return 0


async def _list(args: argparse.Namespace, accounts: AccountService) -> int:
    keys = await accounts.list_keys(args.tenant)
    rows: list[dict[str, Any]] = [
        {
            "id": k.id,
            "tenant": k.tenant,
            "admin": k.is_admin,
            "label": k.label,
            "created_at": k.created_at,
            "revoked_at": k.revoked_at,
        }
        for k in keys
    ]
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    print(f"{'ID':14} {'TENANT':24} {'ROLE':6} {'CREATED':19} {'STATE':8} LABEL")
    for row in rows:
        state = "revoked" if row["revoked_at"] else "active"
        role = "admin" if row["admin"] else "-"
        print(
            f"{row['id']:14} {row['tenant']:24} {role:6} {_when(row['created_at'])} "
            f"{state:8} {row['label']}"
        )
    return 0


async def _revoke(args: argparse.Namespace, accounts: AccountService) -> int:
    if (args.key_id is None) == (args.tenant is None):
        print("error: give a key id or --tenant (not both)", file=sys.stderr)
        return 2
    revoked = await accounts.revoke_keys(actor=_actor(), key_id=args.key_id, tenant=args.tenant)
    if not revoked:
        print("error: no active key matched", file=sys.stderr)
        return 1
    for key_id in revoked:
        print(f"revoked {key_id}")
    return 0


async def _quota(args: argparse.Namespace, accounts: AccountService) -> int:
    changes = {name: getattr(args, name) for name in TenantQuotas.model_fields if name in args}
    if changes or args.reset:
        quotas = await accounts.set_quotas(args.tenant, changes, actor=_actor(), reset=args.reset)
    else:
        quotas = await accounts.quotas(args.tenant)
    overrides = await accounts.quota_overrides(args.tenant)
    for name, value in quotas.model_dump().items():
        source = "set" if name in overrides else "default"
        print(f"{name:20} {'unlimited' if value is None else value!s:>14}  ({source})")
    return 0


def _when(at: float) -> str:
    return datetime.fromtimestamp(at).strftime("%Y-%m-%d %H:%M:%S")
