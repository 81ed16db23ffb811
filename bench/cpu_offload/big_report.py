"""Part 1's report: the big-batch table, its verdict, both cores at work, the trace."""

from __future__ import annotations

from collections.abc import Sequence

from cpu_offload.big_batch import STARTUP_WARM, BigBatch
from cpu_offload.inputs import WORKERS
from harness.meter import CpuMeter
from harness.results import fmt_s, spread, verdict
from harness.rounds import Rounds

TARGET_BIG_RATIO = 0.6
MIN_QUIET_ROUNDS = 3  # fewer, and the big-batch table uses all rounds


def overlap_seconds(intervals: Sequence[tuple[float, float]]) -> float:
    """Time during which at least two of the intervals were open at once."""
    events = sorted([(a, 1) for a, _ in intervals] + [(b, -1) for _, b in intervals])
    open_, last, total = 0, 0.0, 0.0
    for at, step in events:
        if open_ >= 2:
            total += at - last
        open_ += step
        last = at
    return total


BIG_LABELS = {
    "serial": "serial loop: `[is_prime(n) for n in numbers]` in this process",
    "pool": f'`CpuPool("process", {WORKERS}).map_batches(is_prime_batch, numbers, prime_cost)`',
    "http": "`POST /is_prime` on `fanout serve`, end to end (JSON out and back)",
    "ceiling": "ceiling: a perfect 2-way split here (half the time of two serial loops "
    "running at once, one per pool process)",
}
# The ceiling's runs do the whole batch twice; its row shows half their time.
BIG_SCALE = {"ceiling": 0.5}


def basis_rounds(r: Rounds) -> tuple[Rounds, str, bool]:
    """The quiet rounds if there are enough of them, else all.

    Also returns a phrase naming them, and whether they are quiet.
    """
    count, quiet = len(r.others), r.quiet()
    if len(quiet) == count:
        return r, f"all {count} rounds (all quiet)", True
    if len(quiet) >= min(MIN_QUIET_ROUNDS, count):
        return r.subset(quiet), f"the {len(quiet)} quiet rounds (of {count})", True
    return r, f"all {count} rounds (only {len(quiet)} quiet)", False


