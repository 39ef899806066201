"""Alembic's environment and revisions of the database schema (a package, so that it ships)."""
