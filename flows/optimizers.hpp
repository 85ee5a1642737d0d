#pragma once
// Optimisers: maps from a gradient matrix (N x J, one row per particle: the gradient of the first variation
// of the free energy, i.e. minus the velocity) to the deterministic displacement of the particles.
//
// After BlackJAX / Optax, an optimiser is a small value with explicit state. It comes in one of two forms:
//   entrywise (SGD, momentum, Adam: each entry's displacement depends on that entry's gradient and state)
//     State init(const Tensor<T>& params) const;
//     void begin_step(State& state, std::size_t entries) const;     // once per step (Adam: t += 1)
//     void update(State& state, std::size_t first, std::span<const T> g, std::span<T> delta) const;
//         // delta for entries [first, first + g.size()) of the row-major gradient; calls on disjoint
//         // ranges may run concurrently
//   whole (an optimiser that needs the entire gradient, e.g. clipping by its global norm)
//     State init(const Tensor<T>& params) const;
//     void update(const Tensor<T>& gradient, State& state, Tensor<T>& delta) const;
//   and both   T learning_rate() const;  std::string name() const;
//   and, where settings can be wrong, void check() const, throwing wgflow::Error: Optimizer<T> calls it
//   when it wraps the optimiser, so that adam(-1) is refused where it is written, not at a flow's first step.
// The flow applies params += delta (plus its noise). Any type of either form plugs into Optimizer<T>, the
// type-erased (optimiser, state) pair that flows hold. An entrywise optimiser lets the flow update each
// particle in the same pass that sums its gradient and moves it (flows/particle_flow.hpp).
//
//   Sgd       delta = -eta g                                   (the paper's update, paper.md §2)
//   Momentum  v <- mu v + g,  delta = -eta v                   (heavy ball, PyTorch's convention)
//   Adam      m <- b1 m + (1 - b1) g,  v <- b2 v + (1 - b2) g^2,
//             delta = -eta m^ / (sqrt(v^) + eps),  m^ = m / (1 - b1^t), v^ = v / (1 - b2^t)
//             (Kingma & Ba 2015, Algorithm 1)
//
// Only Sgd turns a Langevin flow into the Euler-Maruyama scheme of the paper. With Momentum or Adam the
// flow adds the same noise sqrt(2 D eta) xi, eta = learning_rate(), but the result no longer
// discretises the Wasserstein gradient flow: use them for DE-style training, not for sampling.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <type_traits>
#include <utility>

#include <xtensor/xbuilder.hpp>
#include <xtensor/xtensor.hpp>

#include "../core/errors.hpp"
#include "../core/tensor.hpp"

namespace wgflow::flows {

namespace detail {
template <class T>
void check_learning_rate(const char* who, T eta) {
  if (!(eta > 0) || !std::isfinite(eta))
    throw Error(std::string(who) + ": learning rate must be positive and finite, got " + std::to_string(eta));
}
template <class T>
void check_state_size(const char* who, const Tensor<T>& state, std::size_t entries) {
  if (state.size() != entries)
    throw ShapeError(std::string(who) + ": state is " + shape_string({state.shape()[0], state.shape()[1]}) + " (" +
                     std::to_string(state.size()) + " entries) but the gradient has " + std::to_string(entries) +
                     " entries (call init() with parameters of the gradient's shape)");
}
}  // namespace detail

template <class T>
struct Sgd {
  T eta;

  struct State {};
  void check() const { detail::check_learning_rate("Sgd", eta); }
  State init(const Tensor<T>& /*params*/) const {
    check();
    return {};
  }
  void begin_step(State& /*state*/, std::size_t /*entries*/) const {}
  void update(State& /*state*/, std::size_t /*first*/, std::span<const T> g, std::span<T> delta) const {
    for (std::size_t j = 0; j < g.size(); ++j) delta[j] = -eta * g[j];
  }
  T learning_rate() const { return eta; }
  std::string name() const { return "sgd(eta=" + std::to_string(eta) + ")"; }
};

template <class T>
struct Momentum {
  T eta;
  T mu = T(0.9);

