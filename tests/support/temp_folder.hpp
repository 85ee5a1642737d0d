#pragma once
// A fresh, empty folder for one test under the system's temporary directory, removed with everything in
// it when the test is done. Its name carries a tag, the process id and a counter: concurrent test runs
// (CI's legs, a suite under meson's parallel runner) never share a folder, and one left behind by a
// crashed run says whose it was. A folder of that name already there (an earlier process of the same id)
// is skipped, never reused or deleted.
#include <doctest/doctest.h>

#include <atomic>
#include <filesystem>
#include <string>
#include <system_error>

#include <unistd.h>

namespace wgtest {

class TempFolder {
 public:
  explicit TempFolder(const std::string& tag = "test") : path_(fresh(tag)) {}
  TempFolder(const TempFolder&) = delete;
  TempFolder& operator=(const TempFolder&) = delete;
  ~TempFolder() {
    std::error_code ignored;  // a destructor must not throw; a folder left over is only untidy
    std::filesystem::remove_all(path_, ignored);
  }
  const std::filesystem::path& path() const { return path_; }

 private:
  static std::filesystem::path fresh(const std::string& tag) {
    static std::atomic<unsigned> counter{0};
    const std::filesystem::path root = std::filesystem::temp_directory_path();
    for (int attempt = 0; attempt < 1000; ++attempt) {
      const std::filesystem::path p =
          root / ("wgflow-" + tag + "-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
      std::error_code ec;
      if (std::filesystem::create_directory(p, ec)) return p;
    }
    FAIL("TempFolder: could not create a fresh folder under " << root.string());
    return {};
  }

  std::filesystem::path path_;
};

}  // namespace wgtest
