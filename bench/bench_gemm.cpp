// Benchmark of wgflow::gemm against OpenBLAS (cblas_sgemm / cblas_dgemm), same inputs, same
// thread count.
//
//   bench_gemm [--square] [--sizes N,N,..] [--small] [shared options, see bench_common.hpp]
//
// --square (default): GFLOP/s of C = A B for square sizes 64 .. 2048 (or --sizes), float and double, and
//   the ratio wgflow / OpenBLAS. Each figure is the median over repeated runs; wgflow and OpenBLAS runs alternate,
//   so a change in machine load hits both alike.
// --small: nanoseconds per call for the small products that dominate the toolkit (batch x features
//   times features x hidden, and the two backward products of each), against OpenBLAS and the
//   textbook triple loop; this is what sets the direct path's threshold.
// --json PATH: also append one JSON object per square size and type to PATH (bench/run.sh reads them).
// --min-time is per (size, type, library) and 0.4 s by default; --dtype picks the tables' types; the
// workloads are gemm (the square table) and gemm/small.
#include <cblas.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include <tbb/global_control.h>

#include "bench/bench_common.hpp"
#include "core/gemm.hpp"

namespace {

namespace wb = wgflow::bench;
using wb::Clock;

struct GemmOptions {
  bool square = false, small = false;
  std::vector<std::size_t> sizes{64, 128, 256, 512, 1024, 2048};
};

// Median seconds per run of f and g, run alternately after one warm-up run each.
template <class F, class G>
std::pair<double, double> time_pair(F&& f, G&& g, double min_time, int min_runs = 5) {
  f();
  g();
  std::vector<double> tf, tg;
  double total = 0;
  while (static_cast<int>(tf.size()) < min_runs || (total < 2 * min_time && tf.size() < 100000)) {
    auto t0 = Clock::now();
    f();
    auto t1 = Clock::now();
    g();
    auto t2 = Clock::now();
    tf.push_back(std::chrono::duration<double>(t1 - t0).count());
    tg.push_back(std::chrono::duration<double>(t2 - t1).count());
    total += tf.back() + tg.back();
  }
  return {wb::median(tf), wb::median(tg)};
}

template <class T>
std::vector<T> random_vector(std::size_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<double> u(-1, 1);
  std::vector<T> v(n);
  for (auto& x : v) x = static_cast<T>(u(rng));
  return v;
}

template <class T>
void blas(bool ta, bool tb, int m, int n, int k, T alpha, const T* a, int lda, const T* b, int ldb, T beta, T* c,
          int ldc) {
  const auto opa = ta ? CblasTrans : CblasNoTrans, opb = tb ? CblasTrans : CblasNoTrans;
  if constexpr (std::is_same_v<T, float>) cblas_sgemm(CblasRowMajor, opa, opb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
  else cblas_dgemm(CblasRowMajor, opa, opb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

template <class T>
void square_table(const wb::Options& o, const GemmOptions& g) {
  std::printf("\n%s: C = A B, n x n, GFLOP/s (median), %d thread(s)\n", sizeof(T) == 4 ? "float" : "double",
              o.threads);
  std::printf("%6s %10s %10s %7s %10s\n", "n", "wgflow", "OpenBLAS", "ratio", "max|diff|");
  for (const std::size_t n : g.sizes) {
    const auto a = random_vector<T>(n * n, 1), b = random_vector<T>(n * n, 2);
    std::vector<T> c1(n * n), c2(n * n);
    const int ni = static_cast<int>(n);
    auto [tw, tb] = time_pair(
        [&] { wgflow::gemm<T>(false, false, n, n, n, T(1), a.data(), n, b.data(), n, T(0), c1.data(), n); },
        [&] { blas<T>(false, false, ni, ni, ni, T(1), a.data(), ni, b.data(), ni, T(0), c2.data(), ni); },
        o.min_time, o.min_runs);
    double diff = 0;  // sanity: both computed the same product (differences are rounding, ~ sqrt(n) eps)
    for (std::size_t i = 0; i < n * n; ++i) diff = std::max(diff, std::abs(double(c1[i]) - double(c2[i])));
    const double flops = 2.0 * double(n) * double(n) * double(n);
    std::printf("%6zu %10.1f %10.1f %7.3f %10.2e\n", n, flops / tw * 1e-9, flops / tb * 1e-9, tb / tw, diff);
    wb::emit(o, wb::Record()
                    .set("workload", "gemm")
                    .set("size", n)
                    .set("dtype", wb::dtype_name<T>())
                    .set("median_s", tw)
                    .set("gflops", flops / tw * 1e-9)
                    .set("openblas_median_s", tb)
                    .set("openblas_gflops", flops / tb * 1e-9));
  }
}

struct SmallShape {
  std::size_t m, n, k;
  bool ta, tb;
  const char* what;
};

template <class T>
void small_table(const wb::Options& o) {
  // An MLP layer on a batch: forward X W (100x8 * 8x50), backward dX = G W^T and dW = X^T G; the next
  // layer 100x50 * 50x50; a scalar output layer; the 1x1 and 5x1 products of scalar parameters.
  const SmallShape shapes[] = {
      {100, 50, 8, false, false, "X W     (layer 1 forward)"},  {100, 8, 50, false, true, "G W^T   (layer 1 dX)"},
      {8, 50, 100, true, false, "X^T G   (layer 1 dW)"},       {100, 50, 50, false, false, "H W     (layer 2 forward)"},
      {100, 1, 50, false, false, "H w     (scalar output)"},    {50, 1, 100, true, false, "H^T g   (its dw)"},
      {1, 1, 1, false, false, "1x1 scalar"},                    {5, 1, 3, false, false, "5x3 * 3x1"},
      {32, 32, 32, false, false, "32^3"},                       {64, 64, 64, false, false, "64^3"}};
  std::printf("\n%s: small products, ns per call (median), 1 thread\n", sizeof(T) == 4 ? "float" : "double");
  std::printf("%-28s %5s %5s %5s %10s %10s %10s\n", "product", "m", "n", "k", "wgflow", "OpenBLAS", "naive");
  for (const auto& s : shapes) {
    const std::size_t lda = s.ta ? s.m : s.k, ldb = s.tb ? s.k : s.n;
    const auto a = random_vector<T>(s.m * s.k, 1), b = random_vector<T>(s.k * s.n, 2);
    std::vector<T> c(s.m * s.n);
    auto wg = [&] { wgflow::gemm<T>(s.ta, s.tb, s.m, s.n, s.k, T(1), a.data(), lda, b.data(), ldb, T(0), c.data(), s.n); };
    auto ob = [&] {
      blas<T>(s.ta, s.tb, int(s.m), int(s.n), int(s.k), T(1), a.data(), int(lda), b.data(), int(ldb), T(0), c.data(),
              int(s.n));
    };
    // The textbook loop, i-p-j order (what the toolkit had before this kernel).
    auto naive = [&] {
      for (std::size_t i = 0; i < s.m; ++i) {
        T* ci = c.data() + i * s.n;
        std::fill(ci, ci + s.n, T(0));
        for (std::size_t p = 0; p < s.k; ++p) {
          const T aip = s.ta ? a[p * lda + i] : a[i * lda + p];
          for (std::size_t j = 0; j < s.n; ++j) ci[j] += aip * (s.tb ? b[j * ldb + p] : b[p * ldb + j]);
        }
      }
    };
    const auto [tw, tb] = time_pair(wg, ob, o.min_time / 4, o.min_runs);
    const auto [tn, unused] = time_pair(naive, [] {}, o.min_time / 4, o.min_runs);
    (void)unused;
    std::printf("%-28s %5zu %5zu %5zu %10.0f %10.0f %10.0f\n", s.what, s.m, s.n, s.k, tw * 1e9, tb * 1e9, tn * 1e9);
  }
}

}  // namespace

int main(int argc, char** argv) {
  return wb::run_main("bench_gemm", [&] {
    wb::Options o;
    o.min_time = 0.4;
    GemmOptions g;
    CLI::App app("wgflow: GEMM against OpenBLAS, the same inputs and thread count");
    wb::add_options(app, o);
    app.add_flag("--square", g.square, "GFLOP/s of square products (the default table)");
    app.add_option("--sizes", g.sizes, "the square table's sizes n, comma-separated")
        ->delimiter(',')
        ->check(wgflow::experiments::count(1, 16384))
        ->capture_default_str();
    app.add_flag("--small", g.small, "nanoseconds per call of the toolkit's small products, 1 thread");
    if (!wb::parse(app, argc, argv, o)) return wb::exit_ok;
    if (!g.square && !g.small) g.square = true;  // --sizes alone also means the square table
    const wb::Session session(app.get_description(), o);
    std::printf("OpenBLAS: %s, core %s\n", OPENBLAS_VERSION, openblas_get_corename());
    std::printf("wgflow micro-kernel: %s, float %zux%zu, double %zux%zu\n", wgflow::gemm_detail::Arch::name(),
                wgflow::gemm_detail::Blocking<float>::MR, wgflow::gemm_detail::Blocking<float>::NR,
                wgflow::gemm_detail::Blocking<double>::MR, wgflow::gemm_detail::Blocking<double>::NR);
    if (g.small && o.wants("gemm/small")) {
      const tbb::global_control one(tbb::global_control::max_allowed_parallelism, 1);
      openblas_set_num_threads(1);
      if (o.float32()) small_table<float>(o);
      if (o.float64()) small_table<double>(o);
    }
    if (g.square && o.wants("gemm")) {
      openblas_set_num_threads(o.threads);
      if (o.float32()) square_table<float>(o, g);
      if (o.float64()) square_table<double>(o, g);
    }
    return session.finish();
  });
}
