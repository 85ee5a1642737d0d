#pragma once
// Anomaly detection for the tape, in the spirit of PyTorch's torch.autograd.detect_anomaly: a debugging
// mode in which every recorded value and every adjoint is checked for NaN and Inf, and the first
// non-finite number raises an AnomalyError naming the op that produced it (its name, source file and
// line), the node, the entry and its value.
//
//   tape.set_check_finite(true);          // this tape only
//   { ad::DetectAnomaly on; ... }         // every tape, every thread, while `on` lives (e.g. a whole flow)
//
// What is checked, and when:
//   forward   each op's output value, when the next node is recorded or backward() starts (ops write
//             their output right after recording it, so a value is complete by then); a leaf given a
//             non-finite value is reported as such;
//   backward  after each op's backward closure, the adjoints of that op's inputs: the first non-finite
//             one names the op whose vector-Jacobian product produced it.
// Ops are named without any change to them: make_output() captures its caller's std::source_location,
// which is the op's own function. Off (the default) the tape pays one branch per recorded node.
//
// The checks cost a pass over every value and adjoint plus a few bytes per node: for debugging, not for
// production runs.
#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <source_location>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "../core/errors.hpp"
#include "../core/finite.hpp"

namespace wgflow::ad {

// A NaN or Inf found while anomaly detection is on.
struct AnomalyError : Error {
  using Error::Error;
};

namespace detail {
inline std::atomic<bool>& anomaly_detection_flag() {
  static std::atomic<bool> flag{false};
  return flag;
}
}  // namespace detail

// Process-wide switch: when on, every tape checks as if set_check_finite(true) had been called on it.
inline void set_detect_anomaly(bool on) { detail::anomaly_detection_flag().store(on, std::memory_order_relaxed); }
inline bool detect_anomaly() { return detail::anomaly_detection_flag().load(std::memory_order_relaxed); }

// Turns process-wide anomaly detection on (or off) for its lifetime, then restores the previous setting.
class DetectAnomaly {
 public:
  explicit DetectAnomaly(bool on = true) : previous_(detect_anomaly()) { set_detect_anomaly(on); }
  ~DetectAnomaly() { set_detect_anomaly(previous_); }
  DetectAnomaly(const DetectAnomaly&) = delete;
  DetectAnomaly& operator=(const DetectAnomaly&) = delete;

 private:
  bool previous_;
};

// The short name of the function at `where`, e.g. "exp" or "operator/" out of GCC's
// "wgflow::ad::Var<T> wgflow::ad::exp(const wgflow::ad::Var<T>&) [with T = double]".
inline std::string op_name(std::string_view function_name) {
  std::string_view f = function_name;
  f = f.substr(0, f.find(" [with"));
  // The parameter list starts at the first '(' that is not the name of operator().
  std::size_t open = f.find('(');
  if (const std::size_t call = f.find("operator()"); call != std::string_view::npos && call + 8 == open)
    open = f.find('(', call + 10);
  // Drop the return type ("Var<T> "): the name starts after the last space outside template brackets.
  std::size_t begin = std::min(open, f.size());
  for (int depth = 0; begin > 0; --begin) {
    const char c = f[begin - 1];
    if (c == '>') ++depth;
    else if (c == '<' && depth > 0) --depth;
    else if (c == ' ' && depth == 0) break;
  }
  std::string_view name = f.substr(begin, std::min(open, f.size()) - begin);
  for (std::string_view ns : {"wgflow::ad::", "wgflow::"})
    if (name.substr(0, ns.size()) == ns) name = name.substr(ns.size());
  return name.empty() ? std::string(function_name) : std::string(name);
}
inline std::string op_name(const std::source_location& where) { return op_name(where.function_name()); }

inline std::string source_path(const char* file) {
  std::string_view f = file;
  for (;;) {  // the build directory's relative path to the source tree
    if (f.substr(0, 3) == "../") f.remove_prefix(3);
    else if (f.substr(0, 2) == "./") f.remove_prefix(2);
    else break;
  }
  return std::string(f);
}

// The bookkeeping of the checks for one tape. NodeT is ad::Node<T> (this header does not include
// tape.hpp, which includes it).
template <class NodeT>
class AnomalyCheck {
 public:
  // Before node `index` is appended: checks every value recorded since the last check, then remembers
  // where the new node comes from (nullopt for a leaf).
  void on_make(const std::vector<NodeT>& nodes, std::size_t index, std::optional<std::source_location> origin) {
    check_values(nodes, index);
    if (origins_.size() < index) origins_.resize(index, unknown());  // recorded while the check was off
    origins_.push_back(Origin{origin, true});
    if (inputs_.size() > index) inputs_.resize(index);
  }

