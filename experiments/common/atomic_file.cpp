// Atomic output files (atomic_file.hpp), compiled once into libwgflow.
#include "atomic_file.hpp"

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <functional>
#include <string>
#include <utility>

#include <fcntl.h>
#include <unistd.h>

#include "ranks.hpp"

namespace wgflow::experiments {

IoError io_error(const std::string& what, const std::filesystem::path& path, int errnum) {
  return IoError("cannot " + what + " " + path.string() + ": " + std::strerror(errnum));
}

std::string safe_file_name(const std::string& label) {
  std::string name = label;
  for (char& c : name) {
    const bool safe = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
                      c == '-' || c == '_';
    if (!safe) c = '_';
  }
  return name;
}

AtomicFile::AtomicFile(std::filesystem::path target) : target_(std::move(target)) {
  // Appended, not `"." + name + ".tmp"`: GCC 12 at -O2 warns falsely (-Wrestrict) on that operator+.
  std::string name = ".";
  name += target_.filename().string();
  name += ".tmp";
  temp_ = target_.parent_path() / name;
}

void AtomicFile::commit() {
  if (committed_) throw Error("AtomicFile: " + target_.string() + " committed twice");
  if (!writes_outputs()) {  // under mpirun, rank 0 writes every output (ranks.hpp)
    committed_ = true;
    return;
  }
  if (!text_) throw IoError("cannot format the contents of " + target_.string());
  const std::string text = text_.str();
  const int fd = ::open(temp_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) throw io_error("write", target_, errno);
  const auto fail = [&](int errnum) {
    ::close(fd);
    ::unlink(temp_.c_str());
    return io_error("write", target_, errnum);
  };
  for (std::size_t done = 0; done < text.size();) {
    const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) throw fail(n < 0 ? errno : EIO);
    done += static_cast<std::size_t>(n);
  }
  // EINVAL: a file system without fsync (e.g. some pseudo file systems); the data were still accepted.
  if (::fsync(fd) != 0 && errno != EINVAL) throw fail(errno);
  if (::close(fd) != 0) {
    const int errnum = errno;
    ::unlink(temp_.c_str());
    throw io_error("write", target_, errnum);
  }
  if (::rename(temp_.c_str(), target_.c_str()) != 0) {
    const int errnum = errno;
    ::unlink(temp_.c_str());
    throw io_error("write", target_, errnum);
  }
  committed_ = true;
  // The rename itself survives a crash only once the folder is synced; failing that is not worth a lost run.
  const std::filesystem::path folder = target_.has_parent_path() ? target_.parent_path() : ".";
  if (const int dir = ::open(folder.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC); dir >= 0) {
    ::fsync(dir);
    ::close(dir);
  }
}

void write_file_atomically(const std::filesystem::path& path, const std::function<void(std::ostream&)>& fill) {
  AtomicFile file(path);
  fill(file.stream());
  file.commit();
}

}  // namespace wgflow::experiments
