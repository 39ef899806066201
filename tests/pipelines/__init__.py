"""Tests of the workflows' shared kit (pipelines/*.py): quality checks, language coverage."""
