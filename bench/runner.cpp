#include "runner.hpp"

#include <benchmark/benchmark.h>
#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <mutex>
#include <nlohmann/json.hpp>
#include <numeric>
#include <optional>
#include <thread>

#include "ceilings.hpp"
#include "context.hpp"
#include "journal.hpp"
#include "machine.hpp"
#include "reference.hpp"

namespace primbench {
namespace {

// Calls per benchmark the timed loop alone holds at least, every one of them checkable: an
// implementation wrong on 10 % of its calls escapes 0.9^44 < 1 % of benchmarks.
constexpr int kCheckedCalls = 44;
// Wall seconds a loop of those iterations may take (a quarter of --timeout if less): a slow
// implementation (the pickling mpi4py peer at 16M elements, 0.3 s a call) is not timed 44 times,
// while MPI calls of 45 - 55 ms at 16M (11 - 13 a repetition under 2 s) are.
constexpr double kLeastLoopSeconds = 3;
// Problems moving at most this much memory get a cache-line ping-pong beside each repetition.
constexpr double kPingPongBytes = 256 << 10;
int validation_calls(const RunOptions& o) { return o.validate_rounds * (o.both_modes ? 2 : 1); }

using nlohmann::json;

// ---- measurement

// Memory traffic faster than this is not a measurement: twice the fastest copy this machine was
// measured to do (host: an L1-resident copy on all cores; device: its copy ceiling, times ten
// for what its caches may add).
double plausible_GBps(Memory memory, const Ceilings& c) {
  if (memory == Memory::device) return c.device_copy_GBps > 0 ? 20 * c.device_copy_GBps : HUGE_VAL;
  const double fastest = std::max({c.host_cache_copy_GBps, c.host_copy_GBps, c.host_read_GBps});
  return fastest > 0 ? 2 * fastest : HUGE_VAL;
}

struct Traffic {
  double bytes;      // nccl-tests "size": what algbw is computed from
  double bus;        // busbw / algbw
  double memory;     // bytes of memory traffic the ceiling is compared with
  double ceiling;    // GB/s
  const char* kind;  // which ceiling: "host_copy", "host_read" or "device_copy"
};

// From the primitive's description. Host: the bytes read, against the copy ceiling where every
// byte read is written too, else against the read ceiling. Device: bytes read plus written,
// against the device's copy ceiling (which counts both).
Traffic traffic(const Problem& p, Memory memory, const Ceilings& c) {
  const PrimitiveInfo& d = p.info();
  const double block = static_cast<double>(p.count) * p.elem_bytes();
  const double read = d.read_blocks(p.ranks) * block, written = d.written_blocks(p.ranks) * block;
  Traffic t{d.size_blocks(p.ranks) * block, d.bus_factor(p.ranks), 0, 0, ""};
  if (memory == Memory::device) {
    t.memory = read + written, t.ceiling = c.device_copy_GBps, t.kind = "device_copy";
  } else if (d.copies(p.ranks)) {
    t.memory = read, t.ceiling = c.host_copy_GBps, t.kind = "host_copy";
  } else {
    t.memory = read, t.ceiling = c.host_read_GBps, t.kind = "host_read";
  }
  return t;
}

double percentile(std::vector<double>& v, double q) {
  if (v.empty()) return 0;
  const std::size_t k = std::min(v.size() - 1, static_cast<std::size_t>(q * (v.size() - 1) + 0.5));
  std::nth_element(v.begin(), v.begin() + k, v.end());
  return v[k];
}

// An entry's fields that are not counters (Google Benchmark's and primbench's,
// docs/results-json.md): no implementation's own counter may take one of these names.
constexpr std::string_view kEntryFields[] = {
    "name", "family_index", "per_family_instance_index", "run_name", "run_type", "repetitions", "repetition_index", "threads",
    "iterations", "time_unit", "aggregate_name", "aggregate_unit", "real_time", "cpu_time", "error_occurred", "error_message",
    "label", "bytes_per_second", "items_per_second", "rse", "rse_target", "pilot_repetitions", "primitive", "impl", "dtype",
    "op", "validation", "ceiling", "reference"};

// One benchmark's state across Google Benchmark's calls of its body (one per repetition).
struct Bench {
  std::string impl;
  std::vector<Collective*> collectives;  // one for each root it runs at (--root rotate: P)
  int root;                    // the root counter: the problem's, -1 where it rotates
  const RunOptions* opts;
  Traffic traffic;
  double plausible_GBps;       // memory traffic faster than this cannot be true
  double round_trip_ns = 0;    // the cache-line ping-pong's round trip (0: not measured)
  double full_check = 0;       // seconds a full check is expected to take: a validation round's
  double repetition = 0;       // wall seconds a repetition is expected to take: max(--min-time, I x a call)
  std::uint64_t seed;          // of the inputs the timed loop runs on
  std::int64_t total = 0;      // timed iterations over all repetitions
  std::int64_t stretch = 0;    // of the loop's sample, the one iteration `pick` is in
  std::int64_t pick = -1;      // the iteration drawn from it (-1: none left)
  double budget = 0;           // seconds the checks may take in all (5 % of the run so far)
  double allowance = 0;        // seconds the sampled checks may take whatever the budget (2 % of the loop)
  double spent = 0;            // seconds they took so far, the slowest rank's (agreed at each check)
  std::int64_t iteration = 0;  // over all repetitions
  int checked = 0;             // iterations checked so far
  std::string failure{};       // an exception, a wrong result or an implausible time in the loop
  bool wrong = false;          // the failure is a wrong result or an implausible time
  // Seconds of one pass of the reference beside the benchmark, measured before every repetition
  // (host memory: Reference; device memory: its backend's, where it has one); empty: none.
  std::function<double(int way)> reference{};
  std::function<bool()> reference_disturbed{};  // of its last trial (Reference::disturbed)
  int reference_ways = 1;      // ways it can be made, each measured; the fastest median counts
  // Beyond the cache, also a trial just before every timed iteration (seconds, as `reference`),
  // made the way that was the faster before the repetition: peak_fraction is then the median of
  // each iteration's fraction of its own trial (docs/measurement.md, "Paired trials"). Empty: none.
  // `which`: the collective the iteration runs (its index in `collectives`).
  std::function<double(int way, std::size_t which)> paired_trial{};
  // They are made on the benchmark's own buffers (Reference::far_beyond_cache); false from the
  // first trial whose buffers no longer make the reference's pattern on.
  bool paired_on_own = false;
  int way = 0;                        // the way they make: the faster in the block before the repetition
  std::vector<double> paired_GBps{};  // this repetition's, one an iteration
  int paired_again = 0;               // this repetition's paired trials made again (kOwnCpu)
  CpuSample since{};           // the machine at the benchmark's start
  const std::deque<CpuSample>* earlier = nullptr;  // at earlier benchmarks' starts, oldest first

