#include "resume.hpp"


#include <fmt/format.h>

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

namespace primbench {

using nlohmann::json;

std::string benchmark_of(const json& e) {
  return benchmark_name((e.contains("run_name") ? e["run_name"] : e["name"]).get<std::string>());
}

namespace {
// `key`'s option as a command line gives it ("--cache cold", "--hugepages", "no --hugepages"; one
// a record does not have: "no --KEY").
std::string as_option(const std::string& key, const json& value) {
  if (value.is_boolean() || value.is_null()) return fmt::format("{}--{}", value == json(true) ? "" : "no ", key);
  return fmt::format("--{} {}", key, value.is_string() ? value.get<std::string>() : value.dump());
}
}  // namespace

std::string options_differ(const json& earlier, const json& now) {
  if (!earlier.is_object()) return "does not say which options measured it (written by a primbench before 2026-12-05?)";
  std::string missing, was, is;
  for (const auto& [key, value] : now.items())
    if (!earlier.contains(key)) missing += (missing.empty() ? "--" : ", --") + key;
  if (!missing.empty()) return "does not record the options " + missing + " it was measured with";
  // Every key of either (one this run does not know, from another primbench, differs too).
  json keys = now;
  keys.update(earlier);
  for (const auto& [key, ignored] : keys.items()) {
    const json before = earlier.contains(key) ? earlier[key] : json(), after = now.contains(key) ? now[key] : json();
    if (before == after) continue;
    was += (was.empty() ? "" : " ");
    was += as_option(key, before);
    is += (is.empty() ? "" : " ");
    is += as_option(key, after);
  }
  return was.empty() ? "" : "was measured with " + was + ", this run with " + is;
}

std::string machine_differs(const json& earlier, const std::string& cpu) {
  const json machine = earlier.is_object() ? earlier.value("machine", json()) : json();
  if (!machine.is_string()) return "";
  const std::string m = machine.get<std::string>();
  const std::size_t slash = m.find(" / ");
  const std::string model = slash == std::string::npos ? m : m.substr(slash + 3);
  if (model == cpu) return "";
  return fmt::format("was measured on a CPU '{}'{}, this machine's is '{}'", model,
                     slash == std::string::npos ? "" : " (host " + m.substr(0, slash) + ")", cpu);
}

std::string slowdown_differs(const json& earlier) {
  const char* knob = std::getenv("PRIMBENCH_TEST_SLOWDOWN");
  const json slowed = earlier.is_object() ? earlier.value("test_slowdown", json()) : json(), now = knob && *knob ? json(knob) : json();
  if (slowed == now) return "";
  return fmt::format("was measured with {}, this run with {}",
                     slowed.is_string() ? "PRIMBENCH_TEST_SLOWDOWN=" + slowed.get<std::string>() : "no PRIMBENCH_TEST_SLOWDOWN",
                     knob && *knob ? "PRIMBENCH_TEST_SLOWDOWN=" + std::string(knob) : "none");
}

Resumed resume(const std::string& text, const std::string& path, const std::vector<Planned>& plan, const json& options,
               const std::string& cpu) {
  const std::string what = "--resume: '" + path + "' ";
  const std::string fix = "; move it away or choose another --out";
  json doc = json::parse(text, nullptr, false);
  if (doc.is_discarded()) throw UsageError(what + "is not valid JSON (truncated or corrupt?)" + fix);
  const bool ours = doc.is_object() && doc.contains("context") && doc["context"].is_object() &&
                    doc["context"].contains("primbench") && doc["context"]["primbench"].is_object() &&
                    doc.contains("benchmarks") && doc["benchmarks"].is_array();
  if (!ours) throw UsageError(what + "is not primbench results (Google Benchmark JSON with a primbench context)" + fix);

  // A benchmark is measured when it has an entry and none of its entries failed.
  std::set<std::string> seen, failed;
  std::set<std::pair<std::string, std::string>> repetitions;
  for (const json& e : doc["benchmarks"]) {
    const bool named = e.is_object() && ((e.contains("run_name") && e["run_name"].is_string()) ||
                                         (!e.contains("run_name") && e.contains("name") && e["name"].is_string()));
    if (!named) throw UsageError(what + "has a benchmark entry without a name" + fix);
    const std::string b = benchmark_of(e);
    seen.insert(b);
    // One repetition twice (a file concatenated or edited) would be one sample counted twice:
    // the report and compare refuse such a file, so it is not added to.
    if (e.value("run_type", json()) == json("iteration") && e.contains("repetition_index") &&
        !repetitions.emplace(b, e["repetition_index"].dump()).second)
      throw UsageError(fmt::format("{}has repetition {} of '{}' twice (concatenated or edited?){}", what,
                                   e["repetition_index"].dump(), b, fix));
    // Kept only what says it passed and, for a repetition, has a time that could be true: an
    // entry of another tool, or one edited by hand, is measured again.
    const bool error = e.contains("error_occurred") && e["error_occurred"] != json(false);
    const bool invalid = !e.contains("validation") || e["validation"] != json("passed");
    // (At least 1 ns an iteration, in primbench's unit, as the runner's plausibility rule.)
    const json* t = e.contains("real_time") ? &e["real_time"] : nullptr;
    const bool timeless = e.value("run_type", json()) == json("iteration") &&
                          !(t && t->is_number() && std::isfinite(t->get<double>()) && t->get<double>() >= 1 &&
                            e.value("time_unit", json("ns")) == json("ns"));
    if (error || invalid || timeless) failed.insert(b);
  }
  // Only results measured as this run would measure them: another --repetitions, --cache or
  // --check beside this run's is a file of two different experiments under one context.
  const json& primbench = doc["context"]["primbench"];
  if (const std::string differ = options_differ(primbench.contains("options") ? primbench["options"] : json(), options); !differ.empty())
    throw UsageError(what + differ + ": its results would not compare with this run's; resume with its options, or move it away or choose another --out");
  if (const std::string differ = machine_differs(primbench, cpu); !differ.empty())
    throw UsageError(what + differ + ": its results would not compare with this run's" + fix);
  if (const std::string differ = slowdown_differs(primbench); !differ.empty())
    throw UsageError(what + differ + ": its results would not compare with this run's" + fix);
  std::set<std::string> planned;
  for (const Planned& p : plan) planned.insert(p.name);

  Resumed r;
  r.context = doc["context"];
  for (json& e : doc["benchmarks"]) {
    const std::string b = benchmark_of(e);
    if (!planned.count(b) || !failed.count(b)) r.benchmarks.push_back(std::move(e));
  }
  for (const Planned& p : plan)
    if (!seen.count(p.name) || failed.count(p.name)) r.todo.push_back(p);
  return r;
}

Resumed resume_file(const std::string& path, const std::vector<Planned>& plan, const json& options, const std::string& cpu) {
  std::error_code missing;
  if (!std::filesystem::exists(path, missing)) return Resumed{json::array(), plan, json()};
  std::ifstream f(path, std::ios::binary);
  if (!f) throw UsageError("--resume: cannot read '" + path + "': " + std::strerror(errno));
  std::ostringstream text;
  text << f.rdbuf();
  return resume(text.str(), path, plan, options, cpu);
}

}  // namespace primbench
