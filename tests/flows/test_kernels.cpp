// Squared distances (flows/squared_distance.hpp), bandwidth rules and radial kernels (flows/kernels.hpp)
// against direct per-pair computations.
#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <cstdint>
#include <cstring>

#include <tbb/task_arena.h>
#include <xtensor/xbuilder.hpp>
#include <xtensor/xview.hpp>

#include "flows/kernels.hpp"
#include "core/random.hpp"

using wgflow::Rng;
using wgflow::flows::Bandwidth;
using wgflow::flows::DistanceConvention;
using wgflow::flows::RadialKernel;
using wgflow::Tensor;
namespace fl = wgflow::flows;

namespace {

Tensor<double> normal_points(std::size_t n, std::size_t d, std::uint64_t seed, double offset = 0) {
  Tensor<double> x = Tensor<double>::from_shape({n, d});
  Rng rng(seed);
  for (auto& v : x) v = offset + rng.normal();
  return x;
}

double direct_d2(const Tensor<double>& X, std::size_t i, const Tensor<double>& Y, std::size_t j, double c) {
  double s = 0;
  for (std::size_t k = 0; k < X.shape()[1]; ++k) s += (X(i, k) - Y(j, k)) * (X(i, k) - Y(j, k));
  return c * s;
}

}  // namespace

TEST_CASE("squared distances equal the per-pair sums, in both conventions") {
  const Tensor<double> X = normal_points(7, 5, 1), Y = normal_points(4, 5, 2);
  for (auto conv : {DistanceConvention::sum, DistanceConvention::mean}) {
    const double c = conv == DistanceConvention::sum ? 1.0 : 1.0 / 5;
    const Tensor<double> D = fl::squared_distances(X, Y, conv);
    REQUIRE(D.shape()[0] == 7);
    REQUIRE(D.shape()[1] == 4);
    for (std::size_t i = 0; i < 7; ++i)
      for (std::size_t j = 0; j < 4; ++j) CHECK(D(i, j) == doctest::Approx(direct_d2(X, i, Y, j, c)).epsilon(1e-12));
  }
}

TEST_CASE("pairwise distances are exactly symmetric with a zero diagonal") {
  const Tensor<double> X = normal_points(9, 3, 3);
  const Tensor<double> D = fl::pairwise_squared_distances(X, DistanceConvention::mean);
  for (std::size_t i = 0; i < 9; ++i) {
    CHECK(D(i, i) == 0.0);
    for (std::size_t j = 0; j < 9; ++j) {
      CHECK(D(i, j) == D(j, i));
      CHECK(D(i, j) == doctest::Approx(direct_d2(X, i, X, j, 1.0 / 3)).epsilon(1e-12));
    }
  }
}

TEST_CASE_TEMPLATE("pairwise distances: the lower triangle is the upper one mirrored, in float and double", T, float,
                   double) {
  // Sizes around the vector blocks (8 or 16 floats, 4 or 8 doubles) and the 32-row blocks whose lower
  // parts are transposed copies: one block, a ragged second, several with a ragged last.
  for (const std::size_t n : {1, 5, 31, 32, 33, 47, 100, 131}) {
    CAPTURE(n);
    const Tensor<T> X = xt::cast<T>(normal_points(n, 6, 30 + n));
    const Tensor<T> D = fl::pairwise_squared_distances(X, DistanceConvention::sum);
    std::size_t asymmetric = 0, nonzero_diagonal = 0;
    for (std::size_t i = 0; i < n; ++i) {
      nonzero_diagonal += D(i, i) != T(0);
      for (std::size_t j = 0; j < i; ++j) asymmetric += D(i, j) != D(j, i) || !(D(i, j) > T(0));
    }
    CHECK(asymmetric == 0);
    CHECK(nonzero_diagonal == 0);
  }
}

