"""Tests of the engines (models/): each backend on tiny or real weights, and the registry."""
