// oneTBB backend: P logical ranks, independent of TBB's worker count. Each rank's buffers are
// allocated and first touched inside a TBB task; the collective is one parallel_for over the
// data with a static_partitioner: one contiguous range a thread, the same thread each call (so a
// cache-resident range stays in the cache of the core that moves it), copied in 64 KiB pieces
// (chunked_copy). TBB's default auto_partitioner, balancing chunks of 64 KiB and more copied in
// one memcpy each, was the slower copy at 16M elements (docs/measurement.md, "tbb.parallel_for's
// partitioner").
//   tbb.parallel_for  gather/scatter/broadcast: chunks of the P*n elements copied in parallel;
//                     reduce: chunks of the n elements, each combined across all ranks;
//                     allreduce: the same, each combined chunk then copied to every rank.
#include <oneapi/tbb/blocked_range.h>
#include <oneapi/tbb/parallel_for.h>
#include <oneapi/tbb/partitioner.h>
#include <oneapi/tbb/version.h>

#include <algorithm>
#include <vector>

#include "primbench/dispatch.hpp"

namespace primbench {
namespace {

class TbbParallelFor final : public HostCollective {
 public:
  explicit TbbParallelFor(const Problem& p) : HostCollective(p) {
    tbb::parallel_for(0, p.ranks, [&](int r) { allocate(r); });
  }

  void run(std::span<double> seconds) override {
    const double t0 = now_seconds();
    with_dtype(problem().dtype, [&](auto tag) { body<typename decltype(tag)::type>(); });
    std::fill(seconds.begin(), seconds.end(), now_seconds() - t0);
  }

 private:
  // The least elements a thread's range holds: a smaller problem is moved by fewer threads.
  template <class T> static constexpr std::size_t kGrain = (64 << 10) / sizeof(T);

  template <class T> void body() {
    const Problem& p = problem();
    const std::size_t n = p.count;
    switch (p.primitive) {
      case Primitive::gather:  // element i of the root's buffer belongs to rank i / n
        blocks<T>([&](int r, std::size_t i, std::size_t off, std::size_t len) {
          chunked_copy(recv_ptr<T>(p.root) + i, send_ptr<T>(r) + off, len * sizeof(T));
        });
        break;
      case Primitive::scatter:
        blocks<T>([&](int r, std::size_t i, std::size_t off, std::size_t len) {
          chunked_copy(recv_ptr<T>(r) + off, send_ptr<T>(p.root) + i, len * sizeof(T));
        });
        break;
      case Primitive::broadcast:  // block r is the root's buffer copied to rank r
        blocks<T>([&](int r, std::size_t, std::size_t off, std::size_t len) {
          if (r != p.root) chunked_copy(recv_ptr<T>(r) + off, send_ptr<T>(p.root) + off, len * sizeof(T));
        });
        break;
      case Primitive::reduce:
      case Primitive::allreduce: {
        std::vector<const T*> src(p.ranks);
        for (int r = 0; r < p.ranks; ++r) src[r] = send_ptr<T>(r);
        // Reduce: chunks combined into the root's buffer. Allreduce: into rank 0's, and each
        // chunk then copied to every other rank while it is in cache.
        const bool all = p.primitive == Primitive::allreduce;
        T* dst = recv_ptr<T>(all ? 0 : p.root);
        const bool stream = n * sizeof(T) >= kStreamBytes;
        with_op(p.op, [&](auto op) {
          tbb::parallel_for(tbb::blocked_range<std::size_t>(0, n, kGrain<T>), [&](const auto& range) {
            const std::size_t lo = range.begin(), len = range.end() - lo;
            combine_all<decltype(op)>(dst, src.data(), p.ranks, lo, range.end(), stream && !all);
            for (int r = 1; all && r < p.ranks; ++r)
              copy_out(recv_ptr<T>(r) + lo, dst + lo, len * sizeof(T), stream);
            if (stream) stream_fence();
          }, tbb::static_partitioner());
        });
        break;
      }
    }
  }

  // f(rank, i, offset, length) over chunks of the P*n elements of P blocks of n, in parallel:
  // elements i .. i+length of the whole are elements offset .. offset+length of rank's block.
  template <class T, class F> void blocks(F&& f) {
    const Problem& p = problem();
    const std::size_t n = p.count;
    tbb::parallel_for(tbb::blocked_range<std::size_t>(0, n * p.ranks, kGrain<T>), [&](const auto& range) {
      for (std::size_t i = range.begin(); i < range.end();) {
        const int r = static_cast<int>(i / n);
        const std::size_t off = i - r * n, len = std::min(range.end() - i, n - off);
        f(r, i, off, len);
        i += len;
      }
    }, tbb::static_partitioner());
  }
};

PRIMBENCH_BACKEND("tbb", [] { return Availability{true, "", TBB_runtime_version()}; });
PRIMBENCH_REGISTER("tbb.parallel_for", TbbParallelFor, Primitive::gather, Primitive::scatter, Primitive::reduce,
                   Primitive::allreduce, Primitive::broadcast);

}  // namespace
}  // namespace primbench
