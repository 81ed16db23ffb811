"""The load benchmark's run: load or overload (each run with a fresh upstream), then the report."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from harness.results import RAW
from load_bench.merge import merge_runs, rewrite_report, write_load_report
from load_bench.options import parse_args, run_meta
from load_bench.overload import overload_markdown, run_overload
from load_bench.runner import Bench


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    if args.report_only:
        rewrite_report(args.output)
        print(f"wrote {args.output.with_suffix('.md')}")
        return 0
    meta = run_meta(args, argv)
    RAW.mkdir(parents=True, exist_ok=True)
    bench = Bench(args)
    if args.overload:
        meta["verdicts"] = run_overload(bench)
        bench.save_json(meta)
        args.output.with_suffix(".md").write_text(overload_markdown(meta, bench.points))
        print("\n".join(meta["verdicts"]))
    else:
        merging = args.merge and args.output.with_suffix(".json").exists()
        bench.run_load()
        parts = (bench.floor, bench.points, bench.wrk)
        if merging:
            meta, *parts = merge_runs(args.output, meta, *parts)
        bench.floor, bench.points, bench.wrk = parts
        meta["plot"] = args.output.with_suffix(".png").name
        bench.save_json(meta)
        write_load_report(args.output, meta, bench.floor, bench.points, bench.wrk)
    print(f"wrote {args.output.with_suffix('.md')}")
    return 0
