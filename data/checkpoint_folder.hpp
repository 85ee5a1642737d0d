#pragma once
// Checkpoint folders on disk, crash-safe: a set of named arrays stored as NumPy .npy files plus a JSON
// manifest (manifest.json) that lists them with their shapes, dtypes and checksums. flows/checkpoint.hpp
// fills and applies them for each flow; this file only moves bytes.
//
// A save never damages the previous checkpoint. It builds the new folder beside the old one, as
// "<dir>.tmp", writing each file under a temporary name, fsync-ing it and renaming it into place, the
// manifest last (a folder without a manifest is incomplete by construction). Only then does the folder
// replace the old one: with one atomic renameat2(RENAME_EXCHANGE) where the file system offers it,
// otherwise "<dir>" -> "<dir>.old", "<dir>.tmp" -> "<dir>". A crash between those two renames leaves only
// "<dir>.old", which read_snapshot() falls back to; a crash earlier leaves "<dir>" untouched and a
// "<dir>.tmp" that the next save discards. A save deletes nothing but a checkpoint's own files: a file or
// a folder of the user's at any of the three names is refused, untouched.
//
// Every array is a rank-2 tensor of the flow's scalar type (numpy.load reads them as float64 / float32
// arrays); integers that must survive exactly (step counts, seeds) live in the manifest, whose JSON
// integers are 64-bit exact. The manifest carries a checksum of its own fields ("fnv1a64" over their
// compact dump, keys sorted), so that a manifest edited to another valid step count or seed is refused
// like a changed array, instead of resuming a run that never happened. Format version 4: the manifest
// names the particles' layout (flows/particle_layout.hpp: each row's parts and parameter blocks, so that a
// reader can rebuild a network's weights by name); version 3, the same without the layout, still loads
// (every other field is as in 4). Version 3 made every method one integrator's flow ("kind":
// "particle_flow"; SVGD and mean-field VI saved their own kinds in version 2), and terms carry their
// gradient's names; versions before 3 are refused by version.
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <map>
#include <sstream>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>
// xtensor's npy reader includes <regex>, in whose std::function members GCC 12 sees a maybe-uninitialized
// read when it optimises under AddressSanitizer (scripts/test-sanitize.sh on the experiments: 70 reports,
// all inside libstdc++): a false positive, silenced for that header alone.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <xtensor/xnpy.hpp>
#pragma GCC diagnostic pop

#include "../core/errors.hpp"
#include "../core/tensor.hpp"

namespace wgflow::data {


inline constexpr const char* checkpoint_format = "wgflow-checkpoint";
inline constexpr int checkpoint_version = 4;          // written
inline constexpr int oldest_checkpoint_version = 3;   // read: 3 (no layout) to checkpoint_version

// What a checkpoint holds: named arrays (file stem -> array, e.g. "particles" -> particles.npy) and the
// rest of the state in a JSON manifest.
template <class T>
struct Snapshot {
  nlohmann::json manifest = nlohmann::json::object();
  std::map<std::string, Tensor<T>> arrays;
};

struct SaveOptions {
  // Called after each file of the new checkpoint is complete on disk, with its final path (inside
  // "<dir>.tmp"); an exception from it aborts the save as a crash would. For fault-injection tests.
  std::function<void(const std::filesystem::path&)> after_file;
};

namespace detail {

[[noreturn]] inline void throw_io(const std::string& what, const std::filesystem::path& path) {
  throw Error("checkpoint: " + what + " " + path.string() + ": " + std::strerror(errno));
}

// FNV-1a, 64 bit: enough to notice a truncated or overwritten file.
inline std::string fnv1a64(std::string_view bytes) {
  std::uint64_t h = 0xcbf29ce484222325ULL;
  for (unsigned char c : bytes) {
    h ^= c;
    h *= 0x100000001b3ULL;
  }
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(h));
  return hex;
}

inline void sync_path(const std::filesystem::path& path, int flags) {
  const int fd = ::open(path.c_str(), flags | O_CLOEXEC);
  if (fd < 0) throw_io("cannot open", path);
  const int rc = ::fsync(fd);
  ::close(fd);
  if (rc != 0) throw_io("cannot fsync", path);
}
inline void sync_directory(const std::filesystem::path& dir) { sync_path(dir, O_RDONLY | O_DIRECTORY); }

// Writes `bytes` to `path` through a temporary sibling, fsync-ed before the rename.
inline void write_file_durably(const std::filesystem::path& path, std::string_view bytes) {
  const std::filesystem::path part = path.string() + ".part";
  const int fd = ::open(part.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) throw_io("cannot create", part);
  std::size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int saved = errno;
      ::close(fd);
      errno = saved;
      throw_io("cannot write", part);
    }
    done += static_cast<std::size_t>(n);
  }
  if (::fsync(fd) != 0) {
    const int saved = errno;
    ::close(fd);
    errno = saved;
    throw_io("cannot fsync", part);
  }
  if (::close(fd) != 0) throw_io("cannot close", part);
  if (::rename(part.c_str(), path.c_str()) != 0) throw_io("cannot rename into", path);
}

