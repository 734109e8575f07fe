#include "runner.hpp"

#include <benchmark/benchmark.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <numeric>
#include <regex>
#include <sstream>
#include <thread>

#include "ceilings.hpp"
#include "context.hpp"
#include "launch.hpp"
#include "resume.hpp"

namespace primbench {
namespace {

using nlohmann::json;

// ---- nothing lost: the results so far, ready to be written from a signal handler or watchdog

struct Emergency {
  std::string path, tmp;
  std::string doc;          // the JSON as it should be left if the current benchmark dies
  std::size_t reason_at = std::string::npos;  // where the placeholder reason sits in doc
  std::string benchmark;
};
Emergency g_emergency;
constexpr char kPlaceholder[] = "@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@";  // 40 chars

void write_all(int fd, const char* p, std::size_t n) {
  while (n > 0) {
    const ssize_t w = ::write(fd, p, n);
    if (w <= 0) return;
    p += w, n -= static_cast<std::size_t>(w);
  }
}

// Async-signal-safe: patch the reason into the prepared document, write it, rename, exit.
[[noreturn]] void die_with(const char* reason) {
  Emergency& e = g_emergency;
  if (!e.path.empty() && e.reason_at != std::string::npos) {
    char* doc = e.doc.data();
    const std::size_t len = std::min(std::strlen(reason), sizeof(kPlaceholder) - 1);
    std::memset(doc + e.reason_at, ' ', sizeof(kPlaceholder) - 1);
    std::memcpy(doc + e.reason_at, reason, len);
    const int fd = ::open(e.tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd >= 0) {
      write_all(fd, doc, e.doc.size());
      ::fsync(fd);
      ::close(fd);
      ::rename(e.tmp.c_str(), e.path.c_str());
    }
  }
  const char* head = "primbench: error: run incomplete: ";
  write_all(2, head, std::strlen(head));
  write_all(2, e.benchmark.c_str(), e.benchmark.size());
  write_all(2, ": ", 2);
  write_all(2, reason, std::strlen(reason));
  write_all(2, "\n", 1);
  ::_exit(kIncomplete);
}

void on_fatal_signal(int sig) {
  switch (sig) {
    case SIGSEGV: die_with("crashed: SIGSEGV (invalid memory access)");
    case SIGBUS: die_with("crashed: SIGBUS (bus error)");
    case SIGFPE: die_with("crashed: SIGFPE (arithmetic fault)");
    case SIGILL: die_with("crashed: SIGILL (illegal instruction)");
    case SIGABRT: die_with("crashed: SIGABRT (aborted)");
    default: die_with("crashed: fatal signal");
  }
}

// Ends the run when one benchmark takes longer than the timeout.
class Watchdog {
 public:
  explicit Watchdog(double timeout) : timeout_(timeout), thread_([this] { loop(); }) {}
  ~Watchdog() {
    { std::lock_guard l(m_); stop_ = true; }
    cv_.notify_all();
    thread_.join();
  }
  void arm() { std::lock_guard l(m_); armed_ = true; ++generation_; cv_.notify_all(); }
  void disarm() { std::lock_guard l(m_); armed_ = false; ++generation_; cv_.notify_all(); }

 private:
  void loop() {
    std::unique_lock l(m_);
    while (!stop_) {
      if (!armed_) { cv_.wait(l); continue; }
      const auto gen = generation_;
      if (!cv_.wait_for(l, std::chrono::duration<double>(timeout_), [&] { return stop_ || generation_ != gen; })) {
        static char reason[64];
        std::snprintf(reason, sizeof reason, "hung: did not finish within %.0f s", timeout_);
        die_with(reason);
      }
    }
  }
  double timeout_;
  std::mutex m_;
  std::condition_variable cv_;
  bool armed_ = false, stop_ = false;
  unsigned long generation_ = 0;
  std::thread thread_;
};

void write_atomically(const std::string& path, const std::string& text) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    if (!f) throw UsageError("cannot write '" + tmp + "': " + std::strerror(errno));
    f << text;
    f.flush();
    if (!f) throw UsageError("cannot write '" + tmp + "': " + std::strerror(errno));
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0)
    throw UsageError("cannot rename '" + tmp + "' to '" + path + "': " + std::strerror(errno));
}

// ---- measurement

