// gemm against the textbook triple loop in double precision, on every path of the kernel (direct, blocked,
// blocked on threads), every transpose combination, ragged sizes and padded leading dimensions; and
// bitwise reproducibility across thread counts.
#include <doctest/doctest.h>

#include <cmath>
#include <cstddef>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include <oneapi/tbb/task_arena.h>

#include "core/gemm.hpp"

namespace {

using wgflow::gemm;
namespace detail = wgflow::gemm_detail;

// One call's arguments; pad is added to every leading dimension (ld = stored columns + pad).
struct Case {
  bool ta, tb;
  std::size_t m, n, k;
  double alpha, beta;
  std::size_t pad = 0;
};

constexpr double sentinel = 12345.0;  // in C's padding columns, which gemm must not touch

template <class T>
struct Operands {
  std::size_t lda, ldb, ldc;
  std::vector<T> a, b, c;

  Operands(const Case& q, std::uint64_t seed) {
    const std::size_t a_rows = q.ta ? q.k : q.m, a_cols = q.ta ? q.m : q.k;
    const std::size_t b_rows = q.tb ? q.n : q.k, b_cols = q.tb ? q.k : q.n;
    lda = a_cols + q.pad, ldb = b_cols + q.pad, ldc = q.n + q.pad;
    std::mt19937_64 rng(seed);
    std::uniform_real_distribution<double> u(-1, 1);
    a.resize(a_rows * lda), b.resize(b_rows * ldb), c.resize(q.m * ldc);
    for (auto& x : a) x = T(u(rng));
    for (auto& x : b) x = T(u(rng));
    // beta == 0: C's old contents must be ignored, so make them poison.
    for (std::size_t i = 0; i < q.m; ++i)
      for (std::size_t j = 0; j < ldc; ++j)
        c[i * ldc + j] = j >= q.n ? T(sentinel) : q.beta == 0 ? std::numeric_limits<T>::quiet_NaN() : T(u(rng));
  }
  T op_a(const Case& q, std::size_t i, std::size_t p) const { return q.ta ? a[p * lda + i] : a[i * lda + p]; }
  T op_b(const Case& q, std::size_t p, std::size_t j) const { return q.tb ? b[j * ldb + p] : b[p * ldb + j]; }

  void run(const Case& q) {
    gemm<T>(q.ta, q.tb, q.m, q.n, q.k, T(q.alpha), a.data(), lda, b.data(), ldb, T(q.beta), c.data(), ldc);
  }
};

std::string describe(const Case& q) {
  return std::string(q.ta ? "A^T" : "A") + (q.tb ? " B^T" : " B") + " m=" + std::to_string(q.m) +
         " n=" + std::to_string(q.n) + " k=" + std::to_string(q.k) + " alpha=" + std::to_string(q.alpha) +
         " beta=" + std::to_string(q.beta) + " pad=" + std::to_string(q.pad);
}

// Runs one case and compares every entry of C with the double-precision triple loop. Returns the
// number of entries out of tolerance (reported with the first few).
//
// Tolerance: a k-term dot product computed in precision u (u = eps/2) with FMAs or separate roundings
// is off by at most gamma_k sum_p |a_ip b_pj|, gamma_k = k u / (1 - k u) (Higham, Accuracy and
// Stability, 2nd ed., eq. 3.5); scaling by alpha and adding beta C add three more roundings. For
// double the reference carries the same bound, so the difference of the two is within twice it:
// (k + 3) eps (|alpha| sum_p |a_ip b_pj| + |beta c_ij|). A wrong kernel (a missed or doubled term,
// a wrong stride) is off by O(|a_ip b_pj|), far outside this unless k is large enough for
// (k+3) eps ~ 1, which no case here approaches.
template <class T>
int check_case(const Case& q, std::uint64_t seed) {
  Operands<T> x(q, seed);
  const std::vector<T> c0 = x.c;
  x.run(q);
  const double eps = std::numeric_limits<T>::epsilon();
  int bad = 0;
  for (std::size_t i = 0; i < q.m; ++i) {
    for (std::size_t j = 0; j < x.ldc; ++j) {
      const double got = x.c[i * x.ldc + j];
      if (j >= q.n) {  // padding: untouched
        if (got != sentinel && bad++ < 3) FAIL_CHECK(describe(q) << ": padding C(" << i << "," << j << ") written");
        continue;
      }
      double sum = 0, mag = 0;
      for (std::size_t p = 0; p < q.k; ++p) {
        const double t = double(x.op_a(q, i, p)) * double(x.op_b(q, p, j));
        sum += t;
        mag += std::abs(t);
      }
      const double old = q.beta == 0 ? 0.0 : double(c0[i * x.ldc + j]);
      const double want = q.alpha * sum + q.beta * old;
      const double tol = double(q.k + 3) * eps * (std::abs(q.alpha) * mag + std::abs(q.beta * old));
      if (!(std::abs(got - want) <= tol) && bad++ < 3)
        FAIL_CHECK(describe(q) << ": C(" << i << "," << j << ") = " << got << ", want " << want << " +- " << tol);
    }
  }
  return bad;
}

const std::size_t odd_sizes[] = {1, 2, 3, 7, 17, 31, 63, 65, 129};
const std::size_t depths[] = {1, 2, 7, 31, 65, 129};

}  // namespace

