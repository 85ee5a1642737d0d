#pragma once
// The reverse-mode tape: Node (one recorded value), Var (a cheap handle to a node) and Tape (the
// record of a computation, swept backwards by backward()).
//
// Design (after Stan Math's rev/core): nodes are matrix-valued, so a matrix op is one node whose
// backward is one vectorised expression. Values, adjoints and backward closures live in an Arena
// owned by the tape; clear() rewinds it, so a training step that rebuilds the same graph allocates
// nothing after its first run. Tapes share nothing: use one per thread (Tape::local()).
//
// Every value is a rank-2 tensor (core/tensor.hpp): a scalar is 1x1, a vector n x 1 or 1 x n.
#include <array>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <new>
#include <optional>
#include <source_location>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "../core/intrinsics.hpp"  // before xsimd: GCC 12 repairs, see there
#include <xtensor/xadapt.hpp>
#include <xtensor/xfixed.hpp>
#include <xtensor/xnoalias.hpp>
#include <xtensor/xtensor.hpp>

#include "anomaly.hpp"
#include "arena.hpp"
#include "../core/errors.hpp"
#include "../core/tensor.hpp"

// Checks that a Var is not used after its tape was cleared. On by default in debug builds; define
// WGFLOW_TAPE_CHECKS=1 to keep them in an optimised build (the tests do).
#ifndef WGFLOW_TAPE_CHECKS
#ifdef NDEBUG
#define WGFLOW_TAPE_CHECKS 0
#else
#define WGFLOW_TAPE_CHECKS 1
#endif
#endif

namespace wgflow::ad {

using wgflow::Shape;   // core/tensor.hpp: the ground floor's rank-2 value type
using wgflow::Tensor;

// A non-owning rank-2 view of tape memory; assignable from any xtensor expression.
template <class T>
using View = decltype(xt::adapt(std::declval<T*>(), std::size_t{}, xt::no_ownership(),
                                std::declval<const Shape&>()));

template <class T>
class Tape;

template <class T>
struct Node {
  T* value = nullptr;
  T* adjoint = nullptr;  // null when no gradient flows through this node
  Shape shape{0, 0};
  void (*backward)(void* closure) = nullptr;
  void (*destroy)(void* closure) = nullptr;
  void* closure = nullptr;

  std::size_t size() const { return shape[0] * shape[1]; }
};

template <class T>
class Var {
 public:
  using value_type = T;

  Var() = default;

  // The value, and the adjoint d(output)/d(this) once backward() has run.
  View<T> val() const {
    const Node<T>& n = node();
    return xt::adapt(static_cast<T*>(n.value), n.size(), xt::no_ownership(), n.shape);
  }
  View<T> adj() const {
    const Node<T>& n = node();
    if (n.adjoint == nullptr)
      throw TapeError("adj(): this variable carries no gradient (it is a constant, or computed only from constants)");
    return xt::adapt(static_cast<T*>(n.adjoint), n.size(), xt::no_ownership(), n.shape);
  }

  const Shape& shape() const { return node().shape; }
  std::size_t rows() const { return shape()[0]; }
  std::size_t cols() const { return shape()[1]; }
  std::size_t size() const { return node().size(); }
  bool needs_grad() const { return node().adjoint != nullptr; }
  T* data() const { return node().value; }

  // The single entry of a 1x1 variable.
  T item() const {
    if (shape() != Shape{1, 1}) throw ShapeError("item(): expected a 1x1 variable, got " + shape_string(shape()));
    return node().value[0];
  }

  Tape<T>& tape() const { return *tape_; }
  std::uint32_t index() const { return index_; }
  // Whether this refers to a node of its tape's current recording: false for a default-constructed Var
  // and after the tape's clear().
  bool valid() const;

  // Attaches this node's vector-Jacobian product: a closure, run once by backward(), that adds
  // adj() x (d this / d input) into the adjoint of each input that needs_grad(). Skipped entirely
  // when no gradient flows through this node.
  template <class F>
  void on_backward(F&& f) const;

 private:
  friend class Tape<T>;
  Var(Tape<T>* tape, std::uint32_t index, std::uint32_t generation)
      : tape_(tape), index_(index), generation_(generation) {}

  Node<T>& node() const;

  Tape<T>* tape_ = nullptr;
  std::uint32_t index_ = 0;
  std::uint32_t generation_ = 0;
};

template <class T>
class Tape {
 public:
  static_assert(std::is_floating_point_v<T>, "a Tape records float or double");

  explicit Tape(std::size_t initial_bytes = std::size_t{1} << 16) : arena_(initial_bytes) {}
  Tape(const Tape&) = delete;  // variables point at their tape: it must not move
  Tape& operator=(const Tape&) = delete;
  ~Tape() { destroy_closures(); }

  // This thread's tape, for code (such as flows on TBB workers) that needs one tape per thread.
  static Tape& local() {
    thread_local Tape tape;
    return tape;
  }

