// Runs planned benchmarks in this process (a worker the supervisor started, or one rank of an
// MPI job): validation before timing, Google Benchmark's manual-time loop, validation after,
// counters; every event goes to the journal as it happens.
#pragma once

#include <functional>
#include <nlohmann/json.hpp>
#include <map>
#include <string>
#include <vector>

#include "ceilings.hpp"
#include "selection.hpp"
#include "validate.hpp"

namespace primbench {

// Exit statuses of `primbench run` and `primbench validate`.
enum Exit { kOk = 0, kValidationFailed = 1, kUsage = 2, kIncomplete = 3 };

struct RunOptions {
  int validate_rounds = 3;
  validate::Mode mode = validate::Mode::exact;
  bool both_modes = false;    // validate in exact and then random mode (validate's default)
  std::uint64_t seed = 1;
  int repetitions = 3;
  double min_time = 0.02;     // wall seconds per repetition (sets the iteration count)
  double warmup = 0.01;       // wall seconds of untimed runs first, which size the count
  bool cold = false;          // flush caches before every iteration, outside the window
  double timeout = 300;       // seconds one benchmark may take before the run is ended
  std::string out;            // JSON path ("" writes none)
  bool quiet = false;
  bool timing = true;         // false: `validate`, no timing
  Ceilings ceilings;                    // given (--ceilings; workers get the supervisor's); 0 = measure
  int check_iterations = 64;            // timed iterations spot-checked per benchmark (besides the last two)
  double check_budget = 0.05;           // the checks of the timed loop may cost this fraction of the run so far
  double rse = 0;             // --rse: the median's relative standard error to reach (0: fixed repetitions)
  double rse_max_time = 0.25; // wall seconds the repetitions after the pilot may take
  std::string command_line;
  std::vector<std::string> plugins;  // loaded with --plugin
  // The --plugin that registered each of its implementations: their benchmarks run in workers
  // (and launched ranks) of their own that load that plugin alone.
  std::map<std::string, std::string> plugin_of;
  // Backend -> why, for each backend whose probe crashed, exited or hung in the supervisor's
  // child (main.cpp, probe_in_children): its workers and ranks do not run it either.
  std::map<std::string, std::string> failed_probes;
  bool huge_pages = false;       // --hugepages: host buffers madvise(MADV_HUGEPAGE)d
  bool aggregates_only = false;  // --out keeps a benchmark's aggregates, not its repetitions
  bool resume = false;        // keep the passing results already in `out`, run the rest
  bool supervised = true;     // false: no supervisor ends a hang (an MPI job a user launched)
};

// Receives each event of a run as one journal line (bench/journal.hpp); rank 0's only.
using Sink = std::function<void(const nlohmann::json&)>;

// Runs `plan` here, reporting every event to `sink`; a JournalError from it ends the run.
void execute(const std::vector<Planned>& plan, const RunOptions& opts, const Sink& sink);

// The entry Google Benchmark would write for a benchmark that was never timed.
nlohmann::json error_entry(const Planned& pl, const std::string& message);
// Adds primbench's fields (primitive, impl, dtype, op, validation) to a benchmark's entries;
// validation is "passed", "failed" (a wrong result) or "error" (it could not finish).
void label(nlohmann::json& entries, const Planned& pl, const std::string& validation);

}  // namespace primbench
