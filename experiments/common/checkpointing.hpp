#pragma once
// Running an experiment's flows so that a killed run can go on where it stopped, with the same bits:
//
//   experiments::Checkpoints checkpoints(ex);                  // reads --checkpoint-every and --resume
//   for (auto& flow : runs)
//     checkpoints.run(flow, flow.name(), steps, [&](const flows::ParticleFlow<double>& f) { ...; return true; }, 1000);
//
// Under mpirun, run() splits the flow over the ranks first (ParticleFlow::distribute): the results are
// the same bits; read the particles afterwards with gathered_particles() (or predictive_samples()).
//
// With --checkpoint-every N (N > 0) each flow's state is saved every N steps, and when it stops, into
// <out>/checkpoints/<tag>/ (flows/checkpoint.hpp: crash-safe). With --resume a flow whose checkpoint
// folder exists is loaded from it first and runs on from the saved step to `steps` in total; one without
// a checkpoint starts afresh. Since a checkpoint holds the flow's whole state and the flows' noise is keyed
// by the step (core/random.hpp), the result is the uninterrupted run's, bit for bit, whatever the
// thread count. The flow must be constructed exactly as in the saved run (same flags); load_checkpoint
// refuses one that is not, naming the file at fault.
//
// The settings that shape the result (Experiment::result_settings: the seed and every option but those
// declared resume_may_change, e.g. --steps) are stored as values in <out>/checkpoints/settings.json when
// checkpointing starts; --resume compares them first and refuses a run whose settings differ, naming the
// setting and both values (a checkpoint holds particles and noise seeds, not the prior or the weights of
// the terms, so a changed setting would silently mix two runs in one result).
//
// Tags name the folders, so each flow of a program needs its own (e.g. "DLE lambda=0.2"; characters
// outside [A-Za-z0-9._-] become '_'); a repeated tag is an error rather than two flows sharing a folder.
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <set>
#include <string>

#include <nlohmann/json.hpp>

#include "../../core/errors.hpp"
#include "atomic_file.hpp"
#include "experiment.hpp"
#include "ranks.hpp"
#include "run_main.hpp"
#include "../../flows/checkpoint.hpp"
#include "../../flows/particle_flow.hpp"

namespace wgflow::experiments {

class Checkpoints {
 public:
  explicit Checkpoints(const Experiment& ex);

  bool enabled() const { return every_ != 0; }

  // Runs `flow` until it has taken `steps` steps in total, calling `callback(flow)` whenever the step count
  // is a multiple of `every` and after the last step (as ParticleFlow::run does from step 0); a callback
  // returning false stops the run early. Returns whether the flow reached `steps`.
  template <class T, class Callback>
  bool run(flows::ParticleFlow<T>& flow, const std::string& tag, std::uint64_t steps, const Callback& callback, std::uint64_t every) {
    if (every == 0) throw Error("checkpointing: run(" + tag + "): the callback interval `every` must be at least 1");
    // Under mpirun the flow's particles are split over the ranks (ranks.hpp), where there are enough of
    // them; a smaller flow runs whole on every rank, to the same bits.
    if (const auto& world = ranks(); !flow.distributed() && flow.num_particles() >= static_cast<std::size_t>(world->size()))
      flow.distribute(world);
    const std::filesystem::path dir = claim(tag);
    if (resume_) resume(flow, tag, dir, steps);
    std::uint64_t saved = flow.steps_taken();  // a loaded checkpoint is already on disk
    bool completed = true;
    while (flow.steps_taken() < steps) {
      flow.step();
      const std::uint64_t t = flow.steps_taken();
      if (every_ != 0 && t % every_ == 0) {
        save(flow, dir);
        saved = t;
      }
      if ((t % every == 0 || t == steps) && !callback(flow)) {
        completed = t >= steps;
        break;
      }
    }
    // The last state too, so that a later --resume with a larger --steps continues from it.
    if (every_ != 0 && saved != flow.steps_taken()) save(flow, dir);
    return completed;
  }

  // The folder of `tag`'s checkpoint: <out>/checkpoints/<tag with unsafe characters replaced>.
  std::filesystem::path directory(const std::string& tag) const { return root_ / folder_name(tag); }

 private:
  std::uint64_t every_;
  bool resume_;
  std::filesystem::path root_;
  std::set<std::string> claimed_;

  // With --resume, compares `settings` with the stored ones (if any checkpoint exists); when
  // checkpointing, stores them (unless they are there already).
  void check_settings(const nlohmann::json& settings) const;

  static std::string folder_name(const std::string& tag);

  std::filesystem::path claim(const std::string& tag);

  template <class T>
  static void resume(flows::ParticleFlow<T>& flow, const std::string& tag, const std::filesystem::path& dir, std::uint64_t steps) {
    namespace fs = std::filesystem;
    // A save that died before its first complete checkpoint leaves only "<dir>.tmp": nothing to resume.
    // A folder that exists but does not load is an error, never a silent fresh start.
    if (!fs::exists(dir) && !fs::exists(dir.string() + ".old")) {
      if (writes_outputs()) std::cerr << "[" << tag << "] --resume: no checkpoint at " << dir.string() << ", starting at step 0\n";
      return;
    }
    flows::load_checkpoint(flow, dir);
    if (flow.steps_taken() > steps)
      throw Error("checkpointing: " + dir.string() + " is at step " + std::to_string(flow.steps_taken()) +
                  ", past the requested " + std::to_string(steps) + " steps (raise --steps, or run into a fresh --out)");
    if (writes_outputs()) std::cerr << "[" << tag << "] resumed at step " << flow.steps_taken() << " from " << dir.string() << "\n";
  }

  template <class T>
  static void save(const flows::ParticleFlow<T>& flow, const std::filesystem::path& dir) {
    std::filesystem::create_directories(dir.parent_path());
    flows::save_checkpoint(flow, dir);
  }
};

}  // namespace wgflow::experiments
