// A plugin whose static initialiser throws before it registers anything.
#include <stdexcept>

#include "primbench/primbench.hpp"

namespace {
[[maybe_unused]] const bool kThrows = [] {
  throw std::runtime_error("static initialiser failed");
  return true;
}();
}  // namespace