inline std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error("cannot open the file (missing or unreadable)");
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// A save deletes what stands at `dir` (the previous checkpoint), "<dir>.old" (the previous one, left by a
// save interrupted between its renames) and "<dir>.tmp" (an unfinished save), so each must be absent, an
// empty folder, or a save's own: a folder of .npy files, manifest.json and their ".part" temporaries, with
// a wgflow manifest unless it is the unfinished "<dir>.tmp" (`complete` false). Anything else - a file, a
// link, a folder of the user's, even one of .npy files alone - is refused before the save writes anything:
// save_checkpoint(flow, "results") must not delete a results folder (nor a file of that name, which it
// once replaced).
inline void require_only_checkpoint_files(const std::filesystem::path& path, bool complete) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const fs::file_status status = fs::symlink_status(path, ec);
  if (!fs::exists(status)) return;
  const std::string refusal = "checkpoint: refusing to replace " + path.string() + ", which is not a checkpoint folder";
  if (!fs::is_directory(status)) throw Error(refusal + " (it is a file or a link); save under another name");
  bool empty = true;
  fs::directory_iterator it(path, ec);
  for (; !ec && it != fs::directory_iterator(); it.increment(ec)) {
    const fs::directory_entry& entry = *it;
    empty = false;
    const std::string name = entry.path().filename().string();
    const bool ours = name == "manifest.json" || name == "manifest.json.part" ||
                      (name.size() > 4 && name.ends_with(".npy")) || name.ends_with(".npy.part");
    if (!ours || !entry.is_regular_file() || entry.is_symlink())
      throw Error(refusal + " (it holds " + name + "); save under another name, or remove it");
  }
  if (ec) throw Error("checkpoint: cannot list " + path.string() + ": " + ec.message());
  if (empty || !complete) return;
  bool manifest = false;
  try {
    const nlohmann::json m = nlohmann::json::parse(read_file(path / "manifest.json"));
    manifest = m.is_object() && m.value("format", "") == checkpoint_format;
  } catch (const std::exception&) {  // missing, unreadable or not JSON: not a save's
  }
  if (!manifest) throw Error(refusal + " (it has no wgflow manifest.json); save under another name, or remove it");
}

