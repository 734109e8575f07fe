#include "resume.hpp"


#include <fmt/format.h>

#include <cerrno>
#include <cmath>
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

Resumed resume(const std::string& text, const std::string& path, const std::vector<Planned>& plan, const json& options) {
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
  for (const json& e : doc["benchmarks"]) {
    const bool named = e.is_object() && ((e.contains("run_name") && e["run_name"].is_string()) ||
                                         (!e.contains("run_name") && e.contains("name") && e["name"].is_string()));
    if (!named) throw UsageError(what + "has a benchmark entry without a name" + fix);
    const std::string b = benchmark_of(e);
    seen.insert(b);
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

Resumed resume_file(const std::string& path, const std::vector<Planned>& plan, const json& options) {
  std::error_code missing;
  if (!std::filesystem::exists(path, missing)) return Resumed{json::array(), plan, json()};
  std::ifstream f(path, std::ios::binary);
  if (!f) throw UsageError("--resume: cannot read '" + path + "': " + std::strerror(errno));
  std::ostringstream text;
  text << f.rdbuf();
  return resume(text.str(), path, plan, options);
}

}  // namespace primbench
