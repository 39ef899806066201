"""HTTP layer: OpenAI-compatible routes, auth, limits and errors over the model registry."""