TEST_CASE_TEMPLATE("gemm matches the double-precision triple loop: all transposes, ragged sizes, padded strides",
                   T, float, double) {
  // Every (m, n) from the odd sizes against a range of depths covers the matrix-vector path (m or n = 1,
  // both of its kernels and their ragged ends), the direct path (m n k <= 2^20), the blocked path
  // (e.g. 129 x 129 x 65) and its threaded form (m n k >= 2^21, e.g. 129^3), full and edge register tiles
  // (MR, NR divide none of these) and one or two KC blocks. The (alpha, beta) pair and the padding
  // rotate with the case so that each appears with every transpose and every size class.
  const double alphas[] = {1.0, -0.5, 2.0, 1.0};
  const double betas[] = {0.0, 0.0, 1.0, -1.5};
  int bad = 0, cases = 0;
  for (bool ta : {false, true})
    for (bool tb : {false, true})
      for (std::size_t m : odd_sizes)
        for (std::size_t n : odd_sizes)
          for (std::size_t k : depths) {
            const std::size_t v = static_cast<std::size_t>(cases++);
            bad += check_case<T>({ta, tb, m, n, k, alphas[v % 4], betas[v % 4], (v / 4) % 3 * 5}, v);
          }
  CHECK(bad == 0);
}

TEST_CASE_TEMPLATE("gemm on products larger than every cache block", T, float, double) {
  using B = detail::Blocking<T>;
  // Rows beyond MC, several KC blocks of unequal remainder, and columns beyond NC (several B panels).
  const Case cases[] = {
      {false, false, B::MC + 37, 70, 2 * B::KC + 45, 1.0, 0.0, 3},
      {true, true, B::MC + 37, 70, 2 * B::KC + 45, -1.0, 0.5, 0},
      {false, true, 9, B::NC + 45, 40, 1.0, 1.0, 1},
      {true, false, 9, B::NC + 45, 40, 0.5, 0.0, 0},
  };
  int bad = 0;
  for (std::size_t i = 0; i < std::size(cases); ++i) bad += check_case<T>(cases[i], 100 + i);
  CHECK(bad == 0);
}

