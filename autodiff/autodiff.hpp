#pragma once
// wgflow's reverse-mode automatic differentiation: include this one header.
//
//   wgflow::ad::Tape<double> tape;
//   auto w = tape.variable(Tensor<double>{{0.5, -1.0}});   // leaves carry gradients
//   auto x = tape.constant(Tensor<double>{{1.0}, {2.0}});  // constants do not
//   auto loss = sum(square(tanh(matmul(w, x))));
//   tape.backward(loss);                                    // w.adj() now holds d loss / d w
//   tape.clear();                                           // reuse the memory for the next step
#include "core/buffer_sums.hpp"
#include "core/errors.hpp"
#include "core/gemm.hpp"
#include "autodiff/gradient_check.hpp"
#include "autodiff/custom_op.hpp"
#include "autodiff/tape.hpp"
#include "autodiff/ops/activations.hpp"
#include "autodiff/ops/arithmetic.hpp"
#include "autodiff/ops/broadcast.hpp"
#include "autodiff/ops/distance.hpp"
#include "autodiff/ops/elementwise.hpp"
#include "autodiff/ops/matmul.hpp"
#include "autodiff/ops/reduce.hpp"
#include "autodiff/ops/shape.hpp"
#include "autodiff/ops/softmax.hpp"
