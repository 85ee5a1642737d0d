#pragma once
// Radial kernels between particle sets, evaluated once per step as matrices.
//
// A radial kernel is k(x, y) = phi(d^2(x, y); h): a profile phi of the squared distance d^2
// (flows/squared_distance.hpp: sum or mean convention) and a bandwidth h (flows/bandwidth.hpp). Three
// pieces, each swappable: the profile (RBF, IMQ), the distance convention, the bandwidth rule.
//
//   RBF  phi(s) = exp(-s / (2h)),        dphi/ds = -phi / (2h)          (paper.md §2, §6)
//   IMQ  phi(s) = (1 + s / h)^beta,     dphi/ds = beta phi / (h + s)    (beta in (-1, 0); Gorham &
//        Mackey 2017, "Measuring sample quality with kernels", use beta = -1/2; its curvature at s = 0
//        equals the RBF's for beta = -1/2, and its heavy tail keeps distant particles interacting.)
//
// Gradients. With d^2 = c ||x - y||^2, grad_x k(x, y) = 2c phi'(d^2) (x - y). Summed over a set, as the
// interaction velocity of DRLE and SVGD's repulsion need, with s_ij = phi'(d^2_ij) and s_i = sum_j s_ij,
//   S_i = sum_j grad_1 k(x_i, y_j) = 2c (s_i x_i - sum_j s_ij y_j)          (add_kernel_gradient_sums)
// whose second part is one N x M x D GEMM, never a loop over pairs. For SVGD (Liu & Wang 2016,
// Algorithm 1), with Y = X and a symmetric kernel (grad_{x_j} k(x_j, x_i) = -grad_1 k(x_i, x_j)):
//   phi*(x_i) = (1/N) sum_j [ k(x_j, x_i) grad log pi(x_j) + grad_{x_j} k(x_j, x_i) ]
//             = (1/N) [ (K grad log pi)_i - S_i ].
//
// Usage (SVGD's conventions: sum of squares, h from the median with offset 0):
//   const auto rbf = RadialKernel<double>::rbf();
//   const CentredPoints<double> x = centred(X, DistanceConvention::sum);
//   Tensor<double> D2;
//   pairwise_squared_distances_into(x, D2);
//   const KernelMatrices<double> km = rbf.evaluate(D2, median_bandwidth(D2, 0.0));
//   Tensor<double> S = xt::zeros<double>(X.shape());
//   add_kernel_gradient_sums(km, x, x, 1.0, S);
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <string>
#include <vector>

#include <xsimd/xsimd.hpp>
#include <xtensor/xmath.hpp>

#include "../core/buffer_sums.hpp"
#include "../core/errors.hpp"
#include "../core/gemm.hpp"
#include "../core/parallel.hpp"
#include "../core/tensor.hpp"
#include "bandwidth.hpp"
#include "squared_distance.hpp"

namespace wgflow::flows {

// A kernel evaluated between two point sets: k(x_i, y_j) and the profile's slope phi'(d^2_ij), with
// their row sums.
template <class T>
struct KernelMatrices {
  Tensor<T> k;      // N x M (0 x 0 when evaluated for the slopes alone: KernelValues::slopes)
  Tensor<T> slope;  // N x M, dk / d(d^2) at each entry
  T bandwidth = T(0);
  std::vector<T> row_sums;        // sum_j k(x_i, y_j), summed as the rows are evaluated
  std::vector<T> slope_row_sums;  // s_i = sum_j phi'(d^2_ij), as add_kernel_gradient_sum_rows sums them

  // The mean of k, from the row sums in row order: no serial pass over the N x M entries (3 % of DRLE's
  // parameter-space interaction on 2 threads at N = 1000). Valid for matrices from evaluate_into.
  T mean() const {
    T total = 0;
    for (T r : row_sums) total += r;
    const std::size_t entries = slope.size();
    return entries == 0 ? T(0) : total / static_cast<T>(entries);
  }
};

// What RadialKernel::evaluate_into stores: k and its slopes, or the slopes alone for a caller that needs
// only the kernel's gradient sums and the mean of k (the interaction energy: one N x N matrix written
// rather than two, 0.12 ms of a DRLE step at N = 1000 on the Intel Xeon).
enum class KernelValues { with_values, slopes };

template <class T>
class RadialKernel {
 public:
  enum class Profile { rbf, imq };