TEST_CASE("centring keeps distances accurate far from the origin") {
  // Float points near 1e4 with unit separations. Uncentred, the expansion |x|^2 + |y|^2 - 2 x.y carries
  // rounding errors of about |x|^2 eps_float ~ 2e8 * 6e-8 ~ 10, more than the distances (~4) themselves;
  // centred, the error is ~ eps_float times the spread squared, ~1e-6. The bound 1e-3 (1 + d^2) sits
  // between the two by orders of magnitude.
  Tensor<float> X = Tensor<float>::from_shape({6, 2});
  Rng rng(4);
  for (auto& v : X) v = static_cast<float>(1e4 + rng.normal());
  const Tensor<float> D = fl::squared_distances(X, X, DistanceConvention::sum);
  for (std::size_t i = 0; i < 6; ++i)
    for (std::size_t j = 0; j < 6; ++j) {
      double s = 0;
      for (std::size_t k = 0; k < 2; ++k) s += std::pow(double(X(i, k)) - double(X(j, k)), 2);
      CHECK(std::abs(D(i, j) - s) <= 1e-3 * (1 + s));
    }
}

TEST_CASE("median follows NumPy: middle value, or the mean of the two middle values; NaN with a NaN") {
  CHECK(fl::median(Tensor<double>{{3, 1, 2}}) == 2.0);
  CHECK(fl::median(Tensor<double>{{4, 1, 3, 2}}) == 2.5);
  CHECK(fl::median(Tensor<double>{{5}}) == 5.0);
  CHECK(std::isnan(fl::median(Tensor<double>{{1, std::numeric_limits<double>::quiet_NaN(), 2}})));
  CHECK_THROWS_AS(fl::median(Tensor<double>::from_shape({0, 0})), wgflow::Error);
}

TEST_CASE("median bandwidth: h = median(D^2) / (2 log(N + offset)) over all N^2 entries") {
  // Three points on a line at 0, 1, 3 (sum convention): D^2 entries {0,0,0,1,1,4,4,9,9}, median 1.
  const Tensor<double> X{{0.0}, {1.0}, {3.0}};
  const Tensor<double> D = fl::pairwise_squared_distances(X, DistanceConvention::sum);
  CHECK(fl::median_bandwidth(D) == doctest::Approx(1.0 / (2 * std::log(4.0))));
  CHECK(fl::median_bandwidth(D, 0.0) == doctest::Approx(1.0 / (2 * std::log(3.0))));
  // Coinciding particles give no scale: a clear error rather than h = 0 and NaN kernels.
  const Tensor<double> same{{1.0}, {1.0}, {1.0}};
  CHECK_THROWS_WITH_AS(fl::median_bandwidth(fl::pairwise_squared_distances(same, DistanceConvention::sum)),
                       doctest::Contains("median squared distance of 3 particles"), wgflow::Error);
}

TEST_CASE("bandwidth schedules: fixed, median frozen after its estimated steps, rolling median") {
  const Tensor<double> near = fl::pairwise_squared_distances(Tensor<double>{{0.0}, {1.0}, {3.0}}, DistanceConvention::sum);
  const Tensor<double> far = 4.0 * near;
  const double h_near = fl::median_bandwidth(near);

  auto fixed = Bandwidth<double>::fixed(0.7);
  CHECK(!fixed.estimates_at(0));
  CHECK(fixed.update(0, near) == 0.7);

  auto median = Bandwidth<double>::median(2);
  CHECK(median.update(0, near) == doctest::Approx(h_near));
  CHECK(median.update(1, far) == doctest::Approx(4 * h_near));
  CHECK(!median.estimates_at(2));
  CHECK(median.update(2, near) == doctest::Approx(4 * h_near));  // frozen at the step-1 estimate

  auto rolling = Bandwidth<double>::rolling_median();
  CHECK(rolling.update(7, far) == doctest::Approx(4 * h_near));
  CHECK(rolling.update(8, near) == doctest::Approx(h_near));

  CHECK_THROWS_AS(Bandwidth<double>::fixed(0.0), wgflow::Error);
}

