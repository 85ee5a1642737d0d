#!/usr/bin/env python3
"""Joins the JSON lines of wgflow's benchmark programs and bench/torch_reference.py into one table of
ratios, and checks the targets of issue 5. Needs only the standard library (no PyTorch).

  python3 bench/compare.py RESULTS.jsonl [MORE.jsonl ...] [--markdown]

A figure is matched to its peer by (workload, particles, dtype, threads); the ratio is wgflow's steps/s
over PyTorch's (above 1: wgflow is faster). Figures without a peer are listed with an empty ratio.

Where the results hold bench_peak's figures (the cores' peak multiply-add rate) and a workload's `fmas`
(the multiply-adds no implementation of it can skip), the table gives the rate wgflow's arithmetic ran
at as a share of that peak, and the targets are set against it: "ceiling" is the ratio to PyTorch that
a step doing nothing but its multiply-adds, at the peak rate, would reach; "floor", the lowest DRLE/DLE
ratio the interaction's arithmetic allows. A target beyond them cannot be met on the machine measured.

A key measured in several rounds (`bench/run.sh --rounds R`, or several files) is paired round by
round, in the order the figures were written: each round's ratio is taken between the two figures
measured minutes apart, and the table shows the medians, with the rounds' range of the ratio. On a
shared machine a slow moment then costs one round's ratio, not the whole table's.
"""
import argparse
import json
import sys

KEY_FIELDS = ("workload", "particles", "dtype", "threads")


def load(paths):
    rows = []
    for path in paths:
        with open(path) as f:
            rows += [json.loads(line) for line in f if line.strip()]
    return rows


def key(r):
    return tuple(r.get(k) for k in KEY_FIELDS)


def rounds(rows, impl):
    """Each key's figures for one implementation, in the order written (one per round)."""
    out = {}
    for r in rows:
        if r.get("impl") == impl and r.get("workload") not in ("gemm", "peak_fma") \
                and not r.get("workload", "").startswith("scaling/"):
            out.setdefault(key(r), []).append(r)
    return out


