"""Merchant workflows built from model calls and media steps, usable as jobs, from HTTP or the CLI."""
