#!/usr/bin/env python3
"""PyTorch versions of the benchmark workloads of bench/ (issue 5), written as fast as PyTorch allows.

Each workload matches its wgflow twin in shapes, arithmetic and dtype, and prints one JSON object per
figure (same keys as the C++ programs, "impl": "torch") so that bench/run.sh can pair them:

  flow_step/{DE,DLE,DRLE}  N networks 8-50-1 (N = 5, 100), minibatch 100 of 1000 synthetic rows, SGD;
                           DRLE with function-space repulsion on 100 kernel inputs, 200 prior samples
  mlp_sgd_step             MLP 784-1024-1024-10, batch 256, softmax cross-entropy, SGD
  interaction/{drle,svgd}  the interaction term alone, N = 1000 particles of 500 parameters
  step/{DLE,DRLE}          N = 1000 networks 8-50-1, DRLE with parameter-space repulsion
  gemm                     torch.mm GFLOP/s, square sizes 64 .. 2048 (float32)

How the ensembles are made fast: all N networks live in one flat N x J parameter tensor (J = 501), viewed
as batched weight tensors; a forward pass is two torch.baddbmm calls for all networks at once, a step is
one autograd.grad call and one in-place update of the flat tensor. No Python loop runs over networks. For
DRLE the function-space gradient is computed on detached features and pulled back in the same backward pass
as the loss (grad of sum_i l_i + <f_i, g_i>), so one step costs one forward and one backward of the
batched graph. The bandwidth follows the reference's median rule (estimated at the first 5 steps, then
frozen), as wgflow's does; warm-up steps cover those.

  python3 bench/torch_reference.py [--threads N] [--min-time S] [--min-runs R] [--json PATH] [--only NAME]
                                   [--dtype float32|float64|both] [--particles 5,100] [--device cpu|cuda]

--device cuda runs the same code on the GPU (the GPU peer of issue 23's target 4, on the lent machine:
bench/device.sh): data and parameters live there, the per-step random numbers come from a generator there,
and each timed call ends with torch.cuda.synchronize(). Its figures are written as impl "torch_cuda", so
that compare.py keeps them apart from the CPU peer's.
"""
import argparse
import json
import math
import os
import statistics
import sys
import time


def _threads_from_argv(argv):
    for i, arg in enumerate(argv):
        if arg == "--threads" and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith("--threads="):
            return arg.split("=", 1)[1]
    return str(os.cpu_count() or 1)


# Debian's PyTorch does its matrix products in the system OpenBLAS, whose thread pool ignores
# torch.set_num_threads: at --threads 1 a 1024^3 product still kept both cores of the 2-core machine busy
# (CPU time twice the wall time), so PyTorch's "1-thread" figures were 2-thread ones. The pools read their
# size from the environment when the libraries load, hence before torch is imported.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = _threads_from_argv(sys.argv[1:])

import torch  # noqa: E402  (after the thread-pool sizes above)

# Where the workloads run (--device); set once by main() before any tensor is made.
DEVICE = torch.device("cpu")


def synchronize():
    """Waits for the device's queued work: a GPU call returns before its kernels have run."""
    if DEVICE.type == "cuda":
        torch.cuda.synchronize()


def device_name():
    return cpu_model() if DEVICE.type == "cpu" else torch.cuda.get_device_name(DEVICE)


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown CPU"


class Bench:
    def __init__(self, args):
        self.args = args

    def wants(self, name):
        return not self.args.only or name.startswith(self.args.only)

    def time_runs(self, f, warmup=3):
        """Median (and min) seconds per call of f after warm-up calls; at least min_runs runs, min_time s."""
        for _ in range(warmup):
            f()
        synchronize()
        times, total = [], 0.0
        while len(times) < self.args.min_runs or (total < self.args.min_time and len(times) < 100000):
            t0 = time.perf_counter()
            f()
            synchronize()
            times.append(time.perf_counter() - t0)
            total += times[-1]
        return statistics.median(times), min(times), len(times)

    def emit(self, record):
        record.update(impl="torch" if DEVICE.type == "cpu" else "torch_" + DEVICE.type, threads=self.args.threads,
                      cpu=cpu_model(), torch=torch.__version__)
        if DEVICE.type != "cpu":
            record.update(device=device_name())
        if self.args.json:
            append_line(self.args.json, json.dumps(record))


