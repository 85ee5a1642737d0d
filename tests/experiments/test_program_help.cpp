// Every program's --help: it exits 0, lists only flags the program accepts, and ends with the files the
// program writes ("Outputs"). The list is checked against a --quick run of each experiment program (one
// meaning of --quick everywhere: a smoke-size run of the same pipeline that still writes every output):
// every file the run leaves in --out is listed, and every listed file but the conditional ones ("with
// --checkpoint-every") is there. meta.json's settings are the values in force, typed.
#include <doctest/doctest.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
// GCC 12 reports maybe-uninitialized reads inside <regex> when it optimises under AddressSanitizer: a false
// positive in libstdc++ (as at data/checkpoint_folder.hpp's include of xtensor's npy reader).
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <regex>
#pragma GCC diagnostic pop
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/data/data_fixture.hpp"

namespace fs = std::filesystem;

namespace {

struct Help {
  int status = -1;
  std::string text;
};

// `binary --help`: its exit status and what it printed on stdout.
Help help_of(const std::string& binary) {
  Help h;
  FILE* pipe = ::popen(("'" + binary + "' --help 2>/dev/null").c_str(), "r");
  REQUIRE(pipe != nullptr);
  char buffer[4096];
  for (std::size_t n; (n = std::fread(buffer, 1, sizeof buffer, pipe)) > 0;) h.text.append(buffer, n);
  const int status = ::pclose(pipe);
  h.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return h;
}

struct Output {
  std::string name;  // "particles.csv", "checkpoints/", "particles_<method>.npy"
  bool conditional;  // written only with a flag ("with --checkpoint-every: ...")
};

// The entries of the help's "Outputs (in --out):" section, one per line up to the first empty one.
std::vector<Output> outputs_of(const std::string& help) {
  std::vector<Output> out;
  std::istringstream in(help.substr(help.find("Outputs (in --out):") + 1));
  std::string line;
  std::getline(in, line);  // the heading
  while (std::getline(in, line) && !line.empty()) {
    std::istringstream words(line);
    std::string name, rest;
    words >> name;
    std::getline(words, rest);
    out.push_back({name, rest.find("with --") != std::string::npos});
  }
  return out;
}

// "particles_<method>.npy" matches particles_DE.npy: a placeholder in angle brackets stands for any name.
bool matches(const std::string& pattern, const std::string& file) {
  const std::regex placeholder("<[^>]+>"), special(R"([.^$|()\[\]{}*+?\\])");
  std::string re;
  std::size_t at = 0;
  for (std::sregex_iterator it(pattern.begin(), pattern.end(), placeholder), end; it != end; ++it) {
    re += std::regex_replace(pattern.substr(at, it->position() - at), special, R"(\$&)") + "[^/]+";
    at = it->position() + it->length();
  }
  re += std::regex_replace(pattern.substr(at), special, R"(\$&)");
  return std::regex_match(file, std::regex(re));
}

// The files and folders (with a trailing '/') directly in `dir`.
std::vector<std::string> files_in(const fs::path& dir) {
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(dir))
    names.push_back(e.path().filename().string() + (e.is_directory() ? "/" : ""));
  return names;
}

int run_quietly(const std::string& binary, const std::string& args, const fs::path& out) {
  const std::string command = "'" + binary + "' --threads 1 --out '" + out.string() + "' " + args + " >/dev/null 2>&1";
  const int status = std::system(command.c_str());
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

struct HelpedProgram {
  const char* name;
  const char* binary;
};

const HelpedProgram experiment_programs[] = {
    {"optimal_q", WGFLOW_OPTIMAL_Q_BIN},       {"toy_gmm", WGFLOW_TOY_GMM_BIN},
    {"sin_landscape", WGFLOW_SIN_LANDSCAPE_BIN}, {"regression_1d", WGFLOW_REGRESSION_1D_BIN},
    {"classification", WGFLOW_CLASSIFICATION_BIN}, {"uci_regression", WGFLOW_UCI_REGRESSION_BIN}};
const HelpedProgram examples[] = {{"example_gradient", WGFLOW_EXAMPLE_GRADIENT_BIN},
                            {"example_custom_term", WGFLOW_EXAMPLE_CUSTOM_TERM_BIN}};

}  // namespace

