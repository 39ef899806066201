"""Tests of the platform (pipelines/platform/): jobs, crash recovery, retention, storage."""
