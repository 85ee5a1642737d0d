#pragma once
// Running an experiment program as a child process the way a user's shell would, and seeing how it ended:
// its exit code, or the signal that killed it, or that it ran past a time limit (then it is killed and
// counted as hung). Optionally under RLIMIT_FSIZE with SIGXFSZ ignored, so that writes past the limit
// fail with EFBIG: a full disk for a test that cannot mount a tiny file system. Its runs write into
// wgtest::TempFolders (tests/support/temp_folder.hpp).
#include <chrono>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <fcntl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/support/temp_folder.hpp"

namespace wgtest {

// Runs `body` (returning an exit code) in a forked child whose files may not grow past `bytes`
// (RLIMIT_FSIZE with SIGXFSZ ignored: a write past it fails with EFBIG, a full disk in small); returns the
// child's exit code, or -1 if it did not exit. The limit stays in the child.
// In a child process: its files may not grow past `bytes`, and a write past that fails with EFBIG
// instead of killing it with SIGXFSZ.
inline void limit_file_size(rlim_t bytes) {
  std::signal(SIGXFSZ, SIG_IGN);
  const rlimit limit{bytes, bytes};
  ::setrlimit(RLIMIT_FSIZE, &limit);
}

template <class Body>
int exit_code_under_file_limit(rlim_t bytes, Body&& body) {
  const pid_t pid = ::fork();
  if (pid < 0) return -1;
  if (pid == 0) {
    limit_file_size(bytes);
    ::_exit(body());
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

struct ProgramRun {
  bool exited = false;     // ended by exit(); `code` is its status
  int code = -1;
  bool signaled = false;   // killed by a signal (not by us); `signal` is which
  int signal = 0;
  bool timed_out = false;  // ran past the limit and was killed
  std::string err;         // everything it wrote on stderr
};

// Where a child's stdout goes: discarded, or a pipe whose reader has gone (every write there fails, with
// EPIPE once SIGPIPE is ignored: what a full disk behind `> file` does, on any machine).
enum class Stdout { discarded, reader_gone };

// The write end of a new pipe whose read end is closed; -1 on failure.
inline int pipe_without_reader() {
  int ends[2];
  if (::pipe(ends) != 0) return -1;
  ::close(ends[0]);
  return ends[1];
}

// In a child process: stdout where `stdout_to` says, stderr into `err_file` (created or truncated); false
// if either cannot be set up.
inline bool redirect_output(Stdout stdout_to, const std::filesystem::path& err_file) {
  const int out = stdout_to == Stdout::discarded ? ::open("/dev/null", O_WRONLY) : pipe_without_reader();
  const int err = ::open(err_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  return out >= 0 && err >= 0 && ::dup2(out, 1) >= 0 && ::dup2(err, 2) >= 0;
}

// Runs `binary` with `args` (stdout where `stdout_to` says, stderr captured through `err_file`), killing
// it after `timeout`. `file_size_limit`: RLIMIT_FSIZE in bytes for the child.
inline ProgramRun run_program(const std::string& binary, const std::vector<std::string>& args,
                              const std::filesystem::path& err_file, std::chrono::seconds timeout,
                              std::optional<rlim_t> file_size_limit = std::nullopt,
                              Stdout stdout_to = Stdout::discarded) {
  ProgramRun run;
  const pid_t pid = ::fork();
  if (pid < 0) return run;
  if (pid == 0) {
    if (!redirect_output(stdout_to, err_file)) ::_exit(127);
    if (file_size_limit) limit_file_size(*file_size_limit);
    std::vector<char*> argv{const_cast<char*>(binary.c_str())};
    for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    ::execv(binary.c_str(), argv.data());
    ::_exit(127);
  }
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  int status = 0;
  for (;;) {
    const pid_t done = ::waitpid(pid, &status, WNOHANG);
    if (done == pid) break;
    if (std::chrono::steady_clock::now() > deadline) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      run.timed_out = true;
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  if (!run.timed_out) {
    run.exited = WIFEXITED(status);
    run.code = run.exited ? WEXITSTATUS(status) : -1;
    run.signaled = WIFSIGNALED(status);
    run.signal = run.signaled ? WTERMSIG(status) : 0;
  }
  std::ifstream in(err_file);
  std::stringstream text;
  text << in.rdbuf();
  run.err = text.str();
  return run;
}

}  // namespace wgtest