TEST_CASE("every program's --help exits 0, names the files it writes and lists only flags it accepts") {
  for (const HelpedProgram& p : experiment_programs) {
    CAPTURE(p.name);
    const Help h = help_of(p.binary);
    CHECK(h.status == 0);
    CHECK(h.text.find("Outputs (in --out):") != std::string::npos);
    CHECK(h.text.find("Exit status: 0 success") != std::string::npos);
    const std::vector<Output> outputs = outputs_of(h.text);
    for (const std::string common : {"config.toml", "meta.json"}) {
      const auto listed = std::count_if(outputs.begin(), outputs.end(), [&](const Output& o) { return o.name == common; });
      CHECK_MESSAGE(listed == 1, common);
    }
    // One meaning of --quick, stated once, in every program.
    CHECK(h.text.find("smoke-size run of the same pipeline, finishing in seconds") != std::string::npos);
    CHECK(h.text.find("(--quick: ") != std::string::npos);  // and each program says what it shrinks
  }
  // uci_regression journals jobs instead of checkpointing flows: the flag it refuses is not offered.
  const Help uci = help_of(WGFLOW_UCI_REGRESSION_BIN);
  CHECK(uci.text.find("--checkpoint-every") == std::string::npos);
  CHECK(uci.text.find("checkpoints/") == std::string::npos);
  CHECK(uci.text.find("3 some jobs failed") != std::string::npos);
  // The examples take no flag but --help, and write no file.
  for (const HelpedProgram& p : examples) {
    CAPTURE(p.name);
    const Help h = help_of(p.binary);
    CHECK(h.status == 0);
    CHECK(h.text.find("Outputs: no files") != std::string::npos);
    std::size_t flags = 0;
    for (std::size_t at = 0; (at = h.text.find("  --", at)) != std::string::npos; ++at) ++flags;
    CHECK(flags == 0);
    CHECK(h.text.find("-h,--help") != std::string::npos);
  }
}

TEST_CASE("--quick writes every output its --help lists, and nothing it does not; meta.json holds typed values") {
  wgtest::TempFolder dir;
  const fs::path data = dir.path() / "data";
  fs::create_directories(data / "synthetic");
  wgtest::Synthetic::write(data / "synthetic");
  for (const HelpedProgram& p : experiment_programs) {
    CAPTURE(p.name);
    const bool uci = std::string(p.name) == "uci_regression";
    const fs::path out = dir.path() / p.name;
    // uci_regression on the synthetic one-split benchmark (tests/data/data_fixture.hpp), few epochs.
    const std::string args =
        uci ? "--quick --data '" + data.string() + "' --datasets synthetic --epochs 2 --batch-size 4" : "--quick";
    REQUIRE(run_quietly(p.binary, args, out) == 0);
    const std::vector<Output> listed = outputs_of(help_of(p.binary).text);
    const std::vector<std::string> written = files_in(out);
    for (const std::string& file : written) {
      bool found = false;
      for (const Output& o : listed) found = found || matches(o.name, file);
      CHECK_MESSAGE(found, file << " is written but not listed in --help");
    }
    for (const Output& o : listed) {
      if (o.conditional) continue;
      bool found = false;
      for (const std::string& file : written) found = found || matches(o.name, file);
      CHECK_MESSAGE(found, o.name << " is listed in --help but not written by --quick");
    }
    std::ifstream in(out / "meta.json");
    const nlohmann::json meta = nlohmann::json::parse(in);
    const nlohmann::json& s = meta.at("settings");
    CHECK(s.at("quick") == true);
    CHECK(s.at("seed") == 0);
    CHECK(s.at("threads") == 1);
    CHECK(s.at("out") == out.string());
    if (uci) {
      CHECK(s.at("splits") == nlohmann::json({{"synthetic", 1}}));  // the splits each data set ran (--quick: 2 of 1)
      CHECK(s.at("datasets") == nlohmann::json({"synthetic"}));
      CHECK(s.at("epochs") == 2);
    } else {
      CHECK(s.at("steps").is_number_unsigned());
      CHECK(s.at("particles").is_number_unsigned());
    }
  }
}
