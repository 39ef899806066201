"""Model runtimes behind small interfaces: chat LLMs, speech-to-text, text-to-speech, and the registry."""
