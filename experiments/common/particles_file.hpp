#pragma once
// Saved particles that name their layout, for readers without wgflow. Beside every particles file a
// program writes goes "<stem>.layout.json": what each row holds (flows/particle_layout.hpp: the row's
// parts, e.g. mean-field VI's [mu | rho], and every parameter block's name, shape and offset in the row),
// which file it describes, and what reads theta (the model: an MLP's widths and activations, or the
// analytic loss). Two forms:
//
//   write_particles(ex.path("particles_DE.npy"), flow, {{"model", mlp_json(net.spec())}});
//       particles_DE.npy: the flow's N x row_length particles (float64, numpy.load), and
//       particles_DE.layout.json, with "file", "flow", "steps", "rows" and the layout;
//   write_csv_layout(ex.path("particles.csv"), {"method", "particle"}, {"theta"}, layout, about);
//       particles.layout.json for a CSV whose rows are keyed by `keys` and whose columns `values` are one
//       row of particles, in order (a block's offset is then its first column among them).
//
// In numpy, one member's weights: row = np.load("particles_DE.npy")[i]; for b in layout["blocks"]:
// W[b["name"]] = row[b["offset"]:b["offset"] + b["size"]].reshape(b["shape"]) (tests/experiments/
// test_numpy_round_trip.py does this and checks the network's predictions against the program's).
// Every file is written atomically and checked, as every output (experiments/common/atomic_file.hpp).
#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <xtensor/xnpy.hpp>

#include "../../core/errors.hpp"
#include "../../flows/particle_flow.hpp"
#include "../../flows/particle_layout.hpp"
#include "../../models/mlp.hpp"
#include "atomic_file.hpp"

namespace wgflow::experiments {

// What an MLP's layout.json says of the network (models/mlp.hpp): layer l maps h to
// act_l(h layer<l>.weight + layer<l>.bias), the hidden activation on every layer but the last.
inline nlohmann::json mlp_json(const models::MlpSpec& spec) {
  return {{"kind", "mlp"},
          {"widths", spec.widths},
          {"hidden_activation", spec.hidden.name()},
          {"output_activation", spec.output.name()},
          {"bias", spec.bias},
          {"forward", "h_0 = input; h_{l+1} = act_l(h_l @ layer<l>.weight + layer<l>.bias); act_l is the hidden "
                      "activation but for the last layer, which has the output activation"}};
}

// "<stem>.layout.json" beside `file` (particles.csv -> particles.layout.json).
inline std::filesystem::path layout_path(const std::filesystem::path& file) {
  std::filesystem::path path = file;
  return path.replace_extension(".layout.json");
}

namespace detail {

inline void write_layout_json(const std::filesystem::path& file, nlohmann::json head,
                              const flows::ParticleLayout& layout, const nlohmann::json& about) {
  if (!about.is_null() && !about.is_object()) throw Error("write_particles: `about` must be a JSON object");
  nlohmann::json out = std::move(head);
  out.update(layout.to_json());
  if (about.is_object()) out.update(about);
  write_file_atomically(layout_path(file), [&](std::ostream& s) { s << out.dump(2) << "\n"; });
}

}  // namespace detail

// `npy` (N x row_length, float64) and its layout.json, from `flow`'s particles and layout; `about` adds
// fields to the layout file (the model, how inputs are scaled, the likelihood).
inline void write_particles(const std::filesystem::path& npy, const flows::ParticleFlow<double>& flow,
                            const nlohmann::json& about = nlohmann::json::object()) {
  const Tensor<double> p = flow.gathered_particles();  // all N, also when split over ranks
  const std::string bytes = xt::dump_npy(p);
  write_file_atomically(npy, [&](std::ostream& s) { s << bytes; });
  detail::write_layout_json(npy,
                            {{"file", npy.filename().string()},
                             {"format", "npy"},
                             {"flow", flow.name()},
                             {"steps", flow.steps_taken()},
                             {"rows", p.shape()[0]}},
                            flow.layout(), about);
}

// The layout.json of a CSV of particles: rows keyed by the columns `keys` (say method and particle), the
// columns `values` holding one row of particles in order. Every flow written to the CSV has this layout
// (the toy programs' flows share their potential's).
inline void write_csv_layout(const std::filesystem::path& csv, const std::vector<std::string>& keys,
                             const std::vector<std::string>& values, const flows::ParticleLayout& layout,
                             const nlohmann::json& about = nlohmann::json::object()) {
  if (values.size() != layout.row_length())
    throw Error("write_csv_layout: " + std::to_string(values.size()) + " value columns for rows of " +
                std::to_string(layout.row_length()) + " entries");
  detail::write_layout_json(csv, {{"file", csv.filename().string()}, {"format", "csv"}, {"key_columns", keys},
                                  {"value_columns", values},
                                  {"offsets", "a block's offset counts value_columns: offset 0 is the first of them"}},
                            layout, about);
}

}  // namespace wgflow::experiments