  struct State {
    Tensor<T> velocity;
  };
  void check() const {
    detail::check_learning_rate("Momentum", eta);
    if (!(mu >= 0 && mu < 1)) throw Error("Momentum: mu must lie in [0, 1), got " + std::to_string(mu));
  }
  State init(const Tensor<T>& params) const {
    check();
    return {xt::zeros<T>(params.shape())};
  }
  void begin_step(State& s, std::size_t entries) const { detail::check_state_size("Momentum", s.velocity, entries); }
  void update(State& s, std::size_t first, std::span<const T> g, std::span<T> delta) const {
    T* v = s.velocity.data() + first;
    for (std::size_t j = 0; j < g.size(); ++j) {
      v[j] = mu * v[j] + g[j];
      delta[j] = -eta * v[j];
    }
  }
  T learning_rate() const { return eta; }
  std::string name() const { return "momentum(eta=" + std::to_string(eta) + ", mu=" + std::to_string(mu) + ")"; }
};

template <class T>
struct Adam {
  T eta = T(1e-3);
  T beta1 = T(0.9);
  T beta2 = T(0.999);
  T epsilon = T(1e-8);

  struct State {
    Tensor<T> m, v;
    std::uint64_t t = 0;
    T c1 = 1, c2 = 1;  // the bias corrections 1 - beta^t, set by begin_step from t
  };
  void check() const {
    detail::check_learning_rate("Adam", eta);
    if (!(beta1 >= 0 && beta1 < 1 && beta2 >= 0 && beta2 < 1 && epsilon > 0 && std::isfinite(epsilon)))
      throw Error("Adam: need beta1, beta2 in [0, 1) and epsilon positive and finite, got beta1 = " +
                  std::to_string(beta1) + ", beta2 = " + std::to_string(beta2) + ", epsilon = " + std::to_string(epsilon));
  }
  State init(const Tensor<T>& params) const {
    check();
    return {xt::zeros<T>(params.shape()), xt::zeros<T>(params.shape()), 0};
  }
  void begin_step(State& s, std::size_t entries) const {
    detail::check_state_size("Adam", s.m, entries);
    ++s.t;
    s.c1 = 1 - std::pow(beta1, static_cast<T>(s.t));
    s.c2 = 1 - std::pow(beta2, static_cast<T>(s.t));
  }
  void update(State& s, std::size_t first, std::span<const T> g, std::span<T> delta) const {
    const T c1 = s.c1, c2 = s.c2;
    T* m = s.m.data() + first;
    T* v = s.v.data() + first;
    for (std::size_t j = 0; j < g.size(); ++j) {
      m[j] = beta1 * m[j] + (1 - beta1) * g[j];
      v[j] = beta2 * v[j] + (1 - beta2) * g[j] * g[j];
      delta[j] = -eta * (m[j] / c1) / (std::sqrt(v[j] / c2) + epsilon);
    }
  }
  T learning_rate() const { return eta; }
  std::string name() const { return "adam(eta=" + std::to_string(eta) + ")"; }
};

namespace detail {
template <class O, class T>
concept EntrywiseOptimizer = requires(const O& o, typename O::State& s, std::span<const T> g, std::span<T> d) {
  o.begin_step(s, std::size_t{});
  o.update(s, std::size_t{}, g, d);
};
template <class O, class T>
concept WholeOptimizer = requires(const O& o, typename O::State& s, const Tensor<T>& g, Tensor<T>& d) {
  o.update(g, s, d);
};
}  // namespace detail

// An optimiser together with its state, behind one type: what a flow holds. Copying copies the state.
//
//   Optimizer<double> opt = Adam<double>{.eta = 1e-2};
//   opt.init(particles);
//   opt.update(gradient, delta);   // particles += delta
template <class T>
class Optimizer {
 public:
  template <class O, class = std::enable_if_t<!std::is_same_v<std::decay_t<O>, Optimizer>>>
  Optimizer(O optimizer) : impl_(std::make_unique<Model<O>>(checked(std::move(optimizer)))) {}  // NOLINT: implicit by design

  Optimizer(const Optimizer& other) : impl_(other.impl_->clone()) {}
  Optimizer& operator=(const Optimizer& other) {
    if (this != &other) impl_ = other.impl_->clone();
    return *this;
  }
  Optimizer(Optimizer&&) noexcept = default;
  Optimizer& operator=(Optimizer&&) noexcept = default;

