#pragma once
// The Python-side flow: a flows::ParticleFlow<double> and what it refers to (its potential, and through a
// NetworkPotential the network that predictions need), kept alive as long as the flow.
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include "core/errors.hpp"
#include "flows/particle_flow.hpp"
#include "models/potential.hpp"

namespace wgflow::python {

// The potential is declared first so that it outlives the flow's terms, which refer to it.
struct Flow {
  std::shared_ptr<models::Potential<double>> potential;
  std::unique_ptr<flows::ParticleFlow<double>> flow;
  std::optional<std::thread::id> user;  // the thread in a step(), run(), ... of this flow (see InUse)
};

// Marks `flow` in use by this thread for the guard's lifetime, which must begin and end with the GIL held
// (the GIL orders the checks). Stepping, saving, loading or reading the particles of one flow from two
// Python threads at once would race on its buffers while both have released the GIL: the second is
// refused with an Error. The same thread may nest (run's callback calling step() or predict()).
class InUse {
 public:
  InUse(Flow& flow, const char* what) : flow_(flow) {
    const std::thread::id me = std::this_thread::get_id();
    if (flow_.user && *flow_.user != me)
      throw Error(flow_.flow->name() + ": " + what + "() while another thread is using this flow (stepping, saving "
                  "or predicting); use a flow from one thread at a time");
    nested_ = flow_.user.has_value();
    flow_.user = me;
  }
  ~InUse() {
    if (!nested_) flow_.user.reset();
  }
  InUse(const InUse&) = delete;
  InUse& operator=(const InUse&) = delete;

 private:
  Flow& flow_;
  bool nested_;
};

}  // namespace wgflow::python
