#pragma once
#include "autodiff/tape.hpp"
