"""Tests of the video workflows (pipelines/video/): dubbing, media steps, QA."""
