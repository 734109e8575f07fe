// std::thread backend: one persistent thread per rank (RankPool), each rank allocating and first
// touching its own buffers.
//   thread.flat  every rank moves its own part directly (gather: copy into the root's buffer;
//                scatter: copy out of it; reduce: each rank combines a slice of the elements
//                across all ranks), then the root waits on one arrival counter.
//   thread.tree  binomial tree as MPI runs it over a network: data moves parent to child
//                through per-rank staging buffers, reduce combines partial results up the tree.
#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <string>
#include <memory>
#include <vector>

#include "pool.hpp"
#include "primbench/dispatch.hpp"

namespace primbench {
namespace {

using thread_backend::Barrier;
using thread_backend::Flag;
using thread_backend::RankPool;

// Shared by both algorithms: the pool, the synchronised start and the per-rank timing.
class ThreadCollective : public HostCollective {
 public:
  explicit ThreadCollective(const Problem& p) : HostCollective(p), pool_(p.ranks), start_(p.ranks) {}

  void run(std::span<double> seconds) override {
    ++epoch_;
    pool_.run([&](int rank) {
      start_.wait();
      const double t0 = now_seconds();
      with_dtype(problem().dtype, [&](auto tag) { rank_body<typename decltype(tag)::type>(rank); });
      if (slowdown_ > 0) {  // test-only: a real, proportional slowdown for the regression gate
        const double until = t0 + (now_seconds() - t0) * (1 + slowdown_);
        while (now_seconds() < until) {}
      }
      seconds[rank] = now_seconds() - t0;
    });
  }

 protected:
  // Allocation happens on the rank threads, after the derived class is constructed.
  void allocate_on_ranks() {
    pool_.run([&](int rank) { allocate(rank); allocate_scratch(rank); });
  }
  virtual void allocate_scratch(int) {}
  template <class T> void rank_body(int rank) { body(rank, static_cast<T*>(nullptr)); }
  virtual void body(int rank, std::int32_t*) = 0;
  virtual void body(int rank, std::int64_t*) = 0;
  virtual void body(int rank, float*) = 0;
  virtual void body(int rank, double*) = 0;

  std::uint32_t epoch_ = 0;  // wraps; Word compares modulo 2^32
  RankPool pool_;
  // PRIMBENCH_TEST_SLOWDOWN="thread.flat=0.2" makes that implementation 20% slower: the knob
  // the regression gate's A/B test turns. Unset (the default), it costs one branch.
  double slowdown_ = 0;
  void read_slowdown(const char* impl) {
    const char* knob = std::getenv("PRIMBENCH_TEST_SLOWDOWN");
    const std::string prefix = std::string(impl) + "=";
    if (knob && std::string(knob).rfind(prefix, 0) == 0) slowdown_ = std::atof(knob + prefix.size());
  }

 private:
  Barrier start_;
};

// Declares the four dtype entry points as calls to a template `work<T>(rank)`.
#define PRIMBENCH_THREAD_BODIES                                           \
  void body(int r, std::int32_t*) override { work<std::int32_t>(r); }    \
  void body(int r, std::int64_t*) override { work<std::int64_t>(r); }    \
  void body(int r, float*) override { work<float>(r); }                  \
  void body(int r, double*) override { work<double>(r); }

class ThreadFlat final : public ThreadCollective {
 public:
  explicit ThreadFlat(const Problem& p) : ThreadCollective(p) {
    allocate_on_ranks();
    read_slowdown("thread.flat");
  }

 private:
  PRIMBENCH_THREAD_BODIES

  template <class T> void work(int rank) {
    const Problem& p = problem();
    const std::size_t n = p.count;
    switch (p.primitive) {
      case Primitive::gather:
        std::memcpy(recv_ptr<T>(p.root) + rank * n, send_ptr<T>(rank), n * sizeof(T));
        arrive(rank);
        break;
      case Primitive::scatter:  // the root's buffer is complete at the start: no waiting
        std::memcpy(recv_ptr<T>(rank), send_ptr<T>(p.root) + rank * n, n * sizeof(T));
        break;
      case Primitive::reduce: {
        // Slices on cache-line boundaries, so no two ranks write the same line.
        constexpr std::size_t kLine = 64 / sizeof(T);
        const std::size_t lines = (n + kLine - 1) / kLine;
        const std::size_t lo = std::min(n, lines * rank / p.ranks * kLine);
        const std::size_t hi = std::min(n, lines * (rank + 1) / p.ranks * kLine);
        std::vector<const T*> src(p.ranks);
        for (int r = 0; r < p.ranks; ++r) src[r] = send_ptr<T>(r);
        const bool stream = n * sizeof(T) >= kStreamBytes;
        with_op(p.op, [&](auto op) {
          combine_all<decltype(op)>(recv_ptr<T>(p.root), src.data(), p.ranks, lo, hi, stream);
        });
        if (stream) stream_fence();
        arrive(rank);
        break;
      }
    }
  }

  // Non-roots count themselves in; the root returns once all P-1 have.
  void arrive(int rank) {
    const Problem& p = problem();
    if (rank != p.root)
      arrived_.word.add(1);
    else
      arrived_.word.wait_reach(epoch_ * static_cast<std::uint32_t>(p.ranks - 1), pool_.spin());
  }

