"""`python -m evolink_client ...` runs the `evolink-video` command."""

from ._cli import main

raise SystemExit(main())
