// oneTBB backend: P logical ranks, independent of TBB's worker count. Each rank's buffers are
// allocated and first touched inside a TBB task; the collective is one parallel_for over the
// data, split into chunks TBB balances over its workers.
//   tbb.parallel_for  gather/scatter: chunks of the P*n elements copied in parallel;
//                     reduce: chunks of the n elements, each combined across all ranks.
#include <oneapi/tbb/blocked_range.h>
#include <oneapi/tbb/parallel_for.h>
#include <oneapi/tbb/version.h>

#include <algorithm>
#include <cstring>
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
  // Elements per task: large enough that scheduling costs little, small enough to balance.
  template <class T> static constexpr std::size_t kGrain = (64 << 10) / sizeof(T);

  template <class T> void body() {
    const Problem& p = problem();
    const std::size_t n = p.count;
    if (p.primitive == Primitive::reduce) {
      std::vector<const T*> src(p.ranks);
      for (int r = 0; r < p.ranks; ++r) src[r] = send_ptr<T>(r);
      T* dst = recv_ptr<T>(p.root);
      const bool stream = n * sizeof(T) >= kStreamBytes;
      with_op(p.op, [&](auto op) {
        tbb::parallel_for(tbb::blocked_range<std::size_t>(0, n, kGrain<T>), [&](const auto& range) {
          combine_all<decltype(op)>(dst, src.data(), p.ranks, range.begin(), range.end(), stream);
          if (stream) stream_fence();
        });
      });
      return;
    }
    // Gather and scatter: element i of the root's buffer belongs to rank i / n.
    const bool gather = p.primitive == Primitive::gather;
    tbb::parallel_for(tbb::blocked_range<std::size_t>(0, n * p.ranks, kGrain<T>), [&](const auto& range) {
      for (std::size_t i = range.begin(); i < range.end();) {
        const int r = static_cast<int>(i / n);
        const std::size_t off = i - r * n, len = std::min(range.end() - i, n - off);
        if (gather)
          std::memcpy(recv_ptr<T>(p.root) + i, send_ptr<T>(r) + off, len * sizeof(T));
        else
          std::memcpy(recv_ptr<T>(r) + off, send_ptr<T>(p.root) + i, len * sizeof(T));
        i += len;
      }
    });
  }
};

PRIMBENCH_BACKEND("tbb", [] { return Availability{true, "", TBB_runtime_version()}; });
PRIMBENCH_REGISTER("tbb.parallel_for", TbbParallelFor);

}  // namespace
}  // namespace primbench
