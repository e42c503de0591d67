"""The one exception the CLI and the migrator raise for problems a user can fix."""


class AchievementsError(Exception):
    """A clear, one-line description of what went wrong and how to fix it."""
