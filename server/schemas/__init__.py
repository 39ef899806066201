"""Pydantic schemas mirroring the OpenAI API, one module per API family."""
