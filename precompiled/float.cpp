#include "instances.hpp"

WGFLOW_INSTANTIATE_ALL(float)
