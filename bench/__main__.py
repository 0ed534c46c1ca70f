"""``python -m bench [NAME ...]``: run the benchmarks (all by default), each beside its peer;
``python -m bench NAME --option ...`` passes the options to that one."""

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
    "replica",
    "live",
    "invalidate",
    "rollup",
)


def main(argv: list[str]) -> int:
    # options after one name are that benchmark's: python -m bench live --duration 10
    first_opt = next((i for i, a in enumerate(argv) if a.startswith("-")), len(argv))
    argv, options = argv[:first_opt], argv[first_opt:]
    if options and len(argv) != 1:
        print(f"options {options} go to one benchmark; name exactly one before them")
        return 2
    # plans-balance and plans_balance name the same module
    names = [n.replace("-", "_") for n in argv] or list(BENCHMARKS)
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown:
        print(f"unknown benchmark(s) {unknown}; expected some of {list(BENCHMARKS)}")
        return 2
    for name in names:
        print(f"== bench.{name}", flush=True)
        module = importlib.import_module(f"bench.{name}")
        module.main(options)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
