"""`python -m dtf.hardware [--no-browsers]`: print this machine's taxonomy and resources as JSON."""

from __future__ import annotations

import json
import sys

from dtf.hardware.detect import detect
from dtf.hardware.resources import derive_resources


def main(argv: list[str]) -> int:
    tax = detect(browsers="--no-browsers" not in argv)
    print(json.dumps({"taxonomy": tax.model_dump(), "resources": derive_resources(tax)}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