struct Traffic {
  double bytes;    // nccl-tests "size": what algbw is computed from
  double bus;      // busbw / algbw
  double memory;   // bytes of memory traffic the ceiling is compared with
  double ceiling;  // GB/s
};

Traffic traffic(const Problem& p, Memory memory, const Ceilings& c) {
  const double block = static_cast<double>(p.count) * p.elem_bytes();
  const double P = p.ranks;
  Traffic t{};
  if (p.primitive == Primitive::reduce) {
    t.bytes = block;
    t.bus = 1;
    t.memory = memory == Memory::device ? (P + 1) * block : P * block;  // device: read + written
    t.ceiling = memory == Memory::device ? c.device_copy_GBps : c.host_read_GBps;
  } else {
    t.bytes = P * block;
    t.bus = (P - 1) / P;
    t.memory = memory == Memory::device ? 2 * P * block : P * block;
    t.ceiling = memory == Memory::device ? c.device_copy_GBps : c.host_copy_GBps;
  }
  return t;
}

double percentile(std::vector<double>& v, double q) {
  if (v.empty()) return 0;
  const std::size_t k = std::min(v.size() - 1, static_cast<std::size_t>(q * (v.size() - 1) + 0.5));
  std::nth_element(v.begin(), v.begin() + k, v.end());
  return v[k];
}

// One benchmark's state across Google Benchmark's calls of its body.
struct Bench {
  Collective* collective;
  const RunOptions* opts;
  Traffic traffic;
  std::string failure;  // an exception inside the timed loop
};

void body(benchmark::State& state, Bench& b) {
  Collective& c = *b.collective;
  World& w = world();
  const std::size_t local = c.local_ranks().size();
  std::vector<double> seconds(local), rank_total(local, 0.0), iterations;
  iterations.reserve(1 << 16);
  try {
    for (auto _ : state) {
      if (b.opts->cold) c.flush_caches();
      c.run(seconds);
      const double t = w.max(*std::max_element(seconds.begin(), seconds.end()));
      state.SetIterationTime(t);
      iterations.push_back(t);
      for (std::size_t i = 0; i < local; ++i) rank_total[i] += seconds[i];
    }
  } catch (const std::exception& e) {
    b.failure = std::string("exception: ") + e.what();
    state.SkipWithError(b.failure.c_str());
    return;
  }
  const double iters = static_cast<double>(iterations.size());
  if (iters == 0) return;
  const double mean = std::accumulate(iterations.begin(), iterations.end(), 0.0) / iters;
  double mn = 1e300, mx = 0, sum = 0;
  for (double total : rank_total) mn = std::min(mn, total / iters), mx = std::max(mx, total / iters), sum += total / iters;
  const Problem& p = c.problem();
  const Traffic& t = b.traffic;
  auto& k = state.counters;
  k["ranks"] = p.ranks;
  k["count"] = static_cast<double>(p.count);
  k["root"] = p.root;
  k["bytes"] = t.bytes;
  k["algbw"] = mean > 0 ? t.bytes / mean / 1e9 : 0;
  k["busbw"] = k["algbw"] * t.bus;
  k["membw"] = mean > 0 ? t.memory / mean / 1e9 : 0;
  k["peak_fraction"] = t.ceiling > 0 ? k["membw"] / t.ceiling : 0;
  k["t_rank_min"] = w.min(mn);
  k["t_rank_max"] = w.max(mx);
  k["t_rank_avg"] = w.sum(sum) / p.ranks;
  k["t_p50"] = percentile(iterations, 0.50);
  k["t_p99"] = percentile(iterations, 0.99);
}

// ---- console

std::string human_time(double s) {
  char buf[32];
  if (s < 1e-6) std::snprintf(buf, sizeof buf, "%7.1f ns", s * 1e9);
  else if (s < 1e-3) std::snprintf(buf, sizeof buf, "%7.2f us", s * 1e6);
  else if (s < 1) std::snprintf(buf, sizeof buf, "%7.2f ms", s * 1e3);
  else std::snprintf(buf, sizeof buf, "%7.2f s ", s);
  return buf;
}

std::string clock_text(double s) {
  char buf[32];
  const long t = static_cast<long>(s + 0.5);
  std::snprintf(buf, sizeof buf, "%ld:%02ld", t / 60, t % 60);
  return buf;
}

class Console {
 public:
  Console(bool quiet, std::size_t total)
      : quiet_(quiet), tty_(::isatty(2) != 0), total_(total), start_(now_seconds()) {}

