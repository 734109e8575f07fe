// std::thread backend: one persistent thread per rank (RankPool), each rank allocating and first
// touching its own buffers.
//   thread.flat  every rank moves its own part directly (gather: copy into the root's buffer;
//                scatter, broadcast: copy out of it; reduce: each rank combines a slice of the
//                elements across all ranks; allreduce: the same, each slice written to every
//                rank — a reduce-scatter and allgather in one pass), then waits on one counter.
//   thread.tree  binomial tree as MPI runs it over a network (primbench/binomial.hpp, the
//                same tree as mpi.binomial): data moves along its edges through per-rank
//                staging buffers. Blocks of 32 KiB and more are moved by the child, as a NIC
//                writes what a network delivers while the parent's core does its own part:
//                gather's children push their subtree's blocks up, scatter's pull theirs
//                down, and each reduce edge's combine is split in halves between parent and
//                child; smaller ones by the parent. Broadcast copies down the tree, allreduce
//                is a reduce up it then a broadcast down.
// Blocks are copied in 64 KiB pieces (chunked_copy, primbench/dispatch.hpp): one memcpy of a
// large block was the slower on the machine we measure on (docs/measurement.md).
// Each algorithm derives from TypedThreadCollective<Self> and writes its rank body once, as
// a template work<T>(rank) over the element type.
#include <algorithm>
#include <cstdlib>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "pool.hpp"
#include "primbench/binomial.hpp"
#include "primbench/dispatch.hpp"

namespace primbench {
namespace {

using thread_backend::Barrier;
using thread_backend::Flag;
using thread_backend::RankPool;

// Shared by both algorithms: the pool, the synchronised start and the per-rank timing.
class ThreadCollective : public HostCollective {
 public:
  explicit ThreadCollective(const Problem& p)
      : HostCollective(p), pool_(p.ranks), start_(p.ranks), started_(static_cast<std::size_t>(p.ranks)) {}

  // Each rank's time runs from its own start (as an MPI rank's from its barrier's end), except
  // with more ranks than CPUs: there a rank that gets its CPU late still has its part to do, and
  // timed from its own start it hid the wait (thread.flat scatter, P = 4 on 2 CPUs, 16 MiB a
  // rank: 1.78 ms reported of a call of 3.4 ms, where thread.tree, whose ranks wait on each other
  // inside their windows, reported 0.96 of its call), so every rank's runs from the first rank's
  // start. Not with a CPU each: the other ranks see the start a cache-line handover after the
  // first, 0.14 - 0.17 us that a 1-element collective (0.33 - 0.49 us) would count.
  void run(std::span<double> seconds) override {
    ++epoch_;
    pool_.run([&](int rank) {
      start_.wait();
      const double t0 = now_seconds();
      body(rank);
      if (slowdown_ > 0) {  // test-only: a real, proportional slowdown for the regression gate
        const double until = t0 + (now_seconds() - t0) * (1 + slowdown_);
        while (now_seconds() < until) {}
      }
      seconds[rank] = now_seconds() - t0;
      started_[static_cast<std::size_t>(rank)] = t0;
    });
    if (!pool_.oversubscribed()) return;
    const double first = *std::min_element(started_.begin(), started_.end());
    for (std::size_t r = 0; r < seconds.size(); ++r) seconds[r] += started_[r] - first;
  }

 protected:
  // Allocation happens on the rank threads, after the derived class is constructed.
  void allocate_on_ranks() {
    pool_.run([&](int rank) { allocate(rank); allocate_scratch(rank); });
  }
  virtual void allocate_scratch(int) {}
  // One rank's part of the collective, inside its timed interval.
  virtual void body(int rank) = 0;

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
  std::vector<double> started_;  // each rank's start, of the last run
};

// body(rank) as Derived::work<T>(rank), T the problem's element type.
template <class Derived> class TypedThreadCollective : public ThreadCollective {
 public:
  using ThreadCollective::ThreadCollective;

 private:
  void body(int rank) final {
    with_dtype(problem().dtype,
               [&](auto t) { static_cast<Derived*>(this)->template work<typename decltype(t)::type>(rank); });
  }
};

class ThreadFlat final : public TypedThreadCollective<ThreadFlat> {
 public:
  explicit ThreadFlat(const Problem& p) : TypedThreadCollective(p) {
    allocate_on_ranks();
    read_slowdown("thread.flat");
  }

 private:
  friend TypedThreadCollective;