  // The collective call i runs (validation rounds aside): root i mod P where it rotates.
  Collective& at(std::int64_t i) const { return *collectives[static_cast<std::size_t>(i) % collectives.size()]; }
  // ", at root r" for call i where the root rotates, naming which of the collectives failed.
  std::string where(std::int64_t i) const {
    return root < 0 ? fmt::format(", at root {}", static_cast<std::size_t>(i) % collectives.size()) : "";
  }
};

// The sample the machine's state is judged from: the benchmark's start, or for a benchmark
// shorter than kJudgedSeconds so far the latest earlier sample that makes the interval that
// long (the worker's start at the longest), so a short benchmark on a busy machine is judged
// over the last quarter second instead of not at all.
const CpuSample& state_since(const Bench& b, double now) {
  if (now - b.since.wall >= kJudgedSeconds || !b.earlier || b.earlier->empty()) return b.since;
  const CpuSample* from = &b.earlier->front();
  for (const CpuSample& s : *b.earlier)
    if (now - s.wall >= kJudgedSeconds) from = &s;
  return *from;
}

// The reference's trials now (GB/s, each way's: up to kReferenceTrials of each way it can be
// made while they take less than `seconds` in all, at least one of each; a repetition's by
// default: with a quarter of one, the reference's median was the noisier half of the ratio,
// docs/measurement.md, "Run to run"). Every rank measures its share at once; a trial lasts as
// long as the slowest. `undisturbed`: only trials none of whose threads was switched out.
constexpr std::size_t kReferenceTrials = 25;
// Before the reference, the implementation's own threads go back to sleep: a pool that spins or
// yields while it waits for the next call (thread.*, TBB) would otherwise take its cores.
void let_pools_sleep() { std::this_thread::sleep_for(std::chrono::milliseconds(2)); }
// A paired trial whose threads each ran at least this fraction of its time had its CPUs.
constexpr double kOwnCpu = 0.9;
std::vector<std::vector<double>> reference_trials(Bench& b, bool undisturbed = false, double seconds = 0) {
  World& w = world();
  let_pools_sleep();
  // Each way (a copy's two: Reference::ways) in a block of trials of its own, over an equal
  // share of the time, every process in the same order. Alternated trial by trial, a copy's way
  // slowed the other's next trial: at 16M f32 a rank (P = 2) the reference read 8 % lower than
  // either way's trials back to back, and thread.flat and tbb.parallel_for copies 1.06 - 1.11 of it.
  const int ways = std::max(1, b.reference_ways);
  const double share = (seconds > 0 ? seconds : b.repetition) / ways;
  std::vector<std::vector<double>> GBps(static_cast<std::size_t>(ways));
  for (int way = 0; way < ways; ++way) {
    std::vector<double>& mine = GBps[static_cast<std::size_t>(way)];
    const double start = now_seconds();
    std::size_t made = 0;
    do {
      const double s = w.max(b.reference(way));
      ++made;
      if (undisturbed && b.reference_disturbed && w.max(b.reference_disturbed() ? 1.0 : 0.0) > 0) continue;
      mine.push_back(s > 0 ? b.traffic.memory / s / 1e9 : 0);
    } while (mine.size() < kReferenceTrials && (made == 1 || w.max(now_seconds() - start) < share));
  }
  return GBps;
}

// A repetition's median iteration against the reference beside it: memory traffic more than
// kBeyondReference times the same traffic copied (or read P, written 1) at the same working set
// by every core is a clock that lies (a time divided, a window that misses the work), not a
// faster collective. Honest ones reached 0.5 - 1.1 of its median, and 5.7 once in 20,000
// repetitions (a reference slowed by a neighbour, at 32K elements); with --cache cold at one
// element, where a trial is one pass of a few cache misses, 2.0 - 2.9 on an idle machine. So the
// bound is 10, and before judging, the reference is measured again, for up to kJudgeSeconds, and
// its fastest trial counts (the fastest is what the machine can do; the median is how it went)
// among those whose threads were not switched out: beside six busy processes on 2 cores, a cold
// one-element trial that was took 3 - 5 us where the others took 0.3 - 0.7, and with every
// trial counted honest seq.ref and tbb.parallel_for reduces were 10 - 38 times the reference
// (2026-12-05). Every trial counts when none was undisturbed. The median iteration, as a
// neighbour that preempts a few iterations moves the mean (a lying clock's too). "" when
// plausible, else why not.
constexpr double kBeyondReference = 10;
constexpr double kJudgeSeconds = 0.2;
std::string beyond_reference(Bench& b, std::vector<double> iterations, double ref_GBps) {
  World& w = world();
  const double median = percentile(iterations, 0.5);
  const double GBps = b.traffic.memory / median / 1e9;
  if (!(GBps > kBeyondReference * ref_GBps)) return "";
  auto fastest = [](const std::vector<std::vector<double>>& trials) {
    double most = 0;
    for (const std::vector<double>& way : trials)
      for (double trial : way) most = std::max(most, trial);
    return most;
  };
  double after = fastest(reference_trials(b, true, kJudgeSeconds));
  if (!(w.min(after) > 0)) after = fastest(reference_trials(b, false, kJudgeSeconds));
  after = w.min(after), ref_GBps = w.min(ref_GBps);
  const double best = std::max(after, ref_GBps);
  if (!(w.max(GBps) > kBeyondReference * best)) return "";
  return fmt::format("implausible timing: the repetition's median iteration ({:g} s) moved {:.4g} GB/s of memory traffic, {:.1f} "
                     "times the same traffic at the same working set moved by every core {} ({:.4g} GB/s; more than {:g} "
                     "times cannot be true)", median, GBps, GBps / best,
                     after >= ref_GBps ? "in the fastest trial made after it" : "in the median trial made before it",
                     best, kBeyondReference);
}

// Calls of the benchmark checked so far: validation rounds and checked timed iterations.
int checked_calls(const Bench& b) { return validation_calls(*b.opts) + b.checked; }

// Whether the checks' budget (or the sampled checks' allowance) has room for another.
bool checks_affordable(const Bench& b) { return b.spent < b.budget || b.spent < b.allowance; }

// The sample of the timed loop: its T = R·I iterations fall into k = min(--check-iterations, T)
// stretches of equal length (within one), stretch s holding ⌈s·T/k⌉ .. ⌈(s+1)·T/k⌉ - 1, and one
// iteration drawn from each (the same on every MPI rank) is spot-checked while the checks are
// affordable. Exactly k then, spread over the whole loop: a draw of each iteration on its own
// checks a binomial number, and left some benchmarks of the default suite below 44 checked calls.
// The iteration drawn from stretch s, or -1 past the last.
std::int64_t drawn(const Bench& b, std::int64_t s) {
  const std::int64_t k = std::min<std::int64_t>(b.opts->check_iterations, b.total);
  if (s >= k) return -1;
  using wide = __int128;  // s·T may pass 2^63
  const auto lo = static_cast<std::int64_t>((wide{s} * b.total + k - 1) / k),
             hi = static_cast<std::int64_t>((wide{s + 1} * b.total + k - 1) / k);
  const std::uint64_t draw = validate::mix(b.seed ^ validate::mix(static_cast<std::uint64_t>(s)));
  return lo + static_cast<std::int64_t>(draw % static_cast<std::uint64_t>(hi - lo));
}

// Whether timed iteration i (each asked once, in order) is its stretch's drawn one and affordable.
bool sampled(Bench& b, std::int64_t i) {
  if (i != b.pick) return false;
  b.pick = drawn(b, ++b.stretch);
  return checks_affordable(b);
}

// What was measured beside the timings, at a benchmark's working set: the reference and the
// cache-line round trip.
struct Beside {
  double ref_GBps, ref_spread, round_trip_ns;
  double paired_fraction = -1;  // the median of the iterations' fractions of their paired trials (-1: not paired)
  double window_share = 0;      // the median iteration over the median call's wall time (window_share)
};

// A passing repetition's counters (docs/results-json.md): rates, the reference's fraction, the
// ranks' spread, percentiles, the checks so far and the machine's state.
void counters(benchmark::State& state, const Bench& b, std::vector<double>& iterations, const std::vector<double>& rank_total,
              const Beside& beside) {
  World& w = world();
  const auto [ref_GBps, ref_spread, round_trip_ns, paired_fraction, window_share] = beside;
  const double iters = static_cast<double>(iterations.size());
  if (iters == 0) return;
  const double mean = std::accumulate(iterations.begin(), iterations.end(), 0.0) / iters;
  double mn = 1e300, mx = 0, sum = 0;
  for (double total : rank_total) mn = std::min(mn, total / iters), mx = std::max(mx, total / iters), sum += total / iters;
  const Problem& p = b.at(0).problem();
  const Traffic& t = b.traffic;
  auto& k = state.counters;
  k["ranks"] = p.ranks;
  k["count"] = static_cast<double>(p.count);
  k["root"] = b.root;
  k["bytes"] = t.bytes;
  k["algbw"] = mean > 0 ? t.bytes / mean / 1e9 : 0;
  k["busbw"] = k["algbw"] * t.bus;
  k["membw"] = mean > 0 ? t.memory / mean / 1e9 : 0;
  k["t_rank_min"] = w.min(mn);
  k["t_rank_max"] = w.max(mx);
  k["t_rank_avg"] = w.sum(sum) / p.ranks;
  k["t_p50"] = percentile(iterations, 0.50);
  k["t_p99"] = percentile(iterations, 0.99);
  k["window_share"] = window_share;
  // The median iteration against the reference's median trial, measured just before this
  // repetition at this working set: a median against a median, so an iteration slowed by
  // something else (a preemption, the caches a full check left dirty) moves neither; the
  // start-of-run ceiling's fraction (of the mean, as membw) is kept beside it.
  k["ref_GBps"] = ref_GBps;
  k["ref_spread"] = ref_spread;
  k["peak_fraction"] = paired_fraction >= 0              ? paired_fraction
                       : ref_GBps > 0 && k["t_p50"] > 0 ? t.memory / k["t_p50"] / 1e9 / ref_GBps
                                                        : 0;
  k["ref_paired"] = paired_fraction < 0 ? 0 : b.paired_on_own ? 2 : 1;
  k["ref_again"] = w.sum(static_cast<double>(b.paired_again));
  k["ceiling_fraction"] = t.ceiling > 0 ? k["membw"] / t.ceiling : 0;
  // The median iteration in cache-line round trips between two cores: the synchronisation a
  // small count costs against the least any handover between cores takes.
  k["round_trip_ns"] = round_trip_ns;
  k["round_trips"] = round_trip_ns > 0 ? k["t_p50"] * 1e9 / round_trip_ns : 0;
  k["checked_iterations"] = b.checked;  // so far, over this and the earlier repetitions
  k["checked_calls"] = checked_calls(b);  // so far, every check
  k["check_seconds"] = b.spent;  // so far: the sampled checks' wall time, the budgeted cost
  // The machine since the benchmark started (setup, validation, warm-up and the repetitions so
  // far; a short benchmark's the last quarter second): /proc counts in ticks of 10 ms, too
  // coarse for one repetition.
  const CpuSample now = sample_cpu();
  const CpuSample& since = state_since(b, now.wall);
  const std::vector<std::string> hosts = w.hosts();
  const bool one_host = std::all_of(hosts.begin(), hosts.end(), [&](const std::string& h) { return h == hosts[0]; });
  // The run's own: every rank's process, and once (rank 0's, on the supervisor's host) the
  // supervisor and the launcher between them.
  const long long own = now.self - since.self + (w.rank() == 0 ? std::max(0LL, now.launch - since.launch) : 0);
  const MachineState m = machine_state(since, now, one_host ? static_cast<long long>(w.sum(static_cast<double>(own))) : own);
  k["state_seconds"] = w.max(now.wall - since.wall);  // the interval the state is over
  k["load_avg"] = m.load_avg;
  k["online_cpus"] = m.online_cpus;
  k["steal_pct"] = w.max(m.steal_pct);
  k["others_cpu_pct"] = w.max(m.others_cpu_pct);
  k["huge_pages_kib"] = w.sum(m.huge_pages_kib);
  // bytes_per_second: the bytes the collective moves over the measured (manual) time, which is
  // what Google Benchmark divides a rate by; the field Conbench and others track. A collective
  // that moves no bytes (count 0) gets items_per_second instead, calls a second, the rate
  // Conbench takes next: a bytes_per_second of 0 would hide its speed.
  if (t.bytes > 0) state.SetBytesProcessed(static_cast<std::int64_t>(t.bytes) * state.iterations());
  else state.SetItemsProcessed(state.iterations());
}

void body(benchmark::State& state, Bench& b) {
  World& w = world();
  const validate::Mode mode = b.opts->mode;
  const std::size_t local = b.at(0).local_ranks().size();
  std::vector<double> seconds(local), rank_total(local, 0.0), iterations, calls;
  iterations.reserve(1 << 16), calls.reserve(1 << 16);
  // A failure ends the measuring: the rest of this repetition's loop does nothing and the
  // repetition, as every later one, is skipped with the error. SkipWithError is called with the
  // loop complete, every repetition's, as its statistics need: Debian's 1.7.1 aborts in
  // ComputeStats on repetitions of unequal iteration counts, a skipped one's included (one
  // skipped before its loop has none: two passing repetitions, a failing third and a fourth
  // ended the worker with SIGABRT, the failure's own message lost).
  if (!b.failure.empty()) {
    for (auto _ : state) {}
    return state.SkipWithError(b.failure.c_str());
  }
  auto stop = [&](std::string why, bool wrong) { b.failure = std::move(why), b.wrong = wrong; };
  auto reference_failed = [&](const std::exception& e) {
    stop(std::string("exception: ") + e.what() + " (measuring the reference beside the benchmark)", false);
  };
  double ref_GBps = b.traffic.ceiling, ref_spread = 0;
  b.paired_GBps.clear();
  b.paired_again = 0;
  if (b.reference && b.failure.empty()) try {
      const Fastest before = fastest_median(reference_trials(b));
      ref_GBps = before.GBps, ref_spread = before.spread, b.way = before.way;
    } catch (const std::exception& e) {
      reference_failed(e);
    }
  // A small count's synchronisation against a cache-line round trip measured now, beside it
  // (a VM's cross-core latency moves by 5x within minutes), in a process of its own; the
  // start-of-run figure for MPI ranks (bound to a core each, or sharing cores with spinning ones).
  double round_trip_ns = b.round_trip_ns;
  if (b.at(0).memory() == Memory::host && b.reference && b.failure.empty() && b.traffic.memory <= kPingPongBytes &&
      w.size() == 1)
    if (const double now = measure_round_trip_ns(10); now > 0) round_trip_ns = now;
  // From the call, or from the checks around it (inside the iteration, or outside: below).
  static constexpr const char* kOutOfMemoryInLoop = "std::bad_alloc thrown by the implementation during the timed loop";
  auto iteration = [&] {
    // Outside the window: the last iteration runs on fresh inputs (a cached result is then
    // wrong) into poisoned outputs (a lazy loop leaves the poison); sampled ones into
    // poisoned outputs (an intermittent error is seen).
    const std::int64_t i = b.iteration++;
    Collective& c = b.at(i);
    if (b.paired_trial) try {
        const double s = w.max(b.paired_trial(b.way, static_cast<std::size_t>(i) % b.collectives.size()));
        b.paired_GBps.push_back(s > 0 ? b.traffic.memory / s / 1e9 : 0);
      } catch (const std::exception& e) {
        return reference_failed(e);
      }
    // The one before the last is checked in full on the same inputs as the loop's (rewritten
    // with the same values): an implementation wrong only where the spots do not look, and only
    // while its inputs are unchanged, is seen there.
    const bool drawn_here = sampled(b, i),  // asked of every iteration: it moves the sample on
               last = i == b.total - 1,
               full = i == b.total - 2 && b.opts->check_iterations > 0 && checks_affordable(b) &&
                      b.spent + b.full_check <= std::max(b.budget, b.allowance),
               check = last || full || drawn_here;
    const std::uint64_t seed = last ? b.seed + 1 : b.seed;
    const double check_start = now_seconds();
    // Agreed before anything is written (an implementation may hand out other buffers by now).
    if (check)
      if (std::string wrong = validate::agreed_layout(c); !wrong.empty())
        return stop(fmt::format("validation failed in timed iteration {} of {}{}: {} {}", i + 1, b.total, b.where(i), b.impl, wrong),
                    true);
    validate::Spots spots;
    if (last || full) validate::prepare(c, mode, seed);
    else if (check) spots = validate::poison(c, validate::mix(b.seed + static_cast<std::uint64_t>(i)), 256);
    double check_time = now_seconds() - check_start;
    if (b.opts->cold) c.flush_caches();
    std::fill(seconds.begin(), seconds.end(), -1.0);
    const double call_start = now_seconds();
    // An exception on one process only is agreed below: it stopping alone left the others
    // waiting in the next iteration's agreement until --timeout, its message lost.
    std::string threw;
    try {
      c.run(seconds);
    } catch (const std::bad_alloc&) {
      threw = kOutOfMemoryInLoop;
    } catch (const std::exception& e) {
      threw = std::string("exception: ") + e.what();
    }
    const double call = now_seconds() - call_start;
    // A time that is not a finite positive number becomes infinite here, so every rank sees it.
    double mine = threw.empty() ? 0 : HUGE_VAL;
    for (double s : seconds) mine = std::max(mine, s > 0 && std::isfinite(s) ? s : HUGE_VAL);
    const double t = w.max(mine);
    if (!std::isfinite(t))
      if (std::string error = w.first_error(threw); !error.empty()) return stop(std::move(error), false);
    if (!std::isfinite(t) || t < 1e-9 || t > b.opts->timeout) {
      double shown = 0;
      for (double s : seconds) shown = !(s > 0 && std::isfinite(s)) || s < 1e-9 || s > b.opts->timeout ? s : shown;
      return stop(fmt::format("implausible timing: iteration {} took {:g} s as the implementation measured it (a time must "
                              "be positive, finite, at least 1 ns and below --timeout)", i, std::isfinite(t) ? t : shown), true);
    }
    if (const double GBps = b.traffic.memory / t / 1e9; b.traffic.memory > 0 && GBps > b.plausible_GBps)
      return stop(fmt::format("implausible timing: iteration {} took {:g} s, {:.4g} GB/s of memory traffic, more than this "
                              "machine can move ({:.4g} GB/s: twice its fastest measured host copy, or 20 times its device "
                              "copy ceiling)", i, t, GBps, b.plausible_GBps), true);
    state.SetIterationTime(t);
    iterations.push_back(t);
    calls.push_back(call);
    for (std::size_t k = 0; k < local; ++k) rank_total[k] += seconds[k];
    if (!check) return;
    ++b.checked;
    const double t0 = now_seconds();
    std::string error = validate::check(c, mode, seed, last || full ? nullptr : &spots);
    check_time += now_seconds() - t0;
    if (!last) b.spent = w.max(b.spent + check_time);  // the same on every rank, as the decisions
    if (error = w.first_error(error); !error.empty())
      stop(fmt::format("validation failed in timed iteration {} of {}{}{}: {} {}", i + 1, b.total, b.where(i),
                       last ? " (the last, on fresh inputs)" : full ? " (checked in full, on the loop's inputs)" : "",
                       b.impl, error), true);
  };
  for (auto _ : state) {
    if (b.failure.empty()) {
      try {
        iteration();
      } catch (const std::bad_alloc&) {
        stop(kOutOfMemoryInLoop, false);
      } catch (const std::exception& e) {
        stop(std::string("exception: ") + e.what(), false);
      }
    }
  }
  std::vector<std::pair<std::string, double>> own;
  if (b.failure.empty()) {
    std::string threw;
    try {
      own = b.at(b.total - 1).measure_counters();
    } catch (const std::exception& e) {
      threw = std::string("exception: ") + e.what() + " (measuring the implementation's own counters)";
    }
    if (std::string error = w.first_error(threw); !error.empty()) stop(std::move(error), false);  // one rank's: every rank's
  }
  if (!b.failure.empty()) return state.SkipWithError(b.failure.c_str());
  Beside beside{ref_GBps, ref_spread, round_trip_ns};
  if (b.paired_trial)
    if (const std::optional<Paired> paired = pair_up(b.traffic.memory, iterations, b.paired_GBps))
      beside = {paired->GBps, paired->spread, round_trip_ns, paired->fraction};
  // How much of its call the window covers (what it leaves out: the ranks' start, waking them
  // and waiting for their CPUs): reported, not judged (docs/measurement.md, "One iteration").
  const double median_call = w.max(percentile(calls, 0.5));
  beside.window_share = median_call > 0 ? percentile(iterations, 0.5) / median_call : 0;
  if (b.reference && beside.ref_GBps > 0) try {
      if (std::string why = beyond_reference(b, iterations, beside.ref_GBps); !why.empty()) {
        stop(std::move(why), true);
        return state.SkipWithError(b.failure.c_str());
      }
    } catch (const std::exception& e) {
      reference_failed(e);
      return state.SkipWithError(b.failure.c_str());
    }
  counters(state, b, iterations, rank_total, beside);
  for (const auto& [name, value] : own) {
    if (state.counters.count(name) || std::find(std::begin(kEntryFields), std::end(kEntryFields), name) != std::end(kEntryFields)) {
      // It would replace the entry's own field or counter (a real_time of the implementation's
      // choosing in place of the measured one), or be dropped unseen.
      stop(fmt::format("the implementation's counter '{}' (measure_counters) has the name of a field or counter primbench "
                       "writes in each entry; name it differently", name), false);
      return state.SkipWithError(b.failure.c_str());
    }
    state.counters[name] = value;
  }
}

// The validator gives inputs to, and checks, the ranks a collective says this process holds:
// every rank of the problem in a shared-memory process, its own rank in a process per rank.
// "" when it says so, else why not (one that leaves out ranks would have them go unchecked).
std::string held_ranks_error(const Collective& c) {
  World& w = world();
  const int P = c.problem().ranks;
  std::vector<int> want;
  if (w.size() == 1)
    for (int r = 0; r < P; ++r) want.push_back(r);
  else
    want.push_back(w.rank());
  std::string error;
  if (const std::vector<int> held = c.local_ranks(); held != want)
    error = fmt::format("holds ranks [{}] here by its local_ranks(), where this process runs ranks [{}] of {}: every rank "
                        "must be given inputs and checked", fmt::join(held, ","), fmt::join(want, ","), P);
  return w.first_error(error);
}

// The reference's threads in this process: every core, shared among the ranks on this host.
int reference_threads() {
  World& w = world();
  const std::vector<std::string> hosts = w.hosts();
  const long here = hosts.empty() ? 1 : std::count(hosts.begin(), hosts.end(), hosts[static_cast<std::size_t>(w.rank())]);
  const long cores = static_cast<long>(usable_cpus().size());
  return static_cast<int>(std::max(1L, cores / std::max(1L, here)));
}

// Warm-up that also sets the iteration count: runs the collective for at least --warmup
// seconds of wall time (at least once), then picks the count that makes one repetition last
// about --min-time of wall time, and at least ⌈kCheckedCalls / R⌉ (15 of R = 3), so the loop
// itself holds the calls its checks sample (nccl-tests times 20 a size, OSU 100 to 10,000) and
// a large count's median is not of two or three calls; a repetition longer than --min-time is
// allowed only while the loop stays under kLeastLoopSeconds and a quarter of --timeout. Google Benchmark would size
// repetitions by the timed (manual) time instead, and a collective whose window is tiny but
// whose synchronisation outside the window is slow (more ranks than cores) would then run for
// minutes. Every MPI rank agrees on the count, as on each loop decision here.
struct Count {
  std::int64_t iterations;  // a repetition
  double per_run;           // wall seconds a call took in the warm-up, the slowest rank's
};
Count warm_up_and_count(const Bench& b, const RunOptions& opts) {
  World& w = world();
  std::vector<double> seconds(b.at(0).local_ranks().size());
  const double t0 = now_seconds();
  std::int64_t runs = 0;
  double elapsed = 0;
  do {
    Collective& c = b.at(runs);
    if (opts.cold) c.flush_caches();
    c.run(seconds);
    ++runs;
    elapsed = w.max(now_seconds() - t0);
  } while (elapsed < opts.warmup);
  const double per_run = elapsed / static_cast<double>(runs), reps = opts.repetitions;
  const double fits = std::floor(std::min(kLeastLoopSeconds, opts.timeout / 4) / (per_run * reps));
  const double least = std::min(std::ceil(kCheckedCalls / reps), fits);
  // Clamped as a double: a huge ratio must not reach an out-of-range integer conversion.
  return {static_cast<std::int64_t>(std::clamp(std::max(opts.min_time / per_run + 1, least), 1.0, 1e9)), per_run};
}

// Google Benchmark's runs as the entries its JSONReporter writes (the same fields, the same
// values), handed over as each benchmark's runs are reported instead of printed as one document.
// Two things differ, both stated in docs/results-json.md: the name leaves out the iteration and
// repetition counts (measurement settings, not the benchmark's identity: names stay
// <primitive>/<impl>/.../root:<r>/manual_time across runs and machines), and a value that is
// not a number (the cv of an all-zero counter such as root 0) is left out rather than written
// as NaN, which is not JSON.
class EntriesReporter final : public benchmark::BenchmarkReporter {
 public:
  explicit EntriesReporter(json& entries) : entries_(entries) {}
  bool ReportContext(const Context&) override { return true; }
  void ReportRuns(const std::vector<Run>& runs) override {
    for (const Run& run : runs) entries_.push_back(entry(run));
  }