  void header() {
    if (quiet_) return;
    std::printf("%-64s %10s %10s %10s %6s  %s\n", "benchmark", "time(p50)", "algbw GB/s", "busbw GB/s", "%peak", "validation");
    std::fflush(stdout);
  }
  void starting(std::size_t i, const std::string& name) {
    if (quiet_) return;
    const double elapsed = now_seconds() - start_;
    std::string eta = i == 0 ? "?" : clock_text(elapsed / i * (total_ - i));
    if (tty_)
      std::fprintf(stderr, "\r\033[K[%zu/%zu %s elapsed, ~%s left] %s", i + 1, total_, clock_text(elapsed).c_str(), eta.c_str(), name.c_str());
    else
      std::fprintf(stderr, "[%zu/%zu %s elapsed, ~%s left] %s\n", i + 1, total_, clock_text(elapsed).c_str(), eta.c_str(), name.c_str());
    std::fflush(stderr);
  }
  void row(const std::string& name, const json& entry, const std::string& failure) {
    if (quiet_) return;
    if (tty_) std::fprintf(stderr, "\r\033[K");
    if (!failure.empty()) {
      std::printf("%-64s %10s %10s %10s %6s  FAILED: %s\n", name.c_str(), "-", "-", "-", "-", failure.c_str());
    } else if (entry.is_null()) {
      std::printf("%-64s %10s %10s %10s %6s  passed\n", name.c_str(), "-", "-", "-", "-");
    } else {
      const double t = entry.value("real_time", 0.0) * 1e-9;
      std::printf("%-64s %10s %10.3f %10.3f %5.1f%%  passed\n", name.c_str(), human_time(t).c_str(),
                  entry.value("algbw", 0.0), entry.value("busbw", 0.0), 100 * entry.value("peak_fraction", 0.0));
    }
    std::fflush(stdout);
  }

 private:
  bool quiet_, tty_;
  std::size_t total_;
  double start_;
};

// Adds primbench's fields to Google Benchmark's entries of one benchmark.
void label(json& entries, const Planned& pl, std::size_t family, bool failed) {
  for (json& e : entries) {
    e["family_index"] = family;
    e["per_family_instance_index"] = 0;
    e["primitive"] = std::string(name(pl.problem.primitive));
    e["impl"] = pl.impl->name;
    e["dtype"] = std::string(name(pl.problem.dtype));
    if (pl.problem.primitive == Primitive::reduce) e["op"] = std::string(name(pl.problem.op));
    e["validation"] = failed ? "failed" : "passed";
  }
}

// The entry Google Benchmark would write for a benchmark that was never timed.
json error_entry(const Planned& pl, const std::string& message) {
  const std::string run_name = pl.name + "/manual_time";
  return json{{"name", run_name}, {"run_name", run_name}, {"run_type", "iteration"},
              {"repetitions", 1}, {"repetition_index", 0}, {"threads", 1},
              {"iterations", 0}, {"real_time", 0.0}, {"cpu_time", 0.0}, {"time_unit", "ns"},
              {"error_occurred", true}, {"error_message", message}};
}

