// The reference measured beside each benchmark: its memory-traffic pattern at its own working
// set — a copy where the primitive writes what it reads (gather, scatter, allreduce, broadcast),
// read P vectors and write one for reduce — run by the
// cores of this process on buffers each of its threads allocates and first touches, as a rank
// does its own. The runner measures it just before every repetition, so the benchmark and its
// reference see the same machine, and `peak_fraction` is the one over the other.
#pragma once

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <thread>
#include <utility>
#include <vector>

#include "primbench/primbench.hpp"

namespace primbench {

// Of trials made in several ways (GB/s, each way's trials), the way with the highest median:
// that median, its trials' spread, (max - min) / median, and the way; {0, 0, 0} without trials.
struct Fastest {
  double GBps = 0, spread = 0;
  int way = 0;
  bool operator==(const Fastest&) const = default;
};
Fastest fastest_median(std::vector<std::vector<double>> GBps);

// A repetition's iterations (seconds, each moving `bytes` of memory traffic) against the
// reference trial made just before each (GB/s, one an iteration): the median iteration's
// fraction of its own trial, and the trials' median and spread. Pairs cancel what moves the
// machine between one iteration and the next (a VM's memory bandwidth moved 2x within one
// repetition, 2026-12-05); medians taken apart do not. None unless every iteration has a trial.
struct Paired {
  double fraction, GBps, spread;
};
std::optional<Paired> pair_up(double bytes, const std::vector<double>& seconds, std::vector<double> trials);

// A trial made on a benchmark's own buffers: each thread's pieces, each `bytes` written at `dst`
// from its sources at the same offsets (a copy: one source; reduce: every rank's send buffer).
struct Piece {
  std::byte* dst;
  std::vector<const std::byte*> src;
  std::size_t bytes;
};
using OnBuffers = std::vector<std::vector<Piece>>;
// The reference's pattern on a collective's own buffers, its bytes written split between
// `threads` threads in order (thread t the t-th share, as rank t's thread of a shared-memory
// backend moves block t): a copy of every block a copying primitive writes from the block it
// reads; for a primitive that combines P blocks into one (reduce), the root's result from every
// rank's send buffer. None where the collective is not in host memory, holds not every rank (a
// process per rank), its buffers are smaller than the problem says, or the primitive's traffic is
// not that pattern (allreduce).
std::optional<OnBuffers> on_buffers(Collective& c, int threads);

class Reference {
 public:
  // `share`: the part of the problem's traffic this process moves (1 for a shared-memory
  // backend; a rank's 1/P for a process per rank), over `threads` threads.
  Reference(const Problem& p, double share, int threads, bool cold);
  ~Reference();
  Reference(const Reference&) = delete;
  Reference& operator=(const Reference&) = delete;

  // Seconds one pass of this process's share takes: a timing's slowest thread, the threads
  // started together for each. Hot: a pass repeated until it is long enough to time; where the
  // working set fits in the cache, after an untimed pass and the median of three such timings.
  // Cold: one pass after the buffers are evicted. `way`, 0 to ways() - 1: a copy's (0: one
  // memcpy of each thread's slice; 1: the slice in kCopyChunk pieces).
  // `on`: the pieces to move (on_buffers, this reference's threads), else its own buffers.
  double trial(int way = 0, const OnBuffers* on = nullptr);
  // The ways a pass can be made: a copy two (glibc picks its strategy by a call's size, and
  // neither is the faster everywhere: docs/measurement.md), read-P-write-1 one. The runner
  // measures each in a block of trials and counts the faster's median: chosen once, when built,
  // from three trials each, the first benchmark of a worker got the slower way in 4 of 6 runs
  // (its first trials were disturbed) and a peak_fraction of 1.2 - 1.3 (2026-12-05).
  int ways() const { return sources_ == 1 ? 2 : 1; }
  // Whether a trial makes that untimed pass first.
  bool warms() const { return warm_; }
  // Of the last trial, the least fraction of a timing's wall time that one of its threads ran
  // (its CPU time over it): 1 where every thread had its CPU throughout; lower where something
  // else ran there (a pool still spinning after its call, another process).
  double cpu_share() const;
  // Whether a thread of the last trial was switched out between its start (before its buffers
  // are evicted) and the end of its last timing: another process's time on its CPU, and what
  // that process left in the caches and translation buffers, were then part of the trial.
  bool disturbed() const;
  // Whether the working sets are beyond the last-level cache together, so a trial leaves
  // nothing in the cache that the benchmark's next iteration would find: the runner then makes
  // one just before every timed iteration (docs/measurement.md, "Paired trials").
  bool beyond_cache() const { return !fits_; }
  // Whether the working sets are so far beyond it (kFarBeyond times) that a trial on the
  // benchmark's own buffers leaves nothing of them in the cache for its next iteration: in
  // sequential order the cache keeps the last bytes a trial moved, and the iteration evicts them
  // before it reaches them. The paired trials are then made there (on_buffers).
  bool far_beyond_cache() const { return far_; }
  static constexpr std::size_t kFarBeyond = 4;

 private:
  struct Part {
    std::vector<HostBuffer> src;  // a copy: one; reduce: P
    HostBuffer dst;
    std::vector<double> seconds;  // of each timing: three where warmed, else one
    bool switched = false;        // switched out during the last trial (disturbed)
    double cpu_share = 1;         // the least CPU time / wall time of its timings
    std::vector<Piece> own;       // dst from src: what a trial on these buffers moves
  };
  void work(int t);
  void passes(const std::vector<Piece>& pieces, int rounds) const;

  Problem problem_;
  bool cold_;
  int rounds_ = 1;     // passes a timing
  bool fits_ = true;   // the working sets fit in the last-level cache together
  bool far_ = false;   // the benchmark's working set is kFarBeyond times the last-level cache or more
  const OnBuffers* on_ = nullptr;  // this trial's pieces, else the parts' own buffers
  bool warm_ = false;  // an untimed pass, then the median of three timings
  int sources_ = 1;  // buffers combined into each one written (1: a copy)
  bool chunked_ = false;  // this trial's copy in kCopyChunk pieces, else one memcpy a thread
  std::vector<Part> parts_;
  std::vector<std::thread> pool_;
  std::mutex m_;
  std::condition_variable cv_;
  int generation_ = 0, done_ = 0, allocated_ = 0;
  std::atomic<int> arrived_{0};
  bool stop_ = false;
};

}  // namespace primbench
