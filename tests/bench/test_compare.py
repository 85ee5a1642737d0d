"""bench/compare.py, which turns the benchmark programs' JSON lines into the table of issue 23's targets: its
shares of the peak, its round-by-round ratios, its verdicts at their thresholds and bounds, and its errors
on results it cannot read. The results here are written as the programs write them (bench_common.hpp's
timing_record, bench_peak, bench_gemm, bench_flows --scaling, torch_reference.py, machine.sh), with
figures chosen so that every expected number can be worked out by hand."""
import importlib.util
import json
import os
import subprocess
import sys

import pytest

COMPARE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "bench", "compare.py")
spec = importlib.util.spec_from_file_location("compare", COMPARE)
compare = importlib.util.module_from_spec(spec)
spec.loader.exec_module(compare)

PEAK = 100.0  # G multiply-adds per second a thread, float32; float64 half of it
CPU = "AMD EPYC"


def peak_rows():
    return [dict(workload="peak_fma", dtype="float32", gfma_per_s=t * PEAK, simd_lanes=16, impl="wgflow", threads=t,
                 cpu=CPU) for t in (1, 2)] + [dict(workload="peak_fma", dtype="float64", gfma_per_s=PEAK / 2,
                                                   simd_lanes=8, impl="wgflow", threads=1, cpu=CPU)]


def step(method, n, seconds, fmas=None, dtype="float32", threads=1, impl="wgflow"):
    row = dict(workload=f"flow_step/{method}", particles=n, dtype=dtype, median_s=seconds, min_s=seconds, runs=9,
               steps_per_s=1 / seconds, impl=impl, threads=threads, cpu=CPU)
    if impl == "torch":
        row["torch"] = "1.13.1"
    if fmas is not None:
        row["fmas"] = fmas
    return row


def target(rows, prefix):
    """The one target line whose label starts with `prefix`: (label, measured, of peak, met, bound)."""
    found = [t for t in compare.targets(rows) if t[0].startswith(prefix)]
    assert len(found) == 1, [t[0] for t in compare.targets(rows)]
    return found[0]


def test_the_share_of_the_peak_is_the_multiply_adds_rate_over_the_threads_peak():
    # 10 M multiply-adds in 100 us on 1 thread: 100 G/s, the whole 1-thread peak; on 2 threads in 100 us,
    # half of the 2-thread peak (the best probe per thread, times 2: 200 G/s).
    rows = peak_rows() + [step("DE", 100, 1e-4, fmas=10e6), step("DE", 100, 1e-4, fmas=10e6, threads=2)]
    assert compare.peaks(rows) == {"float32": PEAK, "float64": PEAK / 2}
    assert target(rows, "(1) DE N=100 float32 1 thr")[1:4] == ("100 us", "100%", "yes")
    assert target(rows, "(1) DE N=100 float32 2 thr")[1:4] == ("100 us", "50%", "yes")


def test_the_best_probe_per_thread_is_the_peak_even_when_a_later_probe_is_slower():
    rows = peak_rows() + [dict(workload="peak_fma", dtype="float32", gfma_per_s=150.0, impl="wgflow", threads=2)]
    assert compare.peaks(rows)["float32"] == PEAK


@pytest.mark.parametrize("fmas, share, met", [(5.0e6, "50%", "yes"), (4.9e6, "49%", "no")])
def test_target_1_is_met_at_half_the_peak_and_not_below(fmas, share, met):
    # float64's peak is 50 G/s a thread: 5 M multiply-adds in 200 us are 25 G/s, half of it.
    rows = peak_rows() + [step("DLE", 1000, 2e-4, fmas=fmas, dtype="float64")]
    assert target(rows, "(1) DLE N=1000 float64 1 thr")[1:4] == ("200 us", share, met)


def test_a_cell_without_figures_or_without_a_probe_is_not_measured():
    assert target(peak_rows(), "(1) DE N=1000 float32 2 thr")[3] == "not measured"
    assert target([step("DE", 1000, 1e-3, fmas=1e6)], "(1) DE N=1000 float32 1 thr")[3] == \
        "not measured (no peak probe)"


