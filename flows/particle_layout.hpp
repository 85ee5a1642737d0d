#pragma once
// What one row of a flow's particle matrix holds, by name, so that saved particles can be read without the
// code that made them (numpy, say): the blocks of one parameter vector theta (a network's weight matrices
// and bias rows: models::ParameterLayout), laid out once per part of the row. A particle method's row is
// one theta; mean-field VI's row is [mu | rho], the same blocks twice (the member's means, then rho with
// sd = softplus(rho)).
//
// Every ParticleFlow carries one (the presets take it from the potential), every checkpoint's manifest
// holds it (flows/checkpoint.hpp refuses to load into a flow of another layout), and the experiment
// programs write it beside every particles file they save (experiments/common/particles_file.hpp). As
// JSON, for a 1-50-1 network trained by mean-field VI (J = 151):
//
//   {"row": "[mu | rho]", "row_length": 302,
//    "parts":  [{"name": "mu", "offset": 0, "length": 151, "meaning": "..."}, {"name": "rho", "offset": 151, ...}],
//    "blocks": [{"part": "mu", "name": "layer0.weight", "shape": [1, 50], "offset": 0, "size": 50, "role": "weight"},
//               ..., {"part": "rho", "name": "layer0.weight", "shape": [1, 50], "offset": 151, ...}, ...]}
//
// A block's offset is its first entry in the row and its values fill its shape row-major: in numpy,
// row[offset:offset + size].reshape(shape).
#include <cstddef>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "../core/errors.hpp"
#include "../models/parameter_layout.hpp"

namespace wgflow::flows {

// A part of a row: a copy of the parameter layout under a name, and what its values mean.
struct RowPart {
  std::string name;
  std::string meaning;
};

class ParticleLayout {
 public:
  // Rows that are parameter vectors theta laid out by `parameters`.
  static ParticleLayout of(models::ParameterLayout parameters) {
    return ParticleLayout(std::move(parameters), {{"theta", "the parameter vector theta of one particle"}});
  }
  // Rows [mu | rho] of mean-field Gaussians over theta (flows/mean_field_vi.hpp).
  static ParticleLayout mean_field(models::ParameterLayout parameters) {
    return ParticleLayout(std::move(parameters),
                          {{"mu", "the mean of the member's Gaussian over theta"},
                           {"rho", "its standard deviations: sd = softplus(rho) = log(1 + exp(rho))"}});
  }
  // J coordinates without names: one block "theta" of 1 x J (an analytic potential's parameters).
  static models::ParameterLayout unnamed(std::size_t J) {
    models::ParameterLayout layout;
    layout.add("theta", Shape{1, J});
    return layout;
  }

  const models::ParameterLayout& parameters() const { return parameters_; }
  const std::vector<RowPart>& parts() const { return parts_; }
  std::size_t row_length() const { return parts_.size() * parameters_.size(); }

  // "[theta]" or "[mu | rho]".
  std::string row() const {
    std::string text = "[";
    for (std::size_t p = 0; p < parts_.size(); ++p) text += (p ? " | " : "") + parts_[p].name;
    return text + "]";
  }

  nlohmann::json to_json() const {
    nlohmann::json parts = nlohmann::json::array(), blocks = nlohmann::json::array();
    const std::size_t J = parameters_.size();
    for (std::size_t p = 0; p < parts_.size(); ++p) {
      parts.push_back({{"name", parts_[p].name}, {"offset", p * J}, {"length", J}, {"meaning", parts_[p].meaning}});
      for (const models::ParameterBlock& b : parameters_.blocks())
        blocks.push_back({{"part", parts_[p].name},
                          {"name", b.name},
                          {"shape", {b.shape[0], b.shape[1]}},
                          {"offset", p * J + b.offset},
                          {"size", b.size()},
                          {"role", role_name(b.role)}});
    }
    return {{"row", row()}, {"row_length", row_length()}, {"parts", parts}, {"blocks", blocks}};
  }

  // "" when the layouts `a` and `b` (as to_json writes them) lay rows out alike, else their first
  // difference in words. What the parts mean and the blocks' roles are descriptions, not compared.
  static std::string difference(const nlohmann::json& a, const nlohmann::json& b) {
    const auto field = [](const nlohmann::json& j, const char* key) {
      return j.is_object() && j.contains(key) ? j.at(key) : nlohmann::json();
    };
    if (field(a, "row") != field(b, "row"))
      return "rows " + field(a, "row").dump() + " against " + field(b, "row").dump();
    if (field(a, "row_length") != field(b, "row_length"))
      return "rows of " + field(a, "row_length").dump() + " entries against " + field(b, "row_length").dump();
    const nlohmann::json ba = field(a, "blocks"), bb = field(b, "blocks");
    if (!ba.is_array() || !bb.is_array() || ba.size() != bb.size())
      return std::to_string(ba.size()) + (ba.size() == 1 ? " block" : " blocks") + " against " +
             std::to_string(bb.size());
    for (std::size_t k = 0; k < ba.size(); ++k)
      for (const char* key : {"part", "name", "shape", "offset"})
        if (field(ba[k], key) != field(bb[k], key))
          return "block " + std::to_string(k) + " is " + describe(ba[k]) + " against " + describe(bb[k]);
    return "";
  }

 private:
  ParticleLayout(models::ParameterLayout parameters, std::vector<RowPart> parts)
      : parameters_(std::move(parameters)), parts_(std::move(parts)) {
    if (parameters_.size() == 0) throw Error("ParticleLayout: the parameter layout has no blocks");
  }

  static const char* role_name(models::BlockRole role) {
    switch (role) {
      case models::BlockRole::weight: return "weight";
      case models::BlockRole::bias: return "bias";
      case models::BlockRole::other: return "other";
    }
    return "other";
  }
  // "mu/layer0.weight [1,50] at 0".
  static std::string describe(const nlohmann::json& block) {
    const auto text = [&](const char* key) { return block.contains(key) ? block.at(key).dump() : "?"; };
    return (block.contains("part") && block.at("part").is_string() ? block.at("part").get<std::string>() : "?") + "/" +
           (block.contains("name") && block.at("name").is_string() ? block.at("name").get<std::string>() : "?") + " " +
           text("shape") + " at " + text("offset");
  }

  models::ParameterLayout parameters_;
  std::vector<RowPart> parts_;
};

}  // namespace wgflow::flows
