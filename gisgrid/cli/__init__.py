"""The gisgrid command line: main and one module per command group."""

from __future__ import annotations

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn


def counted_bar(
    console: Console, label: str = "{task.description:<20}", transient: bool = False
) -> Progress:
    """A progress bar of counted steps (label, bar, done/total, time): what ``demo``, ``load``
    and ``db cluster`` show."""
    return Progress(
        TextColumn(label),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=transient,
    )