def test_rounds_are_paired_in_the_order_written_and_the_ratio_is_the_median_of_the_rounds_ratios():
    # wgflow 1, 2, 4 ms over three rounds, PyTorch 2, 8, 3 ms: per round 2x, 4x and 0.75x, median 2x. The
    # ratio of the two medians (3 ms / 2 ms) would be 1.5x.
    wg = [step("DE", 5, s) for s in (1e-3, 2e-3, 4e-3)]
    th = [step("DE", 5, s, impl="torch") for s in (2e-3, 8e-3, 3e-3)]
    rows = [r for pair in zip(wg, th) for r in pair]  # as run.sh writes them: wgflow then PyTorch, each round
    (line,) = compare.table(rows)[1:]
    assert line[:5] == ("flow_step/DE", "5", "float32", "1", "2000.0")  # the median step, in us
    assert line[-1] == "2.00x (0.75-4.00)"


def test_drle_over_de_is_beyond_the_peak_when_2_5x_would_need_more_than_the_peak():
    # DRLE has 4x DE's multiply-adds and DE runs at 80 % of the peak, so DRLE at 2.5x DE's time would need
    # 4 / 2.5 x 80 % = 128 % of it.
    de = step("DE", 1000, 1e-3, fmas=80e6)  # 80 G/s of 100
    drle = step("DRLE", 1000, 5e-3, fmas=320e6)  # 64 G/s
    label, measured, share, verdict, bound = target(peak_rows() + [de, drle], "(2) DRLE / DE N=1000 float32 1 thr")
    assert (measured, share) == ("5.00x", "64%")
    assert verdict == "no (beyond peak)"
    assert bound == "arithmetic 4.00x; 2.5x needs DRLE at 128% of peak"
    # With DE at 60 % of the peak, 2.5x asks DRLE for 96 %: possible, so a plain "no".
    de.update(median_s=80e6 / 60e9, steps_per_s=60e9 / 80e6)
    assert target(peak_rows() + [de, drle], "(2) DRLE / DE N=1000 float32 1 thr")[3:] == \
        ("no", "arithmetic 4.00x; 2.5x needs DRLE at 96% of peak")
    drle.update(median_s=2.5 * de["median_s"], steps_per_s=de["steps_per_s"] / 2.5)
    assert target(peak_rows() + [de, drle], "(2) DRLE / DE N=1000 float32 1 thr")[3] == "yes"


def test_strong_scaling_is_left_open_short_of_16_threads_and_judged_at_16():
    one = step("DE", 1000, 12e-3)
    two = step("DE", 1000, 6e-3, threads=2)
    label, measured, _, met, bound = target([one, two], "(3) DE N=1000 float32")
    assert (measured, met, bound) == ("2 thr: 2.00x", "not measured (max 2 thr)", "ideal 2x")
    sixteen = step("DE", 1000, 1e-3, threads=16)  # 12x: met
    assert target([one, two, sixteen], "(3) DE N=1000 float32")[1:4] == ("16 thr: 12.00x", "", "yes")
    sixteen.update(median_s=1.1e-3, steps_per_s=1 / 1.1e-3)
    assert target([one, two, sixteen], "(3) DE N=1000 float32")[3] == "no"


def test_the_gpu_anchor_is_judged_on_16_threads_in_microseconds():
    rows = [step("DLE", 1000, 260e-6, threads=16), step("DRLE", 1000, 521e-6, threads=16)]
    assert target(rows, "(4) DE N=1000")[3] == "not measured (no 16-thread run)"
    assert target(rows, "(4) DLE N=1000")[1:4] == ("260 us", "", "yes")
    assert target(rows, "(4) DRLE N=1000")[1:4] == ("521 us", "", "no")


def test_n5_against_pytorch_is_beyond_the_peak_when_even_a_step_of_bare_multiply_adds_misses_20x():
    # 2 M multiply-adds on 2 threads at 200 G/s take 10 us at best; PyTorch's 150 us allows 15x at most.
    wg = step("DE", 5, 20e-6, fmas=2e6, threads=2)
    th = step("DE", 5, 150e-6, impl="torch", threads=2)
    label, measured, share, met, bound = target(peak_rows() + [wg, th], "(6) DE N=5")
    assert (measured, share, met, bound) == ("7.50x", "50%", "no (beyond peak)", "ceiling 15.0x")
    th.update(median_s=500e-6, steps_per_s=2e3)  # now the ceiling is 50x and 25x is measured
    assert target(peak_rows() + [wg, th], "(6) DE N=5")[1:] == ("25.00x", "50%", "yes", "ceiling 50.0x")


