// A persistent pool of rank threads, and the synchronisation they share. A waiting rank spins
// briefly (a rank on its own core answers in tens of nanoseconds), then yields (another thread
// on its core gets to run), then sleeps on a futex, so more ranks than cores still progress.
#pragma once

#include <sched.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <thread>
#include <vector>

namespace primbench::thread_backend {

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

// How a waiting rank backs off: pauses, then yields, then sleeps.
struct Spin {
  int pauses;
  int yields;
};
Spin spin_limit(int ranks);

// A 32-bit word ranks wait on, with its own futex: no wake-up is lost (the writer's store and
// the sleeper's registration are both sequentially consistent), and a writer makes a system
// call only when someone sleeps. Counters wrap; reached() compares modulo 2^32.
class Word {
 public:
  std::uint32_t load() const { return value_.load(std::memory_order_acquire); }
  void store(std::uint32_t v) {
    value_.store(v, std::memory_order_seq_cst);
    wake();
  }
  void add(std::uint32_t d) {
    value_.fetch_add(d, std::memory_order_seq_cst);
    wake();
  }
  static bool reached(std::uint32_t value, std::uint32_t target) {
    return static_cast<std::int32_t>(value - target) >= 0;
  }
  // Returns once the word differs from `old`.
  void wait_change(std::uint32_t old, Spin spin) const {
    wait([old](std::uint32_t v) { return v != old; }, spin);
  }
  // Returns once the word has reached `target`.
  void wait_reach(std::uint32_t target, Spin spin) const {
    wait([target](std::uint32_t v) { return reached(v, target); }, spin);
  }

 private:
  template <class Ready> void wait(Ready ready, Spin spin) const {
    for (int i = 0; i < spin.pauses; ++i) {
      if (ready(load())) return;
      cpu_relax();
    }
    for (int i = 0; i < spin.yields; ++i) {
      if (ready(load())) return;
      std::this_thread::yield();
    }
    while (!sleep_unless(ready)) {}
  }
  template <class Ready> bool sleep_unless(Ready ready) const {
    sleepers_.fetch_add(1, std::memory_order_seq_cst);
    const std::uint32_t seen = value_.load(std::memory_order_seq_cst);
    const bool done = ready(seen);
    if (!done) futex_wait(seen);
    sleepers_.fetch_sub(1, std::memory_order_relaxed);
    return done;
  }
  void wake() {
    if (sleepers_.load(std::memory_order_seq_cst) > 0) futex_wake();
  }
  void futex_wait(std::uint32_t seen) const;
  void futex_wake();

  std::atomic<std::uint32_t> value_{0};
  mutable std::atomic<int> sleepers_{0};
};

// A Word on its own cache line, per rank: "rank r finished step `epoch`".
struct alignas(64) Flag {
  Word word;
};

// Sense-reversing central barrier for a fixed number of participants.
class Barrier {
 public:
  explicit Barrier(int participants);
  void wait();

 private:
  alignas(64) std::atomic<int> arrived_{0};
  alignas(64) Word generation_;
  int participants_;
  Spin spin_;
};

// P rank threads for the life of a collective: rank 0 is the calling thread, ranks 1..P-1 are
// workers, each pinned to its own CPU while there are enough. run(f) calls f(rank) on every
// rank and returns when all are done. Construct and destroy it on the same thread.
class RankPool {
 public:
  explicit RankPool(int ranks);
  ~RankPool();
  RankPool(const RankPool&) = delete;
  RankPool& operator=(const RankPool&) = delete;

  void run(const std::function<void(int)>& f);
  int ranks() const { return ranks_; }
  // More ranks than the CPUs this process may use: some wait for a CPU whenever all run.
  bool oversubscribed() const { return oversubscribed_; }
  Spin spin() const { return spin_; }

 private:
  void worker(int rank);

  int ranks_;
  Spin spin_;
  const std::function<void(int)>* task_ = nullptr;
  alignas(64) Word start_;
  alignas(64) Word done_;
  std::uint32_t done_target_ = 0;
  bool stop_ = false;
  bool oversubscribed_ = false;
  cpu_set_t caller_cpus_{};
  bool restore_caller_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace primbench::thread_backend