  template <class T> void work(int rank) {
    const Problem& p = problem();
    const std::size_t n = p.count;
    switch (p.primitive) {
      case Primitive::gather:
        chunked_copy(recv_ptr<T>(p.root) + rank * n, send_ptr<T>(rank), n * sizeof(T));
        arrive(rank);
        break;
      case Primitive::scatter:  // the root's buffer is complete at the start: no waiting
        chunked_copy(recv_ptr<T>(rank), send_ptr<T>(p.root) + rank * n, n * sizeof(T));
        break;
      case Primitive::broadcast:  // likewise: every other rank copies the root's buffer
        if (rank != p.root) chunked_copy(recv_ptr<T>(rank), send_ptr<T>(p.root), n * sizeof(T));
        break;
      case Primitive::reduce: {  // the slice straight into the root's buffer (the reference's kernel)
        const auto [lo, hi] = slice<T>(rank);
        Sources<T> src(*this);
        const bool stream = n * sizeof(T) >= kStreamBytes;
        with_op(p.op, [&](auto op) { combine_all<decltype(op)>(recv_ptr<T>(p.root), src.data(), p.ranks, lo, hi, stream); });
        if (stream) stream_fence();
        arrive(rank);
        break;
      }
      case Primitive::allreduce:  // reduce-scatter and allgather at once: each slice to every rank
        reduce_slice<T>(rank, [&](std::size_t lo, std::size_t len, const T* tile, bool stream) {
          for (int r = 0; r < p.ranks; ++r) copy_out(recv_ptr<T>(r) + lo, tile, len * sizeof(T), stream);
        });
        all_arrive();
        break;
    }
  }

  // Rank `rank`'s slice [lo, hi) of the elements: on cache-line boundaries, so no two ranks
  // write the same line.
  template <class T> std::pair<std::size_t, std::size_t> slice(int rank) const {
    const Problem& p = problem();
    const std::size_t n = p.count;
    constexpr std::size_t kLine = 64 / sizeof(T);
    const std::size_t lines = (n + kLine - 1) / kLine;
    return {std::min(n, lines * rank / p.ranks * kLine), std::min(n, lines * (rank + 1) / p.ranks * kLine)};
  }

  // Every rank's send buffer, without a heap allocation in the timed call for up to 64 ranks.
  template <class T> class Sources {
   public:
    explicit Sources(ThreadFlat& c) {
      const int P = c.problem().ranks;
      if (P > static_cast<int>(kSmall)) big_.resize(static_cast<std::size_t>(P));
      const T** to = data_mut();
      for (int r = 0; r < P; ++r) to[r] = c.send_ptr<T>(r);
    }
    const T* const* data() { return data_mut(); }

   private:
    static constexpr std::size_t kSmall = 64;
    const T** data_mut() { return big_.empty() ? small_ : big_.data(); }
    const T* small_[kSmall];
    std::vector<const T*> big_;
  };

  // This rank's slice of the elements, combined across all ranks a tile at a time in L1, each
  // tile handed to put(first element, length, tile, stream) while it is there; results past
  // the caches are streamed (and fenced here, before any rank is told).
  template <class T, class Put> void reduce_slice(int rank, Put&& put) {
    const Problem& p = problem();
    const auto [lo, hi] = slice<T>(rank);
    constexpr std::size_t kTile = 2048 / sizeof(T);
    Sources<T> sources(*this);
    const T* const* src = sources.data();
    const bool stream = p.count * sizeof(T) >= kStreamBytes;
    alignas(64) T tile[kTile];
    with_op(p.op, [&](auto op) {
      using O = decltype(op);
      for (std::size_t t = lo; t < hi; t += kTile) {
        const std::size_t len = std::min(hi, t + kTile) - t;
        if (p.ranks == 1) std::copy_n(src[0] + t, len, tile);
        else combine<O>(tile, src[0] + t, src[1] + t, len);
        for (int r = 2; r < p.ranks; ++r) combine<O>(tile, tile, src[r] + t, len);
        put(t, len, tile, stream);
      }
    });
    if (stream) stream_fence();
  }

  // Non-roots count themselves in; the root returns once all P-1 have.
  void arrive(int rank) {
    const Problem& p = problem();
    if (rank != p.root)
      arrived_.word.add(1);
    else
      arrived_.word.wait_reach(epoch_ * static_cast<std::uint32_t>(p.ranks - 1), pool_.spin());
  }

  // Every rank counts itself in and returns once all P have: every result is complete.
  void all_arrive() {
    const std::uint32_t P = static_cast<std::uint32_t>(problem().ranks);
    arrived_.word.add(1);
    arrived_.word.wait_reach(epoch_ * P, pool_.spin());
  }

  Flag arrived_;
};

// The tree of primbench/binomial.hpp over relative ranks v = (rank - root) mod P; v's subtree
// is [v, v + tree_.span(v)).
class ThreadTree final : public TypedThreadCollective<ThreadTree> {
 public:
  explicit ThreadTree(const Problem& p)
      : TypedThreadCollective(p), tree_{p.ranks, p.root}, flags_(p.ranks), down_(p.ranks), halves_(p.ranks),
        staging_(p.ranks) {
    allocate_on_ranks();
    read_slowdown("thread.tree");
  }

