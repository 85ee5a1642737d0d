// The fused last hidden layer and scalar output (models/dense_head.hpp): act(X W1 + b1) w2 + b2 as one
// node for the piecewise-linear activations, as two dense nodes for the others. Values against a direct
// computation, gradients against finite differences, the relu conventions, constant operands, shapes.
#include <cmath>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "models/dense_head.hpp"
#include "tests/models/network_fixture.hpp"

using namespace wgtest;
using wgflow::models::dense_head;

namespace {

const std::vector<Activation> head_activations = {Activation::identity(), Activation::relu(), Activation::leaky_relu(0.2),
                                             Activation::tanh()};

// (B, in, H): one of each; rows past the backward's blocks of four (5, 7) and exactly one block (4); a
// hidden width below, at and past the forward's two vectors with a tail (4 doubles per AVX2 vector).
struct HeadSizes {
  std::size_t B, in, H;
};
const std::vector<HeadSizes> head_sizes = {{1, 1, 1}, {5, 3, 4}, {4, 2, 8}, {7, 2, 19}, {9, 4, 13}};

// check_gradient at three random points per size, redrawn until every pre-activation is 0.05 from the
// kink (see tests/models/test_dense.cpp).
void check_head(const Activation& act, bool bias1, bool bias2) {
  const bool kinked = act.kind() == Activation::Kind::relu || act.kind() == Activation::Kind::leaky_relu;
  std::uint64_t seed = 1;
  for (const HeadSizes& s : head_sizes) {
    CAPTURE(s.B);
    CAPTURE(s.H);
    for (int point = 0; point < 3; ++point) {
      Values x;
      Tensor<double> pre;
      for (int attempt = 0;; ++attempt) {
        REQUIRE(attempt < 100);
        x = {random_tensor({s.B, s.in}, seed++), random_tensor({s.in, s.H}, seed++), random_tensor({1, s.H}, seed++),
             random_tensor({s.H, 1}, seed++), random_tensor({1, 1}, seed++)};
        pre = dot(x[0], x[1]);
        if (bias1) pre += x[2];
        if (!kinked || xt::amin(xt::abs(pre))() >= 0.05) break;
      }
      Tensor<double> want = xt::zeros<double>({s.B, std::size_t{1}});
      for (std::size_t i = 0; i < s.B; ++i) {
        double v = 0;
        for (std::size_t j = 0; j < s.H; ++j) v += activate(act, pre(i, j)) * x[3](j, 0);
        want(i, 0) = v + (bias2 ? x[4](0, 0) : 0.0);
      }
      // Inputs in the order X, W1, [b1], w2, [b2].
      if (!bias2) x.erase(x.begin() + 4);
      if (!bias1) x.erase(x.begin() + 2);
      auto op = [&](Tape<double>&, const Vars& v) {
        const std::size_t w2 = bias1 ? 3 : 2;
        return dense_head(v[0], v[1], bias1 ? &v[2] : nullptr, act, v[w2], bias2 ? &v[w2 + 1] : nullptr);
      };
      Tape<double> tape;
      Vars vars;
      for (const auto& t : x) vars.push_back(tape.variable(t));
      CHECK(xt::allclose(op(tape, vars).val(), want, 1e-12, 1e-12));
      const auto report = wgflow::ad::check_gradient(op, x);
      CHECK_MESSAGE(report.ok(), report.message());
    }
  }
}

}  // namespace

TEST_CASE("dense_head equals act(X W1 + b1) w2 + b2 and passes the gradient check, with and without each bias") {
  for (const Activation& act : head_activations) {
    CAPTURE(act.name());
    for (bool bias1 : {true, false})
      for (bool bias2 : {true, false}) {
        CAPTURE(bias1);
        CAPTURE(bias2);
        check_head(act, bias1, bias2);
      }
  }
}

TEST_CASE("dense_head with constant inputs or weights gives the same gradients to the variables") {
  const Tensor<double> X = random_tensor({6, 3}, 1), W1 = random_tensor({3, 5}, 2), b1 = random_tensor({1, 5}, 3);
  const Tensor<double> w2 = random_tensor({5, 1}, 4), b2 = random_tensor({1, 1}, 5), U = random_tensor({6, 1}, 6);
  const Activation act = Activation::relu();
  Tape<double> all;
  auto x = all.variable(X), w = all.variable(W1), c = all.variable(b1), v = all.variable(w2), d = all.variable(b2);
  all.backward(dense_head(x, w, &c, act, v, &d), U);

  Tape<double> data;  // X a constant: the network's inputs
  auto w_ = data.variable(W1), c_ = data.variable(b1), v_ = data.variable(w2), d_ = data.variable(b2);
  const auto xc = data.constant(X);
  data.backward(dense_head(xc, w_, &c_, act, v_, &d_), U);
  CHECK(w_.adj() == w.adj());
  CHECK(c_.adj() == c.adj());
  CHECK(v_.adj() == v.adj());
  CHECK(d_.adj() == d.adj());

  Tape<double> frozen;  // the weights constants: the gradient with respect to the inputs alone
  auto x3 = frozen.variable(X);
  const auto W1c = frozen.constant(W1), b1c = frozen.constant(b1), w2c = frozen.constant(w2), b2c = frozen.constant(b2);
  frozen.backward(dense_head(x3, W1c, &b1c, act, w2c, &b2c), U);
  CHECK(x3.adj() == x.adj());

  Tape<double> none;
  const auto Xn = none.constant(X), W1n = none.constant(W1), w2n = none.constant(w2);
  CHECK_FALSE(dense_head(Xn, W1n, nullptr, act, w2n, nullptr).needs_grad());
}

