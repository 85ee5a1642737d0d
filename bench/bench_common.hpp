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
// A figure is the median of the per-run times after warm-up runs: a run is one flow step, one SGD step,
// one kernel evaluation. The median, not the mean, because the machine is shared and a preempted run is
// an outlier that says nothing about the code.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <tbb/global_control.h>

namespace wgflow::bench {

using Clock = std::chrono::steady_clock;

struct Options {
  int threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  double min_time = 1.0;
  int min_runs = 5;
  std::string json_path;
  std::string only;
  bool float32 = true, float64 = true;

  bool wants(const std::string& name) const { return only.empty() || name.rfind(only, 0) == 0; }
};

inline void usage(const char* program, const char* extra) {
  std::fprintf(stderr,
               "usage: %s [--threads N] [--min-time SECONDS] [--min-runs R] [--json PATH] [--only NAME]\n"
               "          [--dtype float32|float64|both]%s\n",
               program, extra);
}

// Parses the shared options; returns false (after printing usage) on anything it does not know.
inline bool parse_options(int argc, char** argv, Options& o) {
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    const bool has_value = i + 1 < argc;
    if (arg == "--threads" && has_value) o.threads = std::max(1, std::atoi(argv[++i]));
    else if (arg == "--min-time" && has_value) o.min_time = std::atof(argv[++i]);
    else if (arg == "--min-runs" && has_value) o.min_runs = std::max(1, std::atoi(argv[++i]));
    else if (arg == "--json" && has_value) o.json_path = argv[++i];
    else if (arg == "--only" && has_value) o.only = argv[++i];
    else if (arg == "--dtype" && has_value) {
      const std::string d = argv[++i];
      if (d != "float32" && d != "float64" && d != "both") return usage(argv[0], ""), false;
      o.float32 = d != "float64";
      o.float64 = d != "float32";
    } else {
      usage(argv[0], "");
      return false;
    }
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

// Prints the machine and the thread count, and limits TBB to it for the program's lifetime.
class Session {
 public:
  Session(const char* title, const Options& o)
      : limit_(std::make_unique<tbb::global_control>(tbb::global_control::max_allowed_parallelism,
                                                     static_cast<std::size_t>(o.threads))),
        o_(o) {
    std::printf("%s\nCPU: %s (%u hardware threads; %s)\nthreads: %d\n", title, cpu_model().c_str(),
                std::thread::hardware_concurrency(), cpu_simd_flags().c_str(), o.threads);
  }
  const Options& options() const { return o_; }

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
// them), the rest report it.
class Record {
 public:
  Record& set(const std::string& key, const std::string& value) {
    fields_.push_back("\"" + key + "\": \"" + value + "\"");
    return *this;
  }
  Record& set(const std::string& key, double value) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.6g", value);
    fields_.push_back("\"" + key + "\": " + buf);
    return *this;
  }
  Record& set(const std::string& key, int value) { return set(key, static_cast<double>(value)); }
  Record& set(const std::string& key, std::size_t value) { return set(key, static_cast<double>(value)); }

  std::string str() const {
    std::string s = "{";
    for (std::size_t i = 0; i < fields_.size(); ++i) s += (i ? ", " : "") + fields_[i];
    return s + "}";
  }

 private:
  std::vector<std::string> fields_;
};

// Appends the record, with the implementation, machine and thread count, to --json's file.
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

inline void emit(const Options& o, Record r) {
  if (o.json_path.empty()) return;
  r.set("impl", "wgflow").set("threads", o.threads).set("cpu", cpu_model());
  std::ofstream out(o.json_path, std::ios::app);
  out << r.str() << "\n";
}

template <class T>
const char* dtype_name() {
  return sizeof(T) == 4 ? "float32" : "float64";
}

}  // namespace wgflow::bench
