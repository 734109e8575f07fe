// A persistent pool of rank threads, and the synchronisation they share. Waiting spins briefly
// (latency: a rank on its own core answers in tens of nanoseconds) and then sleeps on a futex
// (C++20 atomic wait), so more ranks than cores do not starve each other.
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

// How a waiting rank backs off: pause-spin (a rank on its own core answers in tens of
// nanoseconds), then yield (another thread on this core, a rank or not, gets to run), then sleep
// on a futex. With more ranks than cores the pause phase is skipped.
struct Spin {
  int pauses;
  int yields;
};
Spin spin_limit(int ranks);

// Returns once ready() is true, backing off as `spin` says; sleep() blocks until woken.
template <class Ready, class Sleep> void wait_until(Ready&& ready, Sleep&& sleep, Spin spin) {
  for (int i = 0; i < spin.pauses; ++i) {
    if (ready()) return;
    cpu_relax();
  }
  for (int i = 0; i < spin.yields; ++i) {
    if (ready()) return;
    std::this_thread::yield();
  }
  while (!ready()) sleep();
}

// Waits until `word` differs from `old`.
template <class T> void wait_while_equal(const std::atomic<T>& word, T old, Spin spin) {
  wait_until([&] { return word.load(std::memory_order_acquire) != old; },
             [&] { word.wait(old, std::memory_order_acquire); }, spin);
}

// Waits until `word` >= `target` (a monotonically increasing counter), spinning first.
void wait_at_least(const std::atomic<std::uint64_t>& word, std::uint64_t target, Spin spin);

// Sense-reversing central barrier for a fixed number of participants.
class Barrier {
 public:
  explicit Barrier(int participants);
  void wait();

 private:
  alignas(64) std::atomic<int> arrived_{0};
  alignas(64) std::atomic<std::uint32_t> generation_{0};
  int participants_;
  Spin spins_;
};

// One counter per rank on its own cache line: "rank r finished step `epoch`".
struct alignas(64) Flag {
  std::atomic<std::uint64_t> value{0};
  void post(std::uint64_t epoch) {
    value.store(epoch, std::memory_order_release);
    value.notify_all();
  }
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
  Spin spins() const { return spins_; }

 private:
  void worker(int rank);

  int ranks_;
  Spin spins_;
  const std::function<void(int)>* task_ = nullptr;
  alignas(64) std::atomic<std::uint32_t> start_{0};
  alignas(64) std::atomic<std::uint64_t> done_{0};
  std::uint64_t done_target_ = 0;
  bool stop_ = false;
  cpu_set_t caller_cpus_{};
  bool restore_caller_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace primbench::thread_backend
