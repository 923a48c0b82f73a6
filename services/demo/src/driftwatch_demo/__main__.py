"""`python -m driftwatch_demo` is the `driftwatch-demo` command."""

from driftwatch_demo.cli import main

raise SystemExit(main())
