"""`python -m driftwatch_inference` is the `driftwatch-inference` command."""

from driftwatch_inference.cli import main

raise SystemExit(main())