def big_section(big: BigBatch) -> list[str]:
    r, basis, _ = basis_rounds(big.rounds)
    low, high = big.digits
    digits = str(low) if low == high else f"{low}-{high}"
    rows = [
        "## 1. Big batch of 1000-digit numbers",
        "",
        f"{big.count} distinct numbers of {digits} digits: "
        f"{big.count - big.known_primes} random odd ones and {big.known_primes} primes, "
        f"shuffled ({big.primes_found} prime in all). The pool cut the batch into "
        f"{big.chunks} chunks.",
        "",
        f"How to read: time for the whole batch over {basis}, the cores other programs kept "
        "busy during all runs, and the time over the serial loop's two ways: the ratio of "
        "the medians, and the median of each round's ratio (target for the pool: at most "
        f"{TARGET_BIG_RATIO}x on 2 cores; 0.5x is perfect scaling on ideal hardware, the "
        "ceiling row is what this machine allows).",
        "",
        "| contender | median | spread | other programs (cores) | / serial, ratio of medians "
        "| / serial, median of per-round ratios |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, label in BIG_LABELS.items():
        k = BIG_SCALE.get(name, 1.0)
        rows.append(
            f"| {label} | {fmt_s(k * r.median(name))} | {spread([k * t for t in r.times[name]])} "
            f"| {r.meters[name].cores()[2]:.2f} | {k * r.ratio_of_medians(name, 'serial'):.2f}x "
            f"| {k * r.ratio(name, 'serial'):.2f}x |"
        )
    rows += ["", *big_verdict(big), "", *cores_section(big)]
    return rows


def big_verdict(big: BigBatch) -> list[str]:
    r, basis, quiet = basis_rounds(big.rounds)
    of_medians, per_round = r.ratio_of_medians("pool", "serial"), r.ratio("pool", "serial")
    met = [x <= TARGET_BIG_RATIO for x in (of_medians, per_round)]
    outcome = verdict(True) if all(met) else verdict(False) if not any(met) else "**borderline**"
    scale = BIG_SCALE["ceiling"]
    ceiling = scale * r.ratio_of_medians("ceiling", "serial")
    to_ceiling = r.median("pool") / (scale * r.median("ceiling"))
    st = big.startup
    return [
        f"- Target (pool <= {TARGET_BIG_RATIO}x serial on 2 cores), over {basis}: {outcome}: "
        f"{of_medians:.3f}x as a ratio of medians ({1 / of_medians:.2f}x speed-up), "
        f"{per_round:.3f}x as the median of per-round ratios (the two differ by the "
        f"contenders' own run-to-run noise: the serial loop alone spans "
        f"{spread(r.times['serial'])}). Through HTTP: {r.ratio_of_medians('http', 'serial'):.2f}x"
        f" / {r.ratio('http', 'serial'):.2f}x.",
        f"- Ceiling: {ceiling_note(ceiling, quiet)} The pool's median time is "
        f"{to_ceiling:.2f}x the perfect split's.",
        f"- Pool start-up, measured apart on {st.count} composite 1000-digit numbers (little "
        "work, but pooled by their estimated cost): the first call on a fresh pool took "
        f"{fmt_s(st.pool_cold)} against {fmt_s(st.pool_warm)} for the next ones (median of "
        f"{STARTUP_WARM}); the first `POST` to a fresh server {fmt_s(st.http_cold)} against "
        f"{fmt_s(st.http_warm)} on the same keep-alive connection. Each gunicorn worker "
        f"starts its own pool on its first pooled request; warm-up then started the pools "
        f"of {big.warm_server_workers} of {big.server_workers} workers before the rounds.",
    ]


def ceiling_note(ceiling: float, quiet: bool) -> str:
    split = f"a perfect 2-way split would be {ceiling:.2f}x serial here"
    if ceiling <= 0.52:
        return f"{split}, as on ideal hardware."
    if not quiet:
        return f"{split}, not 0.5x: other programs held cores during these rounds."
    return (
        f"{split}, not 0.5x, even with other programs quiet: two copies of the loop running "
        "at once each take longer than one alone (the two virtual CPUs slow each other down)."
    )


def cores_section(big: BigBatch) -> list[str]:
    r = big.rounds
    rows = [
        "### Both cores at work",
        "",
        "How to read: CPU seconds (user + system, from /proc) spent during each "
        "contender's timed runs, divided by those runs' wall time, i.e. mean cores busy: by "
        "the pool's worker processes (2.0 = both cores all the time), by the rest of this "
        "benchmark (this process; for HTTP also the server's gunicorn workers), and by "
        "other programs, which take cores away from the pool but not from the one-core "
        "serial loop.",
        "",
        "| runs | pool processes | CPU s per pool process | pool cores "
        "| rest of this benchmark | other programs |",
        "|---|---:|---|---:|---:|---:|",
        meter_row("serial loop", r.meters["serial"]),
        meter_row("in-process pool", r.meters["pool"]),
        meter_row("`POST /is_prime` (pools of both server workers)", r.meters["http"]),
        meter_row("ceiling (two serial loops at once in the pool)", r.meters["ceiling"]),
        "",
        *trace_section(big),
    ]
    return rows


def trace_section(big: BigBatch) -> list[str]:
    pids = sorted({pid for pid, _, _ in big.trace})
    start = min(a for _, a, _ in big.trace)
    end = max(b for _, _, b in big.trace)
    busy = sum(b - a for _, a, b in big.trace)
    overlap = overlap_seconds([(a, b) for _, a, b in big.trace])
    last_ends = [max(b for p, _, b in big.trace if p == pid) for pid in pids]
    tail = max(last_ends) - min(last_ends)
    rows = [
        "How to read: one extra traced run of the in-process pool; each chunk reports its "
        "process id and start/end time. Overlap is the time during which at least two "
        "chunks ran at once.",
        "",
        "| worker pid | chunks | busy |",
        "|---:|---:|---:|",
    ]
    for pid in pids:
        mine = [(a, b) for p, a, b in big.trace if p == pid]
        rows.append(f"| {pid} | {len(mine)} | {fmt_s(sum(b - a for a, b in mine))} |")
    rows += [
        "",
        f"- Chunks ran in {len(pids)} distinct processes; from the first chunk's start to "
        f"the last one's end {fmt_s(end - start)}, {fmt_s(busy)} of chunk time in all "
        f"({busy / (end - start):.2f} chunks running on average), {fmt_s(overlap)} "
        f"({overlap / (end - start):.0%}) with two or more chunks running at once. The "
        f"first worker to run out of chunks then idled {fmt_s(tail)} while the other "
        "finished (chunks are balanced on estimated cost, which is the same for every "
        "1000-digit number, while a prime costs ~30x a typical composite). Other programs "
        f"kept {big.trace_others:.2f} cores busy meanwhile.",
        "",
    ]
    return rows


def meter_row(label: str, meter: CpuMeter) -> str:
    used = sorted((s for s in meter.cpu.values() if s > 0.01), reverse=True)
    per_worker = ", ".join(f"{s:.2f}" for s in used) or "-"
    pool, rest, others = meter.cores()
    return f"| {label} | {len(used)} | {per_worker} | {pool:.2f} | {rest:.2f} | {others:.2f} |"
