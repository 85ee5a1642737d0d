#!/usr/bin/env python3
"""Joins the JSON lines of wgflow's benchmark programs and bench/torch_reference.py into one table of
ratios, and checks the targets of issue 5. Needs only the standard library (no PyTorch).

  python3 bench/compare.py RESULTS.jsonl [MORE.jsonl ...] [--markdown]

A figure is matched to its peer by (workload, particles, dtype, threads); the ratio is wgflow's steps/s
over PyTorch's (above 1: wgflow is faster). Figures without a peer are listed with an empty ratio.

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
        if r.get("impl") == impl and r.get("workload") != "gemm" and not r.get("workload", "").startswith("scaling/"):
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


def table(rows):
    wg, th = rounds(rows, "wgflow"), rounds(rows, "torch")
    lines = [("workload", "N", "dtype", "thr", "wgflow steps/s", "PyTorch steps/s", "wgflow/PyTorch")]
    for k in sorted(set(wg) | set(th), key=lambda k: tuple(str(x) for x in k)):
        w, t = wg.get(k, []), th.get(k, [])
        ws = median([r["steps_per_s"] for r in w]) if w else None
        ts = median([r["steps_per_s"] for r in t]) if t else None
        lines.append((k[0], str(k[1] or ""), k[2], str(k[3]), fmt(ws), fmt(ts), show(paired(w, t, steps_ratio))))
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
    """(target, figure, met) for each target of issue 5 that the results allow to check; with several
    rounds, on the median of the rounds' figures."""
    wg, th = rounds(rows, "wgflow"), rounds(rows, "torch")
    out = []

    thread_counts = sorted({k[3] for k in wg})
    for n in (5, 100):
        for m in ("DE", "DLE", "DRLE"):
            for dtype in ("float32", "float64"):
                for thr in thread_counts:
                    r = paired(wg.get((f"flow_step/{m}", n, dtype, thr), []), th.get((f"flow_step/{m}", n, dtype, thr), []),
                               steps_ratio)
                    if r:
                        out.append((f"({1 if n == 5 else 2}) {m} N={n} {dtype} {thr} thr: >= 20x PyTorch steps/s",
                                    show(r), r[0] >= 20))
    for dtype in ("float32", "float64"):
        for thr in thread_counts:
            w, t = wg.get(("mlp_sgd_step", None, dtype, thr), []), th.get(("mlp_sgd_step", None, dtype, thr), [])
            r = paired(w, t, lambda a, b: a["median_s"] / b["median_s"])
            if r:
                out.append((f"(3) MLP step {dtype} {thr} thr: time <= 1.1x PyTorch's", show(r), r[0] <= 1.1))
            r = each(w, lambda a: a["backward_over_forward"])
            if r:
                out.append((f"(3) MLP {dtype} {thr} thr: backward / forward <= 3", show(r, suffix=""), r[0] <= 3))
    gemm = gemm_rounds(rows, "wgflow")
    for thr in sorted({k[2] for k in gemm if k[:2] == (1024, "float32")}):
        rs = gemm[(1024, "float32", thr)]
        r = each(rs, lambda g: g["gflops"] / g["openblas_gflops"])
        out.append((f"(5) GEMM 1024^3 float32 {thr} thr: >= 90% of OpenBLAS sgemm",
                    f"{100 * r[0]:.0f}% ({median([g['gflops'] for g in rs]):.1f} vs "
                    f"{median([g['openblas_gflops'] for g in rs]):.1f} GFLOP/s)", r[0] >= 0.9))
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
                            f"{s:.2f}x ({lo:.2f}-{hi:.2f})", s >= 1.8))
            elif one and two:
                s = paired(one, two, lambda a, b: a["median_s"] / b["median_s"])
                out.append((f"(2) {m} N=100 {dtype}: 2 threads >= 1.8x faster than 1", show(s), s[0] >= 1.8))
    for dtype in ("float32", "float64"):
        for thr in thread_counts:
            r = paired(wg.get(("step/DRLE", 1000, dtype, thr), []), wg.get(("step/DLE", 1000, dtype, thr), []),
                       lambda d, l: d["median_s"] / l["median_s"])
            if r:
                out.append((f"(4) N=1000 DRLE step {dtype} {thr} thr: within 2x of DLE (no interaction)", show(r),
                            r[0] <= 2))
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
    print()
    print(render(table(rows), a.markdown))
    if any(r.get("workload") == "gemm" and r.get("impl") == "wgflow" for r in rows):
        print()
        print(render(gemm_table(rows), a.markdown))
    print()
    t = [("target", "measured", "met")] + [(n, f, "yes" if ok else "no") for n, f, ok in targets(rows)]
    print(render(t, a.markdown))
    return 0


if __name__ == "__main__":
    sys.exit(main())
