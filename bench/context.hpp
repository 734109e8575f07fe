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

// The CPU's model name (/proc/cpuinfo; "unknown" where it has none): context.primbench.machine is
// the host's name, " / " and this.
std::string cpu_model();

// The GNU build ID of this executable (hex; "" if it has none): two builds of one revision, or of
// a changed tree, differ in it.
std::string build_id();

// Records a plugin this process loaded (--plugin `path`, dlopen's `handle`) and its build: the
// GNU build ID, or where it has none "contents:" and a hash of the file.
void plugin_loaded(const std::string& path, void* handle);

// The plugins loaded, each path (as --plugin gave it) with its build: {} for none.
nlohmann::json plugin_builds();

// The options that decide what a result means (how it was validated, timed and kept), each under
// its command-line name: a file resumed with other options would mix results measured differently.
// The timeout and the ceilings are left out (the ceilings are the machine's, recorded per run).
nlohmann::json options_record(const RunOptions& opts);

// This run's part of the context: `opts`' command line and options record, the ceilings, the
// build, the machine and the backends.
nlohmann::json primbench_context(const RunOptions& opts, const Ceilings& ceilings);

// Google Benchmark's own context for this machine (date, host_name, num_cpus, mhz_per_cpu,
// caches, load_avg, library_build_type, …), written by its JSONReporter without timing anything:
// every results file carries it, whatever ran or failed.
nlohmann::json google_benchmark_context();

}  // namespace primbench
