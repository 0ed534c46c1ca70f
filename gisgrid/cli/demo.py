"""``gisgrid demo``: generate the synthetic Harbin twin and load it."""

from __future__ import annotations

import json
import time
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import TaskID
from rich.table import Table

from gisgrid.cli import counted_bar

console = Console(soft_wrap=True)


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)


def demo(
    scale: Annotated[
        str, typer.Option(help="tiny (tests), small (the demo), city (scale)")
    ] = "small",
    seed: Annotated[int, typer.Option(help="Random seed: the same seed gives the same city")] = 42,
    replace: Annotated[bool, typer.Option(help="Empty the store first, then load")] = False,
    incidents: Annotated[
        int | None,
        typer.Option(
            help="How many incidents (default: the scale's); above 1,000,000 they are "
            "generated and loaded a month at a time",
            min=1,
        ),
    ] = None,
) -> None:
    """Generate the synthetic city and load it, unless the store already holds one."""
    from gisgrid.settings import get_settings
    from gisgrid.store.cluster import Cluster
    from gisgrid.store.engine import make_engine, table_counts
    from gisgrid.store.partitions import cluster_months
    from gisgrid.synth import SCALES, generate
    from gisgrid.synth.store import store_is_empty, write_city

    if scale not in SCALES:
        raise typer.BadParameter(f"scale={scale!r}; expected one of {sorted(SCALES)}")
    settings = get_settings()
    if not settings.database_url:
        Cluster.from_settings(settings).up()
    engine = make_engine(settings)
    try:
        if not replace and not store_is_empty(engine):
            console.print("the store already holds a city; reusing it (--replace to regenerate)")
            _print_counts(table_counts(engine))
            return
        t0 = time.perf_counter()
        with console.status(f"generating the {scale} city (seed {seed})...") as st:
            city = generate(
                scale,
                seed,
                salt=settings.id_salt.get_secret_value(),
                step=lambda m: st.update(f"generating: {m}"),
                incidents=incidents,
            )
        t_gen = time.perf_counter() - t0
        console.print(f"generated in {t_gen:.1f} s")
        with counted_bar(console) as progress:
            tasks: dict[str, TaskID] = {}

            def on_progress(table: str, done: int, total: int) -> None:
                if table not in tasks:
                    tasks[table] = progress.add_task(table, total=total or 1)
                progress.update(tasks[table], completed=done if total else 1)

            t1 = time.perf_counter()
            write_city(engine, city, replace=replace, progress=on_progress)
        t_load = time.perf_counter() - t1
        truth_dir = settings.data_path / "demo"
        truth_dir.mkdir(parents=True, exist_ok=True)
        truth = truth_dir / f"ground_truth_{scale}_{seed}.json"
        truth.write_text(json.dumps(city.ground_truth, ensure_ascii=False, indent=1))
        console.print(f"loaded in {t_load:.1f} s; planted hotspots: {truth}")
        # the months are over: their rows in spatial order, as `gisgrid db cluster` keeps them
        with console.status("clustering the months by place...") as st:
            done = cluster_months(
                engine,
                progress=lambda part, k, n: st.update(
                    f"clustering the months by place: {part} ({k}/{n})"
                ),
            )
        secs = sum(c.seconds for c in done)
        console.print(f"clustered {len(done)} months by place in {secs:.1f} s")
        _print_counts(table_counts(engine))
    finally:
        engine.dispose()


def _print_counts(counts: dict[str, int]) -> None:
    table = Table("table", "rows", title="the store")
    for name, n in counts.items():
        table.add_row(name, f"{n:,}")
    console.print(table)