def median(xs):
    xs = sorted(xs)
    n = len(xs)
    return xs[n // 2] if n % 2 else (xs[n // 2 - 1] + xs[n // 2]) / 2


def paired(a, b, f):
    """f over the rounds both lists have, paired by position: (median, min, max), or None."""
    vals = [f(x, y) for x, y in zip(a, b)]
    return (median(vals), min(vals), max(vals)) if vals else None


def each(a, f):
    """f over one list's rounds: (median, min, max), or None."""
    return paired(a, a, lambda x, _: f(x)) if a else None


def show(m, digits=2, suffix="x"):
    """A (median, min, max) as text: the median, and the range when the rounds differ."""
    if m is None:
        return ""
    med, lo, hi = m
    return f"{med:.{digits}f}{suffix}" + (f" ({lo:.{digits}f}-{hi:.{digits}f})" if hi > lo else "")


def fmt(x, digits=1):
    return "" if x is None else f"{x:.{digits}f}"


def steps_ratio(w, t):
    return w["steps_per_s"] / t["steps_per_s"]


def peaks(rows):
    """The best peak multiply-add rate per thread (G/s) that any probe saw, per dtype. A capability, so the
    best probe, and per thread: `peak` scales it by the thread count, an upper bound on what the cores do
    together (shared caches, SMT siblings or another tenant can only make it less), so that a floor
    computed from it is safe, where a 2-thread probe that another tenant's load kept to one core would
    make the floors too high and a target look beyond reach that is not."""
    out = {}
    for r in rows:
        if r.get("workload") == "peak_fma":
            out[r["dtype"]] = max(out.get(r["dtype"], 0), r["gfma_per_s"] / r["threads"])
    return out


def peak(pk, dtype, threads):
    """G multiply-adds per second that `threads` threads can issue at most, or None without a probe."""
    return pk[dtype] * threads if dtype in pk and threads else None


def floor_s(figures, rate):
    """Seconds a run's multiply-adds take at `rate` G/s (the peak): no implementation of them is faster."""
    fmas = figures[0].get("fmas") if figures else None
    return fmas / (rate * 1e9) if fmas and rate else None


def table(rows):
    wg, th, pk = rounds(rows, "wgflow"), rounds(rows, "torch"), peaks(rows)
    lines = [("workload", "N", "dtype", "thr", "wgflow steps/s", "PyTorch steps/s", "wgflow/PyTorch",
              "of peak")]
    for k in sorted(set(wg) | set(th), key=lambda k: tuple(str(x) for x in k)):
        w, t = wg.get(k, []), th.get(k, [])
        ws = median([r["steps_per_s"] for r in w]) if w else None
        ts = median([r["steps_per_s"] for r in t]) if t else None
        floor = floor_s(w, peak(pk, k[2], k[3]))
        share = f"{100 * floor * ws:.0f}%" if floor and ws else ""
        lines.append((k[0], str(k[1] or ""), k[2], str(k[3]), fmt(ws), fmt(ts), show(paired(w, t, steps_ratio)),
                      share))
    return lines


def gemm_rounds(rows, impl):
    out = {}
    for r in rows:
        if r.get("workload") == "gemm" and r.get("impl") == impl:
            out.setdefault((r["size"], r["dtype"], r["threads"]), []).append(r)
    return out


def gemm_table(rows):
    lines = [("n", "dtype", "thr", "wgflow GFLOP/s", "OpenBLAS GFLOP/s", "wgflow/OpenBLAS", "PyTorch GFLOP/s")]
    torch_gemm = gemm_rounds(rows, "torch")
    for (n, dtype, thr), rs in sorted(gemm_rounds(rows, "wgflow").items(), key=lambda kv: (kv[0][1], kv[0][2], kv[0][0])):
        t = torch_gemm.get((n, dtype, thr))
        lines.append((str(n), dtype, str(thr), fmt(median([r["gflops"] for r in rs])),
                      fmt(median([r["openblas_gflops"] for r in rs])),
                      show(each(rs, lambda r: r["gflops"] / r["openblas_gflops"]), suffix=""),
                      fmt(median([r["gflops"] for r in t]) if t else None)))
    return lines


def targets(rows):
    """(target, figure, met, bound) for each target of issue 5 that the results allow to check; with
    several rounds, on the median of the rounds' figures. `met` is "yes", "no", or "no (beyond peak)"
    where the bound shows that no implementation of the arithmetic meets it on this machine; `bound` is
    the ceiling or floor at the peak rate, where the results allow it."""
    wg, th, pk = rounds(rows, "wgflow"), rounds(rows, "torch"), peaks(rows)
    out = []

    def verdict(ok, possible=True):
        return "yes" if ok else "no" if possible else "no (beyond peak)"

    thread_counts = sorted({k[3] for k in wg})
    for n in (5, 100):
        for m in ("DE", "DLE", "DRLE"):
            for dtype in ("float32", "float64"):
                for thr in thread_counts:
                    w, t = wg.get((f"flow_step/{m}", n, dtype, thr), []), th.get((f"flow_step/{m}", n, dtype, thr), [])
                    r = paired(w, t, steps_ratio)
                    if r:
                        # The ratio a step of nothing but its multiply-adds, at the peak, would reach.
                        floor = floor_s(w, peak(pk, dtype, thr))
                        ceiling = median([x["median_s"] for x in t]) / floor if floor else None
                        out.append((f"({1 if n == 5 else 2}) {m} N={n} {dtype} {thr} thr: >= 20x PyTorch steps/s",
                                    show(r), verdict(r[0] >= 20, ceiling is None or ceiling >= 20),
                                    f"ceiling {ceiling:.1f}x" if ceiling else ""))
    for dtype in ("float32", "float64"):
        for thr in thread_counts:
            w, t = wg.get(("mlp_sgd_step", None, dtype, thr), []), th.get(("mlp_sgd_step", None, dtype, thr), [])
            r = paired(w, t, lambda a, b: a["median_s"] / b["median_s"])
            if r:
                out.append((f"(3) MLP step {dtype} {thr} thr: time <= 1.1x PyTorch's", show(r),
                            verdict(r[0] <= 1.1), ""))
            r = each(w, lambda a: a["backward_over_forward"])
            if r:
                out.append((f"(3) MLP {dtype} {thr} thr: backward / forward <= 3", show(r, suffix=""),
                            verdict(r[0] <= 3), ""))
    gemm = gemm_rounds(rows, "wgflow")
    for thr in sorted({k[2] for k in gemm if k[:2] == (1024, "float32")}):
        rs = gemm[(1024, "float32", thr)]
        r = each(rs, lambda g: g["gflops"] / g["openblas_gflops"])
        out.append((f"(5) GEMM 1024^3 float32 {thr} thr: >= 90% of OpenBLAS sgemm",
                    f"{100 * r[0]:.0f}% ({median([g['gflops'] for g in rs]):.1f} vs "
                    f"{median([g['openblas_gflops'] for g in rs]):.1f} GFLOP/s)", verdict(r[0] >= 0.9), ""))
    # The 2-thread speedup: from bench_flows --scaling (alternating 1- and 2-thread blocks, robust to a
    # changing load) where present, else from the separate 1- and 2-thread runs.
    scaling = {}
    for r in rows:
        if r.get("workload", "").startswith("scaling/") and r.get("particles") == 100:
            scaling.setdefault((r["workload"], r["dtype"]), []).append(r)
    for m in ("DE", "DLE", "DRLE"):
        for dtype in ("float32", "float64"):
            sc = scaling.get((f"scaling/flow_step/{m}", dtype))
            one, two = wg.get((f"flow_step/{m}", 100, dtype, 1), []), wg.get((f"flow_step/{m}", 100, dtype, 2), [])
            if sc:
                s = median([r["speedup"] for r in sc])
                lo, hi = min(r["min_speedup"] for r in sc), max(r["max_speedup"] for r in sc)
                out.append((f"(2) {m} N=100 {dtype}: 2 threads >= 1.8x faster than 1 (paired rounds)",
                            f"{s:.2f}x ({lo:.2f}-{hi:.2f})", verdict(s >= 1.8), ""))
            elif one and two:
                s = paired(one, two, lambda a, b: a["median_s"] / b["median_s"])
                out.append((f"(2) {m} N=100 {dtype}: 2 threads >= 1.8x faster than 1", show(s),
                            verdict(s[0] >= 1.8), ""))
    for dtype in ("float32", "float64"):
        for thr in thread_counts:
            drle, dle = wg.get(("step/DRLE", 1000, dtype, thr), []), wg.get(("step/DLE", 1000, dtype, thr), [])
            r = paired(drle, dle, lambda d, l: d["median_s"] / l["median_s"])
            if r:
                # The DRLE step's multiply-adds (networks and interaction) at the peak, over the DLE step.
                floor = floor_s(drle, peak(pk, dtype, thr))
                lowest = floor / median([x["median_s"] for x in dle]) if floor else None
                out.append((f"(4) N=1000 DRLE step {dtype} {thr} thr: within 2x of DLE (no interaction)", show(r),
                            verdict(r[0] <= 2, lowest is None or lowest <= 2),
                            f"floor {lowest:.2f}x" if lowest else ""))
    return out


def render(lines, markdown):
    if markdown:
        head, *body = lines
        out = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
        return "\n".join(out + ["| " + " | ".join(r) + " |" for r in body])
    widths = [max(len(r[i]) for r in lines) for i in range(len(lines[0]))]
    return "\n".join("  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths)))
                     for r in lines)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("results", nargs="+")
    p.add_argument("--markdown", action="store_true")
    a = p.parse_args()
    rows = load(a.results)
    if not rows:
        print("no results", file=sys.stderr)
        return 1
    cpus = sorted({r.get("cpu", "?") for r in rows})
    torch_versions = sorted({r["torch"] for r in rows if "torch" in r})
    print(f"CPU: {', '.join(cpus)}" + (f"; PyTorch {', '.join(torch_versions)}" if torch_versions else
                                       "; no PyTorch figures"))
    pk = peaks(rows)
    if pk:
        print("Peak multiply-add rate per thread (bench_peak, best probe; times the threads for the bounds): " +
              ", ".join(f"{d} {g:.1f} G/s" for d, g in sorted(pk.items())))
    print()
    print(render(table(rows), a.markdown))
    if any(r.get("workload") == "gemm" and r.get("impl") == "wgflow" for r in rows):
        print()
        print(render(gemm_table(rows), a.markdown))
    print()
    t = [("target", "measured", "met", "at the peak")] + targets(rows)
    print(render(t, a.markdown))
    return 0


if __name__ == "__main__":
    sys.exit(main())
