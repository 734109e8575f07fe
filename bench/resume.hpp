// --resume: what an earlier run of the same --out already measured, and what is left to run.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "selection.hpp"

namespace primbench {

// The benchmark an entry of a results file belongs to (from its run_name, else its name; one of
// them a string).
std::string benchmark_of(const nlohmann::json& entry);

struct Resumed {
  nlohmann::json benchmarks = nlohmann::json::array();  // the earlier entries to keep
  std::vector<Planned> todo;                            // the planned benchmarks still to run
  nlohmann::json context;                               // the earlier file's context
};

// Keeps every earlier entry except those of planned benchmarks that failed (error or failed
// validation), and plans only benchmarks without a passing entry. `text` is the earlier file's
// content; throws UsageError (one line, naming `path`) when it is not primbench results, has one
// repetition twice, was measured on a CPU of another model than `cpu` (this machine's,
// cpu_model()), or when its recorded options (context.primbench.options) differ from `options`,
// this run's (options_record, bench/context.hpp).
Resumed resume(const std::string& text, const std::string& path, const std::vector<Planned>& plan,
               const nlohmann::json& options, const std::string& cpu);

// The same from the file at `path`; a file that does not exist resumes nothing.
Resumed resume_file(const std::string& path, const std::vector<Planned>& plan, const nlohmann::json& options,
                    const std::string& cpu);

// "" when the context.primbench `earlier` says it was measured on a CPU of model `cpu` (its
// `machine`, "host / model"), or does not say; else the rest of a sentence about the file that
// says it: "was measured on a CPU 'AMD EPYC 9B45' (host a), this machine's is '…'".
std::string machine_differs(const nlohmann::json& earlier, const std::string& cpu);

// "" when the context.primbench `earlier` was measured with the test-only PRIMBENCH_TEST_SLOWDOWN
// as this process has it (its `test_slowdown`, absent when unset); else the rest of a sentence:
// "was measured with PRIMBENCH_TEST_SLOWDOWN=thread.flat=2, this run with none".
std::string slowdown_differs(const nlohmann::json& earlier);

// "" when the options record `earlier` (or null: none) has exactly `now`'s options and values;
// else what is wrong with it, as the rest of a sentence about the file that recorded it: "does
// not say which options measured it", "does not record the options --rse, --rse-max-time it was
// measured with", "was measured with --cache hot --repetitions 1, this run with --cache cold
// --repetitions 5" (options as command lines give them; one only `earlier` has differs too).
std::string options_differ(const nlohmann::json& earlier, const nlohmann::json& now);

}  // namespace primbench
