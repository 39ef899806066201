"""Chat LLM runtimes: one interface, several engines (transformers, vLLM)."""
