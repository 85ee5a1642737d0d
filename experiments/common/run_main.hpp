#pragma once
// How every experiment program ends: with one of the exit codes below and, unless it succeeded, exactly
// one line on stderr, "<program>: error: <what>" (under mpirun, from the failing rank, which ends them all:
// ranks.hpp). run_main wraps a program's body so that no error,
// whatever throws it (a flow that diverges, a full disk, a refused checkpoint, an allocation that fails),
// escapes as "terminate called ..." and a signal:
//
//   int main(int argc, char** argv) {
//     return experiments::run_main("optimal_q", [&] { ...; return experiments::exit_ok; });
//   }
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <exception>
#include <filesystem>
#include <iostream>
#include <new>
#include <string>

#include <CLI/CLI.hpp>
#include <unistd.h>

#include "../../core/errors.hpp"
#include "ranks.hpp"

namespace wgflow::experiments {

// The exit codes of every experiment program (also in each program's --help footer).
enum ExitCode : int {
  exit_ok = 0,           // success: every output file written, complete
  exit_run_error = 1,    // the run failed: a divergence, an I/O failure (full disk, ...), bad data
  exit_usage_error = 2,  // a bad flag, config file or --out folder (one that cannot be created or written)
  exit_jobs_failed = 3,  // uci_regression only: it finished and wrote its tables, but some jobs failed
};

// (no final full stop: uci_regression appends its code 3)
inline const char* exit_codes_help =
    "Exit status: 0 success; 1 run error (divergence, I/O failure such as a full disk, bad data); "
    "2 usage error (bad flag, config file or --out folder)";

// A bad flag, flag combination, config file or output folder: exit code 2.
struct UsageError : Error {
  using Error::Error;
};

// A message fit for one line of stderr: control characters (a config file of random bytes quoted back
// by CLI11, a newline inside a nested error) become '?' or spaces, and "<program>: " at its start, which
// some library errors already carry, is dropped so that the program is named once.
inline std::string one_line(std::string what, const std::string& program) {
  for (const std::string& prefix : {program + ": error: ", program + ": "})
    if (what.rfind(prefix, 0) == 0) what.erase(0, prefix.size());
  for (char& c : what) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '\n' || c == '\r' || c == '\t') c = ' ';
    else if (u < 0x20 || u == 0x7f) c = '?';
  }
  while (!what.empty() && what.back() == ' ') what.pop_back();
  return what;
}

// Writes `line` to stderr in one write(2) call. Under mpirun every rank that meets the same bad flag
// reports it at once, and std::cerr's piece-by-piece writes (the program, ": error: ", the message) let
// their lines interleave mid-line ("toy_gmmtoy_gmm: error: ...").
inline void write_stderr(const std::string& line) {
  std::cerr.flush();
  for (std::size_t done = 0; done < line.size();) {
    const ssize_t n = ::write(STDERR_FILENO, line.data() + done, line.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;  // stderr is gone: nowhere left to say it, and the exit code still says it
    done += static_cast<std::size_t>(n);
  }
}

// Under mpirun the failing rank says which it is, and ends every rank (their collectives would otherwise
// wait for it forever): mpirun then exits with this code.
inline int report_error(const std::string& program, const std::string& what, int code) {
  const auto& world = detail::rank_state().world;
  const std::string where = world && world->size() > 1 ? " (" + world->describe() + ")" : "";
  write_stderr(program + ": error: " + one_line(what, program) + where + "\n");
  end_all_ranks(code);
  return code;
}

// Whether what the program printed on stdout (its report, --help) reached it: "" if so, else why not. A
// full disk behind `> file` or a pipe whose reader has gone fails a write there, which stdio only
// records; the text is then lost like an unwritten file.
inline std::string stdout_failure() {
  errno = 0;
  std::cout.flush();  // synchronised with stdio: this is fflush(stdout), whose errno says why it failed
  const bool flushed = std::cout && std::fflush(stdout) == 0;
  if (flushed && std::ferror(stdout) == 0) return "";
  const std::string why = errno != 0 ? std::strerror(errno) : "a write failed";
  return "standard output: " + why + "; what the program printed there is incomplete";
}

// Runs `body` (returning an exit code) and turns every exception into one line on stderr and its code,
// and a failed write on stdout into a run error. SIGPIPE and SIGXFSZ are ignored first: a closed pipe on
// stdout or a file-size limit (ulimit -f) then fails the write that meets it, which is reported like a
// full disk, instead of killing the program.
template <class Body>
int run_main(const std::string& program, Body&& body) noexcept {
  std::signal(SIGPIPE, SIG_IGN);
  std::signal(SIGXFSZ, SIG_IGN);
  try {
    ranks();  // under mpirun: MPI starts here, before the program's first collective
    const int code = body();
    if (const std::string failure = stdout_failure(); !failure.empty())
      return report_error(program, failure, code == exit_ok ? exit_run_error : code);
    return code;
  } catch (const UsageError& e) {
    return report_error(program, e.what(), exit_usage_error);
  } catch (const CLI::ParseError& e) {
    return report_error(program, e.what(), exit_usage_error);
  } catch (const std::bad_alloc&) {
    return report_error(program, "out of memory (try fewer particles, a smaller network or fewer data)",
                        exit_run_error);
  } catch (const std::filesystem::filesystem_error& e) {
    return report_error(program, e.what(), exit_run_error);
  } catch (const std::exception& e) {
    return report_error(program, e.what(), exit_run_error);
  } catch (...) {
    return report_error(program, "unknown error", exit_run_error);
  }
}

}  // namespace wgflow::experiments