  static RadialKernel rbf() { return RadialKernel(Profile::rbf, T(0)); }
  static RadialKernel imq(T beta = T(-0.5)) {
    if (!(beta < 0 && beta > -1)) throw Error("RadialKernel::imq: beta must lie in (-1, 0), got " + std::to_string(beta));
    return RadialKernel(Profile::imq, beta);
  }

  Profile profile() const { return profile_; }
  T beta() const { return beta_; }
  std::string name() const { return profile_ == Profile::rbf ? "rbf" : "imq(beta=" + std::to_string(beta_) + ")"; }

  // k for one squared distance.
  T operator()(T d2, T h) const {
    if (profile_ == Profile::rbf) return std::exp(d2 * (T(-0.5) / h));
    const T base = 1 + d2 / h;
    return beta_ == T(-0.5) ? 1 / std::sqrt(base) : std::pow(base, beta_);
  }

  // k and its slope for every entry of a squared-distance matrix; rows in parallel. Each entry is a
  // pure function of its own d^2 (every lane of every row goes through the same SIMD code, the ragged
  // end of a row through a padded vector), so the result does not depend on the thread count, and a
  // symmetric D^2 gives an exactly symmetric k.
  KernelMatrices<T> evaluate(const Tensor<T>& squared_distances, T h) const {
    KernelMatrices<T> out;
    evaluate_into(squared_distances, h, out);
    return out;
  }

  // evaluate() into caller-owned matrices, resized only when the shape changes: a flow that keeps `out`
  // between steps allocates nothing here. The slopes' row sums are taken as each row is written, while
  // it is in cache, rather than in a pass of add_kernel_gradient_sum_rows over the whole matrix.
  void evaluate_into(const Tensor<T>& squared_distances, T h, KernelMatrices<T>& out,
                     KernelValues store = KernelValues::with_values) const {
    if (!(h > 0) || !std::isfinite(h))
      throw Error("RadialKernel::evaluate (" + name() + "): bandwidth must be positive and finite, got " + std::to_string(h));
    const std::size_t n = squared_distances.shape()[0], m = squared_distances.shape()[1];
    const bool values = store == KernelValues::with_values;
    detail::ensure_shape(out.k, values ? n : 0, values ? m : 0);
    detail::ensure_shape(out.slope, n, m);
    out.bandwidth = h;
    out.row_sums.resize(n);
    out.slope_row_sums.resize(n);
    // The profile is vectorised (xsimd's exp and sqrt): with one parameter per particle (paper §3.1) the
    // N^2 + N M kernel entries, not the GEMMs, are the cost of a DRLE step, and glibc's scalar exp
    // (~5 ns) is several times slower than a vector of them.
    if (profile_ == Profile::rbf) evaluate_rows(Rbf{Batch(T(-0.5) / h)}, squared_distances, out, values);
    else evaluate_rows(Imq{h, beta_}, squared_distances, out, values);
  }

 private:
  using Batch = xsimd::batch<T>;

  // A profile's k and dk/d(d^2) for one vector of squared distances: stores the slopes, returns the k.
  // One type per profile, so that the row loop is compiled for each with the profile inlined: the
  // 1000 x 1000 RBF slopes 365 -> 340 us against a profile chosen per vector (Intel Xeon, 1 thread).
  struct Rbf {
    Batch scale;  // -1 / (2h)
    Batch operator()(const Batch& d2, T* slope) const {
      const Batch kv = xsimd::exp(d2 * scale);
      (kv * scale).store_unaligned(slope);
      return kv;
    }
  };
  struct Imq {
    T h, beta;
    Batch operator()(const Batch& d2, T* slope) const {
      const Batch base = T(1) + d2 / h;
      const Batch kv = beta == T(-0.5) ? T(1) / xsimd::sqrt(base) : xsimd::pow(base, Batch(beta));
      (beta * kv / (h + d2)).store_unaligned(slope);
      return kv;
    }
  };

