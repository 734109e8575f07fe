// Implementations whose ranks are processes (Backend::process_per_rank, e.g. MPI) run under the
// system's MPI launcher: one launch of primbench per rank count, whose JSON entries are merged
// into this run's output.
#pragma once

#include <nlohmann/json.hpp>
#include <vector>

#include "runner.hpp"

namespace primbench {

struct Launched {
  nlohmann::json benchmarks = nlohmann::json::array();  // entries as Google Benchmark wrote them
  nlohmann::json context;                               // the launched run's primbench context
  int status = kOk;                                     // worst exit status of the launches
};

// Runs `plan` (all process-per-rank) under the launcher; called only when this process is not
// itself one of several MPI ranks.
Launched launch_ranks(const std::vector<Planned>& plan, const RunOptions& opts);

}  // namespace primbench
