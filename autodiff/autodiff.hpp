#pragma once
// wgflow's reverse-mode automatic differentiation: include this one header.
//
//   wgflow::ad::Tape<double> tape;
//   auto w = tape.variable(Tensor<double>{{0.5, -1.0}});   // leaves carry gradients
//   auto x = tape.constant(Tensor<double>{{1.0}, {2.0}});  // constants do not
//   auto loss = sum(square(tanh(matmul(w, x))));
//   tape.backward(loss);                                    // w.adj() now holds d loss / d w
//   tape.clear();                                           // reuse the memory for the next step
#include "../core/buffer_sums.hpp"
#include "../core/errors.hpp"
#include "../core/gemm.hpp"
#include "gradient_check.hpp"
#include "custom_op.hpp"
#include "tape.hpp"
#include "ops/activations.hpp"
#include "ops/arithmetic.hpp"
#include "ops/broadcast.hpp"
#include "ops/distance.hpp"
#include "ops/elementwise.hpp"
#include "ops/matmul.hpp"
#include "ops/reduce.hpp"
#include "ops/shape.hpp"
#include "ops/softmax.hpp"