TEST_CASE_TEMPLATE("gemm: beta == 0 ignores C, alpha == 0 and k == 0 leave beta C", T, float, double) {
  const T nan = std::numeric_limits<T>::quiet_NaN();
  for (std::size_t size : {3, 40, 150}) {  // the direct, blocked and threaded paths
    const std::size_t m = size, n = size + 1, k = size + 2;
    std::vector<T> a(m * k, T(0.5)), b(k * n, T(-2)), c(m * n, nan);
    gemm<T>(false, false, m, n, k, T(1), a.data(), k, b.data(), n, T(0), c.data(), n);
    for (T x : c) REQUIRE(x == T(-1) * T(k));  // exact: small integers

    // alpha == 0: A and B are not read (BLAS semantics), so NaN there must not reach C.
    std::fill(a.begin(), a.end(), nan);
    std::fill(c.begin(), c.end(), T(3));
    gemm<T>(false, false, m, n, k, T(0), a.data(), k, b.data(), n, T(0.5), c.data(), n);
    for (T x : c) REQUIRE(x == T(1.5));
    std::fill(c.begin(), c.end(), nan);
    gemm<T>(false, false, m, n, k, T(0), a.data(), k, b.data(), n, T(0), c.data(), n);
    for (T x : c) REQUIRE(x == T(0));

    // k == 0: the product is empty, C = beta C.
    std::fill(c.begin(), c.end(), T(3));
    gemm<T>(true, true, m, n, 0, T(1), a.data(), m, b.data(), 1, T(-1), c.data(), n);
    for (T x : c) REQUIRE(x == T(-3));
  }
  // m == 0 or n == 0: nothing to write, and nothing is read.
  gemm<T>(false, false, 0, 5, 5, T(1), nullptr, 5, nullptr, 5, T(0), nullptr, 5);
  gemm<T>(false, false, 5, 0, 5, T(1), nullptr, 5, nullptr, 0, T(0), nullptr, 0);
}

namespace {

// gemm's product of n = 3 NR + r columns against the first n columns of the n = 4 NR product, whose
// every column is on a full register tile: entry for entry the same bits, and columns past n untouched.
// Returns the number of entries that differ.
template <class T>
std::size_t narrow_columns_differ(bool ta, bool tb, std::size_t m, std::size_t k, std::size_t r, double beta,
                                  std::mt19937_64& rng) {
  const std::size_t wide = 4 * detail::Blocking<T>::NR, n = 3 * detail::Blocking<T>::NR + r;
  const std::size_t lda = ta ? m : k, ldb = tb ? k : wide;
  std::uniform_real_distribution<double> u(-1, 1);
  std::vector<T> a(m * k), b(k * wide), c0(m * wide);
  for (auto& x : a) x = T(u(rng));
  for (auto& x : b) x = T(u(rng));
  for (auto& x : c0) x = T(u(rng));
  std::vector<T> c_wide = c0, c_narrow = c0;
  gemm<T>(ta, tb, m, wide, k, T(-1.5), a.data(), lda, b.data(), ldb, T(beta), c_wide.data(), wide);
  gemm<T>(ta, tb, m, n, k, T(-1.5), a.data(), lda, b.data(), ldb, T(beta), c_narrow.data(), wide);
  std::size_t differ = 0;
  for (std::size_t i = 0; i < m; ++i)
    for (std::size_t j = 0; j < wide; ++j) {
      const T want = j < n ? c_wide[i * wide + j] : c0[i * wide + j];
      differ += std::memcmp(&c_narrow[i * wide + j], &want, sizeof(T)) != 0;
    }
  return differ;
}

}  // namespace

TEST_CASE_TEMPLATE("the last few columns of a small product are bit for bit those of a wider product's tiles", T,
                   float, double) {
  // n = 3 NR + r: r <= narrow_columns_max goes down its last r columns (gemm/narrow.hpp), r <= W on a
  // one-vector tile; n = 4 NR computes the same columns on full register tiles.
  const std::size_t k_values[] = {2, 8, 100}, m_values[] = {2, 5, 8, 13, 100};
  std::mt19937_64 rng(17);
  for (bool ta : {false, true})
    for (bool tb : {false, true})
      for (std::size_t k : k_values)
        for (std::size_t m : m_values)
          for (std::size_t r = 1; r <= detail::Blocking<T>::W; ++r)
            for (double beta : {0.0, 0.5}) {
              INFO("ta ", ta, " tb ", tb, " k ", k, " m ", m, " r ", r, " beta ", beta);
              CHECK(narrow_columns_differ<T>(ta, tb, m, k, r, beta, rng) == 0);
            }
}

