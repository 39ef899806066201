"""Fetch the weights of configured models (or named bundles) into the model dir.

    python scripts/fetch_models.py                       # every model of the config that has a source
    python scripts/fetch_models.py smollm2-135m-instruct # one model id (or a bundle name)
Same as `localshang models pull`.
"""

from __future__ import annotations

import sys

from server.cli import main

if __name__ == "__main__":
    sys.exit(main(["models", "pull", *sys.argv[1:]]))
