// Runs planned benchmarks: validation before timing, Google Benchmark's manual-time loop,
// validation after, counters, console table, and the JSON file rewritten after every benchmark.
#pragma once

#include <string>
#include <vector>

#include "selection.hpp"
#include "validate.hpp"

namespace primbench {

// Exit statuses of `primbench run` and `primbench validate`.
enum Exit { kOk = 0, kValidationFailed = 1, kUsage = 2, kIncomplete = 3 };

struct RunOptions {
  int validate_rounds = 3;
  validate::Mode mode = validate::Mode::exact;
  std::uint64_t seed = 1;
  int repetitions = 3;
  double min_time = 0.02;     // wall seconds per repetition (sets the iteration count)
  double warmup = 0.01;       // wall seconds of untimed runs first, which size the count
  bool cold = false;          // flush caches before every iteration, outside the window
  double timeout = 300;       // seconds one benchmark may take before the run is ended
  std::string out;            // JSON path ("" writes none)
  bool quiet = false;
  bool timing = true;         // false: `validate`, no timing
  double read_GBps = 0, copy_GBps = 0;  // given ceilings; 0 = measure
  std::string command_line;
  bool launch = true;         // start the MPI launcher for process-per-rank implementations
  std::vector<std::string> plugins;  // loaded with --plugin; launched ranks load them too
  bool resume = false;        // keep the passing results already in `out`, run the rest
};

int run_benchmarks(const std::vector<Planned>& plan, const RunOptions& opts);

// A benchmark's name from Google Benchmark's run name: `<name>/manual_time` without the suffix.
std::string benchmark_name(std::string run_name);

}  // namespace primbench
