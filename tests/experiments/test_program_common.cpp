// The pieces every experiment program stands on (experiments/common): atomic output files, strict flag
// validators, the command-line parse (repeated options, config-file errors with file and line) and the
// one-line error messages.
#include <doctest/doctest.h>

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include <CLI/CLI.hpp>

#include "experiments/common/atomic_file.hpp"
#include "experiments/common/command_line.hpp"
#include "experiments/common/csv.hpp"
#include "experiments/common/run_main.hpp"
#include "experiments/common/validators.hpp"
#include "tests/data/data_fixture.hpp"
#include "tests/experiments/program_runner.hpp"

namespace program_common {

namespace fs = std::filesystem;
namespace ex = wgflow::experiments;

std::string contents(const fs::path& file) {
  std::ifstream in(file);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::size_t entries(const fs::path& dir) {
  std::size_t n = 0;
  for ([[maybe_unused]] const auto& e : fs::directory_iterator(dir)) ++n;
  return n;
}

// Parses `args` (after the program name) into `app`; returns the UsageError's message, or "" on success.
std::string parse(CLI::App& app, std::vector<std::string> args) {
  args.insert(args.begin(), "program");
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  try {
    ex::parse_command_line(app, static_cast<int>(argv.size()), argv.data());
  } catch (const ex::UsageError& e) {
    return e.what();
  }
  return "";
}

}  // namespace program_common

using namespace program_common;

TEST_CASE("AtomicFile: the file appears complete on commit, and not at all without it") {
  wgtest::TempFolder dir;
  const fs::path file = dir.path() / "table.csv";
  {
    ex::CsvWriter csv(file, {"a", "b"});
    csv.row(1, 2.5);
    CHECK_FALSE(fs::exists(file));  // nothing before close()
    csv.close();
  }
  CHECK(contents(file) == "a,b\n1,2.5\n");
  CHECK(entries(dir.path()) == 1);  // no temporary file left
  {
    ex::CsvWriter csv(file, {"a", "b"});
    csv.row(3, 4);
    // destroyed without close(), as by an error mid-table: the old file stays, whole
  }
  CHECK(contents(file) == "a,b\n1,2.5\n");
  CHECK(entries(dir.path()) == 1);
  ex::write_file_atomically(file, [](std::ostream& out) { out << "replaced\n"; });
  CHECK(contents(file) == "replaced\n");
}

TEST_CASE("AtomicFile: a write that fails names the file and the system's reason") {
  // A folder that does not exist: the temporary file cannot be opened.
  wgtest::TempFolder dir;
  try {
    ex::write_file_atomically(dir.path() / "absent" / "meta.json", [](std::ostream& out) { out << "{}"; });
    FAIL("no error");
  } catch (const ex::IoError& e) {
    const std::string what = e.what();
    CHECK_MESSAGE(what.find((dir.path() / "absent" / "meta.json").string()) != std::string::npos, what);
    CHECK_MESSAGE(what.find("No such file or directory") != std::string::npos, what);
  }
  // A file size limit below the text: write() fails with EFBIG.
  CHECK(wgtest::exit_code_under_file_limit(100, [&] {
          try {
            ex::write_file_atomically(dir.path() / "big.csv", [](std::ostream& out) { out << std::string(1000, 'x'); });
          } catch (const ex::IoError& e) {
            return std::string(e.what()).find("big.csv: File too large") != std::string::npos ? 0 : 2;
          }
          return 1;
        }) == 0);
  CHECK_FALSE(fs::exists(dir.path() / "big.csv"));
  CHECK(entries(dir.path()) == 0);  // the temporary file was removed
}

TEST_CASE("validators: counts refuse signs, wrapping and garbage; numbers refuse nan and inf") {
  CLI::App app("test");
  std::uint64_t n = 0;
  double eta = 1, w = 0;
  app.add_option("--n", n)->check(ex::count(1, 100));
  app.add_option("--eta", eta)->check(ex::finite_positive());
  app.add_option("--w", w)->check(ex::finite_non_negative());
  for (const char* bad : {"-1", "0", "101", "18446744073709551616", "1e3", "abc", "", " 5", "+5"})
    CHECK_MESSAGE(parse(app, {"--n", bad}).find("--n: must be a whole number from 1 to 100") != std::string::npos, bad);
  CHECK(parse(app, {"--n", "100"}).empty());
  CHECK(n == 100);
  for (const char* bad : {"nan", "inf", "-inf", "0", "-1e-9", "1e400", "x"})
    CHECK_MESSAGE(parse(app, {"--eta", bad}).find("--eta: must be a finite number > 0") != std::string::npos, bad);
  CHECK(parse(app, {"--eta", "1e-300", "--w", "0"}).empty());
  CHECK(eta == 1e-300);
  CHECK(parse(app, {"--w", "nan"}).find("--w: must be a finite number >= 0") != std::string::npos);
}

TEST_CASE("the command line: a repeated option is refused; a config file's errors name its file and line") {
  wgtest::TempFolder dir;
  CLI::App app("test");
  app.set_config("--config");
  app.allow_config_extras(false);
  std::uint64_t n = 1;
  std::vector<std::string> list;
  app.add_option("--n", n)->check(ex::count(1, 100));
  app.add_option("--list", list)->delimiter(',');
  CHECK(parse(app, {"--list", "a,b", "--list", "c"}).find("--list is given 2 times") != std::string::npos);

  const fs::path config = dir.path() / "run.toml";
  wgtest::write_file(config, "list=[\"a\"]\n# a comment\nn=0\n");
  CHECK(parse(app, {"--config", config.string()}) ==
        "--n: must be a whole number from 1 to 100, got '0' (" + config.string() + ", line 3); see --help");
  wgtest::write_file(config, "n=3\nnn=4\n");
  CHECK(parse(app, {"--config", config.string()}) ==
        "config file: unknown option or not a 'key = value' line: 'nn' (" + config.string() + ", line 2)");
  wgtest::write_file(config, std::string("\x01\xff garbage\n", 11));
  const std::string garbage = parse(app, {"--config", config.string()});
  CHECK(garbage.find("unknown option or not a 'key = value' line: '?? garbage'") != std::string::npos);
  CHECK(parse(app, {"--config", (dir.path() / "absent.toml").string()}).find("absent.toml") != std::string::npos);
  CHECK(parse(app, {"--config", dir.path().string()}) == "--config " + dir.path().string() + " is a folder, not a config file");
  wgtest::write_file(config, "n=7\n");
  CHECK(parse(app, {"--config", config.string()}).empty());
  CHECK(n == 7);
}

TEST_CASE("run_main: one line, the program named once, and the exit code of the error's kind") {
  CHECK(ex::one_line("optimal_q: bad\nthing\x01", "optimal_q") == "bad thing?");
  CHECK(ex::one_line("optimal_q: error: x", "optimal_q") == "x");
  CHECK(ex::run_main("p", [] { return 0; }) == ex::exit_ok);
  CHECK(ex::run_main("p", []() -> int { throw ex::UsageError("bad flag"); }) == ex::exit_usage_error);
  CHECK(ex::run_main("p", []() -> int { throw wgflow::Error("diverged"); }) == ex::exit_run_error);
  CHECK(ex::run_main("p", []() -> int { throw ex::IoError("cannot write x: No space left on device"); }) ==
        ex::exit_run_error);
  CHECK(ex::run_main("p", []() -> int { throw std::bad_alloc(); }) == ex::exit_run_error);
  CHECK(ex::run_main("p", []() -> int { throw 42; }) == ex::exit_run_error);
}

TEST_CASE("run_main: a report lost on stdout is a run error, named on stderr; a failed run keeps its own code") {
  wgtest::TempFolder dir;
  const auto in_child = [&](int (*body)()) {  // run_main(body) with stdout a pipe nobody reads
    std::cout.flush();  // what this process has buffered is not the child's to write
    std::fflush(stdout);
    const pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
      if (!wgtest::redirect_output(wgtest::Stdout::reader_gone, dir.path() / "stderr.txt")) ::_exit(127);
      ::_exit(ex::run_main("p", body));
    }
    int status = 0;
    ::waitpid(pid, &status, 0);
    REQUIRE(WIFEXITED(status));
    return std::pair{WEXITSTATUS(status), contents(dir.path() / "stderr.txt")};
  };
  const auto [printed, printed_err] = in_child([] {
    std::printf("a report\n");
    return static_cast<int>(ex::exit_ok);
  });
  CHECK(printed == ex::exit_run_error);
  CHECK(printed_err == "p: error: standard output: Broken pipe; what the program printed there is incomplete\n");
  const auto [streamed, streamed_err] = in_child([] {
    std::cout << "a report through std::cout\n";
    return static_cast<int>(ex::exit_jobs_failed);
  });
  CHECK(streamed == ex::exit_jobs_failed);
  CHECK(streamed_err.find("p: error: standard output: Broken pipe") == 0);
  const auto [silent, silent_err] = in_child([] { return static_cast<int>(ex::exit_ok); });
  CHECK(silent == ex::exit_ok);  // nothing printed: nothing lost
  CHECK(silent_err.empty());
}