TEST_CASE("RBF and IMQ matrices and their gradient sums equal per-pair formulas") {
  const Tensor<double> X = normal_points(6, 4, 5), Y = normal_points(3, 4, 6, 0.5);
  const double h = 0.8;
  for (auto conv : {DistanceConvention::sum, DistanceConvention::mean}) {
    const double c = fl::distance_scale<double>(conv, 4);
    for (const auto& kernel : {RadialKernel<double>::rbf(), RadialKernel<double>::imq(-0.5)}) {
      CAPTURE(kernel.name());
      const auto km = kernel.evaluate(fl::squared_distances(X, Y, conv), h);
      const Tensor<double> S = fl::kernel_gradient_sums(km.slope, X, Y, conv);
      for (std::size_t i = 0; i < 6; ++i) {
        for (std::size_t j = 0; j < 3; ++j) {
          const double d2 = direct_d2(X, i, Y, j, c);
          const double k = kernel.profile() == RadialKernel<double>::Profile::rbf ? std::exp(-d2 / (2 * h))
                                                                                  : std::pow(1 + d2 / h, -0.5);
          CHECK(km.k(i, j) == doctest::Approx(k).epsilon(1e-12));
          CHECK(kernel(d2, h) == doctest::Approx(k).epsilon(1e-12));
        }
        // grad_1 k by central differences of the scalar kernel (step 1e-5: truncation error ~1e-10,
        // rounding ~1e-16 / 1e-5 = 1e-11, both far below the 1e-7 tolerance).
        for (std::size_t a = 0; a < 4; ++a) {
          double fd = 0;
          for (std::size_t j = 0; j < 3; ++j) {
            Tensor<double> xp = xt::view(X, xt::range(i, i + 1), xt::all()), xm = xp;
            xp(0, a) += 1e-5;
            xm(0, a) -= 1e-5;
            fd += (kernel(direct_d2(xp, 0, Y, j, c), h) - kernel(direct_d2(xm, 0, Y, j, c), h)) / 2e-5;
          }
          CHECK(S(i, a) == doctest::Approx(fd).epsilon(1e-7));
        }
      }
    }
  }
}

// The flows' form: the sets centred once, read by the distances and by the gradient sums.
TEST_CASE("distances and gradient sums on centred sets are those of the points as they are, bit for bit") {
  const Tensor<double> X = normal_points(7, 5, 21), Y = normal_points(9, 5, 22);
  SUBCASE("one set") {
    const auto x = fl::centred(X, DistanceConvention::mean);
    CHECK(x.scale() == 0.2);
    Tensor<double> D;
    fl::pairwise_squared_distances_into(x, D);
    CHECK(D == fl::pairwise_squared_distances(X, DistanceConvention::mean));
    const auto km = RadialKernel<double>::rbf().evaluate(D, 0.9);
    Tensor<double> got = xt::zeros<double>({7, 5});
    fl::add_kernel_gradient_sums(km.slope, x, x, 1.0, got);
    CHECK(got == fl::kernel_gradient_sums(km.slope, X, X, DistanceConvention::mean));
    // out += weight * S: onto what out held.
    const Tensor<double> before = normal_points(7, 5, 23);
    Tensor<double> added = before;
    fl::add_kernel_gradient_sums(km.slope, x, x, 0.3, added);
    for (std::size_t i = 0; i < 7; ++i)
      for (std::size_t k = 0; k < 5; ++k)
        CHECK(added(i, k) == doctest::Approx(before(i, k) + 0.3 * got(i, k)).epsilon(1e-14));
  }
  SUBCASE("two sets, far from the origin, where centring matters") {
    const Tensor<double> P = normal_points(7, 5, 21, 40.0);
    const auto p = fl::centred(P, DistanceConvention::sum);
    const auto y = fl::centred_like(Y, p);
    CHECK(y.centre() == p.centre());
    CHECK(y.scale() == 1.0);
    Tensor<double> D;
    fl::squared_distances_into(p, y, D);
    CHECK(D == fl::squared_distances(P, Y, DistanceConvention::sum));
    const auto km = RadialKernel<double>::imq(-0.5).evaluate(D, 1.7);
    Tensor<double> got = xt::zeros<double>({7, 5});
    fl::add_kernel_gradient_sums(km.slope, p, y, 1.0, got);
    CHECK(got == fl::kernel_gradient_sums(km.slope, P, Y, DistanceConvention::sum));
  }
}