 private:
  friend TypedThreadCollective;

  void flush_caches() override {
    ThreadCollective::flush_caches();
    for (const HostBuffer& s : staging_) s.evict();
  }

  // Staging holds the blocks of v's subtree (gather, scatter) or v's partial result (reduce,
  // allreduce). Leaves, a root whose buffer is already in relative order, and broadcast (each
  // rank's own buffer is the one its children copy) need none.
  void allocate_scratch(int rank) override {
    const Problem& p = problem();
    const int v = tree_.relative(rank);
    std::size_t blocks = 0;
    switch (p.primitive) {
      case Primitive::reduce:
      case Primitive::allreduce: blocks = (v != 0 && tree_.span(v) > 1) ? 1 : 0; break;
      case Primitive::gather:
      case Primitive::scatter:
        blocks = v == 0 ? (p.root == 0 ? 0 : p.ranks) : (tree_.span(v) > 1 ? tree_.span(v) : 0);
        break;
      case Primitive::broadcast: break;
    }
    staging_[rank] = HostBuffer(blocks * p.count * p.elem_bytes());
  }

  // The buffer v works in: its staging, else its own buffer on the side data flows from.
  template <class T> T* stage(int v) {
    const Problem& p = problem();
    const int rank = tree_.absolute(v);
    if (staging_[rank].view().bytes > 0 || p.count == 0) return staging_[rank].view().as<T>();
    switch (p.primitive) {
      case Primitive::gather:
      case Primitive::reduce:
      case Primitive::allreduce: return v == 0 ? recv_ptr<T>(rank) : send_ptr<T>(rank);
      case Primitive::scatter:
      case Primitive::broadcast: break;
    }
    return v == 0 ? send_ptr<T>(rank) : recv_ptr<T>(rank);
  }

  template <class T> void work(int rank) {
    switch (problem().primitive) {
      case Primitive::gather: gather<T>(rank); break;
      case Primitive::scatter: scatter<T>(rank); break;
      case Primitive::reduce: reduce<T>(rank); break;
      case Primitive::allreduce: reduce<T>(rank), down<T>(rank, down_, recv_ptr<T>(rank)); break;
      case Primitive::broadcast: down<T>(rank, flags_, stage<T>(tree_.relative(rank))); break;
    }
  }

  // Broadcast down the tree of the block in `mine` (v's result; the root's is complete): each
  // parent copies it into its children's receive buffers, largest subtree first as MPI's
  // binomial broadcast does, and tells them on `told`.
  template <class T> void down(int rank, std::vector<Flag>& told, const T* mine) {
    const int v = tree_.relative(rank);
    if (v != 0) told[rank].word.wait_reach(epoch_, pool_.spin());
    tree_.for_children_largest_first(v, [&](int c) {
      chunked_copy(recv_ptr<T>(tree_.absolute(c)), mine, problem().count * sizeof(T));
      told[tree_.absolute(c)].word.store(epoch_);
    });
  }

  void wait_for(int v) { flags_[tree_.absolute(v)].word.wait_reach(epoch_, pool_.spin()); }
  void post(int v) { flags_[tree_.absolute(v)].word.store(epoch_); }

  // v's subtree's blocks gather in its staging (or its own buffer). From kShareBytes a block,
  // each child pushes its subtree's blocks into its parent's, so a parent copies only its own
  // block and at P = 2 both ranks copy at once (the parent copying every block took twice
  // thread.flat's time at 16M); below, the parent copies them (a child writing next to the
  // parent's own elements would share their cache line: 1.2 - 1.8x the time at 1 element).
  template <class T> void gather(int rank) {
    const Problem& p = problem();
    const std::size_t n = p.count;
    const bool push = n * sizeof(T) >= kShareBytes;
    const int v = tree_.relative(rank);
    T* mine = stage<T>(v);
    if (mine != send_ptr<T>(rank)) chunked_copy(mine, send_ptr<T>(rank), n * sizeof(T));
    tree_.for_children(v, [&](int c) {
      wait_for(c);
      if (!push) chunked_copy(mine + (c - v) * n, stage<T>(c), tree_.span(c) * n * sizeof(T));
    });
    if (v == 0) {
      if (p.root != 0) to_absolute_order<T>(recv_ptr<T>(rank), mine, p);
      return;
    }
    if (push) {
      const int u = BinomialTree::parent(v);
      chunked_copy(stage<T>(u) + (v - u) * n, mine, tree_.span(v) * n * sizeof(T));
    }
    post(v);
  }

