"""A throwaway CA kept in a folder, for a shared server and the test processes that serve it
callbacks: the server trusts `ca.pem` (`--callback-ca-file`), and each process issues its
receiver a 127.0.0.1 certificate from the same CA (`ca.key`).

    python -m mockserver.testing.ca DIR    # writes DIR/ca.pem and DIR/ca.key, prints ca.pem's path

The key is a test key, on a test machine: never a CA anything else trusts.
"""

from __future__ import annotations

import ssl
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any


def write_ca(directory: Path) -> Path:
    """A new CA in `directory` (made if missing); the path of its certificate."""
    import trustme

    ca = trustme.CA()
    directory.mkdir(parents=True, exist_ok=True)
    ca.cert_pem.write_to_path(str(directory / "ca.pem"))
    key = directory / "ca.key"
    key.touch(mode=0o600)
    ca.private_key_pem.write_to_path(str(key))
    return directory / "ca.pem"


def server_context(directory: Path, *names: str) -> ssl.SSLContext:
    """A server context with a certificate for `names` (default 127.0.0.1 and localhost),
    issued by the CA in `directory`."""
    import trustme

    ca: Any = trustme.CA.from_pem(
        (directory / "ca.pem").read_bytes(), (directory / "ca.key").read_bytes()
    )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert(*(names or ("127.0.0.1", "localhost"))).configure_cert(context)
    return context


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 1:
        print("usage: python -m mockserver.testing.ca DIR", file=sys.stderr)
        return 2
    print(write_ca(Path(args[0])))
    return 0


if __name__ == "__main__":
    sys.exit(main())