TEST_CASE("centred sets: refilled in place, and compared only when they share a centre") {
  const Tensor<double> X = normal_points(6, 3, 31), Y = normal_points(4, 3, 32, 2.0);
  fl::CentredPoints<double> x, y;
  CHECK(x.size() == 0);
  fl::centre_into(X, DistanceConvention::sum, x);
  fl::centre_like_into(Y, x, y);
  for (std::size_t i = 0; i < 4; ++i) {
    double norm = 0;
    for (std::size_t k = 0; k < 3; ++k) {
      CHECK(y.rows()(i, k) == Y(i, k) - x.centre()(0, k));
      norm += y.rows()(i, k) * y.rows()(i, k);
    }
    CHECK(y.squared_norms()[i] == doctest::Approx(norm).epsilon(1e-14));
  }
  Tensor<double> D, S = xt::zeros<double>({4, 3});
  const auto km = RadialKernel<double>::rbf().evaluate(fl::squared_distances(Y, X, DistanceConvention::sum), 1.0);
  // Y about its own mean is not in X's frame: its distances to x would be wrong, so they are refused.
  const auto y_alone = fl::centred(Y, DistanceConvention::sum);
  CHECK_THROWS_WITH_AS(fl::squared_distances_into(x, y_alone, D), doctest::Contains("centred differently"),
                       wgflow::Error);
  CHECK_THROWS_WITH_AS(fl::add_kernel_gradient_sums(km.slope, y_alone, x, 1.0, S),
                       doctest::Contains("add_kernel_gradient_sums: the two point sets are centred differently"),
                       wgflow::Error);
  // Nor is the same centre in another convention.
  CHECK_THROWS_AS(fl::squared_distances_into(x, fl::centred_like(Y, fl::centred(X, DistanceConvention::mean)), D),
                  wgflow::Error);
  CHECK_THROWS_AS(fl::centre_like_into(Y, x, x), wgflow::Error);
  // Slope and output shapes are checked against the sets.
  CHECK_THROWS_WITH_AS(fl::add_kernel_gradient_sums(km.slope, x, y, 1.0, S),
                       doctest::Contains("the kernel slope must be 6x4"), wgflow::ShapeError);
  // Refilled with fewer points: the same values as a fresh centring.
  const Tensor<double> fewer = normal_points(2, 3, 33);
  fl::centre_into(fewer, DistanceConvention::mean, x);
  const auto fresh = fl::centred(fewer, DistanceConvention::mean);
  CHECK(x.rows() == fresh.rows());
  CHECK(x.squared_norms() == fresh.squared_norms());
  CHECK(x.in_frame_of(fresh));
}

