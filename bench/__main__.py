"""``python -m bench [NAME ...]``: run the benchmarks (all by default), each beside its peer."""

from __future__ import annotations

import importlib
import sys

BENCHMARKS = (
    "load",
    "assign",
    "assign_trigger",
    "assign_dask",
    "api_load",
    "paging",
    "queue",
    "nearest",
    "tiles",
    "hotspots",
    "accounts",
    "plans_balance",
    "versions",
    "plans",
    "rollup",
)


def main(argv: list[str]) -> int:
    # plans-balance and plans_balance name the same module
    names = [n.replace("-", "_") for n in argv] or list(BENCHMARKS)
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown:
        print(f"unknown benchmark(s) {unknown}; expected some of {list(BENCHMARKS)}")
        return 2
    for name in names:
        print(f"== bench.{name}", flush=True)
        module = importlib.import_module(f"bench.{name}")
        module.main([])
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
