#!/usr/bin/env python3
"""Joins the JSON lines of wgflow's benchmark programs and bench/torch_reference.py into one table of
ratios, and checks the targets of issue 5. Needs only the standard library (no PyTorch).

  python3 bench/compare.py RESULTS.jsonl [MORE.jsonl ...] [--markdown]

A figure is matched to its peer by (workload, particles, dtype, threads); the ratio is wgflow's steps/s
over PyTorch's (above 1: wgflow is faster). Figures without a peer are listed with an empty ratio.
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


def latest(rows, impl):
    """The last figure of each key for one implementation (a rerun replaces an earlier figure)."""
    out = {}
    for r in rows:
        if r.get("impl") == impl and r.get("workload") != "gemm" and not r.get("workload", "").startswith("scaling/"):
            out[key(r)] = r
    return out


def fmt(x, digits=1):
    return "" if x is None else f"{x:.{digits}f}"


def table(rows):
    wg, th = latest(rows, "wgflow"), latest(rows, "torch")
    lines = [("workload", "N", "dtype", "thr", "wgflow steps/s", "PyTorch steps/s", "wgflow/PyTorch")]
    for k in sorted(set(wg) | set(th), key=lambda k: tuple(str(x) for x in k)):
        w, t = wg.get(k), th.get(k)
        ws, ts = (w or {}).get("steps_per_s"), (t or {}).get("steps_per_s")
        lines.append((k[0], str(k[1] or ""), k[2], str(k[3]), fmt(ws), fmt(ts),
                      f"{ws / ts:.2f}x" if ws and ts else ""))
    return lines


def gemm_table(rows):
    lines = [("n", "dtype", "thr", "wgflow GFLOP/s", "OpenBLAS GFLOP/s", "wgflow/OpenBLAS", "PyTorch GFLOP/s")]
    torch_gemm = {(r["size"], r["dtype"], r["threads"]): r["gflops"] for r in rows
                  if r.get("workload") == "gemm" and r.get("impl") == "torch"}
    seen = {}
    for r in rows:
        if r.get("workload") == "gemm" and r.get("impl") == "wgflow":
            seen[(r["size"], r["dtype"], r["threads"])] = r
    for (n, dtype, thr), r in sorted(seen.items(), key=lambda kv: (kv[0][1], kv[0][2], kv[0][0])):
        lines.append((str(n), dtype, str(thr), fmt(r["gflops"]), fmt(r["openblas_gflops"]),
                      f"{r['gflops'] / r['openblas_gflops']:.2f}", fmt(torch_gemm.get((n, dtype, thr)))))
    return lines


def targets(rows):
    """(target, figure, met) for each target of issue 5 that the results allow to check."""
    wg, th = latest(rows, "wgflow"), latest(rows, "torch")
    out = []

    thread_counts = sorted({k[3] for k in wg})
    for n in (5, 100):
        for m in ("DE", "DLE", "DRLE"):
            for dtype in ("float32", "float64"):
                for thr in thread_counts:
                    w = wg.get((f"flow_step/{m}", n, dtype, thr))
                    t = th.get((f"flow_step/{m}", n, dtype, thr))
                    if w and t:
                        r = w["steps_per_s"] / t["steps_per_s"]
                        out.append((f"({1 if n == 5 else 2}) {m} N={n} {dtype} {thr} thr: >= 20x PyTorch steps/s",
                                    f"{r:.2f}x", r >= 20))
    for dtype in ("float32", "float64"):
        for thr in thread_counts:
            w, t = wg.get(("mlp_sgd_step", None, dtype, thr)), th.get(("mlp_sgd_step", None, dtype, thr))
            if w and t:
                r = w["median_s"] / t["median_s"]
                out.append((f"(3) MLP step {dtype} {thr} thr: time <= 1.1x PyTorch's", f"{r:.2f}x", r <= 1.1))
            if w:
                out.append((f"(3) MLP {dtype} {thr} thr: backward / forward <= 3", f"{w['backward_over_forward']:.2f}",
                            w["backward_over_forward"] <= 3))
    gemm = [r for r in rows if r.get("workload") == "gemm" and r.get("impl") == "wgflow" and r["size"] == 1024
            and r["dtype"] == "float32"]
    for r in gemm[-2:] if len({g["threads"] for g in gemm}) > 1 else gemm[-1:]:
        ratio = r["gflops"] / r["openblas_gflops"]
        out.append((f"(5) GEMM 1024^3 float32 {r['threads']} thr: >= 90% of OpenBLAS sgemm",
                    f"{100 * ratio:.0f}% ({r['gflops']:.1f} vs {r['openblas_gflops']:.1f} GFLOP/s)", ratio >= 0.9))
    # The 2-thread speedup: from bench_flows --scaling (alternating 1- and 2-thread blocks, robust to a
    # changing load) where present, else from the separate 1- and 2-thread runs.
    scaling = {(r["workload"], r["dtype"]): r for r in rows
               if r.get("workload", "").startswith("scaling/") and r.get("particles") == 100}
    for m in ("DE", "DLE", "DRLE"):
        for dtype in ("float32", "float64"):
            sc = scaling.get((f"scaling/flow_step/{m}", dtype))
            one, two = wg.get((f"flow_step/{m}", 100, dtype, 1)), wg.get((f"flow_step/{m}", 100, dtype, 2))
            if sc:
                s = sc["speedup"]
                out.append((f"(2) {m} N=100 {dtype}: 2 threads >= 1.8x faster than 1 (paired rounds)",
                            f"{s:.2f}x ({sc['min_speedup']:.2f}-{sc['max_speedup']:.2f})", s >= 1.8))
            elif one and two:
                s = one["median_s"] / two["median_s"]
                out.append((f"(2) {m} N=100 {dtype}: 2 threads >= 1.8x faster than 1", f"{s:.2f}x", s >= 1.8))
    for dtype in ("float32", "float64"):
        for thr in thread_counts:
            d, l = wg.get(("step/DRLE", 1000, dtype, thr)), wg.get(("step/DLE", 1000, dtype, thr))
            if d and l:
                r = d["median_s"] / l["median_s"]
                out.append((f"(4) N=1000 DRLE step {dtype} {thr} thr: within 2x of DLE (no interaction)",
                            f"{r:.2f}x", r <= 2))
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
