#pragma once
// Saving a flow and resuming it exactly:
//
//   save_checkpoint(flow, "run/checkpoint");      // crash-safe: see data/checkpoint_folder.hpp
//   ...
//   auto flow = deep_repulsive_langevin_ensemble(potential, prior, init, settings);  // as before
//   load_checkpoint(flow, "run/checkpoint");      // now at the saved step; stepping on gives the same bits
//
// A checkpoint is a folder of NumPy .npy arrays and a manifest.json. It holds everything a step reads
// besides the flow's configuration: the particles, the step count t, the seed of the noise streams, the
// optimiser's state (Momentum's velocity; Adam's moments and t) and each term's state (Term::save_state:
// DRLE's bandwidth h, frozen after its first steps, and its prior samples); and, for readers without
// wgflow, the particles' layout (the manifest's "layout": what each row holds, by parameter block name,
// shape and offset, flows/particle_layout.hpp). The configuration (the terms, their weights and kernels,
// the optimiser's hyper-parameters, the potential and its data) is code: load into a flow constructed the
// same way. The load checks that it was: the flow's kind and name, the particle shape and layout, the
// optimiser's and the terms' names (which carry their settings) and every array's shape must match, and
// an error names the file at fault. Nothing changes unless all of it does.
//
// Every method is a ParticleFlow (DE, DLE, DRLE, SVGD, mean-field VI and any custom terms), so one format
// serves all, with the Sgd, Momentum or Adam optimisers. A flow split over ranks (ParticleFlow::distribute)
// saves the same folder as the plain process: its rows are gathered and rank 0 writes them, so the folder
// appears whole or not at all; every rank loads the folder (it must be visible to all of them: a shared
// file system) and keeps its rows. So a checkpoint saved on R ranks resumes on any R', or on one process,
// to the same bits. Both are collectives, and an error on one rank is thrown on all. Potentials must be stateless across steps (NetworkPotential is: its
// minibatch is a function of the step).
#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "../core/communicator.hpp"
#include "../core/errors.hpp"
#include "../data/checkpoint_folder.hpp"
#include "optimizers.hpp"
#include "particle_flow.hpp"
#include "particle_layout.hpp"

namespace wgflow::flows {

// The folder format (data/checkpoint_folder.hpp), re-exported: a flow's checkpoint is one of its snapshots.
using data::read_snapshot;
using data::resolve_checkpoint;
using data::SaveOptions;
using data::Snapshot;
using data::write_snapshot;

// Reads and writes the flow's private state; ParticleFlow befriends it.
struct CheckpointAccess {
  template <class T>
  static Snapshot<T> capture(const ParticleFlow<T>& f) {
    Snapshot<T> s = header<T>("particle_flow", f.name(), gather_rows(f, f.particles_), f.steps_);
    s.manifest["seed"] = f.seed_;
    s.manifest["layout"] = f.layout_.to_json();
    capture_optimizer(f.optimizer_, s);
    if (f.comm_)  // the optimiser's state has a row per particle, like the particles
      for (const char* stem : {"optimizer.velocity", "optimizer.m", "optimizer.v"})
        if (const auto it = s.arrays.find(stem); it != s.arrays.end()) it->second = gather_rows(f, it->second);
    s.manifest["terms"] = nlohmann::json::array();
    for (std::size_t k = 0; k < f.free_energy_.size(); ++k) {
      s.manifest["terms"].push_back(f.free_energy_.term(k).name());
      std::map<std::string, Tensor<T>> state;
      f.free_energy_.term(k).save_state(state);
      for (auto& [key, array] : state) s.arrays.emplace(term_prefix(k) + checked_key(key), std::move(array));
    }
    return s;
  }
  template <class T>
  static void restore(ParticleFlow<T>& f, Snapshot<T>& s) {
    if (f.comm_)
      for (const char* stem : {"particles", "optimizer.velocity", "optimizer.m", "optimizer.v"})
        if (const auto it = s.arrays.find(stem); it != s.arrays.end()) it->second = own_rows(f, it->second);
    f.particles_ = std::move(s.arrays.at("particles"));
    f.steps_ = s.manifest.at("steps").template get<std::uint64_t>();
    f.seed_ = s.manifest.at("seed").template get<std::uint64_t>();
    restore_optimizer(f.optimizer_, s);
    for (std::size_t k = 0; k < f.free_energy_.size(); ++k) {
      std::map<std::string, Tensor<T>> state;
      const std::string prefix = term_prefix(k);
      for (auto& [stem, array] : s.arrays)
        if (stem.rfind(prefix, 0) == 0) state.emplace(stem.substr(prefix.size()), std::move(array));
      f.free_energy_.term(k).load_state(state);
    }
  }