TEST_CASE("the fused head keeps the conventions of ad::relu and ad::leaky_relu: the kink's derivative, NaN passed on") {
  // Hidden pre-activations -1, 0 (the kink), 2 and NaN, from X = 1 and no bias; w2 = 1.
  const double nan = std::numeric_limits<double>::quiet_NaN();
  for (const Activation& act : {Activation::relu(), Activation::leaky_relu(0.25)}) {
    CAPTURE(act.name());
    const double s = act.slope();
    Tape<double> tape;
    const auto X = tape.constant(Tensor<double>{{1.0}});
    auto W1 = tape.variable(Tensor<double>{{-1.0, 0.0, 2.0}});
    auto w2 = tape.variable(Tensor<double>{{1.0}, {1.0}, {1.0}});
    auto out = dense_head(X, W1, nullptr, act, w2, nullptr);
    CHECK(out.item() == doctest::Approx(-s + 2.0));
    tape.backward(out);
    CHECK(W1.adj()(0, 0) == s);  // left of the kink: the negative side's slope (0 for relu)
    CHECK(W1.adj()(0, 1) == s);  // at the kink: the same
    CHECK(W1.adj()(0, 2) == 1.0);
    CHECK(w2.adj()(0, 0) == -s);
    CHECK(w2.adj()(2, 0) == 2.0);

    Tape<double> with_nan;
    const auto Xn = with_nan.constant(Tensor<double>{{1.0}});
    const auto Wn = with_nan.variable(Tensor<double>{{2.0, nan}});
    const auto wn = with_nan.variable(Tensor<double>{{1.0}, {1.0}});
    CHECK(std::isnan(dense_head(Xn, Wn, nullptr, act, wn, nullptr).item()));  // not clipped to 0
  }
}

TEST_CASE("dense_head names the shapes it cannot combine") {
  Tape<double> tape;
  const auto X = tape.variable(random_tensor({4, 3}, 1)), W1 = tape.variable(random_tensor({3, 5}, 2));
  const auto b1 = tape.variable(random_tensor({1, 5}, 3)), w2 = tape.variable(random_tensor({5, 1}, 4));
  const auto wide = tape.variable(random_tensor({5, 2}, 5)), b2 = tape.variable(random_tensor({1, 2}, 6));
  CHECK_THROWS_WITH_AS(dense_head(X, W1, &b1, Activation::relu(), wide, nullptr),
                       "dense_head: X is 4x3, W1 is 3x5, b1 is 1x5, w2 is 5x2; expected X B x in, W1 in x H, b1 1 x H, "
                       "w2 H x 1",
                       wgflow::ShapeError);
  CHECK_THROWS_WITH_AS(dense_head(X, W1, nullptr, Activation::relu(), w2, &b2),
                       "dense_head: X is 4x3, W1 is 3x5, w2 is 5x1, b2 is 1x2; expected X B x in, W1 in x H, w2 H x 1, "
                       "b2 1 x 1",
                       wgflow::ShapeError);
  CHECK_THROWS_AS(dense_head(X, w2, nullptr, Activation::relu(), w2, nullptr), wgflow::ShapeError);
}

TEST_CASE("dense_head in float matches double to float precision, for widths around the float vector's 8 lanes") {
  // Widths shorter than a vector, with a partial last vector (13 = 8 + 5; 50 = 6 x 8 + 2, the UCI width)
  // and without (16); rows in blocks of four and past them.
  for (const std::size_t H : {5, 13, 16, 50})
    for (const std::size_t B : {3, 9}) {
      CAPTURE(H);
      CAPTURE(B);
      const Values x = {random_tensor({B, 3}, 1), random_tensor({3, H}, 2), random_tensor({1, H}, 3),
                        random_tensor({H, 1}, 4), random_tensor({1, 1}, 5)};
      const Tensor<double> U = random_tensor({B, 1}, 6);
      Tape<double> td;
      Tape<float> tf;
      Vars vd;
      std::vector<Var<float>> vf;
      for (const auto& t : x) {
        vd.push_back(td.variable(t));
        vf.push_back(tf.variable(Tensor<float>(xt::cast<float>(t))));
      }
      const auto yd = dense_head(vd[0], vd[1], &vd[2], Activation::relu(), vd[3], &vd[4]);
      const auto yf = dense_head(vf[0], vf[1], &vf[2], Activation::relu(), vf[3], &vf[4]);
      CHECK(xt::allclose(xt::cast<double>(yf.val()), yd.val(), 1e-5, 1e-5));
      td.backward(yd, U);
      tf.backward(yf, Tensor<float>(xt::cast<float>(U)));
      for (std::size_t k = 0; k < x.size(); ++k) {
        CAPTURE(k);
        CHECK(xt::allclose(xt::cast<double>(vf[k].adj()), vd[k].adj(), 1e-4, 1e-4));
      }
    }
}

