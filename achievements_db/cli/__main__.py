"""python -m achievements_db.cli: the achievements-db command."""

from achievements_db.cli import main

raise SystemExit(main())