  // Leaves. A variable's gradient is computed by backward(); a constant's is not.
  template <class E>
  Var<T> variable(const xt::xexpression<E>& value) { return leaf(value.derived_cast(), true); }
  template <class E>
  Var<T> constant(const xt::xexpression<E>& value) { return leaf(value.derived_cast(), false); }
  Var<T> variable(T scalar) { return leaf(xt::xtensor<T, 2>{{scalar}}, true); }
  Var<T> constant(T scalar) { return leaf(xt::xtensor<T, 2>{{scalar}}, false); }

  // A leaf over memory the caller owns: its value is read in place from `value` (never written: ops
  // write only their own outputs), and, when `adjoint` is not null, backward() zeroes `adjoint` and
  // accumulates d(output)/d(this) into it, as it would into tape memory. Both buffers hold rows x cols
  // row-major entries and must stay alive and unchanged until clear(). For flat parameter vectors
  // (models::ParameterLayout::leaves with a gradient): no copy in, no copy out.
  Var<T> external(const Shape& shape, const T* value, T* adjoint = nullptr) {
    if (checking()) anomaly().on_make(nodes_, nodes_.size(), std::nullopt);
    Node<T> n;
    n.shape = shape;
    n.value = const_cast<T*>(value);  // Node's value is mutable for ops' outputs; a leaf's is never written
    n.adjoint = adjoint;
    if (nodes_.size() >= UINT32_MAX) throw TapeError("tape holds more than 2^32 nodes");
    nodes_.push_back(n);
    return Var<T>(this, static_cast<std::uint32_t>(nodes_.size() - 1), generation_);
  }

  // A new node with uninitialised value (the caller assigns val()); ops use it through make_output().
  // `origin` names the op for anomaly checks (nullopt: a leaf); see autodiff/anomaly.hpp.
  Var<T> make(const Shape& shape, bool needs_grad,
              std::optional<std::source_location> origin = std::source_location::current()) {
    if (checking()) anomaly().on_make(nodes_, nodes_.size(), origin);
    Node<T> n;
    n.shape = shape;
    n.value = arena_.allocate_array<T>(n.size());
    if (needs_grad) n.adjoint = arena_.allocate_array<T>(n.size());
    if (nodes_.size() >= UINT32_MAX) throw TapeError("tape holds more than 2^32 nodes");
    nodes_.push_back(n);
    return Var<T>(this, static_cast<std::uint32_t>(nodes_.size() - 1), generation_);
  }

  // Scratch memory for n objects of trivially copyable type U, valid until clear(): for ops whose
  // backward needs more than their operands (gathered indices, saved masks) without a heap allocation.
  template <class U>
  U* allocate(std::size_t n) {
    static_assert(std::is_trivially_copyable_v<U> && alignof(U) <= Arena::alignment);
    return arena_.allocate_array<U>(n);
  }

  // Reverse sweep from a 1x1 output: afterwards x.adj() holds d(output)/dx for every x on the tape that
  // needs_grad() (zero for those recorded after `output`, on which it cannot depend). Adjoints are reset
  // first, so calling it twice is harmless.
  void backward(const Var<T>& output) {
    if (output.shape() != Shape{1, 1})
      throw ShapeError("backward(): output is " + shape_string(output.shape()) +
                       "; pass a cotangent of that shape to differentiate a non-scalar output");
    backward(output, xt::xtensor_fixed<T, xt::xshape<1, 1>>{{T(1)}});  // on the stack: no allocation
  }

  // Reverse sweep with a given cotangent u (same shape as output): computes the vector-Jacobian
  // product u^T J, i.e. the gradient of sum(u * output).
  template <class E>
  void backward(const Var<T>& output, const xt::xexpression<E>& cotangent) {
    const auto& u = cotangent.derived_cast();
    check_owner(output, "backward()");
    if (u.dimension() != 2 || u.shape()[0] != output.rows() || u.shape()[1] != output.cols())
      throw ShapeError("backward(): cotangent shape does not match output shape " + shape_string(output.shape()));
    const std::size_t last = output.index();
    for (const Node<T>& n : nodes_)
      if (n.adjoint) std::fill_n(n.adjoint, n.size(), T(0));
    AnomalyCheck<Node<T>>* check = checking() ? &anomaly() : nullptr;
    if (check) check->check_values(nodes_, nodes_.size());
    if (!output.needs_grad()) return;  // nothing upstream depends on a variable
    xt::noalias(output.adj()) = u;
    if (check) check->check_cotangent(nodes_, last);
    for (std::size_t i = last + 1; i-- > 0;) {
      const Node<T>& n = nodes_[i];
      if (!n.backward) continue;
      if (check) check->check_adjoint(nodes_, i);
      n.backward(n.closure);
      if (check) check->after_backward(nodes_, i);
    }
  }

