#pragma once
// What every benchmark program of bench/ shares: the command line, the machine's description, timing by
// medians, and the two outputs (a human table on stdout, machine-readable JSON lines in a file).
//
//   --threads N     TBB threads (default: all hardware threads); every program states it
//   --min-time S    seconds of measurement per figure (default 1; at least --min-runs runs)
//   --min-runs R    runs per figure, at least (default 5)
//   --json PATH     append one JSON object per figure to PATH (run.sh joins them with PyTorch's)
//   --only NAME     run only the workloads whose name starts with NAME (e.g. flow_step/DRLE, step/)
//   --dtype D       float32, float64 or both (default both)
//
// A benchmark is a program like the experiments (experiments/common): its flags are parsed strictly by
// CLI11 (a bad value, an unknown flag or a repeated one is refused with a message and exit code 2), and
// `run_main` turns every error into one line on stderr and a non-zero exit:
//
//   int main(int argc, char** argv) {
//     return wb::run_main("bench_peak", [&] {
//       wb::Options o;
//       CLI::App app("wgflow: the cores' peak multiply-add rate");
//       wb::add_options(app, o);                    // then the program's own: app.add_option(...)
//       if (!wb::parse(app, argc, argv, o)) return wb::exit_ok;  // --help
//       const wb::Session session(app.get_description(), o);
//       ...
//       return session.finish();                    // exit code 1 if stdout could not be written
//     });
//   }
//
// A figure is the median of the per-run times after warm-up runs: a run is one flow step, one SGD step,
// one kernel evaluation. The median, not the mean, because the machine is shared and a preempted run is
// an outlier that says nothing about the code.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

// GCC 12 at -O3 reports a false -Wrestrict inside CLI11's help formatter ("literal" + std::string&&, its
// bug 105329) in some of the benchmark programs: silenced for that header alone.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wrestrict"
#include <CLI/CLI.hpp>
#pragma GCC diagnostic pop
#include <nlohmann/json.hpp>
#include <tbb/global_control.h>

#include "experiments/common/atomic_file.hpp"
#include "experiments/common/command_line.hpp"
#include "experiments/common/run_main.hpp"
#include "experiments/common/validators.hpp"

namespace wgflow::bench {

using Clock = std::chrono::steady_clock;
using experiments::exit_ok;
using experiments::run_main;
using experiments::UsageError;

inline const char* exit_codes_help =
    "Exit status: 0 success; 1 run error (a step that fails, an I/O failure such as a full disk); "
    "2 usage error (a bad flag, or a --json file in a missing folder)";

struct Options {
  int threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  double min_time = 1.0;
  int min_runs = 5;
  std::string json_path;
  std::string only;
  std::string dtype = "both";

  bool float32() const { return dtype != "float64"; }
  bool float64() const { return dtype != "float32"; }
  bool wants(const std::string& name) const { return only.empty() || name.rfind(only, 0) == 0; }
};

// The shared options above, added to a program's CLI11 app; `o` holds each default (a program may change
// one first, as bench_lanes does with --threads 1).
inline void add_options(CLI::App& app, Options& o) {
  app.add_option("--threads", o.threads, "TBB threads")->check(experiments::count(1, 4096))->capture_default_str();
  app.add_option("--min-time", o.min_time, "seconds of measurement per figure, at least --min-runs runs")
      ->check(experiments::finite_in(0, 3600, /*open_lo=*/true))
      ->capture_default_str();
  app.add_option("--min-runs", o.min_runs, "runs per figure, at least")->check(experiments::count(1, 100000))
      ->capture_default_str();
  app.add_option("--json", o.json_path, "append one JSON object per figure to this file (its folder must exist)");
  app.add_option("--only", o.only, "run only the workloads whose name starts with this");
  app.add_option("--dtype", o.dtype, "float32, float64 or both")
      ->check(CLI::IsMember({"float32", "float64", "both"}))
      ->capture_default_str();
  app.footer(exit_codes_help);
}

// Parses the command line into `o` (and the program's own options); false after --help. A bad flag is a
// UsageError (exit code 2), as is a --json file whose folder is missing: found before the first figure
// is measured, not after minutes of measuring.
inline bool parse(CLI::App& app, int argc, char** argv, Options& o) {
  if (experiments::parse_command_line(app, argc, argv) == 0) return false;
  if (!o.json_path.empty()) {
    namespace fs = std::filesystem;
    const fs::path path(o.json_path), folder = path.has_parent_path() ? path.parent_path() : fs::path(".");
    std::error_code ec;
    if (!fs::is_directory(folder, ec))
      throw UsageError("--json " + o.json_path + ": the folder " + folder.string() + " does not exist");
    if (fs::is_directory(path, ec)) throw UsageError("--json " + o.json_path + " is a folder, not a file");
  }
  return true;
}

inline std::string cpu_model() {
  std::ifstream in("/proc/cpuinfo");
  for (std::string line; std::getline(in, line);)
    if (line.rfind("model name", 0) == 0) return line.substr(line.find(':') + 2);
  return "unknown CPU";
}

// The SIMD extensions that decide GEMM speed, as /proc/cpuinfo lists them.
inline std::string cpu_simd_flags() {
  std::ifstream in("/proc/cpuinfo");
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("flags", 0) != 0) continue;
    std::istringstream words(line.substr(line.find(':') + 1));
    std::string out;
    for (std::string w; words >> w;)
      if (w == "avx2" || w == "fma" || w.rfind("avx512f", 0) == 0 || w == "avx512vl") out += (out.empty() ? "" : " ") + w;
    return out.empty() ? "none of avx2/fma/avx512" : out;
  }
  return "unknown";
}