// Warm-up that also sets the iteration count: runs the collective for at least --warmup
// seconds of wall time (at least once), then picks the count that makes one repetition last
// about --min-time of wall time. Google Benchmark would size repetitions by the timed (manual)
// time instead, and a collective whose window is tiny but whose synchronisation outside the
// window is slow (more ranks than cores) would then run for minutes. Every MPI rank agrees on
// the count, as on each loop decision here.
std::int64_t warm_up_and_count(Collective& c, const RunOptions& opts) {
  World& w = world();
  std::vector<double> seconds(c.local_ranks().size());
  const double t0 = now_seconds();
  std::int64_t runs = 0;
  double elapsed = 0;
  do {
    if (opts.cold) c.flush_caches();
    c.run(seconds);
    ++runs;
    elapsed = w.max(now_seconds() - t0);
  } while (elapsed < opts.warmup);
  const double per_run = elapsed / static_cast<double>(runs);
  return std::clamp<std::int64_t>(static_cast<std::int64_t>(opts.min_time / per_run) + 1, 1, 1'000'000'000);
}

json run_one_gb(const Planned& pl, Bench& bench, const RunOptions& opts, json* gb_context) {
  const std::int64_t iterations = warm_up_and_count(*bench.collective, opts);
  benchmark::ClearRegisteredBenchmarks();
  benchmark::RegisterBenchmark(pl.name.c_str(), [&bench](benchmark::State& s) { body(s, bench); })
      ->UseManualTime()
      ->Unit(benchmark::kNanosecond)
      ->Iterations(iterations);
  std::ostringstream out, err;
  benchmark::JSONReporter reporter;
  reporter.SetOutputStream(&out);
  reporter.SetErrorStream(&err);
  benchmark::RunSpecifiedBenchmarks(&reporter);
  // Google Benchmark writes NaN for undefined aggregates (the cv of an all-zero counter such as
  // root 0), which is not JSON; such a counter is left out of that entry instead.
  static const std::regex undefined(R"(\n\s*"[^"\n]*": -?(NaN|Infinity),?(?=\n))");
  std::string text = std::regex_replace(out.str(), undefined, "");
  static const std::regex dangling(R"(,(\n\s*\}))");
  text = std::regex_replace(text, dangling, "$1");
  json doc = json::parse(text);
  if (gb_context && gb_context->is_null()) *gb_context = doc["context"];
  // The count is a measurement setting, not part of the benchmark's identity: names stay
  // <primitive>/<impl>/.../root:<r>/manual_time across runs and machines.
  const std::string suffix = "/iterations:" + std::to_string(iterations);
  for (json& e : doc["benchmarks"])
    for (const char* key : {"name", "run_name"})
      if (e.contains(key)) {
        std::string n = e[key];
        if (const auto at = n.find(suffix); at != std::string::npos) n.erase(at, suffix.size());
        e[key] = n;
      }
  return doc["benchmarks"];
}

}  // namespace

std::string benchmark_name(std::string run_name) {
  constexpr std::string_view suffix = "/manual_time";
  if (run_name.size() >= suffix.size() && run_name.compare(run_name.size() - suffix.size(), suffix.size(), suffix) == 0)
    run_name.resize(run_name.size() - suffix.size());
  return run_name;
}

// Repetitions go to Google Benchmark as its own flag, so they stay out of the names.
void configure_google_benchmark(const RunOptions& opts) {
  static std::vector<std::string> args;
  args = {"primbench", "--benchmark_repetitions=" + std::to_string(opts.repetitions)};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  int argc = static_cast<int>(argv.size());
  benchmark::Initialize(&argc, argv.data());
}

int run_benchmarks(const std::vector<Planned>& requested, const RunOptions& opts) {
  // --resume: the earlier run's passing results stay, and only the rest runs.
  Resumed resumed = opts.resume ? resume_file(opts.out, requested) : Resumed{json::array(), requested};
  const std::vector<Planned>& plan = resumed.todo;
  World& w = world();
  if (opts.timing) configure_google_benchmark(opts);
  const bool leader = w.rank() == 0;
  Ceilings ceilings;
  if (opts.timing) ceilings = measure_ceilings(opts, leader);

  json doc = {{"context", json::object()}, {"benchmarks", std::move(resumed.benchmarks)}};
  json gb_context, launched_context;
  auto context = [&] {
    json c = gb_context.is_null() ? json::object() : gb_context;
    c["primbench"] = primbench_context(opts.command_line, ceilings);
    if (!launched_context.is_null()) c["primbench"]["launched"] = launched_context;
    return c;
  };
  auto save = [&] {
    if (!leader || opts.out.empty()) return;
    doc["context"] = context();
    write_atomically(opts.out, doc.dump(2) + "\n");
  };
  // Before each benchmark: the document as it must be left if this benchmark crashes or hangs.
  auto arm_emergency = [&](const Planned& pl) {
    if (!leader || opts.out.empty()) return;
    json d = doc;
    d["context"] = context();
    json e = error_entry(pl, kPlaceholder);
    json entries = json::array({e});
    label(entries, pl, d["benchmarks"].size(), true);
    d["benchmarks"].push_back(entries[0]);
    g_emergency.doc = d.dump(2) + "\n";
    g_emergency.reason_at = g_emergency.doc.find(kPlaceholder);
    g_emergency.path = opts.out;
    g_emergency.tmp = opts.out + ".tmp";
  };
  for (int sig : {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT}) std::signal(sig, on_fatal_signal);

  // Process-per-rank implementations (MPI) run under the launcher unless this process is
  // already one of several ranks; their entries join this run's JSON.
  std::vector<Planned> here, launched;
  for (const Planned& pl : plan) {
    const Backend* b = registry().backend(pl.impl->backend());
    (b && b->process_per_rank && w.size() == 1 && opts.launch ? launched : here).push_back(pl);
  }

  Console console(opts.quiet || !leader, plan.size());
  console.header();
  // The leader's watchdog fires first, so it is the one that writes what was measured; the
  // other ranks' watchdogs are a backstop.
  Watchdog watchdog(opts.timeout + (leader ? 0 : 5));
  int status = kOk;
  for (std::size_t i = 0; i < here.size(); ++i) {
    const Planned& pl = here[i];
    console.starting(i, pl.name);
    g_emergency.benchmark = pl.name;
    arm_emergency(pl);
    watchdog.arm();
    std::string failure;
    json entries = json::array();
    try {
      std::unique_ptr<Collective> c = pl.impl->make(pl.problem);
      const std::string error = validate::rounds(*c, opts.mode, opts.seed, opts.validate_rounds);
      if (!error.empty()) failure = "validation failed: " + pl.impl->name + " " + error;
      if (opts.timing && failure.empty()) {
        // The timed runs work on real inputs of a fresh seed, and are checked once more after
        // the timed loop: they must have left the same correct result.
        const std::uint64_t seed = opts.seed + static_cast<std::uint64_t>(opts.validate_rounds);
        validate::prepare(*c, opts.mode, seed);
        Bench bench{c.get(), &opts, traffic(pl.problem, c->memory(), ceilings), ""};
        entries = run_one_gb(pl, bench, opts, &gb_context);
        failure = bench.failure;
        if (failure.empty())
          if (std::string error = w.first_error(validate::check(*c, opts.mode, seed)); !error.empty())
            failure = "validation failed after timing: " + pl.impl->name + " " + error;
        if (!failure.empty())  // no timing of a wrong result survives
          for (json& e : entries) e = error_entry(pl, failure);
      }
    } catch (const std::bad_alloc&) {
      failure = "out of memory allocating the buffers";
    } catch (const std::exception& e) {
      failure = std::string("exception: ") + e.what();
    }
    watchdog.disarm();
    if (!failure.empty()) {
      status = std::max(status, failure.rfind("validation failed", 0) == 0 ? int(kValidationFailed) : int(kIncomplete));
      if (entries.empty()) entries.push_back(error_entry(pl, failure));
    }
    label(entries, pl, i, !failure.empty());
    json shown;
    for (const json& e : entries)
      if (e.value("aggregate_name", "") == "median" || (opts.repetitions == 1 && !e.contains("aggregate_name")))
        shown = e;
    console.row(pl.name, shown, failure);
    for (json& e : entries) doc["benchmarks"].push_back(std::move(e));
    save();
  }
  g_emergency.path.clear();
  if (!launched.empty()) {
    RunOptions measured = opts;  // the launched ranks use this run's ceilings, not their own
    if (ceilings.host_read_GBps > 0) measured.read_GBps = ceilings.host_read_GBps, measured.copy_GBps = ceilings.host_copy_GBps;
    Launched l = launch_ranks(launched, measured);
    status = std::max(status, l.status);
    const std::size_t family_base = here.size();  // launched families follow this run's own
    for (json& e : l.benchmarks) {
      e["family_index"] = family_base + e.value("family_index", std::size_t{0});
      // One row per benchmark, as for those run here: the median, or the only repetition.
      if ((e.value("run_type", "") != "aggregate" && e.value("repetitions", 1) == 1) || e.value("aggregate_name", "") == "median")
        console.row(benchmark_name(e.value("run_name", e.value("name", ""))), e.value("error_occurred", false) ? json() : e,
                    e.value("error_occurred", false) ? e.value("error_message", "error") : "");
      doc["benchmarks"].push_back(std::move(e));
    }
    if (!l.context.is_null()) launched_context = l.context;
    save();
  }
  if (leader && !opts.quiet) {
    std::fprintf(stderr, "%zu benchmarks, %s", plan.size(), status == kOk ? "all validated" : "SOME FAILED");
    if (!opts.out.empty()) std::fprintf(stderr, "; results: %s", opts.out.c_str());
    std::fprintf(stderr, "\n");
  }
  return status;
}

}  // namespace primbench