  // evaluate_into's rows for one profile (see evaluate for why the entries do not depend on threads).
  template <class Profile>
  void evaluate_rows(const Profile& phi, const Tensor<T>& squared_distances, KernelMatrices<T>& out,
                     bool values) const {
    const std::size_t n = squared_distances.shape()[0], m = squared_distances.shape()[1];
    parallel_for_each_index(n, [&](std::size_t i) {
      // Row pointers by offset, not &x(i, 0): with no columns (an empty second set) x has no element 0.
      const T* d2 = squared_distances.data() + i * m;
      T* g = out.slope.data() + i * m;
      std::size_t j = 0;
      Batch sum(T(0));
      if (values) {
        T* k = out.k.data() + i * m;
        for (; j + Batch::size <= m; j += Batch::size) {
          const Batch kv = phi(Batch::load_unaligned(d2 + j), g + j);
          kv.store_unaligned(k + j);
          sum += kv;
        }
      } else {
        for (; j + Batch::size <= m; j += Batch::size) sum += phi(Batch::load_unaligned(d2 + j), g + j);
      }
      T row = xsimd::hadd(sum);
      if (j < m) {
        alignas(Batch::arch_type::alignment()) T in[Batch::size] = {}, k_tail[Batch::size], g_tail[Batch::size];
        std::copy(d2 + j, d2 + m, in);
        phi(Batch::load_aligned(in), g_tail).store_aligned(k_tail);
        if (values) std::copy_n(k_tail, m - j, &out.k(i, j));
        std::copy_n(g_tail, m - j, g + j);
        for (std::size_t t = 0; t < m - j; ++t) row += k_tail[t];
      }
      out.row_sums[i] = row;
      out.slope_row_sums[i] = wgflow::row_sum(g, m, [](auto s) { return s; });
    }, 16);
  }

