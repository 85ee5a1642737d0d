#pragma once
// Where each named parameter block lives inside one flat parameter vector theta (one particle).
//
// Flows see a network as a point theta in R^J; a network sees it as weight matrices and bias rows. The
// layout is the bridge: block k is a rows x cols row-major matrix stored at theta[offset, offset +
// rows * cols). For a dense layer with fan_in inputs and fan_out outputs the blocks are
// "layerL.weight" (fan_in x fan_out, so that a batch X of B x fan_in maps to X W) and "layerL.bias"
// (1 x fan_out, broadcast over the batch).
//
// Three ways onto a tape, for three uses:
//   - leaves(tape, theta, grad): the training path. Each block is a leaf that reads theta in place and
//     whose adjoint is its slice of grad, so backward() leaves d output / d theta in grad: no copy in or
//     out (the copies and the zeroing of grad were ~5 % of an MLP 784-1024-1024-10 step).
//   - leaves(tape, theta, needs_grad): copy each block into its own leaf; after backward(),
//     add_adjoints() adds the blocks' adjoints into a flat gradient (for grad += ..., e.g. a pullback).
//   - split(): slice an existing flat theta Var into block Vars whose gradients flow back into theta. For
//     code that must differentiate with respect to the flat vector itself, e.g. a gradient check of a
//     whole network.
// All return the block Vars in tape memory (valid until the tape is cleared): no heap allocation.
#include <algorithm>
#include <cstddef>
#include <new>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "../autodiff/tape.hpp"

namespace wgflow::models {

using wgflow::Shape;
using ad::Tape;
using ad::Var;

// What a block is to an initialiser: a layer's weight, its bias, or anything else (e.g. a noise scale).
enum class BlockRole { weight, bias, other };

struct ParameterBlock {
  std::string name;
  std::size_t offset = 0;
  Shape shape{0, 0};
  BlockRole role = BlockRole::other;
  // Number of inputs of the layer the block belongs to (1 for blocks outside a layer): the "fan" that
  // variance-scaled initialisers divide by.
  std::size_t fan_in = 1;

  std::size_t size() const { return shape[0] * shape[1]; }
};

class ParameterLayout {
 public:
  // Appends a block after the existing ones and returns its index.
  std::size_t add(std::string name, Shape shape, BlockRole role = BlockRole::other, std::size_t fan_in = 1) {
    if (shape[0] == 0 || shape[1] == 0)
      throw ShapeError("ParameterLayout::add: block \"" + name + "\" has empty shape " + shape_string(shape));
    if (find(name) != npos) throw Error("ParameterLayout::add: a block named \"" + name + "\" already exists");
    blocks_.push_back(ParameterBlock{std::move(name), size_, shape, role, fan_in});
    size_ += blocks_.back().size();
    return blocks_.size() - 1;
  }

  // Total number of parameters J.
  std::size_t size() const { return size_; }
  std::size_t num_blocks() const { return blocks_.size(); }
  const std::vector<ParameterBlock>& blocks() const { return blocks_; }
  const ParameterBlock& block(std::size_t k) const { return blocks_.at(k); }

  static constexpr std::size_t npos = static_cast<std::size_t>(-1);
  std::size_t find(std::string_view name) const {
    for (std::size_t k = 0; k < blocks_.size(); ++k)
      if (blocks_[k].name == name) return k;
    return npos;
  }
  const ParameterBlock& block(std::string_view name) const {
    const std::size_t k = find(name);
    if (k == npos) throw Error("ParameterLayout: no block named \"" + std::string(name) + "\"");
    return blocks_[k];
  }

  // A rows x cols view of a block inside theta (no copy); writes through when theta is mutable.
  template <class T>
  auto view(std::span<T> theta, std::string_view name) const {
    check_size("ParameterLayout::view", theta.size());
    const ParameterBlock& b = block(name);
    return xt::adapt(theta.data() + b.offset, b.size(), xt::no_ownership(), b.shape);
  }

  // One leaf per block, holding a copy of the block of theta; variables (carrying gradients) when
  // needs_grad, constants otherwise.
  template <class T>
  std::span<Var<T>> leaves(Tape<T>& tape, std::span<const T> theta, bool needs_grad = true) const {
    check_size("ParameterLayout::leaves", theta.size());
    Var<T>* vars = tape.template allocate<Var<T>>(blocks_.size());
    for (std::size_t k = 0; k < blocks_.size(); ++k) {
      const ParameterBlock& b = blocks_[k];
      Var<T> v = tape.make(b.shape, needs_grad);
      std::copy_n(theta.data() + b.offset, b.size(), v.data());
      new (vars + k) Var<T>(v);
    }
    return {vars, blocks_.size()};
  }

