"""``python -m dynamodb_sessions``: the command line."""

from .cli import main

raise SystemExit(main())