TEST_CASE_TEMPLATE("the last few columns of a blocked product are bit for bit those of a wider product's tiles", T,
                   float, double) {
  // The blocked path packs a last sliver of at most one vector one vector wide and computes it down the
  // packed A sliver's rows (r <= narrow_columns_max) or on a one-vector tile (gemm/blocked.hpp). m = 300
  // (m n k >= 2^21: the threaded path where threads are) with ragged row slivers; k = 300 is two KC blocks,
  // whose second accumulates onto the first's C.
  std::mt19937_64 rng(19);
  int v = 0;
  for (bool ta : {false, true})
    for (bool tb : {false, true})
      for (std::size_t k : {100, 300})
        for (std::size_t r : {1, 2, 3, 4, 5, 7, 8, 15, 16})
          if (r <= detail::Blocking<T>::W) {
            const double beta = v++ % 2 ? 0.5 : 0.0;
            INFO("ta ", ta, " tb ", tb, " k ", k, " r ", r, " beta ", beta);
            CHECK(narrow_columns_differ<T>(ta, tb, 300, k, r, beta, rng) == 0);
          }
}

TEST_CASE_TEMPLATE("gemm gives bitwise identical results on 1, 2 and 3 threads", T, float, double) {
  // Large enough for the threaded path (m n k >> 2^21), ragged in every dimension, two KC blocks, and
  // beta != 0 so that the C update of each k block is exercised too.
  for (bool ta : {false, true})
    for (bool tb : {false, true}) {
      const Case q{ta, tb, 301, 283, 389, 1.25, 0.75, 2};
      std::vector<T> results[3];
      for (int threads = 1; threads <= 3; ++threads) {
        Operands<T> x(q, 7);
        tbb::task_arena(threads).execute([&] { x.run(q); });
        results[threads - 1] = x.c;
      }
      CAPTURE(describe(q));
      CHECK(std::memcmp(results[0].data(), results[1].data(), results[0].size() * sizeof(T)) == 0);
      CHECK(std::memcmp(results[0].data(), results[2].data(), results[0].size() * sizeof(T)) == 0);
    }
}

TEST_CASE_TEMPLATE("gemm_upper: the entries on and above the diagonal, bit for bit those of gemm, on 1-3 threads", T,
                   float, double) {
  // Square C of ragged size (every tile edge), beta != 0 and padded strides; n = 20 takes the small
  // path (the full product), the others the blocked path with its tiles below the diagonal skipped;
  // k = 389 is two KC blocks.
  for (const std::size_t n : {20, 157, 301})
    for (bool ta : {false, true})
      for (bool tb : {false, true}) {
        const Case q{ta, tb, n, n, 389, 1.25, 0.75, 2};
        CAPTURE(describe(q));
        Operands<T> full(q, 9);
        full.run(q);
        for (int threads = 1; threads <= 3; ++threads) {
          CAPTURE(threads);
          Operands<T> x(q, 9);
          tbb::task_arena(threads).execute([&] {
            wgflow::gemm_upper<T>(q.ta, q.tb, n, q.k, T(q.alpha), x.a.data(), x.lda, x.b.data(), x.ldb, T(q.beta),
                                      x.c.data(), x.ldc);
          });
          std::size_t differing = 0;
          for (std::size_t i = 0; i < n; ++i)
            for (std::size_t j = i; j < n; ++j) differing += std::memcmp(&x.c[i * x.ldc + j], &full.c[i * x.ldc + j], sizeof(T)) != 0;
          CHECK(differing == 0);
          for (std::size_t i = 0; i < n; ++i)  // the padding columns are never written
            for (std::size_t j = n; j < x.ldc; ++j) CHECK(x.c[i * x.ldc + j] == T(sentinel));
        }
      }
}

