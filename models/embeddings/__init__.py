"""Text-embedding models: the interface (base) and its engines."""
