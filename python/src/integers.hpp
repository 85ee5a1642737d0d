#pragma once
// Counts, sizes, steps and seeds from Python, refused with the argument's name. pybind11's own unsigned
// casters turn `flow.run(-1)` into a TypeError listing every signature ("incompatible function
// arguments"), which names neither the argument nor what is wrong with it. A binding takes an Integer
// instead: any Python integer (int, numpy's integer scalars, anything with __index__; never a float),
// converted in the binding by to_unsigned(value, "n"), whose wgflow.Error reads
// "n: expected a non-negative integer, got -1" (2**64 and beyond: "...: expected an integer of at most
// 18446744073709551615, got ..."). Whether zero is allowed stays the C++ setting's own check. An Integer is
// a Python object: convert it before a gil_scoped_release, never inside one.
#include <cstdint>
#include <limits>
#include <string>

#include <pybind11/pybind11.h>

#include "core/errors.hpp"

namespace wgflow::python {

struct Integer {
  pybind11::int_ value;
};

inline std::uint64_t to_unsigned(const Integer& v, const std::string& name) {
  const auto refuse = [&](const std::string& what) {
    const pybind11::handle value = v.value;
    return Error(name + ": expected " + what + ", got " + std::string(pybind11::str(value)));
  };
  if (v.value < pybind11::int_(0)) throw refuse("a non-negative integer");
  const unsigned long long x = PyLong_AsUnsignedLongLong(v.value.ptr());
  if (x == static_cast<unsigned long long>(-1) && PyErr_Occurred()) {
    PyErr_Clear();  // OverflowError: the value needs more than 64 bits
    throw refuse("an integer of at most " + std::to_string(std::numeric_limits<std::uint64_t>::max()));
  }
  return x;
}

}  // namespace wgflow::python

namespace pybind11::detail {

template <>
struct type_caster<wgflow::python::Integer> {
  PYBIND11_TYPE_CASTER(wgflow::python::Integer, const_name("int"));

  bool load(handle src, bool /*convert*/) {
    if (!src || PyFloat_Check(src.ptr()) || !PyIndex_Check(src.ptr())) return false;
    PyObject* index = PyNumber_Index(src.ptr());
    if (index == nullptr) {
      PyErr_Clear();
      return false;
    }
    value.value = reinterpret_steal<int_>(index);
    return true;
  }

  static handle cast(const wgflow::python::Integer& v, return_value_policy, handle) { return v.value.inc_ref(); }
};

}  // namespace pybind11::detail
