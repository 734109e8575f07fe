// A plugin registering one implementation under PRIMBENCH_TEST_NAME (set per target in
// tests/CMakeLists.txt): names already taken or not `backend.algorithm` must be refused.
#include "primbench/dispatch.hpp"

namespace {
struct Nothing final : primbench::HostCollective {
  explicit Nothing(const primbench::Problem& p) : HostCollective(p) {}
  void run(std::span<double>) override {}
};
PRIMBENCH_REGISTER(PRIMBENCH_TEST_NAME, Nothing);
}  // namespace
