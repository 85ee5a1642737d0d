#pragma once
// Ops defined outside the library, without editing it. There are two ways.
//
// (a) The low-level way. Any function that creates its output with make_output(shape, {inputs...}),
// writes out.val() and attaches a vector-Jacobian product with out.on_backward(closure) is an op in
// every respect the library's own are: the tape records it, backward() runs it, the checker tests it.
//
//   // logcosh(a) = log(cosh(a)), a smooth |a|;   d logcosh / da = tanh(a)
//   template <class T>
//   Var<T> logcosh(const Var<T>& a) {
//     Var<T> out = make_output(a.shape(), {a});
//     xt::noalias(out.val()) = xt::log(xt::cosh(a.val()));
//     out.on_backward([a, out] {  // Vars are handles: capture them by value
//       xt::noalias(a.adj()) += out.adj() * xt::tanh(a.val());
//     });
//     return out;
//   }
//
// The rules: the closure adds (+=) into each input's adjoint, never assigns, because an input may feed
// several ops; with more than one input it touches x.adj() only if x.needs_grad() (a constant has no
// adjoint, and adj() throws); it is copied into the tape's arena and destroyed by clear(), so it should
// capture handles, not large objects; extra memory the backward needs comes from tape.allocate<U>(n).
// xt::noalias matters: without it xtensor evaluates into a heap temporary first.
//
// (b) The convenient way: custom_op(forward, vjp, name) from two functions of tensor values.
//
//   auto cube = wgflow::ad::custom_op(
//       [](const auto& x) { return x * x * x; },                                     // y = x^3
//       [](const auto& g, const auto& y, const auto& x) { return 3.0 * x * x * g; },  // dy/dx = 3x^2
//       "cube");
//   Var<double> y = cube(v);
//
// forward(x1, ..., xn) receives the inputs' values and returns an xtensor expression (or an owning
// ad::Tensor) of rank 2, or of rank 0 for a 1x1 output. vjp(g, y, x1, ..., xn) receives the output's
// adjoint g, the output's value y and the inputs' values, and returns the contribution g^T dy/dx_i of
// every input: the expression itself for one input, a std::tuple of n expressions for n inputs. Each
// contribution has its input's shape, or the output's shape when the input was broadcast to it (it is
// then summed over the broadcast axes, as the built-in ops do); anything else is a ShapeError that
// names the op. A contribution is evaluated only for an input that needs_grad(), so returning lazy
// expressions (rather than Tensors) costs nothing for constants.
//
// Cost: the values reach forward and vjp as non-owning views of tape memory, and the results are
// assigned with xt::noalias straight into the tape, so a call allocates nothing beyond its node in the
// arena; the user's expressions are the whole computation. Each call copies vjp into its closure in
// the arena: a capture-less lambda copies nothing, a lambda holding large state should capture it by
// reference. The name should be a string literal: it is kept as a string_view, read when a shape
// error is reported during backward().
//
// forward and vjp may take their values by value (as Tensors, say) and return expressions over those
// parameters: custom_op evaluates each result into the tape within the full-expression that calls the
// function. Why that suffices: C++ leaves it to the implementation whether a by-value parameter dies when
// the function returns or at the end of the full-expression containing the call ([expr.call]), and the
// Itanium C++ ABI (GCC and Clang on Linux) makes it the latter for class types that are not trivially
// copyable, which every xtensor container is. (The MSVC ABI destroys them on return: there, take
// const auto&.) Evaluating the result any later, even one std::apply further out, reads freed memory and
// gives a silently wrong gradient (all zeros, once). Variables local to the function's body still die
// when it returns: xt::eval such a local, or build the whole expression inline.
#include <cstddef>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>

#include <xtensor/xexpression.hpp>
#include <xtensor/xnoalias.hpp>

#include "../core/errors.hpp"
#include "ops/broadcast.hpp"
#include "tape.hpp"