  // One leaf per block over theta's own memory, its adjoint the same block of grad: after
  // tape.backward(), grad = d output / d theta (backward zeroes it first). theta and grad must stay
  // alive, and theta unchanged, until the tape is cleared; they must not overlap.
  template <class T>
  std::span<Var<T>> leaves(Tape<T>& tape, std::span<const T> theta, std::span<T> grad) const {
    check_size("ParameterLayout::leaves", theta.size());
    check_size("ParameterLayout::leaves (gradient)", grad.size());
    if (size_ > 0 && theta.data() < grad.data() + size_ && grad.data() < theta.data() + size_)
      throw Error("ParameterLayout::leaves: the gradient buffer overlaps theta (backward() zeroes it first)");
    Var<T>* vars = tape.template allocate<Var<T>>(blocks_.size());
    for (std::size_t k = 0; k < blocks_.size(); ++k) {
      const ParameterBlock& b = blocks_[k];
      new (vars + k) Var<T>(tape.external(b.shape, theta.data() + b.offset, grad.data() + b.offset));
    }
    return {vars, blocks_.size()};
  }

  // grad[block k] += adjoint of vars[k], for block Vars made by leaves() after tape.backward().
  template <class T>
  void add_adjoints(std::span<const Var<T>> vars, std::span<T> grad) const {
    check_size("ParameterLayout::add_adjoints", grad.size());
    if (vars.size() != blocks_.size())
      throw Error("ParameterLayout::add_adjoints: " + std::to_string(vars.size()) + " variables for " +
                  std::to_string(blocks_.size()) + " blocks");
    for (std::size_t k = 0; k < blocks_.size(); ++k) {
      if (!vars[k].needs_grad()) continue;
      const T* adj = vars[k].adj().data();
      T* g = grad.data() + blocks_[k].offset;
      for (std::size_t i = 0; i < blocks_[k].size(); ++i) g[i] += adj[i];
    }
  }

  // The blocks of a flat theta Var (J x 1 or 1 x J) as Vars of the blocks' shapes.
  // d block_k / d theta selects entries [offset_k, offset_k + size_k): theta.adj()[slice] += block.adj().
  template <class T>
  std::span<Var<T>> split(const Var<T>& theta) const {
    if (theta.size() != size_ || (theta.rows() != 1 && theta.cols() != 1))
      throw ShapeError("ParameterLayout::split: expected a " + std::to_string(size_) + "x1 or 1x" +
                       std::to_string(size_) + " parameter vector, got " + shape_string(theta.shape()));
    Tape<T>& tape = theta.tape();
    Var<T>* vars = tape.template allocate<Var<T>>(blocks_.size());
    for (std::size_t k = 0; k < blocks_.size(); ++k) {
      const std::size_t offset = blocks_[k].offset, n = blocks_[k].size();
      Var<T> out = ad::make_output(blocks_[k].shape, {theta});
      std::copy_n(theta.data() + offset, n, out.data());
      out.on_backward([theta, out, offset, n] {
        T* g = theta.adj().data() + offset;
        const T* a = out.adj().data();
        for (std::size_t i = 0; i < n; ++i) g[i] += a[i];
      });
      new (vars + k) Var<T>(out);
    }
    return {vars, blocks_.size()};
  }

  bool operator==(const ParameterLayout& other) const {
    if (size_ != other.size_ || blocks_.size() != other.blocks_.size()) return false;
    for (std::size_t k = 0; k < blocks_.size(); ++k) {
      const ParameterBlock &a = blocks_[k], &b = other.blocks_[k];
      if (a.name != b.name || a.offset != b.offset || a.shape != b.shape || a.role != b.role || a.fan_in != b.fan_in)
        return false;
    }
    return true;
  }

 private:
  void check_size(const char* where, std::size_t n) const {
    if (n != size_)
      throw ShapeError(std::string(where) + ": parameter vector has " + std::to_string(n) + " entries, the layout " +
                       std::to_string(size_));
  }

  std::vector<ParameterBlock> blocks_;
  std::size_t size_ = 0;
};

}  // namespace wgflow::models
