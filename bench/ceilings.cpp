#include "ceilings.hpp"

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstring>
#include <pthread.h>
#include <sched.h>
#include <thread>
#include <vector>

#include "machine.hpp"
#include "primbench/dispatch.hpp"
#include "primbench/primbench.hpp"

namespace primbench {
namespace {

// Runs f(thread, begin, end) on every core over [0, n); each thread's time.
template <class F> std::vector<double> each_core(std::size_t n, int threads, F&& f) {
  std::vector<std::thread> pool;
  std::vector<double> seconds(threads);
  std::atomic<int> ready{0};
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      const std::size_t lo = n * t / threads, hi = n * (t + 1) / threads;
      ready.fetch_add(1);
      while (ready.load() < threads) {}
      const double t0 = now_seconds();
      f(t, lo, hi);
      seconds[t] = now_seconds() - t0;
    });
  }
  for (auto& th : pool) th.join();
  return seconds;
}

// The same, the slowest thread's time.
template <class F> double on_all_cores(std::size_t n, int threads, F&& f) {
  const std::vector<double> s = each_core(n, threads, std::forward<F>(f));
  return *std::max_element(s.begin(), s.end());
}

}  // namespace

Ceilings measure_host_ceilings() {
  const int threads = static_cast<int>(usable_cpus().size());
  const std::size_t bytes = std::size_t{512} << 20;  // far past any last-level cache here
  const std::size_t n = bytes / sizeof(std::uint64_t);
  std::vector<std::uint64_t> src(n), dst(n);  // value-initialised: pages touched
  on_all_cores(n, threads, [&](int, std::size_t lo, std::size_t hi) {
    for (std::size_t i = lo; i < hi; ++i) src[i] = i, dst[i] = 0;
  });
  std::vector<std::uint64_t> sink(threads * 8);
  Ceilings c;
  for (int rep = 0; rep < 5; ++rep) {
    const double read = on_all_cores(n, threads, [&](int t, std::size_t lo, std::size_t hi) {
      std::uint64_t a0 = 0, a1 = 0, a2 = 0, a3 = 0;
      std::size_t i = lo;
      for (; i + 4 <= hi; i += 4) a0 += src[i], a1 += src[i + 1], a2 += src[i + 2], a3 += src[i + 3];
      for (; i < hi; ++i) a0 += src[i];
      sink[t * 8] = a0 + a1 + a2 + a3;
    });
    // One memcpy of each slice, and the slice in kCopyChunk pieces: the faster of the two is the
    // limit (glibc picks its strategy by a call's size: docs/measurement.md).
    const double whole = on_all_cores(n, threads, [&](int, std::size_t lo, std::size_t hi) {
      std::memcpy(dst.data() + lo, src.data() + lo, (hi - lo) * sizeof(std::uint64_t));
    });
    const double pieces = on_all_cores(n, threads, [&](int, std::size_t lo, std::size_t hi) {
      chunked_copy(dst.data() + lo, src.data() + lo, (hi - lo) * sizeof(std::uint64_t));
    });
    c.host_read_GBps = std::max(c.host_read_GBps, bytes / read / 1e9);
    c.host_copy_GBps = std::max(c.host_copy_GBps, bytes / std::min(whole, pieces) / 1e9);
  }
  return c;
}

double measure_cache_copy_GBps() {
  const int threads = static_cast<int>(usable_cpus().size());
  constexpr std::size_t kBytes = 8 << 10, kRounds = 2000;  // source and destination fit in a 32 KiB L1
  std::vector<std::vector<std::byte>> src(threads, std::vector<std::byte>(kBytes, std::byte{1})), dst = src;
  // Each thread's best round, summed: a limit, so a thread descheduled in one round (a busy
  // machine) must not lower it, or a true timing would be called implausible. At least 5 rounds
  // over at least kSpread: five took under a millisecond, and once all five came out at
  // 82 GB/s where 20 other runs measured 174 - 220, and honest L2-resident gathers at 167 - 174
  // GB/s were called implausible on an idle machine (2026-12-06).
  constexpr double kSpread = 0.05;
  std::vector<double> best(threads, 0.0);
  const double start = now_seconds();
  for (int rep = 0; rep < 5 || now_seconds() - start < kSpread; ++rep) {
    const std::vector<double> s = each_core(static_cast<std::size_t>(threads), threads, [&](int t, std::size_t, std::size_t) {
      for (std::size_t r = 0; r < kRounds; ++r) {
        std::memcpy(dst[t].data(), src[t].data(), kBytes);
        asm volatile("" : : "r"(dst[t].data()) : "memory");  // every copy happens
      }
    });
    for (int t = 0; t < threads; ++t) best[t] = std::max(best[t], static_cast<double>(kBytes) * kRounds / s[t] / 1e9);
  }
  double sum = 0;
  for (double b : best) sum += b;
  return sum;
}

double measure_round_trip_ns(int trials) {
  // The process's CPUs, not the calling thread's (a pool may have pinned it to one).
  const std::vector<int>& cpus = usable_cpus();
  cpu_set_t mine;
  if (cpus.size() < 2 || ::pthread_getaffinity_np(::pthread_self(), sizeof mine, &mine) != 0) return 0;
  auto pin = [](int cpu) {
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(cpu, &one);
    ::pthread_setaffinity_np(::pthread_self(), sizeof one, &one);
  };
  // Many short trials, the best kept: on a VM a vCPU descheduled for a moment must not count.
  // The other side is started and pinned once; each trial begins when both are spinning. At
  // most 0.1 s in all: where the two threads share a core with others (spinning MPI ranks)
  // every handover can cost a time slice, and the trials so far are what it gives.
  constexpr int kTrips = 1000;
  const int kTrials = std::max(1, trials);
  alignas(64) std::atomic<int> line{0};   // the line handed over: odd from this side, even back
  alignas(64) std::atomic<int> ready{0};  // the other side is spinning for trial `ready - 1`
  std::atomic<bool> stop{false};
  std::thread other([&] {
    pin(cpus[1]);
    for (int trial = 0; trial < kTrials && !stop.load(); ++trial) {
      ready.store(trial + 1, std::memory_order_release);
      for (int i = 0; i < kTrips; ++i) {
        const int want = 2 * (trial * kTrips + i) + 1;
        while (line.load(std::memory_order_acquire) != want)
          if (stop.load(std::memory_order_relaxed)) return;
        line.store(want + 1, std::memory_order_release);
      }
    }
  });
  pin(cpus[0]);
  double best = 0;
  const double deadline = now_seconds() + 0.1;
  for (int trial = 0; trial < kTrials && now_seconds() < deadline; ++trial) {
    while (ready.load(std::memory_order_acquire) != trial + 1) {}
    const double t0 = now_seconds();
    int i = 0;
    for (; i < kTrips; ++i) {
      const int next = 2 * (trial * kTrips + i) + 1;
      line.store(next, std::memory_order_release);
      while (line.load(std::memory_order_acquire) != next + 1) {}
      if ((i & 63) == 63 && now_seconds() > deadline) break;
    }
    // A trial cut short counts only where none was whole: on a machine so busy that no 1000
    // round trips fit in 0.1 s, the round trips that did are the measurement (0 would say
    // "not measured").
    if (i < kTrips && (best > 0 || i == 0)) break;
    const double ns = (now_seconds() - t0) / i * 1e9;
    best = best == 0 ? ns : std::min(best, ns);
    if (i < kTrips) break;
  }
  stop.store(true);
  other.join();
  ::pthread_setaffinity_np(::pthread_self(), sizeof mine, &mine);  // the caller's CPUs back
  return best;
}

}  // namespace primbench
