#!/usr/bin/env python3
"""Joins the JSON lines of wgflow's benchmark programs and bench/torch_reference.py into one table of
ratios and shares of peak, and checks the targets of issue 23 (and those of issue 5 it keeps). Needs only the
standard library (no PyTorch).

  python3 bench/compare.py RESULTS.jsonl [MORE.jsonl ...] [--markdown]

A figure is matched to its peer by (workload, particles, dtype, threads); the ratio is wgflow's steps/s
over PyTorch's (above 1: wgflow is faster). Figures without a peer are listed with an empty ratio.

Where the results hold bench_peak's figures (the cores' peak multiply-add rate) and a workload's `fmas`
(the multiply-adds no implementation of it can skip), the table gives the rate wgflow's arithmetic ran
at as a share of that peak (PyTorch's too, for the same multiply-adds; the MLP step's are counted here from its
shapes, a GEMM's are n^3), and the targets are set against it: "ceiling" is the ratio to PyTorch that
a step doing nothing but its multiply-adds, at the peak rate, would reach; "floor", the lowest DRLE/DLE
ratio the interaction's arithmetic allows. A target beyond them cannot be met on the machine measured.

A key measured in several rounds (`bench/run.sh --rounds R`, or several files) is paired round by
round, in the order the figures were written: each round's ratio is taken between the two figures
measured minutes apart, and the table shows the medians, with the rounds' range of the ratio. On a
shared machine a slow moment then costs one round's ratio, not the whole table's.
"""
import argparse
import json
import math
import sys

KEY_FIELDS = ("workload", "particles", "dtype", "threads")


class BadResults(Exception):
    """A results file that cannot be read, or a line of it that is no JSON object: its file and line."""


def load(paths):
    rows = []
    for path in paths:
        try:
            with open(path) as f:
                lines = f.readlines()
        except OSError as e:
            raise BadResults(f"cannot read {path}: {e.strerror}") from e
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as e:
                raise BadResults(f"{path}, line {number}: not JSON ({e.msg})") from e
            if not isinstance(row, dict):
                raise BadResults(f"{path}, line {number}: a JSON {type(row).__name__}, not an object")
            fault = check(row)
            if fault:
                raise BadResults(f"{path}, line {number}: {fault}")
            rows.append(row)
    return rows


# What a field of a results line must be, as (test, description).
STRING = (lambda x: isinstance(x, str), "a string")
COUNT = (lambda x: isinstance(x, int) and not isinstance(x, bool) and x > 0, "a positive whole number")
NUMBER = (lambda x: isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x), "a finite number")
POSITIVE = (lambda x: NUMBER[0](x) and x > 0, "a positive finite number")


def check(row):
    """What a results line lacks that the tables below read, or None: the fields the benchmark programs,
    torch_reference.py and machine.sh write, each of the type it must have (so that a line from another
    tool, or one edited by hand, is named here rather than ending the tables in a KeyError)."""
    workload = row.get("workload")
    if not isinstance(workload, str) or not workload:
        return 'no "workload" (a non-empty string)'
    if workload == "machine":
        return None
    need = {"impl": STRING, "dtype": STRING, "threads": COUNT}
    if workload == "peak_fma":
        need["gfma_per_s"] = POSITIVE
    elif workload == "gemm":
        need.update(size=COUNT, gflops=POSITIVE)
        if row.get("impl") == "wgflow":
            need["openblas_gflops"] = POSITIVE
    elif workload.startswith("scaling/"):
        need.update(particles=COUNT, speedup=NUMBER, min_speedup=NUMBER, max_speedup=NUMBER)
    else:
        need.update(median_s=POSITIVE, steps_per_s=POSITIVE)
        if row.get("particles") is not None:
            need["particles"] = COUNT
        if row.get("fmas") is not None:
            need["fmas"] = NUMBER
    for field, (ok, what) in need.items():
        if field not in row:
            return f'{workload}: no "{field}"'
        if not ok(row[field]):
            return f'{workload}: "{field}" is {json.dumps(row[field])}, not {what}'
    return None


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
    fmas = fmas_of(figures)
    return fmas / (rate * 1e9) if fmas and rate else None


