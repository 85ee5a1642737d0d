#pragma once
// Writing an output file so that it is either complete or absent: the text goes to a temporary file in
// the target's folder (".<name>.tmp", hidden; the same file system, so the rename is atomic), which is
// written with checked system calls, fsynced, closed and renamed over the target. A full disk, a
// read-only folder or a vanished one is an IoError naming the file and the system's reason
// (strerror(errno)), never a silently cut file: a result is reported only after every byte is on disk.
//
//   write_file_atomically(ex.path("meta.json"), [&](std::ostream& out) { out << meta.dump(2) << "\n"; });
//
//   AtomicFile f(path);           // the same in two steps, for writers that fill a file row by row
//   f.stream() << ...;
//   f.commit();                   // writes, fsyncs, renames; without it the destructor leaves no trace
//
// The text is buffered in memory until commit: every output of the experiment programs is small (the
// largest, a density on 1601 grid points, is under 100 KB), and one write loop at the end is what lets
// each failure carry its errno.
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <functional>
#include <sstream>
#include <string>

#include <fcntl.h>
#include <unistd.h>

#include "../../core/errors.hpp"
#include "ranks.hpp"

namespace wgflow::experiments {

// An output file could not be written (or a folder not created): the message names the path and the
// system's reason.
struct IoError : Error {
  using Error::Error;
};

// "cannot <what> <path>: <strerror(errnum)>".
IoError io_error(const std::string& what, const std::filesystem::path& path, int errnum);

// A label as one plain file or folder name: "DE robust" -> "DE_robust" (characters outside
// [A-Za-z0-9._-] become '_'), e.g. particles_<label>.npy or a flow's checkpoint folder.
std::string safe_file_name(const std::string& label);

class AtomicFile {
 public:
  explicit AtomicFile(std::filesystem::path target);
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;
  ~AtomicFile() {
    if (!committed_) ::unlink(temp_.c_str());  // a temp file is only ever left by a failed commit
  }

  std::ostream& stream() { return text_; }
  const std::filesystem::path& path() const { return target_; }
  bool committed() const { return committed_; }

  // Writes the text to the temporary file, fsyncs and closes it, renames it over the target and fsyncs
  // the folder. Throws IoError on any failure (and removes the temporary file); call at most once.
  void commit();

 private:
  std::filesystem::path target_, temp_;
  std::ostringstream text_;
  bool committed_ = false;
};

// Writes `path` atomically from `fill(std::ostream&)`; throws IoError on failure.
void write_file_atomically(const std::filesystem::path& path, const std::function<void(std::ostream&)>& fill);

}  // namespace wgflow::experiments