 private:
  static json entry(const Run& run) {
    benchmark::BenchmarkName id = run.run_name;
    id.iterations.clear(), id.repetitions.clear();
    const bool aggregate = run.run_type == Run::RT_Aggregate;
    const std::string run_name = id.str();
    json e = {{"name", aggregate ? run_name + "_" + run.aggregate_name : run_name},
              {"family_index", run.family_index},
              {"per_family_instance_index", run.per_family_instance_index},
              {"run_name", run_name},
              {"run_type", aggregate ? "aggregate" : "iteration"},
              {"repetitions", run.repetitions},
              {"threads", run.threads},
              {"iterations", run.iterations},
              {"time_unit", benchmark::GetTimeUnitString(run.time_unit)}};
    auto put = [&e](const std::string& key, double v) {
      if (std::isfinite(v)) e[key] = v;
    };
    if (aggregate) {
      const bool percentage = run.aggregate_unit == benchmark::kPercentage;
      e["aggregate_name"] = run.aggregate_name;
      e["aggregate_unit"] = percentage ? "percentage" : "time";
      put("real_time", percentage ? run.real_accumulated_time : run.GetAdjustedRealTime());
      put("cpu_time", percentage ? run.cpu_accumulated_time : run.GetAdjustedCPUTime());
    } else {
      e["repetition_index"] = run.repetition_index;
      put("real_time", run.GetAdjustedRealTime());
      put("cpu_time", run.GetAdjustedCPUTime());
    }
    if (run.error_occurred) e["error_occurred"] = true, e["error_message"] = run.error_message;
    for (const auto& [key, counter] : run.counters) put(key, counter.value);
    if (!run.report_label.empty()) e["label"] = run.report_label;
    return e;
  }
  json& entries_;
};

// Google Benchmark's run of one benchmark: `repetitions` repetitions of `iterations` each. It
// is registered now, not with the others up front, because its iteration count comes from its
// own warm-up (Debian's Google Benchmark, 1.7.1, can only size repetitions by the timed time,
// which for a tiny window in a slow loop means minutes; see warm_up_and_count).
json run_one_gb(const Planned& pl, Bench& bench, int repetitions, std::int64_t iterations) {
  benchmark::ClearRegisteredBenchmarks();
  benchmark::RegisterBenchmark(pl.name.c_str(), [&bench](benchmark::State& s) { body(s, bench); })
      ->UseManualTime()
      ->Unit(benchmark::kNanosecond)
      ->Iterations(iterations)
      ->Repetitions(repetitions);
  json entries = json::array();
  EntriesReporter reporter(entries);
  benchmark::RunSpecifiedBenchmarks(&reporter);
  return entries;
}

// The relative standard error of the median of the repetitions' times, distribution-free: half
// the width of the order-statistic interval that covers the median with one standard error's
// confidence (ranks (n ∓ √n)/2, Conover), over the median. 0 for fewer than two repetitions.
double median_rse(const json& entries) {
  std::vector<double> t;
  for (const json& e : entries)
    if (e.value("run_type", "") == "iteration" && !e.value("error_occurred", false)) t.push_back(e.value("real_time", 0.0));
  const std::size_t n = t.size();
  if (n < 2) return 0;
  std::sort(t.begin(), t.end());
  const double median = n % 2 ? t[n / 2] : (t[n / 2 - 1] + t[n / 2]) / 2;
  const double half = std::sqrt(static_cast<double>(n)) / 2;
  const auto lo = static_cast<std::size_t>(std::clamp(std::floor(n / 2.0 - half), 0.0, n - 1.0));
  const auto hi = static_cast<std::size_t>(std::clamp(std::ceil(n / 2.0 + half), 0.0, n - 1.0));
  return median > 0 ? (t[hi] - t[lo]) / 2 / median : 0;
}

// --rse: the first --repetitions are a pilot. When the median's relative standard error over
// them is above the target, the benchmark is measured again with the repetitions that reach it
// where the error falls as 1/√n (Stein's two-stage rule), at most what --rse-max-time allows;
// the second stage's entries replace the pilot's, so Google Benchmark's aggregates are over
// one set of repetitions. The entries say the error, the target and the pilot's size.
template <class Again>
json until_rse(json entries, const RunOptions& opts, double pilot_seconds, Again&& again) {
  World& w = world();
  const double pilot = w.max(median_rse(entries));
  double rse = pilot;
  int pilot_repetitions = 0;
  if (pilot > opts.rse) {
    const double per_repetition = pilot_seconds / opts.repetitions;
    const double wanted = std::ceil(opts.repetitions * (pilot / opts.rse) * (pilot / opts.rse));
    const double affordable = std::floor(opts.rse_max_time / std::max(per_repetition, 1e-9));
    const int n = static_cast<int>(std::clamp(std::min(wanted, affordable), 0.0, 100000.0));
    if (n > opts.repetitions) {
      json more = again(n);
      if (!more.empty()) entries = std::move(more), rse = w.max(median_rse(entries)), pilot_repetitions = opts.repetitions;
    }
  }
  for (json& e : entries) {
    e["rse"] = rse;
    e["rse_target"] = opts.rse;
    e["pilot_repetitions"] = pilot_repetitions;  // 0: the pilot met the target, or no more fitted
  }
  return entries;
}

}  // namespace

// Adds primbench's fields to Google Benchmark's entries of one benchmark.
void label(json& entries, const Planned& pl, const std::string& validation) {
  for (json& e : entries) {
    e["primitive"] = std::string(name(pl.problem.primitive));
    e["impl"] = pl.impl->name;
    e["dtype"] = std::string(name(pl.problem.dtype));
    if (pl.problem.info().takes_op) e["op"] = std::string(name(pl.problem.op));
    e["validation"] = validation;
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

// Repetitions go to Google Benchmark as its own flag, so they stay out of the names.
void configure_google_benchmark(const RunOptions& opts) {
  static std::vector<std::string> args;
  args = {"primbench", "--benchmark_repetitions=" + std::to_string(opts.repetitions)};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  int argc = static_cast<int>(argv.size());
  benchmark::Initialize(&argc, argv.data());
}

// Ends the process when one benchmark takes longer than the timeout: for an MPI job a user
// launched, which has no supervisor to do it. Its journal line says which benchmark hung.
class Watchdog {
 public:
  Watchdog(double timeout, const Sink& sink) : timeout_(timeout), sink_(sink), thread_([this] { loop(); }) {}
  ~Watchdog() {
    { std::lock_guard l(m_); stop_ = true; }
    cv_.notify_all();
    thread_.join();
  }
  void arm(const std::string& name) { std::lock_guard l(m_); name_ = name; armed_ = true; ++generation_; cv_.notify_all(); }
  void disarm() { std::lock_guard l(m_); armed_ = false; ++generation_; cv_.notify_all(); }

 private:
  void loop() {
    std::unique_lock l(m_);
    while (!stop_) {
      if (!armed_) { cv_.wait(l); continue; }
      const auto gen = generation_;
      if (!cv_.wait_for(l, std::chrono::duration<double>(timeout_), [&] { return stop_ || generation_ != gen; })) {
        const std::string why = fmt::format("hung: no progress for {:g} s", timeout_);
        try {
          sink_({{"failed", name_}, {"failure", why}});
        } catch (const std::exception&) {
        }
        std::fprintf(stderr, "primbench: error: run incomplete: %s: %s\n", name_.c_str(), why.c_str());
        ::_exit(kIncomplete);
      }
    }
  }
  double timeout_;
  const Sink& sink_;
  std::mutex m_;
  std::condition_variable cv_;
  bool armed_ = false, stop_ = false;
  unsigned long generation_ = 0;
  std::string name_;
  std::thread thread_;
};

void execute(const std::vector<Planned>& plan, const RunOptions& opts, const Sink& sink) {
  World& w = world();
  if (opts.timing) configure_google_benchmark(opts);
  const bool leader = w.rank() == 0;
  auto note = [&](const json& line) {
    if (leader && sink) sink(line);
  };
  Ceilings ceilings;
  if (opts.timing) ceilings = measure_ceilings(opts, leader);
  note({{"worker", primbench_context(opts, ceilings)}, {"context", google_benchmark_context()}});
  std::optional<Watchdog> watchdog;
  if (!opts.supervised) watchdog.emplace(opts.timeout, sink);
  const double run_start = now_seconds();
  double checks_spent = 0;  // seconds of sampled checks in this run so far
  std::deque<CpuSample> earlier = {sample_cpu()};  // the machine at this process's start and at each benchmark's
  for (const Planned& pl : plan) {
    note({{"start", pl.name}});
    if (watchdog) watchdog->arm(pl.name);
    std::string failure;
    bool validation_failed = false;
    json entries = json::array();
    std::string phase;
    auto enter = [&](const char* p) { phase = p, note({{"phase", p}}); };
    const CpuSample since = sample_cpu();
    // Enough to reach back a quarter second (one sample a benchmark: a few hundred at most).
    while (earlier.size() > 1 && since.wall - earlier[1].wall >= kJudgedSeconds) earlier.pop_front();
    try {
      enter("setup");
      std::vector<std::unique_ptr<Collective>> owned;
      std::vector<Collective*> cs;
      for (int root : pl.roots()) {
        Problem p = pl.problem;
        p.root = root;
        cs.push_back(owned.emplace_back(pl.impl->make(p)).get());
      }
      enter("validation");
      const double validation_start = now_seconds();
      std::string error = held_ranks_error(*cs[0]);
      for (Collective* c : cs) {
        if (!error.empty()) break;
        error = validate::rounds(*c, opts.mode, opts.seed, opts.validate_rounds);
        if (error.empty() && opts.both_modes) error = validate::rounds(*c, validate::Mode::random, opts.seed, opts.validate_rounds);
        if (!error.empty()) {
          if (pl.rotate) error = fmt::format("at root {}: {}", c->problem().root, error);
          break;
        }
      }
      const double round_seconds = w.max(now_seconds() - validation_start) / (validation_calls(opts) * cs.size());
      if (!error.empty()) failure = "validation failed: " + pl.impl->name + " " + error, validation_failed = true;
      if (opts.timing && failure.empty()) {
        // The warm-up and the timed loop run on the last validation round's inputs and result.
        Collective& c = *cs[0];
        // Device memory is held against its own backend's copy ceiling, not another backend's
        // (a plugin's device backend that measured none is not checked against CUDA's).
        Ceilings own = ceilings;
        if (c.memory() == Memory::device) own.device_copy_GBps = registry().availability(pl.impl->backend()).device_copy_GBps;
        Bench bench{.impl = pl.impl->name, .collectives = cs, .root = pl.rotate ? -1 : pl.problem.root, .opts = &opts,
                    .traffic = traffic(pl.problem, c.memory(), own),
                    // Agreed: under a launcher of your own only rank 0 measured the ceilings, and
                    // every rank must take the same decision in the loop.
                    .plausible_GBps = w.min(plausible_GBps(c.memory(), own)),
                    .round_trip_ns = w.max(ceilings.host_round_trip_ns),
                    .full_check = round_seconds,
                    .seed = opts.seed + static_cast<std::uint64_t>(opts.validate_rounds) - 1,
                    .since = since,
                    .earlier = &earlier};
        // A device collective with no device ceiling (a plugin's whose backend's probe measured
        // none) has no limit its timings could be checked against.
        if (!std::isfinite(bench.plausible_GBps))
          throw std::runtime_error("its buffers are in device memory, but its backend measured no device copy ceiling "
                                   "(Availability::device_copy_GBps), so its timings cannot be checked; not timed");
        std::optional<Reference> reference;
        std::unique_ptr<DeviceReference> device_reference;
        if (c.memory() == Memory::host) {
          const double share = static_cast<double>(c.local_ranks().size()) / pl.problem.ranks;
          reference.emplace(pl.problem, share, reference_threads(), opts.cold);
          bench.reference = [&](int way) { return reference->trial(way); };
          bench.reference_ways = reference->ways();
          bench.reference_disturbed = [&] { return reference->disturbed(); };
          // Right after the last iteration, as the next iteration comes right after it: both
          // on CPUs that were just busy. After a 2 ms sleep (as before a block) the trial read
          // 15 - 50 % slower than the iteration after it on a CPU still busy (docs/measurement.md).
          // A thread of it that did not have its CPU throughout (a pool still spinning after its
          // call, another process) makes it again once the pools sleep.
          if (reference->beyond_cache()) {
            // Far beyond the cache, on the benchmark's own buffers where every collective's can
            // be made: pairs on the reference's own buffers left each benchmark instance's page
            // placement in the fraction, 0.88 against 1.01 for thread.flat reduce at root 1 and
            // at root 0 in one run (docs/measurement.md, "In place"). Each trial on the buffers
            // the collective the iteration runs gives now (an implementation may give others from
            // one call to the next: they are asked for again, as the validation asks); where they
            // no longer make the pattern, on the reference's from then on. Made before the
            // iteration poisons or prepares its buffers, so the validation sees only what the
            // implementation wrote. Not with --cache cold: a trial on the benchmark's buffers is
            // not evicted before it, and the iteration is.
            const int threads = reference_threads();
            bench.paired_on_own = reference->far_beyond_cache() && !opts.cold &&
                                  std::all_of(cs.begin(), cs.end(), [&](Collective* k) { return on_buffers(*k, threads).has_value(); });
            bench.paired_trial = [&, threads](int way, std::size_t which) {
              std::optional<OnBuffers> plan;
              if (bench.paired_on_own && !(plan = on_buffers(*cs[which], threads))) bench.paired_on_own = false;
              const OnBuffers* on = plan ? &*plan : nullptr;
              const double s = reference->trial(way, on);
              if (reference->cpu_share() >= kOwnCpu) return s;
              ++bench.paired_again;
              let_pools_sleep();
              return reference->trial(way, on);
            };
          }
        } else if (const Backend* backend = registry().backend(pl.impl->backend()); backend && backend->reference) {
          device_reference = backend->reference(pl.problem, bench.traffic.memory, opts.cold);
          if (device_reference) bench.reference = [&](int) { return device_reference->trial(); };
        }
        enter("warm-up");
        const auto [iterations, per_run] = warm_up_and_count(bench, opts);
        auto timed = [&](int repetitions) {
          // --check-iterations sampled over the loop (or every iteration of a shorter one), while all
          // the checks of this run cost less than --check-budget (5 %) of its time (or the
          // benchmark's sampled ones 2 % of its loop).
          bench.total = iterations * repetitions;
          bench.iteration = 0;
          bench.stretch = 0;
          bench.pick = drawn(bench, 0);
          bench.repetition = std::max(opts.min_time, static_cast<double>(iterations) * per_run);
          const double loop = repetitions * bench.repetition;  // expected
          bench.budget = opts.check_budget * (w.max(now_seconds() - run_start) + loop) - checks_spent;
          // The sampled checks are cheap (spots): the full checks of large counts spend the
          // budget, and must not starve the small counts after them of their samples.
          bench.allowance = bench.spent + 0.02 * loop;
          enter("timed loop");
          return run_one_gb(pl, bench, repetitions, iterations);
        };
        const double loop_start = now_seconds();
        entries = timed(opts.repetitions);
        if (opts.rse > 0 && bench.failure.empty()) entries = until_rse(entries, opts, w.max(now_seconds() - loop_start), [&](int n) {
          // The pilot's last iteration ran on seed + 1: the next last needs fresh inputs again,
          // and every root's collective the pilot's last inputs (one of them has them already).
          bench.seed += 1;
          for (Collective* k : cs)
            if (std::string wrong = validate::agreed_layout(*k); !wrong.empty()) {
              bench.failure = fmt::format("validation failed before the stopping rule's repetitions: {} {}", pl.impl->name, wrong);
              bench.wrong = true;
              return json::array();
            }
          for (Collective* k : cs) validate::prepare(*k, opts.mode, bench.seed);
          return timed(n);
        });
        checks_spent += bench.spent;
        failure = bench.failure;
        validation_failed = bench.wrong;
        if (!failure.empty()) entries = json::array();  // no timing of a wrong result survives
        for (json& e : entries) {
          e["ceiling"] = bench.traffic.kind;
          // Whether ref_GBps was measured beside the benchmark, or is that ceiling (a device
          // backend without a reference, or a problem across several GPUs).
          e["reference"] = bench.reference ? "beside" : "ceiling";
        }
      }
      enter("teardown");
    } catch (const std::bad_alloc&) {
      failure = phase == "setup" ? "out of memory allocating the buffers (std::bad_alloc from the implementation's constructor)"
                                 : "std::bad_alloc thrown by the implementation during " + phase;
    } catch (const JournalError&) {
      throw;  // nothing could be kept: the run ends
    } catch (const std::exception& e) {
      failure = std::string("exception: ") + e.what();
    }
    // Every process's outcome, agreed once its collective is freed: a process that failed alone
    // (in its own teardown, or one that crashed there, which ends the job before rank 0 says
    // done) was the benchmark's failure, not a pass written by rank 0 and a crash blamed on the
    // next benchmark.
    if (std::string agreed = w.first_error(failure); agreed != failure) failure = std::move(agreed), entries = json::array();
    if (watchdog) watchdog->disarm();
    earlier.push_back(since);
    if (!failure.empty() && entries.empty()) entries.push_back(error_entry(pl, failure));
    const char* status = failure.empty() ? "passed" : validation_failed ? "failed" : "error";
    label(entries, pl, status);
    json done = {{"done", pl.name}, {"entries", std::move(entries)}, {"status", status}};
    if (!failure.empty()) done["failure"] = failure;
    note(done);
  }
  note({{"finished", true}});
}

}  // namespace primbench