// Puts the complete folder `staging` in place of `dir`.
inline void publish(const std::filesystem::path& staging, const std::filesystem::path& dir) {
  namespace fs = std::filesystem;
  const fs::path parent = fs::absolute(dir).parent_path();
  std::error_code ec;
  if (!fs::exists(fs::symlink_status(dir, ec))) {
    if (::rename(staging.c_str(), dir.c_str()) != 0) throw_io("cannot rename into", dir);
    sync_directory(parent);
    return;
  }
#ifdef RENAME_EXCHANGE
  if (::renameat2(AT_FDCWD, staging.c_str(), AT_FDCWD, dir.c_str(), RENAME_EXCHANGE) == 0) {
    sync_directory(parent);
    // Now the previous checkpoint. The save is complete: what is left if this fails, the next save
    // removes as an unfinished one's debris.
    fs::remove_all(staging, ec);
    return;
  }
  if (errno != EINVAL && errno != ENOSYS && errno != ENOTSUP) throw_io("cannot exchange", dir);
#endif
  const fs::path old = dir.string() + ".old";
  if (fs::remove_all(old, ec) == static_cast<std::uintmax_t>(-1))
    throw Error("checkpoint: cannot remove " + old.string() + ": " + ec.message());
  if (::rename(dir.c_str(), old.c_str()) != 0) throw_io("cannot rename away", dir);
  sync_directory(parent);
  if (::rename(staging.c_str(), dir.c_str()) != 0) throw_io("cannot rename into", dir);
  sync_directory(parent);
  fs::remove_all(old, ec);  // as above: the save is complete, and a load prefers dir to dir.old
}

template <class T>
std::string dtype() {
  return xt::detail::build_typestring<T>();
}

}  // namespace detail

// Writes `snapshot` as the checkpoint folder `dir`, replacing any previous one only once the new one is
// complete (see the top of this file).
template <class T>
void write_snapshot(const Snapshot<T>& snapshot, const std::filesystem::path& dir, const SaveOptions& options = {}) {
  namespace fs = std::filesystem;
  if (dir.empty() || !dir.has_filename())
    throw Error("checkpoint: the folder name '" + dir.string() + "' has no final component (drop a trailing '/')");
  const fs::path staging = dir.string() + ".tmp", old = dir.string() + ".old";
  detail::require_only_checkpoint_files(dir, true);
  detail::require_only_checkpoint_files(old, true);
  detail::require_only_checkpoint_files(staging, false);
  std::error_code ec;
  fs::remove_all(staging, ec);  // debris of an earlier save that did not finish
  if (!fs::create_directories(staging, ec) && ec) throw Error("checkpoint: cannot create " + staging.string() + ": " + ec.message());

  nlohmann::json manifest = snapshot.manifest;
  manifest["format"] = checkpoint_format;
  manifest["version"] = checkpoint_version;
  manifest["arrays"] = nlohmann::json::object();
  for (const auto& [stem, array] : snapshot.arrays) {
    const std::string file = stem + ".npy";
    const std::string bytes = xt::dump_npy(array);
    detail::write_file_durably(staging / file, bytes);
    manifest["arrays"][stem] = {{"file", file},
                                {"shape", {array.shape()[0], array.shape()[1]}},
                                {"dtype", detail::dtype<T>()},
                                {"fnv1a64", detail::fnv1a64(bytes)}};
    if (options.after_file) options.after_file(staging / file);
  }
  manifest["fnv1a64"] = detail::fnv1a64(manifest.dump());  // of every other field: see the top of this file
  detail::write_file_durably(staging / "manifest.json", manifest.dump(2) + "\n");
  if (options.after_file) options.after_file(staging / "manifest.json");
  detail::sync_directory(staging);
  detail::publish(staging, dir);
}

// The folder a load should read: `dir` if it holds a manifest, else "<dir>.old" left by a save that
// crashed between its two renames.
inline std::filesystem::path resolve_checkpoint(const std::filesystem::path& dir) {
  namespace fs = std::filesystem;
  const auto has_manifest = [](const fs::path& folder) {
    std::error_code ec;
    const bool found = fs::exists(folder / "manifest.json", ec);
    if (ec) throw Error("checkpoint: cannot look for " + (folder / "manifest.json").string() + ": " + ec.message());
    return found;
  };
  if (has_manifest(dir)) return dir;
  const fs::path old = dir.string() + ".old";
  if (has_manifest(old)) return old;
  throw Error("checkpoint: no checkpoint at " + dir.string() + " (" + (dir / "manifest.json").string() +
              " does not exist)");
}

