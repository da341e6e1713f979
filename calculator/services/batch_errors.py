"""The error a batch upload answers with: every problem of the file at once, each naming its row and column."""

from collections.abc import Sequence
from dataclasses import dataclass

from mining_platform.core.errors import InvalidInputError

# Problems kept in full; the rest are only counted (a 100,000-row file of garbage must not fill memory).
PROBLEMS_KEPT = 1000


@dataclass(frozen=True)
class BatchProblem:
    """One thing wrong with the input: a row (None for the file or a form field), a column and a message."""

    row: int | None
    column: str
    message: str
    value: str = ""  # the cell as given, shortened, to help find it

    @property
    def key(self) -> str:
        """The problem's name in an error envelope's `fields`: `rows[5].power_w`, or the column alone."""
        return self.column if self.row is None else f"rows[{self.row}].{self.column}"


class BatchInvalidError(InvalidInputError):
    """The batch was refused as a whole; nothing was computed or stored."""

    code = "batch_invalid"
    default_message = "The batch has problems; nothing was computed."

    def __init__(
        self,
        message: str | None = None,
        *,
        problems: Sequence[BatchProblem],
        problem_count: int | None = None,
        row_count: int | None = None,
    ) -> None:
        kept = tuple(problems[:PROBLEMS_KEPT])
        fields: dict[str, list[str]] = {}
        for problem in kept:
            fields.setdefault(problem.key, []).append(problem.message)
        super().__init__(message, fields=fields)
        self.problems = kept
        self.problem_count = len(problems) if problem_count is None else problem_count
        # Rows with at least one problem (file-level problems count no row).
        self.row_count = len({p.row for p in problems if p.row is not None}) if row_count is None else row_count