TEST_CASE_TEMPLATE("slopes alone: the same slopes, row sums and mean; the gradient sums from them bit for bit", T, float,
                   double) {
  // 70 x 45 points: ragged rows for the vector loop's padded tail; the RBF and IMQ profiles.
  Tensor<T> X = Tensor<T>::from_shape({70, 6}), Y = Tensor<T>::from_shape({45, 6});
  Rng rng(41);
  for (auto& v : X) v = T(rng.normal());
  for (auto& v : Y) v = T(rng.normal());
  const auto x = fl::centred(X, DistanceConvention::mean);
  const auto y = fl::centred_like(Y, x);
  Tensor<T> C;
  fl::squared_distances_into(x, y, C);
  for (const auto& kernel : {RadialKernel<T>::rbf(), RadialKernel<T>::imq()}) {
    CAPTURE(kernel.name());
    fl::KernelMatrices<T> with, without;
    kernel.evaluate_into(C, T(0.8), with);
    kernel.evaluate_into(C, T(0.8), without, fl::KernelValues::slopes);
    CHECK(without.k.size() == 0);
    CHECK(without.slope == with.slope);
    CHECK(without.row_sums == with.row_sums);
    CHECK(without.slope_row_sums == with.slope_row_sums);
    CHECK(without.mean() == with.mean());
    // The mean of k as the entries give it (up to the summation order).
    T total = 0;
    for (T v : with.k) total += v;
    CHECK(with.mean() == doctest::Approx(total / T(70 * 45)).epsilon(std::is_same_v<T, float> ? 1e-5 : 1e-12));
    // The slopes' row sums are the ones the slope-only form takes: the two forms agree bit for bit.
    Tensor<T> from_slope = xt::zeros<T>({70, 6}), from_matrices = xt::zeros<T>({70, 6});
    fl::add_kernel_gradient_sums(with.slope, x, y, T(0.3), from_slope);
    fl::add_kernel_gradient_sums(without, x, y, T(0.3), from_matrices);
    CHECK(from_matrices == from_slope);
    for (std::size_t i = 0; i < 70; ++i) {
      T s = 0;
      for (std::size_t j = 0; j < 45; ++j) s += with.slope(i, j);
      CHECK(with.slope_row_sums[i] == doctest::Approx(s).epsilon(std::is_same_v<T, float> ? 1e-5 : 1e-12));
    }
  }
  fl::KernelMatrices<T> stale;
  stale.slope = xt::zeros<T>({70, 45});
  Tensor<T> S = xt::zeros<T>({70, 6});
  CHECK_THROWS_WITH_AS(fl::add_kernel_gradient_sums(stale, x, y, T(1), S),
                       doctest::Contains("0 slope row sums for a slope of 70 rows"), wgflow::ShapeError);
}

TEST_CASE("kernel and distance errors name the function and the shapes") {
  const Tensor<double> X = normal_points(3, 2, 7), Y = normal_points(3, 5, 8);
  CHECK_THROWS_WITH_AS(fl::squared_distances(X, Y, DistanceConvention::sum),
                       doctest::Contains("squared_distances: point sets of different dimension: X is 3x2, Y is 3x5"),
                       wgflow::ShapeError);
  const Tensor<double> slope = xt::zeros<double>({2, 3});
  CHECK_THROWS_WITH_AS(fl::kernel_gradient_sums(slope, X, Y, DistanceConvention::sum),
                       doctest::Contains("kernel_gradient_sums: point sets of different dimension"), wgflow::ShapeError);
  CHECK_THROWS_WITH_AS(fl::kernel_gradient_sums(slope, X, X, DistanceConvention::sum),
                       doctest::Contains("add_kernel_gradient_sums: X is 3x2, Y is 3x2, so the kernel slope must be 3x3"),
                       wgflow::ShapeError);
  CHECK_THROWS_AS(RadialKernel<double>::rbf().evaluate(Tensor<double>{{1.0}}, 0.0), wgflow::Error);
  CHECK_THROWS_AS(RadialKernel<double>::imq(0.5), wgflow::Error);
}