# The MLP step of bench_mlp (784-1024-1024-10, batch 256): forward B sum(in out), backward dW of every layer
# and dX of all but the first; biases, activations, the loss and the update not counted (as for `fmas`).
MLP_WIDTHS, MLP_BATCH = (784, 1024, 1024, 10), 256


def mlp_fmas():
    layers = list(zip(MLP_WIDTHS[:-1], MLP_WIDTHS[1:]))
    forward = MLP_BATCH * sum(i * o for i, o in layers)
    return 2 * forward + MLP_BATCH * sum(i * o for i, o in layers[1:])


def fmas_of(figures):
    """The multiply-adds of one run of a workload: the program's `fmas`, or the MLP step's counted here."""
    for r in figures:
        if r.get("fmas"):
            return r["fmas"]
        if r.get("workload") == "mlp_sgd_step":
            return mlp_fmas()
    return None


def share(figures, fmas, pk, dtype, threads):
    """(median, min, max) over rounds of fmas x steps/s / peak: the least share of the peak the run's
    arithmetic ran at; None without a probe or a count."""
    rate = peak(pk, dtype, threads)
    if not (figures and fmas and rate):
        return None
    return each(figures, lambda r: fmas * r["steps_per_s"] / (rate * 1e9))


def pct(m):
    """A (median, min, max) share as a percentage, with the rounds' range when they differ."""
    if m is None:
        return ""
    med, lo, hi = (100 * x for x in m)
    return f"{med:.0f}%" + (f" ({lo:.0f}-{hi:.0f}%)" if round(hi) > round(lo) else "")


def table(rows):
    wg, th, pk = rounds(rows, "wgflow"), rounds(rows, "torch"), peaks(rows)
    lines = [("workload", "N", "dtype", "thr", "wgflow us", "wgflow steps/s", "of peak", "PyTorch steps/s",
              "PyTorch of peak", "wgflow/PyTorch")]
    for k in sorted(set(wg) | set(th), key=lambda k: tuple(str(x) for x in k)):
        w, t = wg.get(k, []), th.get(k, [])
        ws = median([r["steps_per_s"] for r in w]) if w else None
        ts = median([r["steps_per_s"] for r in t]) if t else None
        fmas = fmas_of(w)
        lines.append((k[0], str(k[1] or ""), k[2], str(k[3]), fmt(1e6 / ws if ws else None), fmt(ws),
                      pct(share(w, fmas, pk, k[2], k[3])), fmt(ts), pct(share(t, fmas, pk, k[2], k[3])),
                      show(paired(w, t, steps_ratio))))
    return lines


def gpu_table(rows):
    """PyTorch on a GPU (torch_reference.py --device cuda, impl "torch_cuda") beside wgflow's figure for the
    same workload on the most threads measured: the GPU peer of target (4). Empty without GPU figures."""
    wg, gpu = rounds(rows, "wgflow"), rounds(rows, "torch_cuda")
    if not gpu:
        return []
    lines = [("workload", "N", "dtype", "GPU", "PyTorch GPU us", "wgflow us", "wgflow thr", "wgflow / GPU time")]
    for k in sorted(gpu, key=lambda k: tuple(str(x) for x in k)):
        g = gpu[k]
        same = [t for t in wg if t[:3] == k[:3]]
        most = max(same, key=lambda t: t[3]) if same else None
        gs = median([r["median_s"] for r in g])
        ws = median([r["median_s"] for r in wg[most]]) if most else None
        lines.append((k[0], str(k[1] or ""), k[2], g[0].get("device", "?"), fmt(1e6 * gs),
                      fmt(1e6 * ws if ws else None), str(most[3]) if most else "", f"{ws / gs:.2f}x" if ws else ""))
    return lines


def gemm_rounds(rows, impl):
    out = {}
    for r in rows:
        if r.get("workload") == "gemm" and r.get("impl") == impl:
            out.setdefault((r["size"], r["dtype"], r["threads"]), []).append(r)
    return out


def gemm_share(gflops, pk, dtype, threads):
    """A GEMM's share of the peak: GFLOP/s count 2 per multiply-add."""
    rate = peak(pk, dtype, threads)
    return f"{100 * gflops / 2 / rate:.0f}%" if rate and gflops else ""