namespace wgflow::ad {

namespace detail {

template <class R>
struct is_std_tuple : std::false_type {};
template <class... Ts>
struct is_std_tuple<std::tuple<Ts...>> : std::true_type {};

// The rank-2 shape of a custom op's result (1x1 for a rank-0 expression); false for any other rank.
template <class E>
bool custom_result_shape(const E& e, Shape& shape) {
  static_assert(xt::is_xexpression<E>::value,
                "custom_op: forward and vjp must return xtensor expressions or ad::Tensor values");
  if (e.dimension() == 0) {
    shape = Shape{1, 1};
    return true;
  }
  if (e.dimension() != 2) return false;
  const auto& s = e.shape();
  shape = Shape{*s.begin(), *(s.begin() + 1)};
  return true;
}

[[noreturn]] inline void throw_custom_rank_error(std::string_view op, const std::string& what, std::size_t rank) {
  throw ShapeError("custom op '" + std::string(op) + "': " + what + " has rank " + std::to_string(rank) +
                   "; expected rank 2 (rows x cols), or rank 0 for a 1x1 value");
}

// x.adj() += c, where c is the vjp's contribution to input i (see the header comment for the rule).
template <class T, class E>
void add_custom_contribution(std::string_view op, std::size_t i, const Var<T>& x, const Shape& out_shape,
                             const E& c) {
  if (!x.needs_grad()) return;
  Shape cs;
  if (!custom_result_shape(c, cs))
    throw_custom_rank_error(op, "vjp's contribution to input " + std::to_string(i), c.dimension());
  if (cs == x.shape()) {
    xt::noalias(x.adj()) += c;
    return;
  }
  const bool broadcast_to_output =
      cs == out_shape && (x.rows() == 1 || x.rows() == cs[0]) && (x.cols() == 1 || x.cols() == cs[1]);
  if (!broadcast_to_output)
    throw ShapeError("custom op '" + std::string(op) + "': vjp's contribution to input " + std::to_string(i) +
                     " is " + shape_string(cs) + ", but input " + std::to_string(i) + " is " +
                     shape_string(x.shape()) + " and the output " + shape_string(out_shape) +
                     " (a contribution has its input's shape, or the output's shape when the input was broadcast)");
  add_unbroadcast(x, c, out_shape);
}

}  // namespace detail

// An op given by a forward function and its vector-Jacobian product; see the header comment.
template <class Forward, class Vjp>
class CustomOp {
 public:
  CustomOp(Forward forward, Vjp vjp, std::string_view name = "custom_op")
      : forward_(std::move(forward)), vjp_(std::move(vjp)), name_(name) {}

  std::string_view name() const { return name_; }

  // Records the op on the inputs' tape. All inputs must be on one tape (TapeError otherwise).
  template <class T, class... Ts>
    requires(std::is_same_v<T, Ts> && ...)
  Var<T> operator()(const Var<T>& x0, const Var<Ts>&... xs) const {
    constexpr std::size_t n = 1 + sizeof...(Ts);
    static_assert(std::is_invocable_v<const Forward&, const View<T>&, const View<Ts>&...>,
                  "custom_op: forward must take one argument (an input value) per Var passed to the op");
    static_assert(std::is_invocable_v<const Vjp&, const View<T>&, const View<T>&, const View<T>&,
                                      const View<Ts>&...>,
                  "custom_op: vjp must take (output adjoint, output value, one value per input)");

    const auto record = [&](const auto& y) {
      Shape shape;
      if (!detail::custom_result_shape(y, shape))
        detail::throw_custom_rank_error(name_, "forward's result", y.dimension());
      Var<T> o = make_output(shape, {x0, xs...});
      // A rank-0 result (a full reduction) cannot be assigned into the rank-2 view; copy its one value.
      if (y.dimension() == 0) o.val()(0, 0) = y();
      else xt::noalias(o.val()) = y;
      return o;
    };
    // forward is called by our lambda, not by std::apply, so that its result is recorded in the
    // full-expression of the call, while forward's by-value parameters live (see the header comment).
    const std::tuple<View<T>, View<Ts>...> x_values{x0.val(), xs.val()...};
    Var<T> out = std::apply([&](const auto&... x) { return record(forward_(x...)); }, x_values);

    out.on_backward([inputs = std::tuple<Var<T>, Var<Ts>...>{x0, xs...}, out, vjp = vjp_, name = name_] {
      const View<T> g = out.adj(), y = out.val();
      const auto add = [&](const auto& contributions) {
        using R = std::remove_cvref_t<decltype(contributions)>;
        if constexpr (detail::is_std_tuple<R>::value) {
          static_assert(std::tuple_size_v<R> == n, "custom_op: vjp must return one contribution per input");
          [&]<std::size_t... i>(std::index_sequence<i...>) {
            (detail::add_custom_contribution(name, i, std::get<i>(inputs), out.shape(),
                                             std::get<i>(contributions)),
             ...);
          }(std::make_index_sequence<n>{});
        } else {
          static_assert(n == 1, "custom_op: with several inputs, vjp must return a std::tuple of contributions");
          detail::add_custom_contribution(name, 0, std::get<0>(inputs), out.shape(), contributions);
        }
      };
      // As for forward: the contributions are added in the full-expression of the call to vjp.
      const auto values = std::apply([](const auto&... x) { return std::tuple{x.val()...}; }, inputs);
      std::apply([&](const auto&... x) { add(vjp(g, y, x...)); }, values);
    });
    return out;
  }

 private:
  Forward forward_;
  Vjp vjp_;
  std::string_view name_;
};

template <class Forward, class Vjp>
CustomOp<std::decay_t<Forward>, std::decay_t<Vjp>> custom_op(Forward&& forward, Vjp&& vjp,
                                                             std::string_view name = "custom_op") {
  return {std::forward<Forward>(forward), std::forward<Vjp>(vjp), name};
}

}  // namespace wgflow::ad
