"""Persistent, resumable, cancellable jobs: store, artifact files, worker pools and job types."""