  // (Re)starts the state for parameters of this shape.
  void init(const Tensor<T>& params) { impl_->init(params); }
  // delta = the optimiser's displacement for this gradient; advances the state.
  void update(const Tensor<T>& gradient, Tensor<T>& delta) {
    if (!entrywise()) return impl_->update(gradient, delta);
    delta.resize(gradient.shape());
    begin_step(gradient.size());
    update(0, std::span<const T>(gradient.data(), gradient.size()), std::span<T>(delta.data(), delta.size()));
  }
  // The same step in pieces, for an entrywise optimiser: begin_step once, then update() on disjoint
  // ranges of the row-major gradient's `entries` entries, concurrently if need be, covering them all.
  bool entrywise() const { return impl_->entrywise(); }
  void begin_step(std::size_t entries) { impl_->begin_step(entries); }
  void update(std::size_t first, std::span<const T> g, std::span<T> delta) { impl_->update(first, g, delta); }

  T learning_rate() const { return impl_->learning_rate(); }
  std::string name() const { return impl_->name(); }

  // The concrete optimiser and its state, when the caller knows the type (e.g. to inspect Adam's t).
  template <class O>
  const typename O::State* state_if() const {
    auto* m = dynamic_cast<const Model<O>*>(impl_.get());
    return m ? &m->state : nullptr;
  }
  // The same, writable: for restoring a saved state (flows/checkpoint.hpp).
  template <class O>
  typename O::State* state_if() {
    auto* m = dynamic_cast<Model<O>*>(impl_.get());
    return m ? &m->state : nullptr;
  }

 private:
  template <class O>
  static O checked(O optimizer) {
    if constexpr (requires { optimizer.check(); }) optimizer.check();
    return optimizer;
  }

  struct Concept {
    virtual ~Concept() = default;
    virtual std::unique_ptr<Concept> clone() const = 0;
    virtual void init(const Tensor<T>& params) = 0;
    virtual bool entrywise() const = 0;
    virtual void update(const Tensor<T>& gradient, Tensor<T>& delta) = 0;
    virtual void begin_step(std::size_t entries) = 0;
    virtual void update(std::size_t first, std::span<const T> g, std::span<T> delta) = 0;
    virtual T learning_rate() const = 0;
    virtual std::string name() const = 0;
  };
  template <class O>
  struct Model final : Concept {
    static constexpr bool is_entrywise = detail::EntrywiseOptimizer<O, T>;
    static_assert(is_entrywise || detail::WholeOptimizer<O, T>,
                  "an optimiser needs begin_step(State&, size_t) and update(State&, size_t, span<const T>, span<T>), "
                  "or update(const Tensor<T>&, State&, Tensor<T>&) (flows/optimizers.hpp)");

    explicit Model(O o) : optimizer(std::move(o)) {}
    std::unique_ptr<Concept> clone() const override { return std::make_unique<Model>(*this); }
    void init(const Tensor<T>& params) override {
      state = optimizer.init(params);
      initialised = true;
    }
    bool entrywise() const override { return is_entrywise; }
    void update(const Tensor<T>& gradient, Tensor<T>& delta) override {
      require_initialised();
      if constexpr (!is_entrywise) optimizer.update(gradient, state, delta);
    }
    void begin_step(std::size_t entries) override {
      require_initialised();
      if constexpr (is_entrywise) optimizer.begin_step(state, entries);
      else not_entrywise();
    }
    void update(std::size_t first, std::span<const T> g, std::span<T> delta) override {
      if constexpr (is_entrywise) optimizer.update(state, first, g, delta);
      else not_entrywise();
    }
    T learning_rate() const override { return optimizer.learning_rate(); }
    std::string name() const override { return optimizer.name(); }

    void require_initialised() const {
      if (!initialised) throw Error("Optimizer " + optimizer.name() + ": update() before init()");
    }
    [[noreturn]] void not_entrywise() const {
      throw Error("Optimizer " + optimizer.name() + ": not entrywise, so it updates the whole gradient only");
    }

    O optimizer;
    typename O::State state{};
    bool initialised = false;
  };

  std::unique_ptr<Concept> impl_;
};

}  // namespace wgflow::flows
