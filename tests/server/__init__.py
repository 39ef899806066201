"""Tests of the HTTP layer (server/): the OpenAI routes, tenancy, errors, the CLI, load and fuzzing."""