def gemm_table(rows):
    pk = peaks(rows)
    lines = [("n", "dtype", "thr", "wgflow GFLOP/s", "of peak", "OpenBLAS GFLOP/s", "of peak", "wgflow/OpenBLAS",
              "PyTorch GFLOP/s")]
    torch_gemm = gemm_rounds(rows, "torch")
    for (n, dtype, thr), rs in sorted(gemm_rounds(rows, "wgflow").items(), key=lambda kv: (kv[0][1], kv[0][2], kv[0][0])):
        t = torch_gemm.get((n, dtype, thr))
        wg, ob = median([r["gflops"] for r in rs]), median([r["openblas_gflops"] for r in rs])
        lines.append((str(n), dtype, str(thr), fmt(wg), gemm_share(wg, pk, dtype, thr), fmt(ob),
                      gemm_share(ob, pk, dtype, thr),
                      show(each(rs, lambda r: r["gflops"] / r["openblas_gflops"]), suffix=""),
                      fmt(median([r["gflops"] for r in t]) if t else None)))
    return lines


# Issue 23's GPU anchor: JAX on an H200 at N = 1000, float32 (the issue's figures); target (4) asks 16 cores
# for 1.5x of them.
H200_US = {"DE": 160, "DLE": 172, "DRLE": 349}
ANCHOR_US = {"DE": 240, "DLE": 260, "DRLE": 520}


