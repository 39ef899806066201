"""Tests of the text workflows (pipelines/text/): translation and copywriting."""
