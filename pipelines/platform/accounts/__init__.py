"""Tenants and their API keys, quotas, usage and audit log, kept beside the jobs in one database."""