def targets(rows):
    """(target, figure, of peak, met, bound) for each target of issue 23 that the results allow to check;
    with several rounds, on the median of the rounds' figures. `met` is "yes", "no", "no (beyond peak)"
    where the bound shows that no implementation of the arithmetic meets it on this machine, or
    "not measured" (with what is missing); `bound` is the ceiling or floor at the peak rate, or the
    arithmetic's own ratio."""
    wg, th, pk = rounds(rows, "wgflow"), rounds(rows, "torch"), peaks(rows)
    out = []

    def verdict(ok, possible=True):
        return "yes" if ok else "no" if possible else "no (beyond peak)"

    def med_s(figures):
        return median([x["median_s"] for x in figures])

    def step(m, n, dtype, thr):
        return wg.get((f"flow_step/{m}", n, dtype, thr), [])

    thread_counts = sorted({k[3] for k in wg})
    # (1) DE and DLE at N = 100 and 1000, both precisions, 1 and 2 threads: >= 50 % of the peak.
    for m in ("DE", "DLE"):
        for n in (100, 1000):
            for dtype in ("float32", "float64"):
                for thr in (1, 2):
                    w = step(m, n, dtype, thr)
                    s = share(w, fmas_of(w), pk, dtype, thr)
                    if s:
                        out.append((f"(1) {m} N={n} {dtype} {thr} thr: >= 50% of peak",
                                    f"{1e6 * med_s(w):.0f} us", pct(s), verdict(s[0] >= 0.5), ""))
                    else:
                        out.append((f"(1) {m} N={n} {dtype} {thr} thr: >= 50% of peak", "", "",
                                    "not measured" if not w else "not measured (no peak probe)", ""))
    # (2) DRLE (function space) at N = 1000 within 2.5x of DE; the parameter-space interaction at >= 60 %.
    for dtype in ("float32", "float64"):
        for thr in thread_counts:
            drle, de = step("DRLE", 1000, dtype, thr), step("DE", 1000, dtype, thr)
            r = paired(drle, de, lambda d, e: d["median_s"] / e["median_s"])
            if r:
                arith = fmas_of(drle) / fmas_of(de) if fmas_of(drle) and fmas_of(de) else None
                bound = f"arithmetic {arith:.2f}x" if arith else ""
                de_share = share(de, fmas_of(de), pk, dtype, thr)
                needed = arith / 2.5 * de_share[0] if arith and de_share else None
                if needed:  # 2.5x DE's time for arith x its work: DRLE at arith / 2.5 x DE's share
                    bound += f"; 2.5x needs DRLE at {needed:.0%} of peak"
                out.append((f"(2) DRLE / DE N=1000 {dtype} {thr} thr: <= 2.5x", show(r),
                            pct(share(drle, fmas_of(drle), pk, dtype, thr)),
                            verdict(r[0] <= 2.5, needed is None or needed <= 1), bound))
    if not any(step("DRLE", 1000, d, t) for d in ("float32", "float64") for t in thread_counts):
        out.append(("(2) DRLE / DE N=1000: <= 2.5x", "", "", "not measured", ""))
    for dtype in ("float32", "float64"):
        for thr in thread_counts:
            w = wg.get(("interaction/drle", 1000, dtype, thr), [])
            s = share(w, fmas_of(w), pk, dtype, thr)
            if s:
                out.append((f"(2) parameter-space interaction N=1000 {dtype} {thr} thr: >= 60% of peak",
                            f"{1e3 * med_s(w):.1f} ms", pct(s), verdict(s[0] >= 0.6), ""))
    # (3) strong scaling at N = 1000: 16 threads >= 12x one thread. Short of 16 threads, the speedup at
    # the most threads measured is shown, with the verdict left open.
    for m in ("DE", "DLE", "DRLE"):
        for dtype in ("float32", "float64"):
            one = step(m, 1000, dtype, 1)
            most = max((t for t in thread_counts if t > 1 and step(m, 1000, dtype, t)), default=None)
            if not one or most is None:
                continue
            r = paired(one, step(m, 1000, dtype, most), lambda a, b: a["median_s"] / b["median_s"])
            met = verdict(r[0] >= 12) if most >= 16 else f"not measured (max {most} thr)"
            out.append((f"(3) {m} N=1000 {dtype}: 16 thr >= 12x 1 thr", f"{most} thr: {show(r)}", "", met,
                        f"ideal {most}x"))
    # (4) the GPU anchor: N = 1000 float32 on 16 threads within 1.5x of the H200's step (the issue's JAX
    # figures); where the results hold PyTorch on a GPU (bench/device.sh), its step is given beside.
    gpu = rounds(rows, "torch_cuda")
    for m in ("DE", "DLE", "DRLE"):
        w16 = step(m, 1000, "float32", 16)
        label = f"(4) {m} N=1000 float32 16 thr: <= {ANCHOR_US[m]} us (1.5x H200 {H200_US[m]} us)"
        g = [r for k, rs in gpu.items() if k[:3] == (f"flow_step/{m}", 1000, "float32") for r in rs]
        beside = f"PyTorch on {g[0].get('device', 'GPU')}: {1e6 * med_s(g):.0f} us" if g else ""
        if w16:
            us = 1e6 * med_s(w16)
            out.append((label, f"{us:.0f} us", pct(share(w16, fmas_of(w16), pk, "float32", 16)),
                        verdict(us <= ANCHOR_US[m]), beside))
        else:
            out.append((label, "", "", "not measured (no 16-thread run)", beside))
    # (5) the random-batch interaction at N = 10^4 and 10^5 (bench_random_batch): its figures are in the
    # table above; here, whether the results hold them.
    rb = sorted({(k[0], k[1]) for k in wg if str(k[0]).startswith("random_batch/")})
    sizes = sorted({n for _, n in rb if n})
    out.append(("(5) random-batch interaction at N = 10^4, 10^5", ", ".join(f"N={n}" for n in sizes), "",
                "measured (see the table)" if {10000, 100000} <= set(sizes) else "not measured", ""))
    # (6) what holds: N = 5 float32 at >= 20x PyTorch eager on 2 threads, the MLP step <= 1.1x PyTorch's,
    # GEMM >= 90 % of OpenBLAS at 1024^3.
    for m in ("DE", "DLE", "DRLE"):
        for thr in [t for t in thread_counts if t == 2] or thread_counts:
            w, t = step(m, 5, "float32", thr), th.get((f"flow_step/{m}", 5, "float32", thr), [])
            r = paired(w, t, steps_ratio)
            if r:
                # The ratio a step of nothing but its multiply-adds, at the peak, would reach.
                floor = floor_s(w, peak(pk, "float32", thr))
                ceiling = med_s(t) / floor if floor else None
                out.append((f"(6) {m} N=5 float32 {thr} thr: >= 20x PyTorch steps/s", show(r),
                            pct(share(w, fmas_of(w), pk, "float32", thr)),
                            verdict(r[0] >= 20, ceiling is None or ceiling >= 20),
                            f"ceiling {ceiling:.1f}x" if ceiling else ""))
    for dtype in ("float32", "float64"):
        for thr in thread_counts:
            w, t = wg.get(("mlp_sgd_step", None, dtype, thr), []), th.get(("mlp_sgd_step", None, dtype, thr), [])
            r = paired(w, t, lambda a, b: a["median_s"] / b["median_s"])
            if r:
                out.append((f"(6) MLP step {dtype} {thr} thr: time <= 1.1x PyTorch's", show(r),
                            pct(share(w, mlp_fmas(), pk, dtype, thr)), verdict(r[0] <= 1.1), ""))
    gemm = gemm_rounds(rows, "wgflow")
    for thr in sorted({k[2] for k in gemm if k[:2] == (1024, "float32")}):
        rs = gemm[(1024, "float32", thr)]
        r = each(rs, lambda g: g["gflops"] / g["openblas_gflops"])
        wgf, obf = median([g["gflops"] for g in rs]), median([g["openblas_gflops"] for g in rs])
        out.append((f"(6) GEMM 1024^3 float32 {thr} thr: >= 90% of OpenBLAS sgemm",
                    f"{100 * r[0]:.0f}% ({wgf:.1f} vs {obf:.1f} GFLOP/s)", gemm_share(wgf, pk, "float32", thr),
                    verdict(r[0] >= 0.9), f"OpenBLAS {gemm_share(obf, pk, 'float32', thr)} of peak"))
    # Issue 5's 2-thread speedup at N = 100, from bench_flows --scaling (alternating 1- and 2-thread blocks).
    scaling = {}
    for r in rows:
        if r.get("workload", "").startswith("scaling/") and r.get("particles") == 100:
            scaling.setdefault((r["workload"], r["dtype"]), []).append(r)
    for m in ("DE", "DLE", "DRLE"):
        for dtype in ("float32", "float64"):
            sc = scaling.get((f"scaling/flow_step/{m}", dtype))
            if sc:
                s = median([r["speedup"] for r in sc])
                lo, hi = min(r["min_speedup"] for r in sc), max(r["max_speedup"] for r in sc)
                out.append((f"(3) {m} N=100 {dtype}: 2 thr / 1 thr, alternating blocks (issue 5: >= 1.8x)",
                            f"{s:.2f}x ({lo:.2f}-{hi:.2f})", "", verdict(s >= 1.8), ""))
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
    try:
        rows = load(a.results)
    except BadResults as e:
        print(f"compare.py: error: {e}", file=sys.stderr)
        return 2
    if not rows:
        print("no results", file=sys.stderr)
        return 1
    cpus = sorted({r.get("cpu", "?") for r in rows})
    torch_versions = sorted({r["torch"] for r in rows if "torch" in r})
    print(f"CPU: {', '.join(cpus)}" + (f"; PyTorch {', '.join(torch_versions)}" if torch_versions else
                                       "; no PyTorch figures"))
    for r in rows:  # run.sh's machine lines: the CPU and the load beside every figure
        if r.get("workload") == "machine":
            print(f"Machine ({r.get('when')} the runs, {r.get('date')}): {r.get('cpu')}, CPU family "
                  f"{r.get('cpu_family')} model {r.get('cpu_model')}, {r.get('cores')} cores, {r.get('threads')} "
                  f"threads used; load average {r.get('loadavg')}")
    pk = peaks(rows)
    if pk:
        print("Peak multiply-add rate per thread (bench_peak, best probe; times the threads for the bounds): " +
              ", ".join(f"{d} {g:.1f} G/s" for d, g in sorted(pk.items())))
    print()
    print(render(table(rows), a.markdown))
    gpu = gpu_table(rows)
    if gpu:
        print()
        print(render(gpu, a.markdown))
    if any(r.get("workload") == "gemm" and r.get("impl") == "wgflow" for r in rows):
        print()
        print(render(gemm_table(rows), a.markdown))
    print()
    t = [("target (issue 23)", "measured", "of peak", "met", "bound")] + targets(rows)
    print(render(t, a.markdown))
    return 0


if __name__ == "__main__":
    sys.exit(main())