 private:
  template <class T>
  static Snapshot<T> header(const char* kind, const std::string& name, const Tensor<T>& particles,
                            std::uint64_t steps) {
    Snapshot<T> s;
    s.manifest["kind"] = kind;
    s.manifest["flow"] = name;
    s.manifest["particles"] = {particles.shape()[0], particles.shape()[1]};
    s.manifest["steps"] = steps;
    s.arrays.emplace("particles", particles);
    return s;
  }

  static std::string term_prefix(std::size_t k) { return "term" + std::to_string(k) + "."; }

  // Over ranks: this rank's rows of an array into all N rows (a collective), and back.
  template <class T>
  static Tensor<T> gather_rows(const ParticleFlow<T>& f, const Tensor<T>& own) {
    if (!f.comm_) return own;
    Tensor<T> all = Tensor<T>::from_shape({f.n_total_, own.shape()[1]});
    f.comm_->allgather_rows(own.data(), all.data(), f.n_total_, own.shape()[1]);
    return all;
  }
  template <class T>
  static Tensor<T> own_rows(const ParticleFlow<T>& f, const Tensor<T>& all) {
    const std::size_t J = all.shape()[1];
    Tensor<T> mine = Tensor<T>::from_shape({f.block_.size(), J});
    std::copy(all.data() + f.block_.begin * J, all.data() + f.block_.end * J, mine.data());
    return mine;
  }

  // Term state names become file names: keep them to [a-z0-9_].
  static const std::string& checked_key(const std::string& key) {
    bool ok = !key.empty();
    for (char c : key) ok = ok && ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_');
    if (!ok) throw Error("checkpoint: term state name '" + key + "' must be a non-empty [a-z0-9_] identifier");
    return key;
  }

