"""The kit's exception types: what went wrong, and the fix."""

from __future__ import annotations


class LabError(Exception):
    """A problem a user can fix. Tasks print it without a traceback (exit 2: refused)."""

    def __init__(self, problem: str, fix: str | None = None):
        self.problem = problem
        self.fix = fix
        super().__init__(problem if not fix else f"{problem}\nFix: {fix}")


class CheckFailed(LabError):
    """A check that ran and found a failure (acknowledged messages that never arrived): the
    kit did what it was asked, and the answer is no. Tasks exit 1, not 2 (docs/json.md)."""