def append_line(path, line):
    """Appends a line as bench_common.hpp's append_line does: the file is replaced whole (a temporary file
    in its folder, fsynced, renamed over it), so a full disk or a kill leaves every earlier figure intact."""
    old = ""
    if os.path.exists(path):
        with open(path) as f:
            old = f.read()
        if old and not old.endswith("\n"):
            old += "\n"
    folder, name = os.path.split(os.path.abspath(path))
    temp = os.path.join(folder, "." + name + ".tmp")
    try:
        with open(temp, "w") as f:
            f.write(old + line + "\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(temp, path)
    except BaseException:
        if os.path.exists(temp):
            os.remove(temp)
        raise


def dtype_name(dtype):
    return "float32" if dtype == torch.float32 else "float64"


# ---------------------------------------------------------------------------------------------------------
# Ensembles of 8-50-1 networks in one flat parameter tensor.

INPUTS, HIDDEN = 8, 50
J = INPUTS * HIDDEN + HIDDEN + HIDDEN + 1  # 501, the layout of models/mlp.hpp: W1, b1, W2, b2


def synthetic_regression(rows, inputs, dtype, gen):
    X = torch.randn(rows, inputs, generator=gen, dtype=torch.float64)
    Y = torch.sin(X.sum(1, keepdim=True) / 2) + 0.1 * torch.randn(rows, 1, generator=gen, dtype=torch.float64)
    return X.to(dtype), Y.to(dtype)


def prior_variance(dtype):
    """Kaiming fan-out, variance 1 / fan_out for weights and biases (the UCI runner's initialiser/prior)."""
    v = torch.empty(J, dtype=dtype)
    o = 0
    for size, fan_out in ((INPUTS * HIDDEN, HIDDEN), (HIDDEN, HIDDEN), (HIDDEN, 1), (1, 1)):
        v[o:o + size] = 1.0 / fan_out
        o += size
    return v


def ensemble_forward(theta, X):
    """theta: N x J flat parameters; X: B x 8 shared inputs -> N x B x 1 outputs."""
    n = theta.shape[0]
    o = INPUTS * HIDDEN
    W1 = theta[:, :o].view(n, INPUTS, HIDDEN)
    b1 = theta[:, o:o + HIDDEN].view(n, 1, HIDDEN)
    W2 = theta[:, o + HIDDEN:o + 2 * HIDDEN].view(n, HIDDEN, 1)
    b2 = theta[:, o + 2 * HIDDEN:].view(n, 1, 1)
    H = torch.relu(torch.baddbmm(b1, X.expand(n, -1, -1), W1))
    return torch.baddbmm(b2, H, W2)


def rbf_gradient_sum(F, Y, slope, c):
    """S_i = sum_j grad_1 k(f_i, y_j) = 2c ((sum_j G_ij) f_i - (G Y)_i), G = slope."""
    return 2 * c * (slope.sum(1, keepdim=True) * F - slope @ Y)


def sq_distances(X, Y, c):
    centre = X.mean(0, keepdim=True)
    Xc, Yc = X - centre, Y - centre
    d2 = (Xc * Xc).sum(1)[:, None] + (Yc * Yc).sum(1)[None, :] - 2 * Xc @ Yc.T
    return d2.clamp_min_(0).mul_(c)


class MedianBandwidth:
    """h = median(D^2) / (2 log(N + offset)), estimated at the first `steps` steps, then frozen."""

    def __init__(self, steps=5, offset=1.0):
        self.steps, self.offset, self.h, self.t = steps, offset, None, 0

    def update(self, d2):
        if self.t < self.steps or self.h is None:
            self.h = d2.median().item() / (2 * math.log(d2.shape[0] + self.offset))
        self.t += 1
        return self.h


class EnsembleFlow:
    """DE, DLE or DRLE on N networks: one step = minibatch, batched forward/backward, one flat update."""

    def __init__(self, method, n, dtype, gen, space="function", eta=0.01, lam=1e-4, lam1=1e-3, lam2=1e-6):
        self.method, self.n, self.eta = method, n, eta
        # Made on the CPU from `gen`, then moved: the same data and start on every device.
        self.X, self.Y = (t.to(DEVICE) for t in synthetic_regression(1000, INPUTS, dtype, gen))
        self.XK = synthetic_regression(100, INPUTS, dtype, gen)[0].to(DEVICE)
        var = prior_variance(dtype)
        self.theta = (torch.randn(n, J, generator=gen, dtype=dtype) * var.sqrt()).to(DEVICE).requires_grad_(True)
        self.var = var.to(DEVICE)
        # The noise's generator lives where the noise is drawn (a CPU draw copied each step would time the copy).
        self.noise_gen = gen if DEVICE.type == "cpu" else torch.Generator(device=DEVICE).manual_seed(2)
        self.lam = lam if method == "DLE" else lam2
        self.lam1, self.space, self.gen = lam1, space, gen
        self.batch, self.t, self.perm = 100, 0, None
        if method == "DRLE":
            phi = (torch.randn(200, J, generator=gen, dtype=dtype) * var.sqrt()).to(DEVICE)
            # Prior samples are embedded once, as InteractionEnergy does.
            self.prior_features = ensemble_forward(phi, self.XK).squeeze(2) if space == "function" else phi
            self.bandwidth = MedianBandwidth()

    def minibatch(self):
        per_epoch = 1000 // self.batch
        if self.t % per_epoch == 0:
            self.perm = torch.randperm(1000, generator=self.gen).to(DEVICE)
        rows = self.perm[(self.t % per_epoch) * self.batch:(self.t % per_epoch + 1) * self.batch]
        return self.X[rows], self.Y[rows]

    def interaction_gradient(self, F):
        """lambda1 ((1/N) S(F, F) - (1/M) S(F, prior features)) with the mean-of-squares convention."""
        c = 1.0 / F.shape[1]
        d2 = sq_distances(F, F, c)
        h = self.bandwidth.update(d2)
        slope = torch.exp(d2 * (-0.5 / h)).mul_(-0.5 / h)
        P = self.prior_features
        slope_p = torch.exp(sq_distances(F, P, c) * (-0.5 / h)).mul_(-0.5 / h)
        centre = F.mean(0, keepdim=True)
        Fc, Pc = F - centre, P - centre
        return self.lam1 * (rbf_gradient_sum(Fc, Fc, slope, c) / F.shape[0] - rbf_gradient_sum(Fc, Pc, slope_p, c) / P.shape[0])

    def step(self):
        Xb, Yb = self.minibatch()
        theta = self.theta
        out = ensemble_forward(theta, Xb)
        total = ((out - Yb) ** 2).mean(dim=(1, 2)).sum()  # sum over networks of each one's mean squared error
        if self.method == "DRLE" and self.space == "function":
            F = ensemble_forward(theta, self.XK).squeeze(2)  # N x 100 features
            g = self.interaction_gradient(F.detach())
            total = total + (F * g).sum()  # its gradient pulls g back through the network
            (grad,) = torch.autograd.grad(total, theta)
        else:
            (grad,) = torch.autograd.grad(total, theta)
            if self.method == "DRLE":
                grad = grad + self.interaction_gradient(theta.detach())
        with torch.no_grad():
            if self.method == "DE":
                theta.sub_(grad, alpha=self.eta)
            else:
                gradient = grad.add_(theta * self.lam / self.var)  # + lambda grad(-log p)
                noise = torch.randn(theta.shape, generator=self.noise_gen, dtype=theta.dtype, device=DEVICE)
                theta.add_(gradient, alpha=-self.eta).add_(noise, alpha=math.sqrt(2 * self.lam * self.eta))
        self.t += 1


def bench_flows(b, dtypes, sizes):
    for n in sizes:
        for dtype in dtypes:
            for method in ("DE", "DLE", "DRLE"):
                name = "flow_step/" + method
                if not b.wants(name):
                    continue
                flow = EnsembleFlow(method, n, dtype, torch.Generator().manual_seed(1))
                med, mn, runs = b.time_runs(flow.step, warmup=8)
                print(f"{name:<20} {n:5d} {dtype_name(dtype):<8} {med * 1e6:12.1f} {1 / med:10.1f} {runs:6d}")
                b.emit(dict(workload=name, particles=n, dtype=dtype_name(dtype), median_s=med, min_s=mn, runs=runs,
                            steps_per_s=1 / med))


# ---------------------------------------------------------------------------------------------------------
# MLP 784-1024-1024-10.

def bench_mlp(b, dtypes):
    if not b.wants("mlp_sgd_step"):
        return
    for dtype in dtypes:
        torch.manual_seed(1)
        model = torch.nn.Sequential(torch.nn.Linear(784, 1024), torch.nn.ReLU(), torch.nn.Linear(1024, 1024),
                                    torch.nn.ReLU(), torch.nn.Linear(1024, 10)).to(dtype).to(DEVICE)
        opt = torch.optim.SGD(model.parameters(), lr=1e-3, foreach=True)
        X = torch.rand(256, 784, dtype=dtype).to(DEVICE)
        y = torch.randint(0, 10, (256,)).to(DEVICE)
        phases = {"forward": [], "backward": [], "update": []}

        def step():
            t0 = time.perf_counter()
            loss = torch.nn.functional.cross_entropy(model(X), y)
            t1 = time.perf_counter()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            t2 = time.perf_counter()
            opt.step()
            t3 = time.perf_counter()
            phases["forward"].append(t1 - t0)
            phases["backward"].append(t2 - t1)
            phases["update"].append(t3 - t2)

        med, mn, runs = b.time_runs(step, warmup=2)
        f, bw, u = (statistics.median(phases[k][2:]) for k in ("forward", "backward", "update"))
        print(f"{'mlp_sgd_step':<20} {dtype_name(dtype):<8} step {med * 1e3:8.2f} ms  fwd {f * 1e3:7.2f}  "
              f"bwd {bw * 1e3:7.2f}  upd {u * 1e3:6.2f}  bwd/fwd {bw / f:5.2f}  ({runs} runs)")
        b.emit(dict(workload="mlp_sgd_step", dtype=dtype_name(dtype), median_s=med, min_s=mn, runs=runs,
                    steps_per_s=1 / med, forward_s=f, backward_s=bw, update_s=u, backward_over_forward=bw / f))


# ---------------------------------------------------------------------------------------------------------
# The interaction term at N = 1000.

def bench_interaction(b, dtypes, n=1000, dim=500, m=200):
    for dtype in dtypes:
        gen = torch.Generator().manual_seed(1)
        X = torch.randn(n, dim, generator=gen, dtype=dtype).to(DEVICE)
        P = torch.randn(m, dim, generator=gen, dtype=dtype).to(DEVICE)
        G = torch.randn(n, dim, generator=gen, dtype=dtype).to(DEVICE)
        lam1 = 1e-3

        if b.wants("interaction/drle"):
            bw = MedianBandwidth()
            c = 1.0 / dim

            def drle():
                d2 = sq_distances(X, X, c)
                h = bw.update(d2)
                k = torch.exp(d2 * (-0.5 / h))
                kp = torch.exp(sq_distances(X, P, c) * (-0.5 / h))
                centre = X.mean(0, keepdim=True)
                Xc, Pc = X - centre, P - centre
                gradient = lam1 * (rbf_gradient_sum(Xc, Xc, k * (-0.5 / h), c) / n
                                   - rbf_gradient_sum(Xc, Pc, kp * (-0.5 / h), c) / m)
                energy = lam1 / 2 * (k.mean() - 2 * kp.mean())  # as InteractionEnergy reports it
                return gradient, energy

            report(b, "interaction/drle", n, dim, dtype, b.time_runs(drle, warmup=6))

        if b.wants("interaction/svgd"):
            def svgd():
                d2 = sq_distances(X, X, 1.0)
                h = d2.median().item() / (2 * math.log(n))  # re-estimated every step, offset 0
                k = torch.exp(d2 * (-0.5 / h))
                return (k @ G + rbf_gradient_sum(X - X.mean(0, keepdim=True), X - X.mean(0, keepdim=True),
                                                 k * (-0.5 / h), 1.0)) / n

            report(b, "interaction/svgd", n, dim, dtype, b.time_runs(svgd, warmup=3))

        for method in ("DLE", "DRLE"):
            name = "step/" + method
            if b.wants(name):
                flow = EnsembleFlow(method, n, dtype, torch.Generator().manual_seed(1), space="parameter", lam2=1e-6)
                flow.lam = 1e-6  # the same lambda2 for both, so DLE is exactly DRLE without the interaction
                report(b, name, n, J, dtype, b.time_runs(flow.step, warmup=6))


def report(b, name, n, dim, dtype, timing):
    med, mn, runs = timing
    print(f"{name:<20} {n:5d} {dim:5d} {dtype_name(dtype):<8} {med * 1e3:12.2f} ms {1 / med:10.1f}/s {runs:6d}")
    b.emit(dict(workload=name, particles=n, dim=dim, dtype=dtype_name(dtype), median_s=med, min_s=mn, runs=runs,
                steps_per_s=1 / med))


# ---------------------------------------------------------------------------------------------------------

def bench_gemm(b):
    if not b.wants("gemm"):
        return
    for n in (64, 128, 256, 512, 1024, 2048):
        A, B = (torch.rand(n, n) * 2 - 1).to(DEVICE), (torch.rand(n, n) * 2 - 1).to(DEVICE)
        C = torch.empty(n, n, device=DEVICE)
        med, mn, runs = b.time_runs(lambda: torch.mm(A, B, out=C), warmup=1)
        gflops = 2.0 * n ** 3 / med * 1e-9
        print(f"{'gemm':<20} {n:5d} float32 {gflops:10.1f} GFLOP/s")
        b.emit(dict(workload="gemm", size=n, dtype="float32", median_s=med, min_s=mn, runs=runs, gflops=gflops))


def positive_int(text):
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number >= 1, got '{text}'")
    return int(text)


def positive_seconds(text):
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and 0 < value <= 3600):
        raise argparse.ArgumentTypeError(f"must be a finite number in (0, 3600], got '{text}'")
    return value


