"""The one exception type of the kit: what went wrong, and the fix."""

from __future__ import annotations


class LabError(Exception):
    """A problem a user can fix. Tasks print it without a traceback."""

    def __init__(self, problem: str, fix: str | None = None):
        self.problem = problem
        self.fix = fix
        super().__init__(problem if not fix else f"{problem}\nFix: {fix}")
