// cuda.cub: the vendor path, CCCL's CUB as a user would compose it.
//   gather, scatter  cub::DeviceMemcpy::Batched over the P rank blocks (one launch sequence).
//   reduce           cub::DeviceTransform, two inputs at a time: the first pass combines ranks 0
//                    and 1 into the root's buffer, each later pass folds in one more rank. The
//                    rank count is known only at run time, so the n-ary transform cannot take all
//                    P inputs at once; P - 1 passes, 3n elements of traffic each.
#include <cub/device/device_memcpy.cuh>
#include <cub/device/device_transform.cuh>
#include <cuda/std/tuple>

#include <vector>

#include "device.cuh"
#include "primbench/dispatch.hpp"

namespace primbench::cuda_backend {
namespace {

class CudaCub final : public DeviceCollective {
 public:
  explicit CudaCub(const Problem& p) : DeviceCollective(p) {
    require_peer_access();
    if (p.primitive == Primitive::reduce) return;
    const std::size_t bytes = p.count * p.elem_bytes();
    std::vector<const void*> src(p.ranks);
    std::vector<void*> dst(p.ranks);
    std::vector<std::size_t> sizes(p.ranks, bytes);
    for (int r = 0; r < p.ranks; ++r) {
      const bool gather = p.primitive == Primitive::gather;
      src[r] = gather ? send(r).data : send(p.root).data + r * bytes;
      dst[r] = gather ? recv(p.root).data + r * bytes : recv(r).data;
    }
    src_ = static_cast<const void* const*>(upload(src.data(), src.size() * sizeof(void*)));
    dst_ = static_cast<void* const*>(upload(dst.data(), dst.size() * sizeof(void*)));
    sizes_ = static_cast<const std::size_t*>(upload(sizes.data(), sizes.size() * sizeof(std::size_t)));
    PRIMBENCH_CUDA(cub::DeviceMemcpy::Batched(nullptr, temp_bytes_, src_, dst_, sizes_, p.ranks, stream()));
    temp_ = scratch(temp_bytes_);
  }

 private:
  void enqueue(cudaStream_t s) override {
    const Problem& p = problem();
    if (p.count == 0) return;
    if (p.primitive != Primitive::reduce) {
      PRIMBENCH_CUDA(cub::DeviceMemcpy::Batched(temp_, temp_bytes_, src_, dst_, sizes_, p.ranks, s));
      return;
    }
    if (p.ranks == 1) {
      PRIMBENCH_CUDA(cudaMemcpyAsync(recv(p.root).data, send(0).data, p.count * p.elem_bytes(), cudaMemcpyDefault, s));
      return;
    }
    with_dtype(p.dtype, [&](auto tag) {
      using T = typename decltype(tag)::type;
      with_device_op(p.op, [&](auto op) {
        const auto n = static_cast<std::int64_t>(p.count);
        T* acc = recv_ptr<T>(p.root);
        PRIMBENCH_CUDA(cub::DeviceTransform::Transform(
            ::cuda::std::make_tuple(static_cast<const T*>(send_ptr<T>(0)), static_cast<const T*>(send_ptr<T>(1))),
            acc, n, op, s));
        for (int r = 2; r < p.ranks; ++r)
          PRIMBENCH_CUDA(cub::DeviceTransform::Transform(
              ::cuda::std::make_tuple(static_cast<const T*>(acc), static_cast<const T*>(send_ptr<T>(r))), acc, n, op, s));
      });
    });
  }

  const void* const* src_ = nullptr;
  void* const* dst_ = nullptr;
  const std::size_t* sizes_ = nullptr;
  void* temp_ = nullptr;
  std::size_t temp_bytes_ = 0;
};

}  // namespace

PRIMBENCH_REGISTER("cuda.cub", CudaCub);

}  // namespace primbench::cuda_backend