  RadialKernel(Profile profile, T beta) : profile_(profile), beta_(beta) {}
  Profile profile_;
  T beta_;
};

// The kernel's gradient in its first argument, summed over the second set: for every row i,
//   out_i += weight * S_i,   S_i = sum_j grad_1 k(x_i, y_j) = 2c (s_i x_i - sum_j s_ij y_j),
// with s_ij = phi'(d^2_ij) the kernel's slope (KernelMatrices::slope, N x M) and s_i = sum_j s_ij. S is
// translation invariant, so it is computed on the rows u_i = x_i - m and v_j = y_j - m of the sets whose
// distances gave the slope: y centred like x (centre_like_into), or x itself for a sum within one set;
// c is x.scale(). Two passes: (2c weight s_i) u_i row by row, then -(2c weight) (s V)_i, one GEMM
// accumulated into out. Given the KernelMatrices, the s_i are its slope_row_sums (the same values);
// given the slopes alone, they are summed here.
template <class T>
void add_kernel_gradient_sum_rows(const KernelMatrices<T>& km, const CentredPoints<T>& x, RowBlock rows,
                                  const CentredPoints<T>& y, T weight, Tensor<T>& out);
template <class T>
void add_kernel_gradient_sum_rows(const Tensor<T>& slope, const CentredPoints<T>& x, RowBlock rows,
                                  const CentredPoints<T>& y, T weight, Tensor<T>& out);

// out = weight * S for the rows `rows`, written rather than added: out is shaped rows.size() x D, and no
// pass zeroes it first (a serial 800 KB memset a DRLE step at N = 1000, E = 100, float64). The same bits
// as add_kernel_gradient_sum_rows into zeros.
template <class T>
void kernel_gradient_sum_rows_into(const KernelMatrices<T>& km, const CentredPoints<T>& x, RowBlock rows,
                                   const CentredPoints<T>& y, T weight, Tensor<T>& out);

template <class T>
void add_kernel_gradient_sums(const KernelMatrices<T>& km, const CentredPoints<T>& x, const CentredPoints<T>& y,
                              T weight, Tensor<T>& out) {
  add_kernel_gradient_sum_rows(km, x, RowBlock::all(x.size()), y, weight, out);
}
template <class T>
void add_kernel_gradient_sums(const Tensor<T>& slope, const CentredPoints<T>& x, const CentredPoints<T>& y, T weight,
                              Tensor<T>& out) {
  add_kernel_gradient_sum_rows(slope, x, RowBlock::all(x.size()), y, weight, out);
}

namespace detail {

template <class T>
void check_slope_row_sums(const char* who, const KernelMatrices<T>& km) {
  if (km.slope_row_sums.size() != km.slope.shape()[0])
    throw ShapeError(std::string(who) + ": " + std::to_string(km.slope_row_sums.size()) +
                     " slope row sums for a slope of " + std::to_string(km.slope.shape()[0]) +
                     " rows (KernelMatrices not from RadialKernel::evaluate_into?)");
}

// The rows' weight * S into out, added (add_kernel_gradient_sum_rows) or, with `write`, written without
// reading out (kernel_gradient_sum_rows_into); the slopes' row sums given (slope_sums, one a row) or, for
// nullptr, summed here.
template <class T>
void kernel_gradient_sum_rows(const Tensor<T>& slope, const T* slope_sums, const CentredPoints<T>& x, RowBlock rows,
                              const CentredPoints<T>& y, T weight, Tensor<T>& out, bool write) {
  const char* who = write ? "kernel_gradient_sum_rows_into" : "add_kernel_gradient_sums";
  check_same_frame(who, x, y);
  check_rows(who, x, rows);
  const std::size_t n = rows.size(), m = y.size(), d = x.dim();
  if (slope.shape()[0] != n || slope.shape()[1] != m || out.shape()[0] != n || out.shape()[1] != d)
    throw ShapeError(std::string(who) + ": X is " + shape_string({n, d}) + ", Y is " + shape_string({m, d}) +
                     ", so the kernel slope must be " + shape_string({n, m}) + " and out " + shape_string({n, d}) +
                     "; got slope " + shape_string({slope.shape()[0], slope.shape()[1]}) + " and out " +
                     shape_string({out.shape()[0], out.shape()[1]}));
  if (write && m == 0) std::fill(out.begin(), out.end(), T(0));  // an empty sum, written
  if (n == 0 || m == 0 || d == 0) return;  // an empty sum (and no reductions over empty axes: UB in xtensor)
  const T a = 2 * x.scale() * weight;
  const T* u = x.rows().data() + rows.begin * d;
  for_each_piece(n, n * (slope_sums ? d : m + d), [&](std::size_t i0, std::size_t i1) {
    for (std::size_t i = i0; i < i1; ++i) {
      const T s_i = slope_sums ? slope_sums[i] : wgflow::row_sum(slope.data() + i * m, m, [](auto s) { return s; });
      const T* u_i = u + i * d;
      T* o = out.data() + i * d;
      // Written as +0 plus the term, as the add into a zeroed row was: a -0 term gives +0 either way.
      if (write)
        for (std::size_t k = 0; k < d; ++k) o[k] = T(0) + a * s_i * u_i[k];
      else
        for (std::size_t k = 0; k < d; ++k) o[k] += a * s_i * u_i[k];
    }
  });
  wgflow::gemm_rows<T>(false, false, x.size(), d, m, rows.begin, n, -a, slope.data(), m, y.rows().data(), d, T(1),
                       out.data(), d);
}

}  // namespace detail

// The same for the rows `rows` of x alone, bit for bit the whole computation's rows: slope and out have
// rows.size() rows, row r standing for x_{rows.begin + r} (a rank's own particles, flows over ranks).
template <class T>
void add_kernel_gradient_sum_rows(const KernelMatrices<T>& km, const CentredPoints<T>& x, RowBlock rows,
                                  const CentredPoints<T>& y, T weight, Tensor<T>& out) {
  detail::check_slope_row_sums("add_kernel_gradient_sums", km);
  detail::kernel_gradient_sum_rows(km.slope, km.slope_row_sums.data(), x, rows, y, weight, out, false);
}
template <class T>
void add_kernel_gradient_sum_rows(const Tensor<T>& slope, const CentredPoints<T>& x, RowBlock rows,
                                  const CentredPoints<T>& y, T weight, Tensor<T>& out) {
  detail::kernel_gradient_sum_rows<T>(slope, nullptr, x, rows, y, weight, out, false);
}
template <class T>
void kernel_gradient_sum_rows_into(const KernelMatrices<T>& km, const CentredPoints<T>& x, RowBlock rows,
                                   const CentredPoints<T>& y, T weight, Tensor<T>& out) {
  detail::check_slope_row_sums("kernel_gradient_sum_rows_into", km);
  detail::ensure_shape(out, rows.size(), x.dim());
  detail::kernel_gradient_sum_rows(km.slope, km.slope_row_sums.data(), x, rows, y, weight, out, true);
}

// S as a new N x D matrix, for points as they are (row i: sum_j grad_1 k(x_i, y_j)).
template <class T>
Tensor<T> kernel_gradient_sums(const Tensor<T>& slope, const Tensor<T>& X, const Tensor<T>& Y,
                               DistanceConvention convention) {
  detail::check_same_dimension("kernel_gradient_sums", X, Y);
  const CentredPoints<T> x = centred(X, convention);
  Tensor<T> out = xt::zeros<T>({X.shape()[0], X.shape()[1]});
  add_kernel_gradient_sums(slope, x, centred_like(Y, x), T(1), out);
  return out;
}

}  // namespace wgflow::flows