TEST_CASE_TEMPLATE("gemm_rows: any block of rows, bit for bit the whole product's rows, on every path", T, float,
                   double) {
  // Shapes for each path gemm picks: a column (n = 1, the vector path), depth one (the outer product),
  // small products with narrow last columns, and blocked ones over two KC blocks (k = 389). Each is cut
  // into the row blocks of 1 to 4 ranks and into single rows (a rank with one particle), which a
  // path chosen by the block's own shape would compute differently.
  const Case cases[] = {{false, false, 37, 1, 65, 1.5, 0.5, 1}, {true, false, 37, 1, 65, 1.5, 0.0, 0},
                        {false, true, 41, 23, 1, -2.0, 1.0, 2}, {false, false, 29, 18, 31, 1.0, 0.0, 1},
                        {false, true, 29, 50, 8, 0.5, 0.25, 0},  {true, true, 13, 6, 100, 1.0, 0.0, 3},
                        {false, true, 157, 301, 389, 1.25, 0.75, 2}, {true, false, 211, 97, 389, -1.0, 0.0, 0}};
  for (const Case& q : cases) {
    CAPTURE(describe(q));
    const Operands<T> fresh(q, 17);
    Operands<T> full(q, 17);
    full.run(q);
    std::vector<std::pair<std::size_t, std::size_t>> blocks;  // (first row, rows)
    for (std::size_t R = 1; R <= 4; ++R)
      for (std::size_t r = 0; r < R; ++r) {
        const std::size_t begin = r * q.m / R, end = (r + 1) * q.m / R;
        blocks.emplace_back(begin, end - begin);
      }
    for (std::size_t i = 0; i < q.m; i += 5) blocks.emplace_back(i, 1);
    for (const auto& [first, rows] : blocks) {
      CAPTURE(first);
      CAPTURE(rows);
      Operands<T> x(q, 17);
      const T* a = q.ta ? x.a.data() + first : x.a.data() + first * x.lda;
      wgflow::gemm_rows<T>(q.ta, q.tb, q.m, q.n, q.k, first, rows, T(q.alpha), a, x.lda, x.b.data(), x.ldb, T(q.beta),
                           x.c.data() + first * x.ldc, x.ldc);
      std::size_t differing = 0, touched_outside = 0;
      for (std::size_t i = 0; i < q.m; ++i)
        for (std::size_t j = 0; j < x.ldc; ++j) {
          const bool inside = i >= first && i < first + rows && j < q.n;
          const T want = inside ? full.c[i * x.ldc + j] : fresh.c[i * x.ldc + j];
          if (inside) differing += std::memcmp(&x.c[i * x.ldc + j], &want, sizeof(T)) != 0;
          else touched_outside += std::memcmp(&x.c[i * x.ldc + j], &want, sizeof(T)) != 0;
        }
      CHECK(differing == 0);
      CHECK(touched_outside == 0);
    }
  }
  std::vector<double> a(6), b(6), c(6);
  CHECK_THROWS_WITH_AS(wgflow::gemm_rows<double>(false, false, 3, 2, 2, 2, 2, 1.0, a.data(), 2, b.data(), 2, 0.0,
                                                 c.data(), 2),
                       doctest::Contains("rows 2 .. 4 of a product with 3 rows"), wgflow::ShapeError);
}

TEST_CASE_TEMPLATE("gemm_upper skips the tiles below the diagonal", T, float, double) {
  // beta == 0 and C poisoned with NaN: an entry far below the diagonal (further than any tile's
  // MR + NR reach) is never written, so it is still NaN; every entry on or above it is finite.
  const std::size_t n = 301;
  const Case q{false, true, n, n, 389, 1.0, 0.0, 0};
  Operands<T> x(q, 5);
  wgflow::gemm_upper<T>(false, true, n, q.k, T(1), x.a.data(), x.lda, x.b.data(), x.ldb, T(0), x.c.data(), x.ldc);
  std::size_t untouched = 0, below = 0, finite_upper = 0;
  for (std::size_t i = 0; i < n; ++i)
    for (std::size_t j = 0; j < n; ++j) {
      if (j >= i) finite_upper += std::isfinite(x.c[i * n + j]);
      if (i >= j + 128) ++below, untouched += std::isnan(x.c[i * n + j]);
    }
  CHECK(finite_upper == n * (n + 1) / 2);
  CHECK(below > 0);
  CHECK(untouched == below);
}

