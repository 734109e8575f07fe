// cuda.cub: the vendor path, CCCL's CUB as a user would compose it.
//   gather, scatter  cub::DeviceMemcpy::Batched over the P rank blocks (one launch sequence).
//   broadcast        cub::DeviceMemcpy::Batched over the P - 1 copies of the root's block, one
//                    to each other rank (the root has no receive buffer; one rank moves nothing).
//   reduce           cub::DeviceTransform, two inputs at a time: the first pass combines ranks 0
//                    and 1 into the root's buffer, each later pass folds in one more rank. The
//                    rank count is known only at run time, so the n-ary transform cannot take all
//                    P inputs at once; P - 1 passes, 3n elements of traffic each.
//   allreduce        that reduce into rank 0's receive buffer, then cub::DeviceMemcpy::Batched
//                    copying it to the other P - 1 ranks' (2n elements of traffic per copy).
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
    const std::size_t bytes = p.count * p.elem_bytes();
    std::vector<const void*> src;
    std::vector<void*> dst;
    auto add = [&](const std::byte* from, std::byte* to) {
      src.push_back(from);
      dst.push_back(to);
    };
    switch (p.primitive) {
      case Primitive::gather:
        for (int r = 0; r < p.ranks; ++r) add(send(r).data, recv(p.root).data + r * bytes);
        break;
      case Primitive::scatter:
        for (int r = 0; r < p.ranks; ++r) add(send(p.root).data + r * bytes, recv(r).data);
        break;
      case Primitive::broadcast:
        for (int r = 0; r < p.ranks; ++r)
          if (r != p.root) add(send(p.root).data, recv(r).data);
        break;
      case Primitive::reduce:
        break;
      case Primitive::allreduce:  // after the reduce into rank 0's result: copies of it
        for (int r = 1; r < p.ranks; ++r) add(recv(0).data, recv(r).data);
        break;
    }
    copies_ = static_cast<int>(src.size());
    if (copies_ == 0) return;
    std::vector<std::size_t> sizes(src.size(), bytes);
    src_ = static_cast<const void* const*>(upload(src.data(), src.size() * sizeof(void*)));
    dst_ = static_cast<void* const*>(upload(dst.data(), dst.size() * sizeof(void*)));
    sizes_ = static_cast<const std::size_t*>(upload(sizes.data(), sizes.size() * sizeof(std::size_t)));
    PRIMBENCH_CUDA(cub::DeviceMemcpy::Batched(nullptr, temp_bytes_, src_, dst_, sizes_, copies_, stream()));
    temp_ = scratch(temp_bytes_);
  }

 private:
  void enqueue(cudaStream_t s) override {
    const Problem& p = problem();
    if (p.count == 0) return;
    switch (p.primitive) {
      case Primitive::gather:
      case Primitive::scatter:
      case Primitive::broadcast:
        copy(s);
        break;
      case Primitive::reduce:
        reduce_into(recv(p.root).data, s);
        break;
      case Primitive::allreduce:
        reduce_into(recv(0).data, s);
        copy(s);
        break;
    }
  }

  // The batched copies set up by the constructor (none: a broadcast or allreduce of one rank).
  void copy(cudaStream_t s) {
    if (copies_ > 0) PRIMBENCH_CUDA(cub::DeviceMemcpy::Batched(temp_, temp_bytes_, src_, dst_, sizes_, copies_, s));
  }

  // dst = O over the ranks' send buffers, ranks in order: a copy of rank 0's for one rank, else
  // P - 1 two-input transforms (ranks 0 and 1 into dst, then each later rank folded into it).
  void reduce_into(std::byte* dst, cudaStream_t s) {
    const Problem& p = problem();
    if (p.ranks == 1) {
      PRIMBENCH_CUDA(cudaMemcpyAsync(dst, send(0).data, p.count * p.elem_bytes(), cudaMemcpyDefault, s));
      return;
    }
    with_dtype(p.dtype, [&](auto tag) {
      using T = typename decltype(tag)::type;
      with_op(p.op, [&](auto op) {
        const auto n = static_cast<std::int64_t>(p.count);
        T* acc = reinterpret_cast<T*>(dst);
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
  int copies_ = 0;
  void* temp_ = nullptr;
  std::size_t temp_bytes_ = 0;
};

}  // namespace

PRIMBENCH_REGISTER("cuda.cub", CudaCub, Primitive::gather, Primitive::scatter, Primitive::reduce, Primitive::allreduce,
                   Primitive::broadcast);

}  // namespace primbench::cuda_backend
