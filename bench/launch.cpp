#include "launch.hpp"

namespace primbench {

Launched launch_ranks(const std::vector<Planned>& plan, const RunOptions&) {
  throw UsageError("cannot run " + plan.front().impl->name + ": launching process-per-rank implementations is not built yet");
}

}  // namespace primbench
