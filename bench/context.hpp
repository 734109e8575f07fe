// What the JSON context says about this run: version, build, machine, backends, ceilings.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "ceilings.hpp"

namespace primbench {

struct RunOptions;


// Host ceilings measured (or taken from the options) on the leader; device ceiling from probes.
// The cache ceiling is measured unless given (it takes milliseconds).
Ceilings measure_ceilings(const RunOptions& opts, bool leader);

nlohmann::json primbench_context(const std::string& command_line, const Ceilings& ceilings);

// Google Benchmark's own context for this machine (date, host_name, num_cpus, mhz_per_cpu,
// caches, load_avg, library_build_type, …), written by its JSONReporter without timing anything:
// every results file carries it, whatever ran or failed.
nlohmann::json google_benchmark_context();

}  // namespace primbench