def particle_counts(text):
    return [positive_int(item) for item in text.split(",")]


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--threads", type=positive_int, default=os.cpu_count() or 1)
    p.add_argument("--min-time", type=positive_seconds, default=1.0)
    p.add_argument("--min-runs", type=positive_int, default=5)
    p.add_argument("--json", default="")
    p.add_argument("--only", default="")
    p.add_argument("--dtype", choices=("float32", "float64", "both"), default="both")
    p.add_argument("--particles", type=particle_counts, default=[5, 100])
    p.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    args = p.parse_args()
    if args.json and not os.path.isdir(os.path.dirname(os.path.abspath(args.json))):
        p.error(f"--json {args.json}: its folder does not exist")
    if args.json and os.path.isdir(args.json):
        p.error(f"--json {args.json} is a folder, not a file")
    global DEVICE
    if args.device == "cuda" and not torch.cuda.is_available():
        p.error("--device cuda: this PyTorch sees no CUDA device")
    DEVICE = torch.device(args.device)
    torch.set_num_threads(args.threads)
    dtypes = [d for d, name in ((torch.float32, "float32"), (torch.float64, "float64")) if args.dtype in (name, "both")]
    sizes = args.particles
    where = f"CPU {cpu_model()}" if DEVICE.type == "cpu" else f"{device_name()} (CUDA), CPU {cpu_model()}"
    print(f"PyTorch {torch.__version__}: {where}, threads {torch.get_num_threads()}")
    print(torch.__config__.parallel_info().split("\n")[0])
    b = Bench(args)
    with torch.inference_mode(False):
        bench_flows(b, dtypes, sizes)
        bench_mlp(b, dtypes)
        bench_interaction(b, dtypes)
        bench_gemm(b)


if __name__ == "__main__":
    sys.exit(main())