def test_gemm_is_judged_against_openblas_at_90_percent():
    gemm = dict(workload="gemm", size=1024, dtype="float32", median_s=0.01, gflops=90.0, openblas_median_s=0.01,
                openblas_gflops=100.0, impl="wgflow", threads=1)
    assert target(peak_rows() + [gemm], "(6) GEMM 1024^3 float32 1 thr")[1:] == \
        ("90% (90.0 vs 100.0 GFLOP/s)", "45%", "yes", "OpenBLAS 50% of peak")
    gemm["gflops"] = 89.0
    assert target(peak_rows() + [gemm], "(6) GEMM 1024^3 float32 1 thr")[3] == "no"


def test_the_2_thread_speedup_from_alternating_blocks_is_judged_at_1_8x():
    scaling = dict(workload="scaling/flow_step/DLE", particles=100, dtype="float32", median_1_thread_s=1e-4,
                   median_2_threads_s=5.6e-5, speedup=1.79, min_speedup=1.5, max_speedup=1.9, rounds=5,
                   impl="wgflow", threads=2)
    assert target([scaling], "(3) DLE N=100 float32: 2 thr")[1:4] == ("1.79x (1.50-1.90)", "", "no")


def run(*paths):
    return subprocess.run([sys.executable, COMPARE, *map(str, paths)], capture_output=True, text=True)


def write(path, rows_or_lines):
    path.write_text("".join((json.dumps(r) if isinstance(r, dict) else r) + "\n" for r in rows_or_lines))
    return path


def test_the_program_prints_the_machine_the_peak_and_every_table(tmp_path):
    machine = dict(workload="machine", when="before", date="2026-12-07T20:00:00Z", cpu="AMD EPYC", cpu_family="26",
                   cpu_model="2", cores=2, threads=2, loadavg="0.1 0.2 0.3")
    rows = [machine] + peak_rows() + [step("DE", 100, 1e-4, fmas=10e6), step("DE", 100, 1e-3, impl="torch")]
    result = run(write(tmp_path / "r.jsonl", rows))
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert out.startswith("CPU: AMD EPYC; PyTorch 1.13.1\n")
    assert "Machine (before the runs, 2026-12-07T20:00:00Z): AMD EPYC, CPU family 26 model 2" in out
    assert "float32 100.0 G/s" in out
    assert "(1) DE N=100 float32 1 thr: >= 50% of peak" in out
    assert "10.00x" in out  # wgflow 10 000 steps/s over PyTorch's 1000


@pytest.mark.parametrize("line, fault", [
    ("{not json", "not JSON (Expecting property name enclosed in double quotes)"),
    ("[1, 2]", "a JSON list, not an object"),
    ('{"impl": "wgflow"}', 'no "workload" (a non-empty string)'),
    (json.dumps(step("DE", 5, 1e-3) | {"steps_per_s": None}),
     'flow_step/DE: "steps_per_s" is null, not a positive finite number'),
    (json.dumps({k: v for k, v in step("DE", 5, 1e-3).items() if k != "median_s"}), 'flow_step/DE: no "median_s"'),
    (json.dumps(step("DE", 5, 1e-3) | {"threads": 0}), 'flow_step/DE: "threads" is 0, not a positive whole number'),
    (json.dumps(step("DE", 5, 1e-3) | {"particles": "5"}),
     'flow_step/DE: "particles" is "5", not a positive whole number'),
    ('{"workload": "peak_fma", "dtype": "float32", "impl": "wgflow", "threads": 1, "gfma_per_s": -3}',
     'peak_fma: "gfma_per_s" is -3, not a positive finite number'),
    ('{"workload": "gemm", "size": 64, "dtype": "float32", "gflops": 1.0, "impl": "wgflow", "threads": 1}',
     'gemm: no "openblas_gflops"'),
])
def test_a_line_it_cannot_use_is_named_by_file_and_line_and_exits_2(tmp_path, line, fault):
    path = write(tmp_path / "r.jsonl", [json.dumps(step("DE", 5, 1e-3)), line])
    result = run(path)
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == f"compare.py: error: {path}, line 2: {fault}\n"


def test_a_missing_file_is_named_and_an_empty_one_is_no_results(tmp_path):
    result = run(tmp_path / "absent.jsonl")
    assert (result.returncode, result.stderr) == (2, f"compare.py: error: cannot read {tmp_path / 'absent.jsonl'}: "
                                                     "No such file or directory\n")
    result = run(write(tmp_path / "empty.jsonl", ["", "  "]))
    assert (result.returncode, result.stderr) == (1, "no results\n")
