"""Run by the Containerfile in its base, before anything is installed: the base's Python must
be 3.11 or newer, and the one the wheels in build/image-wheels/ were made for (their compiled
dependencies are built for one Python version). Fails with one line naming the base."""

import sys
from pathlib import Path

base, wheels = sys.argv[1], Path(sys.argv[2])
here = f"{sys.version_info[0]}.{sys.version_info[1]}"
if sys.version_info < (3, 11):  # noqa: UP036 (the base's Python, maybe older than ours)
    sys.exit(f"base image {base}: Python {here}; evolink-mock needs Python 3.11 or newer")
made_for = (wheels / "python-version").read_text().strip()
if made_for != here:
    sys.exit(
        f"base image {base}: Python {here}, but the wheels were made by Python {made_for}: "
        f"run scripts/image.sh with EVOLINK_IMAGE_PYTHON set to a python{here}"
    )