TEST_CASE("gemm reuses its packing buffers across calls of the same shape") {
  // The B panel buffer of this thread: the same memory before and after a second identical call, and
  // as large as the first call left it.
  const std::size_t n = 200;
  std::vector<float> a(n * n, 1.0f), b(n * n, 1.0f), c(n * n);
  gemm<float>(false, false, n, n, n, 1.0f, a.data(), n, b.data(), n, 0.0f, c.data(), n);
  const float* before = detail::thread_scratch<float>().b.get(0);
  gemm<float>(false, false, n, n, n, 1.0f, a.data(), n, b.data(), n, 0.0f, c.data(), n);
  CHECK(detail::thread_scratch<float>().b.get(0) == before);
  CHECK(c[0] == float(n));
}

TEST_CASE("gemm rejects a leading dimension shorter than the rows it strides") {
  std::vector<double> a(12), b(12), c(12);
  CHECK_THROWS_WITH_AS(gemm<double>(false, false, 3, 3, 4, 1.0, a.data(), 3, b.data(), 3, 0.0, c.data(), 3),
                       "gemm: lda = 3 is less than the 4 columns of the 3x4 matrix it strides", wgflow::ShapeError);
  CHECK_THROWS_WITH_AS(gemm<double>(false, true, 3, 3, 4, 1.0, a.data(), 4, b.data(), 2, 0.0, c.data(), 3),
                       "gemm: ldb = 2 is less than the 4 columns of the 3x4 matrix it strides", wgflow::ShapeError);
  CHECK_THROWS_WITH_AS(gemm<double>(true, false, 3, 4, 2, 1.0, a.data(), 3, b.data(), 4, 0.0, c.data(), 3),
                       "gemm: ldc = 3 is less than the 4 columns of the 3x4 matrix it strides", wgflow::ShapeError);
}

TEST_CASE_TEMPLATE("a product with a few rows, on short tiles, is bit for bit a taller product's tiles", T, float,
                   double) {
  // m rows with short_tile_pays(m) go on 4-row tiles (gemm/small.hpp); the same rows as the first m of
  // a product of 6 MR rows go on MR-row tiles. Each entry must round identically either way
  // (beta = 0.3, so that beta C + acc rounded twice differs from the fma).
  using B = detail::Blocking<T>;
  const std::size_t tall = 6 * B::MR;
  REQUIRE_FALSE(detail::short_tile_pays<T>(tall));
  std::mt19937_64 rng(23);
  std::uniform_real_distribution<double> u(-1, 1);
  int checked = 0;
  for (std::size_t m = 2; m <= 2 * B::W; ++m) {
    if (!detail::short_tile_pays<T>(m)) continue;
    for (bool ta : {false, true})
      for (bool tb : {false, true})
        for (std::size_t k : {2, 8, 100})
          for (std::size_t n : {std::size_t{3}, std::size_t{50}, 2 * B::NR + 1})
            for (double beta : {0.0, 0.3}) {
              INFO("m ", m, " ta ", ta, " tb ", tb, " k ", k, " n ", n, " beta ", beta);
              // op(A) of the tall product: its first m rows are the small product's op(A).
              const std::size_t lda_tall = ta ? tall : k, lda = ta ? m : k, ldb = tb ? k : n;
              std::vector<T> a_tall(tall * k), a(m * k), b(k * n), c_tall(tall * n);
              for (auto& x : a_tall) x = T(u(rng));
              for (std::size_t i = 0; i < m; ++i)
                for (std::size_t p = 0; p < k; ++p)
                  a[ta ? p * lda + i : i * lda + p] = a_tall[ta ? p * lda_tall + i : i * lda_tall + p];
              for (auto& x : b) x = T(u(rng));
              for (auto& x : c_tall) x = T(u(rng));
              std::vector<T> c(c_tall.begin(), c_tall.begin() + static_cast<std::ptrdiff_t>(m * n));
              gemm<T>(ta, tb, tall, n, k, T(-1.5), a_tall.data(), lda_tall, b.data(), ldb, T(beta), c_tall.data(), n);
              gemm<T>(ta, tb, m, n, k, T(-1.5), a.data(), lda, b.data(), ldb, T(beta), c.data(), n);
              CHECK(std::memcmp(c.data(), c_tall.data(), m * n * sizeof(T)) == 0);
              ++checked;
            }
  }
  CHECK(checked > 0);
}
