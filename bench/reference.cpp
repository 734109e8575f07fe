#include "reference.hpp"

#include <pthread.h>
#include <sched.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <stdexcept>

#include "machine.hpp"
#include "primbench/dispatch.hpp"

namespace primbench {

namespace {
constexpr std::size_t kTimeable = 256 << 10;  // bytes a thread moves per timing at least (hot)

// The last-level cache's size in bytes (0 where the C library cannot say).
std::size_t last_level_cache() {
  for (int level : {_SC_LEVEL3_CACHE_SIZE, _SC_LEVEL2_CACHE_SIZE})
    if (const long bytes = sysconf(level); bytes > 0) return static_cast<std::size_t>(bytes);
  return 0;
}

// Threads waiting for each other before a timing pause this many times (about 0.1 ms here) before
// they yield: a yield hands a busy machine's CPU to another process for its time slice, and the
// thread came back to a pass it then made with its translations gone (with --cache cold at one
// element beside six busy processes, every trial of 25 took 3 - 5 us where an idle machine's take
// 0.5, and an honest seq.ref reduce was called implausible; docs/measurement.md).
constexpr int kSpinsBeforeYield = 4096;
inline void pause() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

// Times the calling thread has been switched out, of its own accord or not.
long switches() {
  rusage u{};
  getrusage(RUSAGE_THREAD, &u);
  return u.ru_nvcsw + u.ru_nivcsw;
}

// CPU seconds the calling thread has run.
double thread_cpu_seconds() {
  timespec t{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_nsec) * 1e-9;
}

// Thread t of the reference on a CPU of its own while there are enough (as thread.* pins its
// ranks), else anywhere this process may run.
void place(std::size_t t, std::size_t threads) {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (threads <= usable_cpus().size()) CPU_SET(usable_cpus()[t], &set);
  else
    for (int c : usable_cpus()) CPU_SET(c, &set);
  pthread_setaffinity_np(pthread_self(), sizeof set, &set);
}
}  // namespace

Reference::Reference(const Problem& p, double share, int threads, bool cold)
    : problem_(p), cold_(cold), parts_(static_cast<std::size_t>(std::max(1, threads))) {
  const PrimitiveInfo& d = p.info();
  const double block = static_cast<double>(p.count * p.elem_bytes());
  const double read = d.read_blocks(p.ranks), written = d.written_blocks(p.ranks);
  // A copy where every byte read is written (gather, scatter, allreduce, broadcast); else the
  // sources combined into what is written (reduce: P into one).
  sources_ = d.copies(p.ranks) || written <= 0 ? 1 : std::max(1, static_cast<int>(read / written + 0.5));
  // This process's share of the bytes written.
  const std::size_t total = static_cast<std::size_t>((sources_ == 1 ? read : written) * block * share + 0.5);
  const std::size_t n = parts_.size(), elem = p.elem_bytes();
  const std::size_t per = (total / elem + n - 1) / n * elem;  // bytes per thread, whole elements
  const std::size_t moved = std::max<std::size_t>(1, sources_ * per);
  rounds_ = cold ? 1 : static_cast<int>(std::clamp<std::size_t>(kTimeable / moved, 1, 4096));
  // Hot, while the benchmark's working set and this one fit in the last-level cache together,
  // a trial makes one untimed pass before it times any. The benchmark's loop times iterations on
  // the buffers its previous one left in the cache, while a trial came after the benchmark's
  // repetition (or, between trials, other processes) had evicted the reference's: at 256K f32 a
  // rank, P = 2, that first pass took 2 - 4x the next, and thread.flat's peak_fraction was 1.0 -
  // 1.9 (0.5 - 1.0 warmed). Beyond the cache a pass warms nothing and costs as much as the trial.
  const std::size_t working_set = (sources_ + 1) * per * n, llc = last_level_cache();
  fits_ = llc == 0 || 2 * working_set <= llc;
  far_ = llc > 0 && working_set >= kFarBeyond * llc;
  warm_ = !cold && fits_;
  for (std::size_t t = 0; t < n; ++t)
    pool_.emplace_back([this, t, per, total] {
      place(t, parts_.size());
      // Allocated and first touched by the thread that moves them.
      Part& part = parts_[t];
      const std::size_t lo = std::min(total, per * t), mine = std::min(total, per * (t + 1)) - lo;
      for (int s = 0; s < sources_; ++s) part.src.emplace_back(mine);
      part.dst = HostBuffer(mine);
      Piece& own = part.own.emplace_back(Piece{part.dst.view().data, {}, mine});
      for (const HostBuffer& b : part.src) own.src.push_back(b.view().data);
      part.seconds.assign(warm_ ? 3 : 1, 0.0);
      {
        std::lock_guard l(m_);
        ++allocated_;
      }
      cv_.notify_all();
      work(static_cast<int>(t));
    });
  {
    std::unique_lock l(m_);
    cv_.wait(l, [&] { return allocated_ == static_cast<int>(n); });
  }
}

Reference::~Reference() {
  {
    std::lock_guard l(m_);
    stop_ = true;
  }
  cv_.notify_all();
  for (auto& t : pool_) t.join();
}

void Reference::passes(const std::vector<Piece>& pieces, int rounds) const {
  if (sources_ == 1) {
    for (int r = 0; r < rounds; ++r)
      for (const Piece& p : pieces) {
        if (chunked_) chunked_copy(p.dst, p.src[0], p.bytes);
        else std::memcpy(p.dst, p.src[0], p.bytes);
        asm volatile("" : : "r"(p.dst) : "memory");  // every pass happens
      }
    return;
  }
  // The bandwidth-optimal read-P-write-1 of a shared-memory reduce (combine_all: tiles in L1,
  // large results streamed out), as the best host implementations do it, by the problem's op: on
  // a benchmark's inputs, the op its validation made them for (a sum of inputs made for max could
  // overflow a signed integer).
  with_dtype(problem_.dtype, [&](auto tag) { with_op(problem_.op, [&](auto op) {
    using T = typename decltype(tag)::type;
    using O = decltype(op);
    std::vector<std::vector<const T*>> src;
    for (const Piece& p : pieces) {
      std::vector<const T*>& mine = src.emplace_back();
      for (const std::byte* s : p.src) mine.push_back(reinterpret_cast<const T*>(s));
    }
    const bool stream = problem_.count * sizeof(T) >= kStreamBytes;
    for (int r = 0; r < rounds; ++r)
      for (std::size_t k = 0; k < pieces.size(); ++k) {
        T* dst = reinterpret_cast<T*>(pieces[k].dst);
        combine_all<O>(dst, src[k].data(), static_cast<int>(src[k].size()), 0, pieces[k].bytes / sizeof(T), stream);
        asm volatile("" : : "r"(dst) : "memory");
      }
    if (stream) stream_fence();
  }); });
}

void Reference::work(int t) {
  int seen = 0;
  for (;;) {
    {
      std::unique_lock l(m_);
      cv_.wait(l, [&] { return stop_ || generation_ != seen; });
      if (stop_) return;
      seen = generation_;
    }
    Part& part = parts_[static_cast<std::size_t>(t)];
    const std::vector<Piece>& pieces = on_ ? (*on_)[static_cast<std::size_t>(t)] : part.own;
    const long switched = switches();
    if (cold_ && !on_) {
      for (const HostBuffer& s : part.src) s.evict();
      part.dst.evict();
    }
    // Every timing starts with every thread together, as an iteration's ranks do, and counts as
    // long as its slowest thread: threads timed on their own drift apart, and one that runs on
    // after another has finished has the memory and the shared cache to itself, which no
    // iteration gives a rank (docs/measurement.md).
    int phase = 0;
    auto together = [&] {
      ++phase;
      arrived_.fetch_add(1);
      for (int spins = 0; arrived_.load() < phase * static_cast<int>(parts_.size()); ++spins) {
        if (spins < kSpinsBeforeYield) pause();
        else std::this_thread::yield();
      }
    };
    if (warm_) together(), passes(pieces, 1);
    part.cpu_share = 1;
    for (double& s : part.seconds) {
      together();
      const double c0 = thread_cpu_seconds();  // a system call: outside the timing
      const double t0 = now_seconds();
      passes(pieces, rounds_);
      const double wall = now_seconds() - t0;
      s = wall / rounds_;
      if (wall > 0) part.cpu_share = std::min(part.cpu_share, (thread_cpu_seconds() - c0) / wall);
    }
    part.switched = switches() != switched;
    {
      std::lock_guard l(m_);
      ++done_;
    }
    cv_.notify_all();
  }
}

double Reference::trial(int way, const OnBuffers* on) {
  if (on && on->size() != parts_.size())
    throw std::logic_error("a reference trial on a benchmark's buffers split between as many threads as the reference has");
  {
    std::lock_guard l(m_);
    chunked_ = way == 1;
    on_ = on;
    arrived_ = 0, done_ = 0, ++generation_;
  }
  cv_.notify_all();
  std::unique_lock l(m_);
  cv_.wait(l, [&] { return done_ == static_cast<int>(parts_.size()); });
  // Each timing's slowest thread; hot and cache-resident, the median of the three (on a shared
  // machine a thread is now and then descheduled for milliseconds).
  std::vector<double> slowest(parts_[0].seconds.size(), 0.0);
  for (const Part& p : parts_)
    for (std::size_t k = 0; k < slowest.size(); ++k) slowest[k] = std::max(slowest[k], p.seconds[k]);
  std::sort(slowest.begin(), slowest.end());
  return slowest[slowest.size() / 2];
}

bool Reference::disturbed() const {
  return std::any_of(parts_.begin(), parts_.end(), [](const Part& p) { return p.switched; });
}

double Reference::cpu_share() const {
  double least = 1;
  for (const Part& p : parts_) least = std::min(least, p.cpu_share);
  return least;
}

Fastest fastest_median(std::vector<std::vector<double>> GBps) {
  Fastest best;
  for (std::size_t way = 0; way < GBps.size(); ++way) {
    std::vector<double>& v = GBps[way];
    if (v.empty()) continue;
    std::sort(v.begin(), v.end());
    const double median = v[v.size() / 2];
    if (median > best.GBps) best = {median, (v.back() - v.front()) / median, static_cast<int>(way)};
  }
  return best;
}

std::optional<Paired> pair_up(double bytes, const std::vector<double>& seconds, std::vector<double> trials) {
  if (trials.empty() || trials.size() != seconds.size()) return std::nullopt;
  std::vector<double> fractions;
  for (std::size_t i = 0; i < trials.size(); ++i) {
    if (!(trials[i] > 0 && seconds[i] > 0)) return std::nullopt;
    fractions.push_back(bytes / seconds[i] / 1e9 / trials[i]);
  }
  std::sort(fractions.begin(), fractions.end());
  const Fastest one_way = fastest_median({std::move(trials)});  // the trials' median and spread
  return Paired{fractions[fractions.size() / 2], one_way.GBps, one_way.spread};
}

std::optional<OnBuffers> on_buffers(Collective& c, int threads) {
  const Problem& p = c.problem();
  const PrimitiveInfo& d = p.info();
  if (c.memory() != Memory::host || threads < 1 || p.count == 0 || static_cast<int>(c.local_ranks().size()) != p.ranks)
    return std::nullopt;
  const std::size_t elem = p.elem_bytes(), block = p.count * elem;
  auto within = [&](const Buffer& b, std::size_t offset) { return b.data != nullptr && offset <= b.bytes && b.bytes - offset >= block; };
  // Every block written, whole, in rank order.
  std::vector<Piece> whole;
  if (d.copies(p.ranks)) {
    if (!d.source) return std::nullopt;
    for (int r = 0; r < p.ranks; ++r)
      for (std::size_t b = 0; b < d.recv_blocks(r, p.root, p.ranks); ++b) {
        const PrimitiveInfo::Source first = d.source(r, b * p.count, p.count, p.root),
                                    last = d.source(r, b * p.count + p.count - 1, p.count, p.root);
        if (last.from != first.from || last.index != first.index + p.count - 1) return std::nullopt;  // not one block
        const Buffer dst = c.recv(r), src = c.send(first.from);
        if (!within(dst, b * block) || !within(src, first.index * elem)) return std::nullopt;
        whole.push_back({dst.data + b * block, {src.data + first.index * elem}, block});
      }
  } else {
    if (d.written_blocks(p.ranks) != 1) return std::nullopt;  // allreduce writes every rank's result
    for (int r = 0; r < p.ranks; ++r)
      if (d.recv_blocks(r, p.root, p.ranks) == 1) {
        if (!whole.empty() || !within(c.recv(r), 0)) return std::nullopt;
        whole.push_back({c.recv(r).data, {}, block});
      }
    if (whole.empty()) return std::nullopt;
    for (int r = 0; r < p.ranks; ++r) {
      if (!within(c.send(r), 0)) return std::nullopt;
      whole[0].src.push_back(c.send(r).data);
    }
  }
  // Every block read and written apart from every other: a result over an input (as
  // MPI_IN_PLACE) would have the trial change the inputs the validation gave; two results over
  // each other, its threads write the same bytes at once; one block read for several (broadcast
  // at P > 2) is less memory than the reference's working set says.
  std::vector<std::pair<const std::byte*, std::size_t>> ranges;
  for (const Piece& w : whole) {
    ranges.emplace_back(w.dst, w.bytes);
    for (const std::byte* s : w.src) ranges.emplace_back(s, w.bytes);
  }
  std::sort(ranges.begin(), ranges.end());
  for (std::size_t k = 1; k < ranges.size(); ++k)
    if (ranges[k].first < ranges[k - 1].first + ranges[k - 1].second) return std::nullopt;
  // The same traffic as the reference's pattern: every block written once, from blocks read once.
  const double written = d.written_blocks(p.ranks), read = d.read_blocks(p.ranks);
  if (static_cast<double>(whole.size()) != written || (d.copies(p.ranks) && written != read)) return std::nullopt;
  const std::size_t n = static_cast<std::size_t>(threads), total = whole.size() * block;
  const std::size_t per = (total / elem + n - 1) / n * elem;  // bytes per thread, whole elements
  OnBuffers out(n);
  std::size_t before = 0;  // bytes of the whole pieces before this one
  for (const Piece& w : whole) {
    for (std::size_t off = 0; off < w.bytes;) {
      const std::size_t t = (before + off) / per, end = std::min(w.bytes, (t + 1) * per - before);
      Piece& piece = out[t].emplace_back(Piece{w.dst + off, {}, end - off});
      for (const std::byte* s : w.src) piece.src.push_back(s + off);
      off = end;
    }
    before += w.bytes;
  }
  return out;
}

}  // namespace primbench