TEST_CASE("pairwise distances of many points: the upper-triangle blocks agree with the general product") {
  // 250 points: three row blocks of the upper-triangle GEMMs, the last one ragged.
  const Tensor<double> X = normal_points(250, 17, 8);
  const Tensor<double> D = fl::pairwise_squared_distances(X, DistanceConvention::sum);
  const Tensor<double> G = fl::squared_distances(X, X, DistanceConvention::sum);
  REQUIRE(D.shape()[0] == 250);
  REQUIRE(D.shape()[1] == 250);
  for (std::size_t i = 0; i < 250; ++i) {
    CHECK(D(i, i) == 0.0);
    for (std::size_t j = 0; j < 250; ++j) {
      if (D(i, j) != D(j, i)) FAIL_CHECK("D(" << i << ", " << j << ") != D(" << j << ", " << i << ")");
      if (i != j && std::abs(D(i, j) - direct_d2(X, i, X, j, 1.0)) > 1e-12 * (1 + G(i, j)))
        FAIL_CHECK("D(" << i << ", " << j << ") = " << D(i, j) << ", direct " << direct_d2(X, i, X, j, 1.0));
    }
  }
}

TEST_CASE("distances and kernel gradient sums of many points are bitwise the same on 1, 2 and 3 threads") {
  // 300 points of dimension 300: every row pass (centring, norms, clamping, mirroring, row sums) is
  // large enough to run in parallel pieces, and the distance GEMM takes its threaded path.
  const Tensor<double> X = normal_points(300, 300, 12), Y = normal_points(250, 300, 13);
  Tensor<double> results[3][3];
  for (int threads = 1; threads <= 3; ++threads)
    tbb::task_arena(threads).execute([&] {
      const Tensor<double> D = fl::pairwise_squared_distances(X, DistanceConvention::mean);
      const Tensor<double> C = fl::squared_distances(X, Y, DistanceConvention::mean);
      const auto km = RadialKernel<double>::rbf().evaluate(C, 0.7);
      const auto x = fl::centred(X, DistanceConvention::mean);
      Tensor<double> S = xt::zeros<double>({300, 300});
      fl::add_kernel_gradient_sums(km.slope, x, fl::centred_like(Y, x), 0.5, S);
      results[threads - 1][0] = D, results[threads - 1][1] = C, results[threads - 1][2] = S;
    });
  for (int t = 1; t < 3; ++t)
    for (int r = 0; r < 3; ++r) {
      CAPTURE(t);
      CAPTURE(r);
      CHECK(results[t][r] == results[0][r]);
    }
}

TEST_CASE("kernel_gradient_sum_rows_into writes, bit for bit, what add_kernel_gradient_sum_rows adds into zeros") {
  // The interaction energy's first sum writes its buffer rather than zeroing it and adding. Whatever the
  // buffer held (NaN, another shape) is not read; a zero weight's -0 terms come out as +0, as zeros plus
  // them do; with no second set the rows are zero. Both GEMM paths, whole rows and a rank's block.
  for (const auto& [n, d] : {std::pair<std::size_t, std::size_t>{40, 9}, {300, 389}}) {
    CAPTURE(n);
    const auto x = fl::centred(normal_points(n, d, 31, 3.0), DistanceConvention::mean);
    Tensor<double> D;
    fl::pairwise_squared_distances_into(x, D);
    const auto km = RadialKernel<double>::rbf().evaluate(D, 0.7);
    for (const wgflow::RowBlock rows : {wgflow::RowBlock::all(n), wgflow::RowBlock::of(n, 1, 3)})
      for (const double weight : {0.5, -0.0, 0.0}) {
        CAPTURE(rows.begin);
        CAPTURE(weight);
        fl::KernelMatrices<double> k_rows = km;
        k_rows.slope = xt::view(km.slope, xt::range(rows.begin, rows.end), xt::all());
        k_rows.slope_row_sums.assign(km.slope_row_sums.begin() + static_cast<std::ptrdiff_t>(rows.begin),
                                     km.slope_row_sums.begin() + static_cast<std::ptrdiff_t>(rows.end));
        Tensor<double> added = xt::zeros<double>({rows.size(), d});
        fl::add_kernel_gradient_sum_rows(k_rows, x, rows, x, weight, added);
        Tensor<double> written = xt::full_like(Tensor<double>::from_shape({3, d + 1}),
                                               std::numeric_limits<double>::quiet_NaN());
        fl::kernel_gradient_sum_rows_into(k_rows, x, rows, x, weight, written);
        REQUIRE(written.shape() == added.shape());
        CHECK(std::memcmp(written.data(), added.data(), added.size() * sizeof(double)) == 0);
      }
  }
  const auto x = fl::centred(normal_points(4, 3, 32), DistanceConvention::sum);
  const Tensor<double> no_points = Tensor<double>::from_shape({0, 3});
  const auto none = fl::centred_like(no_points, x);
  Tensor<double> C;
  fl::squared_distances_into(x, none, C);
  const auto km = RadialKernel<double>::rbf().evaluate(C, 1.0);
  Tensor<double> written = xt::full_like(Tensor<double>::from_shape({4, 3}), 7.0);
  fl::kernel_gradient_sum_rows_into(km, x, wgflow::RowBlock::all(4), none, 1.0, written);
  CHECK(written == xt::zeros<double>({4, 3}));
}

