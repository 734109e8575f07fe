// libFuzzer target: the --resume loader, the C++ code that reads a user's JSON file. Any input
// must resume or throw UsageError; what is kept and what is left to run must cover the plan.
#include <cstdint>
#include <string>

#include "resume.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace primbench;
  static const Implementation impl{"seq.ref", nullptr};
  static const std::vector<Planned> plan = [] {
    std::vector<Planned> p;
    for (int ranks : {1, 2}) {
      Problem pr{Primitive::gather, ranks, 8, DType::f32, Op::sum, 0};
      p.push_back({&impl, pr, benchmark_name(impl, pr)});
    }
    return p;
  }();
  // As tests/fuzz/corpus/resume/passed.json records them.
  static const nlohmann::json options = {{"validate", 1}, {"check", "exact"}, {"seed", 1}, {"repetitions", 2}};
  try {
    Resumed r = resume(std::string(reinterpret_cast<const char*>(data), size), "fuzz.json", plan, options, "unknown");
    if (r.todo.size() > plan.size() || !r.benchmarks.is_array()) __builtin_trap();
  } catch (const UsageError&) {
  }
  return 0;
}
