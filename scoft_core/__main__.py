"""python -m scoft_core train | negatives | captions | sample (see scoft_core.cli)."""

from scoft_core.cli import main

raise SystemExit(main())