TEST_CASE("rows of distances and kernel gradient sums, as ranks compute them, are the whole matrices' rows bit for bit") {
  // Sizes for both GEMM paths: 40 points of dimension 9 (small) and 300 of dimension 389 (blocked, the
  // pairwise distances through gemm_upper and mirrored, two KC blocks); row blocks of 1 to 4 ranks and
  // single rows.
  for (const auto& [n, d] : {std::pair<std::size_t, std::size_t>{40, 9}, {300, 389}}) {
    CAPTURE(n);
    const Tensor<double> X = normal_points(n, d, 21, 3.0), Y = normal_points(n / 2 + 3, d, 22, 3.0);
    const auto x = fl::centred(X, DistanceConvention::mean);
    const auto y = fl::centred_like(Y, x);
    Tensor<double> D, C;
    fl::pairwise_squared_distances_into(x, D);
    fl::squared_distances_into(x, y, C);
    const auto kd = RadialKernel<double>::rbf().evaluate(D, 0.9), kc = RadialKernel<double>::imq().evaluate(C, 0.9);
    Tensor<double> S = xt::zeros<double>({n, d});
    fl::add_kernel_gradient_sums(kd.slope, x, x, 0.5, S);
    fl::add_kernel_gradient_sums(kc.slope, x, y, -0.25, S);

    std::vector<wgflow::RowBlock> blocks;
    for (int R = 1; R <= 4; ++R)
      for (int r = 0; r < R; ++r) blocks.push_back(wgflow::RowBlock::of(n, r, R));
    for (std::size_t i = 0; i < n; i += 7) blocks.push_back({i, i + 1});
    for (const wgflow::RowBlock& rows : blocks) {
      CAPTURE(rows.begin);
      CAPTURE(rows.end);
      const auto whole_rows = [&](const Tensor<double>& M) {
        return Tensor<double>(xt::view(M, xt::range(rows.begin, rows.end), xt::all()));
      };
      Tensor<double> d_rows, c_rows;
      fl::pairwise_squared_distance_rows_into(x, rows, d_rows);
      fl::squared_distance_rows_into(x, rows, y, c_rows);
      CHECK(d_rows == whole_rows(D));
      CHECK(c_rows == whole_rows(C));
      Tensor<double> s_rows = xt::zeros<double>({rows.size(), d});
      fl::add_kernel_gradient_sum_rows(whole_rows(kd.slope), x, rows, x, 0.5, s_rows);
      fl::add_kernel_gradient_sum_rows(whole_rows(kc.slope), x, rows, y, -0.25, s_rows);
      CHECK(s_rows == whole_rows(S));
    }
  }
  Tensor<double> D;
  CHECK_THROWS_WITH_AS(fl::pairwise_squared_distance_rows_into(fl::centred(normal_points(5, 2, 1), DistanceConvention::sum),
                                                               wgflow::RowBlock{3, 7}, D),
                       doctest::Contains("rows 3 .. 7 of 5 points"), wgflow::ShapeError);
}
