"""Text workflows: translation (with glossaries and number guardrails) and product copywriting."""
