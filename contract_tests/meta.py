"""Print the meta-test table: each deliberately broken simulator, and the checks that caught it.

python -m contract_tests.meta
"""

from __future__ import annotations

import sys

from .harness import main

if __name__ == "__main__":
    sys.exit(main())
