#pragma once
// RowsDone: a reference to a callable f(begin, end), for work that finishes rows of a matrix in pieces
// and tells its caller each piece as soon as it is final (models::Potential::values_and_gradients_in_pieces,
// flows::Term::add_gradient_by_rows). A plain reference, copied by value: no allocation on the path of a
// step, where std::function would allocate for a lambda of a few captures.
#include <cstddef>
#include <type_traits>

namespace wgflow {

class RowsDone {
 public:
  // Refers to f, which must outlive every call.
  template <class F>
    requires(!std::is_same_v<std::remove_cvref_t<F>, RowsDone> && std::is_invocable_v<const F&, std::size_t, std::size_t>)
  RowsDone(const F& f)  // NOLINT: implicit, so that a lambda can be passed where a RowsDone is taken
      : object_(&f), call_([](const void* o, std::size_t begin, std::size_t end) { (*static_cast<const F*>(o))(begin, end); }) {}

  // Rows [begin, end) are final.
  void operator()(std::size_t begin, std::size_t end) const { call_(object_, begin, end); }

  // One that does nothing, for callers with no use for the pieces.
  static RowsDone none() {
    static constexpr auto nothing = [](std::size_t, std::size_t) {};
    return RowsDone(nothing);
  }

 private:
  const void* object_;
  void (*call_)(const void*, std::size_t, std::size_t);
};

}  // namespace wgflow