  // The inputs of node `index` (make_output knows them), so the backward check can tell which op's
  // vector-Jacobian product wrote a non-finite adjoint into which input.
  template <class Range>
  void record_inputs(std::size_t index, const Range& input_indices) {
    if (inputs_.size() <= index) inputs_.resize(index + 1);
    inputs_[index].assign(input_indices.begin(), input_indices.end());
  }

  // Checks the values of nodes [checked, end).
  void check_values(const std::vector<NodeT>& nodes, std::size_t end) {
    for (std::size_t i = checked_; i < end && i < nodes.size(); ++i) {
      const NodeT& n = nodes[i];
      if (const auto bad = first_non_finite(n.value, n.size())) {
        std::ostringstream msg;
        msg << "anomaly check: " << describe(i) << " produced a non-finite value: "
            << entry(n, *bad, n.value) << " (forward pass)";
        throw AnomalyError(msg.str());
      }
    }
    if (end > checked_) checked_ = end;
  }

  // At the start of the backward sweep, once the cotangent has been written into output's adjoint.
  void check_cotangent(const std::vector<NodeT>& nodes, std::size_t output) {
    const NodeT& n = nodes[output];
    if (const auto bad = first_non_finite(n.adjoint, n.size()))
      throw AnomalyError("anomaly check: the cotangent passed to backward() is not finite: " +
                         entry(n, *bad, n.adjoint) + " of the output, " + describe(output));
  }

  // Before node i's backward closure runs its adjoint is complete: a catch-all for adjoints written by
  // ops whose inputs were not recorded.
  void check_adjoint(const std::vector<NodeT>& nodes, std::size_t i) {
    const NodeT& n = nodes[i];
    if (const auto bad = first_non_finite(n.adjoint, n.size()))
      throw AnomalyError("anomaly check: the adjoint of " + describe(i) + " is not finite: " +
                         entry(n, *bad, n.adjoint) + " (backward pass; it was accumulated by the backward of ops "
                         "recorded later, whose inputs were not recorded)");
  }

  // After node i's backward closure: the adjoints it added to.
  void after_backward(const std::vector<NodeT>& nodes, std::size_t i) {
    if (i >= inputs_.size()) return;
    const std::vector<std::uint32_t>& in = inputs_[i];
    for (std::size_t k = 0; k < in.size(); ++k) {
      const NodeT& n = nodes[in[k]];
      if (const auto bad = first_non_finite(n.adjoint, n.size())) {
        std::ostringstream msg;
        msg << "anomaly check: the backward of " << describe(i) << " produced a non-finite adjoint for its input "
            << k << " (" << describe(in[k]) << "): " << entry(n, *bad, n.adjoint) << " (backward pass)";
        throw AnomalyError(msg.str());
      }
    }
  }

  void clear() {
    origins_.clear();
    inputs_.clear();
    checked_ = 0;
  }

 private:
  struct Origin {
    std::optional<std::source_location> where;  // nullopt: a leaf
    bool known = false;                          // false: recorded while the check was off
  };
  static Origin unknown() { return Origin{std::nullopt, false}; }

  template <class T>
  static std::string entry(const NodeT& n, std::size_t flat, const T* data) {
    std::ostringstream s;
    s << "entry (" << flat / n.shape[1] << ", " << flat % n.shape[1] << ") of " << shape_string(n.shape) << " is "
      << data[flat];
    return s.str();
  }

  std::string describe(std::size_t i) const {
    const std::string node = "node " + std::to_string(i);
    if (i >= origins_.size() || !origins_[i].known) return node + " (recorded before the check was turned on)";
    const auto& where = origins_[i].where;
    if (!where) return "a leaf (Tape::variable or Tape::constant), " + node;
    return "op '" + op_name(*where) + "' (" + source_path(where->file_name()) + ":" + std::to_string(where->line()) +
           "), " + node;
  }

  std::vector<Origin> origins_;
  std::vector<std::vector<std::uint32_t>> inputs_;
  std::size_t checked_ = 0;
};

}  // namespace wgflow::ad