// Flushes stdout and throws IoError if any of the table printed there was lost (a full disk behind a
// redirection, a closed pipe).
inline void check_stdout() {
  if (std::fflush(stdout) != 0 || std::ferror(stdout))
    throw experiments::IoError("cannot write the table to standard output");
}

// Prints the machine and the thread count, and limits TBB to it for the program's lifetime.
class Session {
 public:
  Session(const std::string& title, const Options& o)
      : limit_(std::make_unique<tbb::global_control>(tbb::global_control::max_allowed_parallelism,
                                                     static_cast<std::size_t>(o.threads))),
        o_(o) {
    std::printf("%s\nCPU: %s (%u hardware threads; %s)\nthreads: %d\n", title.c_str(), cpu_model().c_str(),
                std::thread::hardware_concurrency(), cpu_simd_flags().c_str(), o.threads);
  }
  const Options& options() const { return o_; }

  // The program's exit code once its table is out: a table that could not be written to stdout (a full
  // disk behind a redirection, a closed pipe) is an error, not a success.
  experiments::ExitCode finish() const {
    check_stdout();
    return exit_ok;
  }

 private:
  std::unique_ptr<tbb::global_control> limit_;
  Options o_;
};

inline double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const std::size_t h = v.size() / 2;
  return v.size() % 2 ? v[h] : 0.5 * (v[h - 1] + v[h]);
}

struct Timing {
  double median_s = 0;
  double min_s = 0;
  std::size_t runs = 0;
};

// Median seconds per call of f, after `warmup` untimed calls: at least o.min_runs runs and o.min_time
// seconds in all (at most 100000 runs).
template <class F>
Timing time_runs(const Options& o, F&& f, int warmup = 3) {
  for (int i = 0; i < warmup; ++i) f();
  std::vector<double> t;
  double total = 0;
  while (static_cast<int>(t.size()) < o.min_runs || (total < o.min_time && t.size() < 100000)) {
    const auto t0 = Clock::now();
    f();
    t.push_back(std::chrono::duration<double>(Clock::now() - t0).count());
    total += t.back();
  }
  return {median(t), *std::min_element(t.begin(), t.end()), t.size()};
}

// One figure as a JSON object: the key fields name the workload (run.sh matches PyTorch's figure on
// them), the rest report it; keys keep the order they are set in.
class Record {
 public:
  template <class V>
  Record& set(const std::string& key, const V& value) {
    fields_[key] = value;
    return *this;
  }
  std::string str() const { return fields_.dump(); }

 private:
  nlohmann::ordered_json fields_ = nlohmann::ordered_json::object();
};

// The fields of a timed workload: what it is, its size and dtype, and the timing.
inline Record timing_record(const std::string& workload, std::size_t particles, const char* dtype, const Timing& t) {
  return Record()
      .set("workload", workload)
      .set("particles", particles)
      .set("dtype", dtype)
      .set("median_s", t.median_s)
      .set("min_s", t.min_s)
      .set("runs", t.runs)
      .set("steps_per_s", 1 / t.median_s);
}

// Appends `line` to the file at `path` as one atomic replacement (experiments/common/atomic_file.hpp):
// the file afterwards holds either its old lines or its old lines and this one, never half a line, so a
// run killed or out of disk space leaves every figure it reported whole. Throws IoError on failure.
inline void append_line(const std::filesystem::path& path, const std::string& line) {
  std::string old;
  std::error_code ec;
  if (std::filesystem::exists(path, ec)) {
    std::ifstream in(path, std::ios::binary);
    old.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    if (!in.is_open() || in.bad()) throw experiments::io_error("read", path, errno);
    if (!old.empty() && old.back() != '\n') old += '\n';
  }
  experiments::write_file_atomically(path, [&](std::ostream& out) { out << old << line << '\n'; });
}

// Appends the record, with the implementation, machine and thread count, to --json's file.
inline void emit(const Options& o, Record r) {
  if (o.json_path.empty()) return;
  r.set("impl", "wgflow").set("threads", o.threads).set("cpu", cpu_model());
  append_line(o.json_path, r.str());
}

template <class T>
const char* dtype_name() {
  return sizeof(T) == 4 ? "float32" : "float64";
}

}  // namespace wgflow::bench