  Flag arrived_;
};

// Binomial tree over relative ranks v = (rank - root) mod P: the children of v are v + 2^k for
// 2^k below v's lowest set bit (every 2^k < P for the root); v's subtree is [v, v + span(v)).
class ThreadTree final : public ThreadCollective {
 public:
  explicit ThreadTree(const Problem& p) : ThreadCollective(p), flags_(p.ranks), staging_(p.ranks) {
    allocate_on_ranks();
    read_slowdown("thread.tree");
  }

 private:
  PRIMBENCH_THREAD_BODIES

  int rel(int rank) const { return (rank - problem().root + problem().ranks) % problem().ranks; }
  int abs(int v) const { return (v + problem().root) % problem().ranks; }
  int span(int v) const {
    const int P = problem().ranks;
    return v == 0 ? P : std::min(v & -v, P - v);
  }

  void flush_caches() override {
    ThreadCollective::flush_caches();
    for (const HostBuffer& s : staging_) s.evict();
  }

  // Staging holds the blocks of v's subtree (gather, scatter) or v's partial result (reduce).
  // Leaves, and a root whose buffer is already in relative order, need none.
  void allocate_scratch(int rank) override {
    const Problem& p = problem();
    const int v = rel(rank);
    std::size_t blocks = 0;
    if (p.primitive == Primitive::reduce)
      blocks = (v != 0 && span(v) > 1) ? 1 : 0;
    else if (v == 0)
      blocks = p.root == 0 ? 0 : p.ranks;
    else
      blocks = span(v) > 1 ? span(v) : 0;
    staging_[rank] = HostBuffer(blocks * p.count * p.elem_bytes());
  }

  template <class T> T* stage(int v) {
    const Problem& p = problem();
    const int rank = abs(v);
    if (staging_[rank].view().bytes > 0 || p.count == 0) return staging_[rank].view().as<T>();
    if (p.primitive == Primitive::reduce) return v == 0 ? recv_ptr<T>(rank) : send_ptr<T>(rank);
    if (p.primitive == Primitive::gather) return v == 0 ? recv_ptr<T>(rank) : send_ptr<T>(rank);
    return v == 0 ? send_ptr<T>(rank) : recv_ptr<T>(rank);
  }

  template <class T> void work(int rank) {
    switch (problem().primitive) {
      case Primitive::gather: gather<T>(rank); break;
      case Primitive::scatter: scatter<T>(rank); break;
      case Primitive::reduce: reduce<T>(rank); break;
    }
  }

  template <class F> void for_children(int v, F&& f) {
    for (int k = 1; k < span(v); k <<= 1) f(v + k);
  }
  void wait_for(int v) { flags_[abs(v)].word.wait_reach(epoch_, pool_.spin()); }
  void post(int v) { flags_[abs(v)].word.store(epoch_); }


  template <class T> void gather(int rank) {
    const Problem& p = problem();
    const std::size_t n = p.count;
    const int v = rel(rank);
    T* mine = stage<T>(v);
    if (mine != send_ptr<T>(rank)) std::memcpy(mine, send_ptr<T>(rank), n * sizeof(T));
    for_children(v, [&](int c) {
      wait_for(c);
      std::memcpy(mine + (c - v) * n, stage<T>(c), span(c) * n * sizeof(T));
    });
    if (v == 0) {
      if (p.root != 0) to_absolute_order<T>(recv_ptr<T>(rank), mine, p);
    } else {
      post(v);
    }
  }

  template <class T> void scatter(int rank) {
    const Problem& p = problem();
    const std::size_t n = p.count;
    const int v = rel(rank);
    T* mine = stage<T>(v);
    if (v == 0) {
      if (p.root != 0) to_relative_order<T>(mine, send_ptr<T>(rank), p);
    } else {
      wait_for(v);
    }
    // Largest subtree first, as MPI's binomial scatter does.
    int top = 1;
    while (2 * top < span(v)) top *= 2;
    for (int k = top; k >= 1; k >>= 1) {
      if (k >= span(v)) continue;
      const int c = v + k;
      std::memcpy(stage<T>(c), mine + k * n, span(c) * n * sizeof(T));
      post(c);
    }
    if (mine != recv_ptr<T>(rank)) std::memcpy(recv_ptr<T>(rank), mine, n * sizeof(T));
  }

  template <class T> void reduce(int rank) {
    const Problem& p = problem();
    const int v = rel(rank);
    T* acc = stage<T>(v);
    const T* own = send_ptr<T>(rank);
    bool first = true;
    with_op(p.op, [&](auto op) {
      using O = decltype(op);
      for_children(v, [&](int c) {
        wait_for(c);
        combine<O>(acc, first ? own : acc, stage<T>(c), p.count);
        first = false;
      });
    });
    if (first && acc != own) std::memcpy(acc, own, p.count * sizeof(T));  // P = 1 at the root
    if (v != 0) post(v);
  }

  std::vector<Flag> flags_;
  std::vector<HostBuffer> staging_;
};

PRIMBENCH_BACKEND("thread", [] {
  return Availability{true, "", std::to_string(std::thread::hardware_concurrency()) + " hardware threads"};
});
PRIMBENCH_REGISTER("thread.flat", ThreadFlat);
PRIMBENCH_REGISTER("thread.tree", ThreadTree);

}  // namespace
}  // namespace primbench