  // Anomaly detection (autodiff/anomaly.hpp): check every value and adjoint for NaN/Inf and name the
  // op that produced the first one. Also on while ad::detect_anomaly() is.
  void set_check_finite(bool on) { check_finite_ = on; }
  bool checking() const { return check_finite_ || detect_anomaly(); }
  // The checks' bookkeeping; make_output() records each op's inputs in it.
  AnomalyCheck<Node<T>>& anomaly() {
    if (!anomaly_) anomaly_ = std::make_unique<AnomalyCheck<Node<T>>>();
    return *anomaly_;
  }

  // Forgets every node and invalidates every Var of this tape; keeps the memory for the next use.
  void clear() {
    destroy_closures();
    nodes_.clear();
    arena_.reset();
    if (anomaly_) anomaly_->clear();
    ++generation_;
  }

  std::size_t size() const { return nodes_.size(); }
  std::size_t bytes_reserved() const {
    return arena_.bytes_reserved() + nodes_.capacity() * sizeof(Node<T>);
  }
  std::uint32_t generation() const { return generation_; }

 private:
  friend class Var<T>;

  template <class E>
  Var<T> leaf(const E& value, bool needs_grad) {
    if (value.dimension() != 2)
      throw ShapeError("tape leaf: expected a rank-2 tensor (rows x cols), got rank " +
                       std::to_string(value.dimension()));
    Var<T> v = make(Shape{value.shape()[0], value.shape()[1]}, needs_grad, std::nullopt);
    xt::noalias(v.val()) = value;
    return v;
  }

  void check_owner(const Var<T>& v, const char* where) const {
    if (v.tape_ != this) throw TapeError(std::string(where) + ": variable belongs to another tape");
  }

  void destroy_closures() {
    for (const Node<T>& n : nodes_)
      if (n.destroy) n.destroy(n.closure);
  }

  Arena arena_;
  std::vector<Node<T>> nodes_;
  std::uint32_t generation_ = 0;
  bool check_finite_ = false;
  std::unique_ptr<AnomalyCheck<Node<T>>> anomaly_;  // created on first use
};

template <class T>
bool Var<T>::valid() const {
  return tape_ != nullptr && generation_ == tape_->generation_ && index_ < tape_->nodes_.size();
}

template <class T>
Node<T>& Var<T>::node() const {
#if WGFLOW_TAPE_CHECKS
  if (tape_ == nullptr) throw TapeError("use of a default-constructed Var (it refers to no tape)");
  if (generation_ != tape_->generation_ || index_ >= tape_->nodes_.size())
    throw TapeError("use of a Var whose tape was cleared (variable from tape generation " +
                    std::to_string(generation_) + ", tape now at generation " +
                    std::to_string(tape_->generation_) + ")");
#endif
  return tape_->nodes_[index_];
}

template <class T>
template <class F>
void Var<T>::on_backward(F&& f) const {
  using Closure = std::decay_t<F>;
  static_assert(alignof(Closure) <= Arena::alignment);
  Node<T>& n = node();
  if (n.adjoint == nullptr) return;
  void* memory = tape_->arena_.allocate(sizeof(Closure));
  n.closure = new (memory) Closure(std::forward<F>(f));
  n.backward = [](void* c) { (*static_cast<Closure*>(c))(); };
  if constexpr (!std::is_trivially_destructible_v<Closure>)
    n.destroy = [](void* c) { static_cast<Closure*>(c)->~Closure(); };
}

// The output node of an op with the given inputs: on their tape, carrying a gradient if any input does.
// `origin` defaults to the caller, i.e. the op, which names it in anomaly checks.
template <class T>
Var<T> make_output(const Shape& shape, std::initializer_list<Var<T>> inputs,
                   std::source_location origin = std::source_location::current()) {
  Tape<T>& tape = inputs.begin()->tape();
  bool needs_grad = false;
  for (const Var<T>& v : inputs) {
    if (&v.tape() != &tape) throw TapeError("an op mixes variables from two different tapes");
    needs_grad = needs_grad || v.needs_grad();
  }
  Var<T> out = tape.make(shape, needs_grad, origin);
  if (tape.checking()) {
    std::vector<std::uint32_t> indices;
    for (const Var<T>& v : inputs) indices.push_back(v.index());
    tape.anomaly().record_inputs(out.index(), indices);
  }
  return out;
}

// d(output)/d(x) for each x in `wrt`, as owning tensors (zeros for constants).
template <class T>
std::vector<Tensor<T>> gradient(const Var<T>& output, std::initializer_list<Var<T>> wrt) {
  output.tape().backward(output);
  std::vector<Tensor<T>> grads;
  grads.reserve(wrt.size());
  for (const Var<T>& x : wrt)
    grads.push_back(x.needs_grad() ? Tensor<T>(x.adj()) : Tensor<T>(xt::zeros<T>(x.shape())));
  return grads;
}

}  // namespace wgflow::ad
