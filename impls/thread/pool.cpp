#include "pool.hpp"

#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <climits>

#include "primbench/primbench.hpp"

namespace primbench::thread_backend {

Spin spin_limit(int ranks) {
  const int cores = static_cast<int>(usable_cpus().size());
  return ranks <= cores ? Spin{256, 256} : Spin{0, 32};
}

void Word::futex_wait(std::uint32_t seen) const {
  // Returns at once if the word no longer holds `seen`; spurious returns are re-checked.
  ::syscall(SYS_futex, reinterpret_cast<const std::uint32_t*>(&value_), FUTEX_WAIT_PRIVATE, seen, nullptr, nullptr, 0);
}

void Word::futex_wake() {
  ::syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(&value_), FUTEX_WAKE_PRIVATE, INT_MAX, nullptr, nullptr, 0);
}

Barrier::Barrier(int participants) : participants_(participants), spin_(spin_limit(participants)) {}

void Barrier::wait() {
  const std::uint32_t gen = generation_.load();
  if (arrived_.fetch_add(1, std::memory_order_acq_rel) == participants_ - 1) {
    arrived_.store(0, std::memory_order_relaxed);
    generation_.store(gen + 1);
    return;
  }
  generation_.wait_change(gen, spin_);
}

namespace {
bool pin(pthread_t thread, int cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  return pthread_setaffinity_np(thread, sizeof set, &set) == 0;
}
}  // namespace

RankPool::RankPool(int ranks) : ranks_(ranks), spin_(spin_limit(ranks)) {
  // With a core per rank, each rank is pinned to its own: a woken rank is otherwise often placed
  // on its waker's core, and two spinning ranks then share one core while another idles.
  const std::vector<int>& cpus = usable_cpus();
  const bool pinned = ranks > 1 && static_cast<std::size_t>(ranks) <= cpus.size();
  oversubscribed_ = static_cast<std::size_t>(ranks) > cpus.size();
  if (pinned) {
    pthread_getaffinity_np(pthread_self(), sizeof caller_cpus_, &caller_cpus_);
    restore_caller_ = pin(pthread_self(), cpus[0]);
  }
  threads_.reserve(ranks - 1);
  for (int r = 1; r < ranks; ++r) {
    threads_.emplace_back([this, r] { worker(r); });
    if (pinned) pin(threads_.back().native_handle(), cpus[r]);
  }
}

RankPool::~RankPool() {
  if (restore_caller_) pthread_setaffinity_np(pthread_self(), sizeof caller_cpus_, &caller_cpus_);
  stop_ = true;
  start_.add(1);
  for (auto& t : threads_) t.join();
}

void RankPool::run(const std::function<void(int)>& f) {
  task_ = &f;
  start_.add(1);
  f(0);
  done_target_ += ranks_ - 1;
  done_.wait_reach(done_target_, spin_);
}

void RankPool::worker(int rank) {
  std::uint32_t seen = 0;
  for (;;) {
    start_.wait_change(seen, spin_);
    seen = start_.load();
    if (stop_) return;
    (*task_)(rank);
    done_.add(1);
  }
}

}  // namespace primbench::thread_backend
