#pragma once
// A likelihood of your own (the form of models/likelihood.hpp): Student-t observation noise,
//
//   p(y | x, theta) = t_nu(y; f(theta, x), s),   -log p = (nu + 1)/2 log(1 + r^2 / (nu s^2)) + const,
//
// with r = y - f. Its loss grows like log r, not r^2, so a few outliers pull the fit far less than under
// the squared error. Written from the tape's ops, so the tape differentiates it (no backward to write), and
// the program checks its gradient with ad::check_gradient before using it.
#include <cmath>
#include <span>
#include <string>

#include <wgflow/autodiff/ops/arithmetic.hpp>
#include <wgflow/autodiff/ops/elementwise.hpp>
#include <wgflow/autodiff/ops/reduce.hpp>
#include <wgflow/core/errors.hpp>
#include <wgflow/models/likelihood.hpp>

template <class T>
class StudentT final : public wgflow::models::Likelihood<T> {
 public:
  StudentT(T nu, T scale) : nu_(nu), scale_(scale) {
    if (!(nu > 0 && std::isfinite(nu)) || !(scale > 0 && std::isfinite(scale)))
      throw wgflow::Error("StudentT: nu and scale must be finite and positive, got nu = " + std::to_string(nu) +
                          ", scale = " + std::to_string(scale));
  }

  std::string name() const override { return "student_t(nu=" + std::to_string(nu_) + ")"; }
  wgflow::models::Task task() const override { return wgflow::models::Task::regression; }
  std::size_t target_cols(std::size_t outputs) const override { return outputs; }

  // The mean over the B x k entries of (nu + 1)/2 log(1 + r^2 / (nu s^2)).
  wgflow::ad::Var<T> loss(const wgflow::ad::Var<T>& F, const wgflow::ad::Var<T>& Y,
                          std::span<const wgflow::ad::Var<T>> own) const override {
    this->check_own(own, "loss");
    using namespace wgflow::ad;
    return mean(log1p(square(Y - F) * (T(1) / (nu_ * scale_ * scale_)))) * ((nu_ + 1) / 2);
  }

  wgflow::Tensor<T> predictive_mean(const wgflow::Tensor<T>& F, std::span<const T> own) const override {
    this->check_own(own, "predictive_mean");
    return F;  // the location; the mean where nu > 1
  }

 private:
  T nu_, scale_;
};