  template <class T>
  static void capture_optimizer(const Optimizer<T>& o, Snapshot<T>& s) {
    nlohmann::json j = {{"name", o.name()}};
    if (o.template state_if<Sgd<T>>()) {
      j["type"] = "sgd";
    } else if (const auto* m = o.template state_if<Momentum<T>>()) {
      j["type"] = "momentum";
      s.arrays.emplace("optimizer.velocity", m->velocity);
    } else if (const auto* a = o.template state_if<Adam<T>>()) {
      j["type"] = "adam";
      j["t"] = a->t;
      s.arrays.emplace("optimizer.m", a->m);
      s.arrays.emplace("optimizer.v", a->v);
    } else {
      throw Error("checkpoint: cannot save the state of optimiser " + o.name() +
                  " (supported: Sgd, Momentum, Adam)");
    }
    s.manifest["optimizer"] = std::move(j);
  }
  template <class T>
  static void restore_optimizer(Optimizer<T>& o, Snapshot<T>& s) {
    if (auto* m = o.template state_if<Momentum<T>>()) {
      m->velocity = std::move(s.arrays.at("optimizer.velocity"));
    } else if (auto* a = o.template state_if<Adam<T>>()) {
      a->t = s.manifest.at("optimizer").at("t").template get<std::uint64_t>();
      a->m = std::move(s.arrays.at("optimizer.m"));
      a->v = std::move(s.arrays.at("optimizer.v"));
    }
  }
};

namespace detail {

// The loaded checkpoint must describe a flow configured like `live`: same identity fields in the
// manifest, same arrays with the same shapes.
template <class T>
void check_compatible(const Snapshot<T>& live, const Snapshot<T>& saved, const std::filesystem::path& dir) {
  const std::string manifest = (dir / "manifest.json").string();
  const auto differ = [&](const nlohmann::json& want, const nlohmann::json& got, const std::string& what) {
    if (want != got)
      throw Error("checkpoint: " + manifest + ": " + what + " is " + got.dump() + " but the flow's is " + want.dump() +
                  " (load into a flow constructed like the saved one)");
  };
  for (const char* key : {"kind", "flow", "particles"})
    differ(live.manifest.at(key), saved.manifest.value(key, nlohmann::json()), key);
  differ(live.manifest.at("optimizer").at("name"), saved.manifest.value("optimizer", nlohmann::json::object()).value("name", nlohmann::json()),
         "the optimiser");
  if (live.manifest.contains("terms")) {
    const nlohmann::json& want = live.manifest.at("terms");
    const nlohmann::json got = saved.manifest.value("terms", nlohmann::json::array());
    if (want.size() != got.size())
      throw Error("checkpoint: " + manifest + ": the saved flow has " + std::to_string(got.size()) +
                  " terms, this one " + std::to_string(want.size()));
    for (std::size_t k = 0; k < want.size(); ++k) differ(want[k], got[k], "term " + std::to_string(k));
  }
  // A version-3 checkpoint names no layout: its particles' shape, checked above, is all there is to check.
  if (live.manifest.contains("layout") && saved.manifest.contains("layout")) {
    const std::string difference = ParticleLayout::difference(saved.manifest.at("layout"), live.manifest.at("layout"));
    if (!difference.empty())
      throw Error("checkpoint: " + manifest + ": the saved particles' layout is not the flow's: " + difference +
                  " (the saved first; load into a flow of the same model)");
  }
  for (const char* key : {"steps", "seed"})
    if (live.manifest.contains(key) && !saved.manifest.value(key, nlohmann::json()).is_number_unsigned())
      throw Error("checkpoint: " + manifest + ": \"" + key + "\" is missing or not an unsigned integer");
  for (const auto& [stem, array] : live.arrays) {
    const auto it = saved.arrays.find(stem);
    const std::string file = (dir / (stem + ".npy")).string();
    if (it == saved.arrays.end())
      throw Error("checkpoint: " + manifest + " lists no array '" + stem + "' (expected " + file + ")");
    if (it->second.shape() != array.shape())
      throw Error("checkpoint: " + file + " is " + shape_string({it->second.shape()[0], it->second.shape()[1]}) +
                  " but the flow's " + stem + " is " + shape_string({array.shape()[0], array.shape()[1]}));
  }
  if (saved.arrays.size() != live.arrays.size())
    throw Error("checkpoint: " + manifest + " lists " + std::to_string(saved.arrays.size()) +
                " arrays, the flow has " + std::to_string(live.arrays.size()) + " to restore");
}

}  // namespace detail

// Saves the flow's state as the checkpoint folder `dir` (created, or replaced as a whole).
template <class T>
void save_checkpoint(const ParticleFlow<T>& flow, const std::filesystem::path& dir, const SaveOptions& options = {}) {
  const Snapshot<T> snapshot = CheckpointAccess::capture(flow);
  if (const auto& comm = flow.communicator())
    collectively(*comm, [&] {
      if (comm->rank() == 0) write_snapshot(snapshot, dir, options);
    });
  else
    write_snapshot(snapshot, dir, options);
}

// Loads the checkpoint folder `dir` into `flow`, which must be configured as the saved flow was. On any
// error (wgflow::Error naming the file at fault) the flow is left unchanged.
template <class T>
void load_checkpoint(ParticleFlow<T>& flow, const std::filesystem::path& dir) {
  const Snapshot<T> live = CheckpointAccess::capture(flow);
  Snapshot<T> saved;
  const auto read = [&] {
    saved = read_snapshot<T>(dir);
    detail::check_compatible(live, saved, resolve_checkpoint(dir));
  };
  if (const auto& comm = flow.communicator())
    collectively(*comm, read);
  else
    read();
  CheckpointAccess::restore(flow, saved);
}

}  // namespace wgflow::flows
