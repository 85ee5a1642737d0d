#pragma once
// Optimisers: maps from a gradient matrix (N x J, one row per particle: the gradient of the first variation
// of the free energy, i.e. minus the velocity) to the deterministic displacement of the particles.
//
// After BlackJAX / Optax, an optimiser is a small value with explicit state:
//   State init(const Tensor<T>& params) const;                        // state for these parameters
//   void update(const Tensor<T>& gradient, State& state, Tensor<T>& delta) const;   // delta for this step
//   T learning_rate() const;  std::string name() const;
// and the flow applies params += delta (plus its noise). Any type with these members plugs into
// Optimizer<T>, the type-erased (optimiser, state) pair that flows hold.
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
#include <cstdint>
#include <memory>
#include <string>
#include <type_traits>
#include <utility>

#include <xtensor/xmath.hpp>
#include <xtensor/xnoalias.hpp>
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
void check_state_shape(const char* who, const Tensor<T>& state, const Tensor<T>& gradient) {
  if (state.shape() != gradient.shape())
    throw ShapeError(std::string(who) + ": state is " + shape_string({state.shape()[0], state.shape()[1]}) +
                     " but the gradient is " + shape_string({gradient.shape()[0], gradient.shape()[1]}) +
                     " (call init() with parameters of the gradient's shape)");
}
}  // namespace detail

template <class T>
struct Sgd {
  T eta;

  struct State {};
  State init(const Tensor<T>& /*params*/) const {
    detail::check_learning_rate("Sgd", eta);
    return {};
  }
  void update(const Tensor<T>& gradient, State& /*state*/, Tensor<T>& delta) const { xt::noalias(delta) = -eta * gradient; }
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
  State init(const Tensor<T>& params) const {
    detail::check_learning_rate("Momentum", eta);
    if (!(mu >= 0 && mu < 1)) throw Error("Momentum: mu must lie in [0, 1), got " + std::to_string(mu));
    return {xt::zeros<T>(params.shape())};
  }
  void update(const Tensor<T>& gradient, State& s, Tensor<T>& delta) const {
    detail::check_state_shape("Momentum::update", s.velocity, gradient);
    // noalias: in place (element i reads only element i), where `=` would evaluate into a new matrix.
    xt::noalias(s.velocity) = mu * s.velocity + gradient;
    xt::noalias(delta) = -eta * s.velocity;
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
  };
  State init(const Tensor<T>& params) const {
    detail::check_learning_rate("Adam", eta);
    if (!(beta1 >= 0 && beta1 < 1 && beta2 >= 0 && beta2 < 1 && epsilon > 0))
      throw Error("Adam: need beta1, beta2 in [0, 1) and epsilon > 0, got beta1 = " + std::to_string(beta1) +
                  ", beta2 = " + std::to_string(beta2) + ", epsilon = " + std::to_string(epsilon));
    return {xt::zeros<T>(params.shape()), xt::zeros<T>(params.shape()), 0};
  }
  void update(const Tensor<T>& gradient, State& s, Tensor<T>& delta) const {
    detail::check_state_shape("Adam::update", s.m, gradient);
    ++s.t;
    const T c1 = 1 - std::pow(beta1, static_cast<T>(s.t)), c2 = 1 - std::pow(beta2, static_cast<T>(s.t));
    delta.resize(gradient.shape());
    // A plain loop: one pass over the four arrays, which the compiler vectorises.
    T* m = s.m.data();
    T* v = s.v.data();
    T* out = delta.data();
    const T* g = gradient.data();
    for (std::size_t i = 0, n = gradient.size(); i < n; ++i) {
      m[i] = beta1 * m[i] + (1 - beta1) * g[i];
      v[i] = beta2 * v[i] + (1 - beta2) * g[i] * g[i];
      out[i] = -eta * (m[i] / c1) / (std::sqrt(v[i] / c2) + epsilon);
    }
  }
  T learning_rate() const { return eta; }
  std::string name() const { return "adam(eta=" + std::to_string(eta) + ")"; }
};

// An optimiser together with its state, behind one type: what a flow holds. Copying copies the state.
//
//   Optimizer<double> opt = Adam<double>{.eta = 1e-2};
//   opt.init(particles);
//   opt.update(gradient, delta);   // particles += delta
template <class T>
class Optimizer {
 public:
  template <class O, class = std::enable_if_t<!std::is_same_v<std::decay_t<O>, Optimizer>>>
  Optimizer(O optimizer) : impl_(std::make_unique<Model<O>>(std::move(optimizer))) {}  // NOLINT: implicit by design

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
  void update(const Tensor<T>& gradient, Tensor<T>& delta) { impl_->update(gradient, delta); }
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
  struct Concept {
    virtual ~Concept() = default;
    virtual std::unique_ptr<Concept> clone() const = 0;
    virtual void init(const Tensor<T>& params) = 0;
    virtual void update(const Tensor<T>& gradient, Tensor<T>& delta) = 0;
    virtual T learning_rate() const = 0;
    virtual std::string name() const = 0;
  };
  template <class O>
  struct Model final : Concept {
    explicit Model(O o) : optimizer(std::move(o)) {}
    std::unique_ptr<Concept> clone() const override { return std::make_unique<Model>(*this); }
    void init(const Tensor<T>& params) override {
      state = optimizer.init(params);
      initialised = true;
    }
    void update(const Tensor<T>& gradient, Tensor<T>& delta) override {
      if (!initialised) throw Error("Optimizer " + optimizer.name() + ": update() before init()");
      optimizer.update(gradient, state, delta);
    }
    T learning_rate() const override { return optimizer.learning_rate(); }
    std::string name() const override { return optimizer.name(); }

    O optimizer;
    typename O::State state{};
    bool initialised = false;
  };

  std::unique_ptr<Concept> impl_;
};

}  // namespace wgflow::flows