namespace {

// The head's forward by its two paths on the same operands: the one-pass small-product kernel and the
// GEMM followed by forward_rows. Values are drawn with wide-ranging magnitudes, so that any change in
// the order or grouping of an entry's additions shows in its last bits.
template <class T, class F, class G>
void compare_forward_paths(std::size_t B, std::size_t in, std::size_t n, bool bias1, F act, G act_scalar) {
  namespace d = wgflow::models::dense_head_detail;
  std::mt19937_64 rng(B * 1000003 + in * 1009 + n);
  std::uniform_real_distribution<double> mantissa(-1, 1);
  std::uniform_int_distribution<int> exponent(-8, 8);
  auto draw = [&](std::size_t count) {
    std::vector<T> v(count);
    for (T& x : v) x = static_cast<T>(std::ldexp(mantissa(rng), exponent(rng)));
    return v;
  };
  const std::vector<T> X = draw(B * in), W1 = draw(in * n), b1 = draw(n), w2 = draw(n);
  const T b2 = T(0.375);
  REQUIRE(d::PackedHead<T>::fits(in, n));
  std::vector<T> h_gemm(B * n), out_gemm(B), h_small(B * n), out_small(B), spare(n);
  wgflow::gemm<T>(false, false, B, n, in, T(1), X.data(), in, W1.data(), n, T(0), h_gemm.data(), n);
  d::forward_rows(h_gemm.data(), B, n, bias1 ? b1.data() : nullptr, w2.data(), b2, out_gemm.data(), act, act_scalar);
  std::vector<T, xsimd::aligned_allocator<T, 64>> buffer(d::PackedHead<T>::buffer_size(in, n));
  const d::PackedHead<T> head(W1.data(), bias1 ? b1.data() : nullptr, w2.data(), in, n, buffer.data());
  d::forward_small(X.data(), B, head, b2, h_small.data(), out_small.data(), spare.data(), act);
  CHECK(h_small == h_gemm);
  CHECK(out_small == out_gemm);
}

template <class T>
void compare_forward_paths_all() {
  using Batch = xsimd::batch<T>;
  constexpr std::size_t W = Batch::size;
  const T slope = T(0.25);
  // Rows: one, an odd number inside one block of W rows, exactly one block, past it, the UCI minibatch.
  // Widths: one vector, one with a partial vector, the UCI width, and several passes of 4 vectors with
  // every remainder (4 W + 1 .. 7 W + 3). Inputs: from 1 to the path's limit of 32.
  for (const std::size_t B : {std::size_t{1}, std::size_t{3}, W, W + 3, std::size_t{100}})
    for (const std::size_t in : {1, 3, 8, 32})
      for (const std::size_t n : {W, W + 1, std::size_t{50}, 4 * W + 1, 5 * W, 6 * W + 5, 7 * W + 3})
        for (const bool bias1 : {false, true}) {
          if (!wgflow::models::dense_head_detail::PackedHead<T>::fits(in, n)) continue;
          CAPTURE(B);
          CAPTURE(in);
          CAPTURE(n);
          CAPTURE(bias1);
          compare_forward_paths<T>(
              B, in, n, bias1, [](Batch v) { return xsimd::select(v < Batch(T(0)), Batch(T(0)), v); },
              [](T v) { return v < T(0) ? T(0) : v; });
          compare_forward_paths<T>(
              B, in, n, bias1, [slope](Batch v) { return xsimd::select(v > Batch(T(0)), v, Batch(slope) * v); },
              [slope](T v) { return v > T(0) ? v : slope * v; });
          compare_forward_paths<T>(B, in, n, bias1, [](Batch v) { return v; }, [](T v) { return v; });
        }
}

}  // namespace

TEST_CASE_TEMPLATE("dense_head's one-pass forward for small heads gives the GEMM path's values bit for bit", T, float,
                   double) {
  compare_forward_paths_all<T>();
  // The UCI network's head takes the one-pass path in both precisions.
  CHECK(wgflow::models::dense_head_detail::PackedHead<T>::fits(8, 50));
  CHECK_FALSE(wgflow::models::dense_head_detail::PackedHead<T>::fits(784, 1024));
}
