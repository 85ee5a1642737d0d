#pragma once
// The machine a figure was measured on: stated beside every timing and stored in every meta.json.
#include <fstream>
#include <string>

namespace wgflow::experiments {

inline std::string cpu_model() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("model name", 0) == 0) return line.substr(line.find(':') + 2);
  return "unknown CPU";
}

}  // namespace wgflow::experiments
