"""The one way to the stores: a database URL (or a SQLite file's path) in, the stores on it out."""

from __future__ import annotations

from dataclasses import dataclass

from pipelines.platform.storage.account_store import SQLAccountStore
from pipelines.platform.storage.database import Database
from pipelines.platform.storage.job_store import SQLJobStore


@dataclass(frozen=True)
class Stores:
    """Both stores on one Database: opened by the first store opened, closed with the last."""

    database: Database
    jobs: SQLJobStore
    accounts: SQLAccountStore


def stores_for(target: str) -> Stores:
    """The stores on `target` (see database_url); nothing is opened yet."""
    database = Database.from_url(target)
    return Stores(database, SQLJobStore(database), SQLAccountStore(database))