  // From kShareBytes a block, v pulls its subtree's blocks out of its parent's staging once the
  // parent has them, and its children then pull theirs out of v's, all of a parent's children at
  // once; below, each parent copies its children's blocks into their staging, largest subtree
  // first as MPI's binomial scatter sends.
  template <class T> void scatter(int rank) {
    const Problem& p = problem();
    const std::size_t n = p.count;
    const bool pull = n * sizeof(T) >= kShareBytes;
    const int v = tree_.relative(rank);
    T* mine = stage<T>(v);
    if (v == 0) {
      if (p.root != 0) to_relative_order<T>(mine, send_ptr<T>(rank), p);
    } else if (pull) {
      const int u = BinomialTree::parent(v);
      wait_for(u);
      chunked_copy(mine, stage<T>(u) + (v - u) * n, tree_.span(v) * n * sizeof(T));
    } else {
      wait_for(v);
    }
    if (pull) {
      if (tree_.span(v) > 1) post(v);
    } else {
      tree_.for_children_largest_first(v, [&](int c) {
        chunked_copy(stage<T>(c), mine + (c - v) * n, tree_.span(c) * n * sizeof(T));
        post(c);
      });
    }
    if (mine != recv_ptr<T>(rank)) chunked_copy(recv_ptr<T>(rank), mine, n * sizeof(T));
  }

  // v combines its own elements with each child's partial result in turn (smallest subtree
  // first, as MPI's binomial reduce). From kShareBytes on, each such combine is split at a
  // cache line near the middle: the parent takes the first half, the child, once its partial
  // is complete, the second (after the sibling before it has done its second half), so at
  // P = 2 both ranks combine at once. Every element is combined in the same order either way.
  template <class T> void reduce(int rank) {
    const Problem& p = problem();
    const std::size_t n = p.count;
    const int v = tree_.relative(rank);
    T* acc = stage<T>(v);
    const T* own = send_ptr<T>(rank);
    constexpr std::size_t kLine = 64 / sizeof(T);
    const bool split = n * sizeof(T) >= kShareBytes, stream = n * sizeof(T) >= kStreamBytes;
    const std::size_t half = split ? n / 2 / kLine * kLine : n;
    with_op(p.op, [&](auto op) {
      using O = decltype(op);
      int last = -1;
      tree_.for_children(v, [&](int c) {
        wait_for(c);
        const T* src[] = {last < 0 ? own : acc, stage<T>(c)};
        combine_all<O>(acc, src, 2, 0, half, stream);
        if (stream) stream_fence();  // read again at the next child
        last = c;
      });
      if (last < 0 && acc != own) chunked_copy(acc, own, n * sizeof(T));  // P = 1 at the root
      if (split && last >= 0) halves_[tree_.absolute(last)].word.wait_reach(epoch_, pool_.spin());
      if (v == 0) return;
      post(v);
      if (!split) return;
      const int u = BinomialTree::parent(v), k = v - u;  // v is u's child through bit k
      if (k > 1) halves_[tree_.absolute(u + k / 2)].word.wait_reach(epoch_, pool_.spin());
      T* into = stage<T>(u);
      const T* src[] = {k == 1 ? send_ptr<T>(tree_.absolute(u)) : into, acc};
      combine_all<O>(into, src, 2, half, n, stream);
      if (stream) stream_fence();
      halves_[rank].word.store(epoch_);
    });
  }

  // Blocks from this size on are moved by the child (gather, scatter) and a reduce edge's
  // combine is split between parent and child: at 8K f32 (32 KiB) a copy or combine takes about
  // 2 us, a handover between cores a few hundred ns.
  static constexpr std::size_t kShareBytes = 32 << 10;

  BinomialTree tree_;
  std::vector<Flag> flags_;   // up the tree (and down it for broadcast and scatter)
  std::vector<Flag> down_;    // down the tree, after the reduce up it (allreduce)
  std::vector<Flag> halves_;  // a child's half of its parent's combine with it is done (reduce)
  std::vector<HostBuffer> staging_;
};

PRIMBENCH_BACKEND("thread", [] {
  return Availability{true, "", std::to_string(std::thread::hardware_concurrency()) + " hardware threads"};
});
PRIMBENCH_REGISTER("thread.flat", ThreadFlat, Primitive::gather, Primitive::scatter, Primitive::reduce,
                   Primitive::allreduce, Primitive::broadcast);
PRIMBENCH_REGISTER("thread.tree", ThreadTree, Primitive::gather, Primitive::scatter, Primitive::reduce,
                   Primitive::allreduce, Primitive::broadcast);

}  // namespace
}  // namespace primbench
