// The checkpoint folder's bookkeeping (checkpointing.hpp), compiled once into libwgflow: the settings
// check, the folder names. Running and saving flows stays in the header, with the flow's type.
#include "checkpointing.hpp"

#include <filesystem>
#include <fstream>
#include <string>

#include <nlohmann/json.hpp>

#include "atomic_file.hpp"
#include "run_main.hpp"

namespace wgflow::experiments {

Checkpoints::Checkpoints(const Experiment& ex)
    : every_(ex.checkpoint_every()), resume_(ex.resume()), root_(ex.path("checkpoints")) {
  check_settings(ex.result_settings());
}

void Checkpoints::check_settings(const nlohmann::json& settings) const {
  namespace fs = std::filesystem;
  const fs::path file = root_ / "settings.json";
  std::error_code ec;
  const bool stored = fs::exists(file, ec);
  if (resume_ && stored) {
    nlohmann::json saved;
    try {
      std::ifstream in(file);
      saved = nlohmann::json::parse(in);
    } catch (const nlohmann::json::exception& e) {
      throw Error("checkpointing: " + file.string() + " is not valid JSON (" + e.what() + ")");
    }
    // Compared as text: JSON equality would call a NaN equal to nothing and unequal to nothing.
    for (const auto& [key, value] : settings.items()) {
      const std::string before = saved.contains(key) ? saved[key].dump() : "(unset)";
      if (before != value.dump())
        throw UsageError("--resume: the checkpoints in " + root_.string() + " were made with --" + key + " " +
                         before + ", this run has " + value.dump() +
                         "; resume with the same settings, or use another --out");
    }
  } else if (resume_ && !fs::is_empty(root_, ec) && !ec) {
    throw UsageError("--resume: the checkpoints in " + root_.string() + " have no settings.json (an older "
                     "version's), so this run's settings cannot be checked against them; use another --out");
  }
  if (every_ != 0 && !(resume_ && stored)) {
    fs::create_directories(root_, ec);
    if (ec) throw io_error("create", root_, ec.value());
    write_file_atomically(file, [&](std::ostream& out) { out << settings.dump(2) << "\n"; });
  }
}

std::string Checkpoints::folder_name(const std::string& tag) {
  if (tag.empty() || tag[0] == '.')
    throw Error("checkpointing: the flow tag '" + tag + "' must be non-empty and not start with '.'");
  return safe_file_name(tag);
}

std::filesystem::path Checkpoints::claim(const std::string& tag) {
  const std::string name = folder_name(tag);
  if (!claimed_.insert(name).second)
    throw Error("checkpointing: two flows share the checkpoint folder " + (root_ / name).string() + " (tag '" + tag +
                "'): give each flow of the program its own tag");
  return root_ / name;
}

}  // namespace wgflow::experiments
