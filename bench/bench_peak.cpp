// The machine's peak multiply-add rate (bench/peak.hpp): the ceiling that issue 23's targets are read
// against. bench/compare.py puts that floor beside each target.
//
//   bench_peak [shared options, see bench_common.hpp]   --threads N: N threads at once (default: all)
#include <cstdio>

#include <xsimd/xsimd.hpp>

#include "bench/bench_common.hpp"
#include "bench/peak.hpp"

namespace {

namespace wb = wgflow::bench;

template <class T>
void report(const wb::Options& o) {
  const double g = wb::peak_rate<T>(o.threads, 7);
  std::printf("%-8s %7d %14.1f %12.1f\n", wb::dtype_name<T>(), o.threads, g, g / o.threads);
  wb::emit(o, wb::Record()
                  .set("workload", "peak_fma")
                  .set("dtype", wb::dtype_name<T>())
                  .set("gfma_per_s", g)
                  .set("simd_lanes", xsimd::batch<T>::size));
}

}  // namespace

int main(int argc, char** argv) {
  return wb::run_main("bench_peak", [&] {
    wb::Options o;
    CLI::App app("wgflow: the cores' peak multiply-add rate (FMA chains in registers)");
    wb::add_options(app, o);
    if (!wb::parse(app, argc, argv, o)) return wb::exit_ok;
    const wb::Session session(app.get_description(), o);
    std::printf("%-8s %7s %14s %12s\n", "dtype", "threads", "G FMA/s", "per thread");
    if (o.float32()) report<float>(o);
    if (o.float64()) report<double>(o);
    return session.finish();
  });
}