// Reads a checkpoint folder and verifies every file against the manifest (format, version, dtype,
// checksum, shape). Errors name the file at fault.
template <class T>
Snapshot<T> read_snapshot(const std::filesystem::path& requested) {
  const std::filesystem::path dir = resolve_checkpoint(requested);
  const std::filesystem::path manifest_path = dir / "manifest.json";
  Snapshot<T> s;
  try {
    s.manifest = nlohmann::json::parse(detail::read_file(manifest_path));
  } catch (const Error& e) {
    throw Error("checkpoint: " + manifest_path.string() + ": " + e.what());
  } catch (const nlohmann::json::exception& e) {
    throw Error("checkpoint: " + manifest_path.string() + " is not valid JSON: " + e.what());
  }
  const auto field = [&](const char* key) -> const nlohmann::json& {
    if (!s.manifest.is_object() || !s.manifest.contains(key))
      throw Error("checkpoint: " + manifest_path.string() + " has no \"" + key + "\" entry");
    return s.manifest.at(key);
  };
  if (field("format") != checkpoint_format)
    throw Error("checkpoint: " + manifest_path.string() + " is not a wgflow checkpoint (format " +
                field("format").dump() + ")");
  if (!field("version").is_number_integer() || field("version").template get<int>() < oldest_checkpoint_version ||
      field("version").template get<int>() > checkpoint_version)
    throw Error("checkpoint: " + manifest_path.string() + " has format version " + field("version").dump() +
                "; this build reads versions " + std::to_string(oldest_checkpoint_version) + " to " +
                std::to_string(checkpoint_version));
  {
    nlohmann::json fields = s.manifest;
    const std::string saved = field("fnv1a64").is_string() ? field("fnv1a64").template get<std::string>() : "";
    fields.erase("fnv1a64");
    if (detail::fnv1a64(fields.dump()) != saved)
      throw Error("checkpoint: " + manifest_path.string() +
                  ": checksum mismatch (the manifest was changed after the save)");
  }
  for (const auto& [stem, entry] : field("arrays").items()) {
    const std::filesystem::path path = dir / entry.value("file", stem + ".npy");
    try {
      if (entry.at("dtype").template get<std::string>() != detail::dtype<T>())
        throw Error("holds " + entry.at("dtype").dump() + " values, the flow " + detail::dtype<T>());
      const std::string bytes = detail::read_file(path);
      if (detail::fnv1a64(bytes) != entry.at("fnv1a64").template get<std::string>())
        throw Error("checksum mismatch (the file is truncated or was changed after the save)");
      std::istringstream in(bytes);
      auto loaded = xt::load_npy<T>(in);
      if (!in || in.peek() != std::char_traits<char>::eof()) throw Error("the .npy data does not match its header");
      const std::array<std::size_t, 2> shape{entry.at("shape").at(0).template get<std::size_t>(),
                                             entry.at("shape").at(1).template get<std::size_t>()};
      if (loaded.dimension() != 2 || loaded.shape()[0] != shape[0] || loaded.shape()[1] != shape[1])
        throw Error("holds an array of another shape than the manifest's " + shape_string(shape));
      Tensor<T> array = Tensor<T>::from_shape(shape);
      std::copy(loaded.begin(), loaded.end(), array.begin());
      s.arrays.emplace(stem, std::move(array));
    } catch (const Error& e) {
      throw Error("checkpoint: " + path.string() + ": " + e.what());
    } catch (const std::exception& e) {  // xnpy's parse errors, JSON type errors
      throw Error("checkpoint: " + path.string() + ": unreadable: " + e.what());
    }
  }
  return s;
}

}  // namespace wgflow::data
