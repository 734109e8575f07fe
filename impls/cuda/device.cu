// CUDA backend: device buffers, timing and the probe (shared by every cuda.* implementation), and
// the two hand-written implementations.
//   cuda.memcpy  the naive baseline users write first: gather, scatter and broadcast as one
//                cudaMemcpyAsync per rank block (broadcast: the root's block to each of the other
//                P - 1 ranks); reduce as one element-wise kernel per rank pair (P - 1 launches,
//                each reading and writing the whole partial result); allreduce as that reduce
//                into rank 0's result, then one cudaMemcpyAsync of it to every other rank.
//   cuda.kernel  one fused launch over a device table of rank pointers: 16-byte loads and stores,
//                grid-stride, several loads in flight per thread; gather, scatter and broadcast
//                copy every rank's block in one launch (misaligned sources are realigned in
//                registers, so every store is a full aligned 16 bytes; broadcast has one block
//                per non-root rank, all read from the root); reduce reads each rank once and
//                writes the root once, (P + 1) * n elements of traffic; allreduce reads each rank
//                once and writes each result from the same registers, 2P * n elements (one pass).
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <new>
#include <string>
#include <vector>

#include "copy.cuh"
#include "device.cuh"
#include "primbench/dispatch.hpp"

#ifndef PRIMBENCH_CUDA_ARCHITECTURES
#define PRIMBENCH_CUDA_ARCHITECTURES "?"
#endif

namespace primbench::cuda_backend {

// ---- errors and memory

std::string describe(cudaError_t e) {
  return std::string(cudaGetErrorName(e)) + ": " + cudaGetErrorString(e);
}

void check(cudaError_t e, const char* what) {
  if (e == cudaSuccess) return;
  if (e == cudaErrorMemoryAllocation) {
    cudaGetLastError();  // not sticky: clear it so the next collective starts clean
    throw std::bad_alloc();
  }
  throw std::runtime_error(std::string("CUDA error in ") + what + ": " + describe(e));
}

DeviceMemory::DeviceMemory(int device, std::size_t bytes) : device_(device), bytes_(bytes) {
  PRIMBENCH_CUDA(cudaSetDevice(device));
  void* p = nullptr;
  PRIMBENCH_CUDA(cudaMalloc(&p, bytes));
  p_ = static_cast<std::byte*>(p);
}

DeviceMemory& DeviceMemory::operator=(DeviceMemory&& o) noexcept {
  if (this != &o) {
    release();
    device_ = o.device_, p_ = o.p_, bytes_ = o.bytes_;
    o.p_ = nullptr, o.bytes_ = 0;
  }
  return *this;
}

void DeviceMemory::release() {
  if (!p_) return;
  cudaSetDevice(device_);
  cudaFree(p_);  // errors here (a context already torn down at exit) leave nothing to do
  p_ = nullptr;
}

// ---- the shared collective

DeviceCollective::DeviceCollective(const Problem& p) : Collective(p) {
  PRIMBENCH_CUDA(cudaGetDeviceCount(&devices_));
  if (devices_ < 1) throw std::runtime_error("no CUDA device");
  // Each rank's buffers on its own GPU, zeroed there (the GPU's first touch).
  for (int r = 0; r < p.ranks; ++r) {
    for (auto* side : {&send_, &recv_}) {
      const std::size_t count = side == &send_ ? p.send_count(r) : p.recv_count(r);
      side->emplace_back(device_of(r), count * p.elem_bytes() + 2 * kGuardBytes);
      PRIMBENCH_CUDA(cudaMemset(side->back().get(), 0, side->back().bytes()));
    }
  }
  PRIMBENCH_CUDA(cudaSetDevice(exec_device()));
  PRIMBENCH_CUDA(cudaDeviceGetAttribute(&multiprocessors_, cudaDevAttrMultiProcessorCount, exec_device()));
  cudaError_t e = cudaStreamCreate(&stream_);
  if (e == cudaSuccess) e = cudaEventCreate(&start_);
  if (e == cudaSuccess) e = cudaEventCreate(&stop_);
  if (e == cudaSuccess) e = cudaDeviceSynchronize();
  if (e != cudaSuccess) {
    destroy_stream();  // the destructor does not run when a constructor throws
    check(e, "creating the stream and events");
  }
}

void DeviceCollective::destroy_stream() {
  if (start_) cudaEventDestroy(start_);
  if (stop_) cudaEventDestroy(stop_);
  if (stream_) cudaStreamDestroy(stream_);
  start_ = stop_ = nullptr;
  stream_ = nullptr;
}

DeviceCollective::~DeviceCollective() {
  cudaSetDevice(exec_device());
  if (stream_) cudaStreamSynchronize(stream_);
  destroy_stream();
}

void DeviceCollective::read(const std::byte* src, void* dst, std::size_t bytes) {
  PRIMBENCH_CUDA(cudaMemcpy(dst, src, bytes, cudaMemcpyDefault));
}

void DeviceCollective::write(std::byte* dst, const void* src, std::size_t bytes) {
  PRIMBENCH_CUDA(cudaMemcpy(dst, src, bytes, cudaMemcpyDefault));
}

void DeviceCollective::flush_caches() {
  std::vector<int> used;
  for (int r = 0; r < problem().ranks; ++r)
    if (std::find(used.begin(), used.end(), device_of(r)) == used.end()) used.push_back(device_of(r));
  if (flush_.empty()) {
    for (int d : used) {
      int l2 = 0;
      PRIMBENCH_CUDA(cudaDeviceGetAttribute(&l2, cudaDevAttrL2CacheSize, d));
      flush_.emplace_back(d, 2 * static_cast<std::size_t>(std::max(l2, 1 << 20)));
    }
  }
  static unsigned pass = 0;
  for (const DeviceMemory& m : flush_) {
    PRIMBENCH_CUDA(cudaSetDevice(m.device()));
    PRIMBENCH_CUDA(cudaMemsetAsync(m.get(), (++pass & 1) ? 0x5A : 0xA5, m.bytes(), nullptr));
    PRIMBENCH_CUDA(cudaStreamSynchronize(nullptr));
  }
  PRIMBENCH_CUDA(cudaSetDevice(exec_device()));
}

void DeviceCollective::run(std::span<double> seconds) {
  PRIMBENCH_CUDA(cudaSetDevice(exec_device()));
  PRIMBENCH_CUDA(cudaEventRecord(start_, stream_));
  enqueue(stream_);
  PRIMBENCH_CUDA(cudaEventRecord(stop_, stream_));
  PRIMBENCH_CUDA(cudaEventSynchronize(stop_));
  float ms = 0;
  PRIMBENCH_CUDA(cudaEventElapsedTime(&ms, start_, stop_));
  std::fill(seconds.begin(), seconds.end(), static_cast<double>(ms) * 1e-3);
}

void DeviceCollective::require_peer_access() {
  const int exec = exec_device();
  for (int d = 0; d < std::min(devices_, problem().ranks); ++d) {
    if (d == exec) continue;
    int can = 0;
    PRIMBENCH_CUDA(cudaDeviceCanAccessPeer(&can, exec, d));
    if (!can)
      throw std::runtime_error("GPU " + std::to_string(exec) + " cannot access GPU " + std::to_string(d) +
                               "'s memory (no peer access); this implementation needs it across GPUs");
    PRIMBENCH_CUDA(cudaSetDevice(exec));
    const cudaError_t e = cudaDeviceEnablePeerAccess(d, 0);
    if (e == cudaErrorPeerAccessAlreadyEnabled) cudaGetLastError();
    else check(e, "cudaDeviceEnablePeerAccess");
  }
  PRIMBENCH_CUDA(cudaSetDevice(exec));
}

void* DeviceCollective::scratch(std::size_t bytes) {
  scratch_.emplace_back(exec_device(), std::max<std::size_t>(bytes, 1));
  PRIMBENCH_CUDA(cudaSetDevice(exec_device()));
  return scratch_.back().get();
}

void* DeviceCollective::upload(const void* host, std::size_t bytes) {
  void* p = scratch(bytes);
  PRIMBENCH_CUDA(cudaMemcpy(p, host, bytes, cudaMemcpyHostToDevice));
  return p;
}

namespace {

std::size_t div_up(std::size_t a, std::size_t b) { return (a + b - 1) / b; }

// The blocks of `kernel` (kThreads each, `shared` bytes of dynamic shared memory) the GPU holds
// at once: the grid of one full wave. A fixed 8 blocks a SM (2048 threads) was more than fit:
// ptxas gives copy_blocks 40 registers and reduce_ranks<float, Sum> 44, so an H200 SM holds 6
// and 5 of them and a grid of 8 a SM ran in 1.3 - 1.6 waves. (On an H200 that cost the copy
// nothing measurable: docs/cuda.md.)
template <class Kernel> std::size_t wave(Kernel kernel, std::size_t shared, int multiprocessors) {
  int per_sm = 0;
  PRIMBENCH_CUDA(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, kernel, kThreads, shared));
  return static_cast<std::size_t>(std::max(per_sm, 1)) * static_cast<std::size_t>(multiprocessors);
}

// ---- kernels

// 16 bytes of T, loaded and stored as one vector access.
template <class T> struct alignas(16) Vec { T v[16 / sizeof(T)]; };

template <class T> __device__ __forceinline__ Vec<T> load_vec(const T* p) {
  const uint4 u = __ldg(reinterpret_cast<const uint4*>(p));
  Vec<T> v;
  memcpy(&v, &u, sizeof v);
  return v;
}

// An explicit global store (st.global.wb, the default policy): a pointer read from a shared-memory
// table would otherwise be stored through as a generic address.
template <class T> __device__ __forceinline__ void store_vec(T* p, const Vec<T>& v) {
  uint4 u;
  memcpy(&u, &v, sizeof u);
  __stwb(reinterpret_cast<uint4*>(p), u);
}

// The element-wise reduction both reducing kernels share: element i is O over ranks of in[r][i],
// ranks in order, handed to put(first element, vector) a 16-byte vector at a time and to
// put_one(element, value) for the last n % kV elements. Every buffer's payload is 64-byte
// aligned, so whole vectors are aligned everywhere; two vectors per thread per step, and the
// loads of the next ranks are independent of the combining, so up to 2 * P loads are in flight.
template <class T, class O, class Put, class PutOne>
__device__ __forceinline__ void reduce_elements(const T* const* in, int ranks, std::size_t n, Put&& put,
                                                PutOne&& put_one) {
  constexpr std::size_t kV = 16 / sizeof(T);
  const O op{};
  auto combine = [&](Vec<T>& a, const Vec<T>& b) {
#pragma unroll
    for (std::size_t k = 0; k < kV; ++k) a.v[k] = op(a.v[k], b.v[k]);
  };
  const std::size_t vectors = n / kV;
  const std::size_t stride = static_cast<std::size_t>(gridDim.x) * blockDim.x;
  std::size_t i = static_cast<std::size_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  for (; i + stride < vectors; i += 2 * stride) {
    Vec<T> a = load_vec(in[0] + i * kV), b = load_vec(in[0] + (i + stride) * kV);
#pragma unroll 4
    for (int r = 1; r < ranks; ++r) {
      const Vec<T> x = load_vec(in[r] + i * kV), y = load_vec(in[r] + (i + stride) * kV);
      combine(a, x);
      combine(b, y);
    }
    put(i * kV, a);
    put((i + stride) * kV, b);
  }
  if (i < vectors) {
    Vec<T> a = load_vec(in[0] + i * kV);
#pragma unroll 4
    for (int r = 1; r < ranks; ++r) combine(a, load_vec(in[r] + i * kV));
    put(i * kV, a);
  }
  // The last n % kV elements, one per thread of the first block.
  const std::size_t t = vectors * kV + static_cast<std::size_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (blockIdx.x == 0 && t < n) {
    T acc = in[0][t];
    for (int r = 1; r < ranks; ++r) acc = op(acc, in[r][t]);
    put_one(t, acc);
  }
}

// reduce: dst[i] = O over ranks of src[r][i], ranks in order; P reads and 1 write per element.
// The source table (P pointers) is staged in shared memory.
template <class T, class O>
__global__ void __launch_bounds__(kThreads) reduce_ranks(const T* const* src, int ranks, T* dst, std::size_t n) {
  extern __shared__ __align__(16) unsigned char shared[];
  const T** table = reinterpret_cast<const T**>(shared);
  for (int r = threadIdx.x; r < ranks; r += blockDim.x) table[r] = src[r];
  __syncthreads();
  reduce_elements<T, O>(
      table, ranks, n, [&](std::size_t e, const Vec<T>& v) { store_vec(dst + e, v); },
      [&](std::size_t e, T v) { dst[e] = v; });
}

// allreduce: dst[q][i] = O over ranks of src[r][i], ranks in order, for every rank q. One pass:
// each result vector is written to all P destinations straight from the registers it was
// combined in, so P reads and P writes per element, nothing read back. Both tables (the P
// sources, then the P destinations) are staged in shared memory, 2P pointers. At least 4 blocks
// per SM (64 registers): left to itself ptxas holds it near 40 and spills; 1024 threads with 2P
// vector loads each in flight are still far more bytes than HBM needs to stay busy.
template <class T, class O>
__global__ void __launch_bounds__(kThreads, 4) allreduce_ranks(const T* const* src, T* const* dst, int ranks,
                                                               std::size_t n) {
  extern __shared__ __align__(16) unsigned char shared[];
  const T** in = reinterpret_cast<const T**>(shared);
  T** out = reinterpret_cast<T**>(shared + static_cast<std::size_t>(ranks) * sizeof(T*));
  for (int r = threadIdx.x; r < ranks; r += blockDim.x) {
    in[r] = src[r];
    out[r] = dst[r];
  }
  __syncthreads();
  reduce_elements<T, O>(
      in, ranks, n,
      [&](std::size_t e, const Vec<T>& v) {
#pragma unroll 2
        for (int q = 0; q < ranks; ++q) store_vec(out[q] + e, v);
      },
      [&](std::size_t e, T v) {
        for (int q = 0; q < ranks; ++q) out[q][e] = v;
      });
}

// dst[i] = O(a[i], b[i]): the one-pair kernel of the naive reduce.
template <class T, class O>
__global__ void combine_pair(T* dst, const T* a, const T* b, std::size_t n) {
  const std::size_t i = static_cast<std::size_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < n) dst[i] = O{}(a[i], b[i]);
}

__global__ void probe_kernel(int* p) {
  if (p) *p = 1;
}

// ---- cuda.memcpy

class CudaMemcpy final : public DeviceCollective {
 public:
  explicit CudaMemcpy(const Problem& p) : DeviceCollective(p) {
    if (combines_on_device(p)) require_peer_access();
  }

 private:
  // The combine_pair kernels read every rank's send buffer from the executing GPU; copies go
  // through cudaMemcpyAsync, which needs no peer access.
  static bool combines_on_device(const Problem& p) {
    switch (p.primitive) {
      case Primitive::gather:
      case Primitive::scatter:
      case Primitive::broadcast: return false;
      case Primitive::reduce:
      case Primitive::allreduce: return p.ranks > 1;
    }
    throw std::invalid_argument("unknown primitive");
  }

  void enqueue(cudaStream_t s) override {
    const Problem& p = problem();
    const std::size_t bytes = p.count * p.elem_bytes();
    if (bytes == 0) return;
    const int root = p.root;
    switch (p.primitive) {
      case Primitive::gather:
        for (int r = 0; r < p.ranks; ++r)
          PRIMBENCH_CUDA(cudaMemcpyAsync(recv(root).data + r * bytes, send(r).data, bytes, cudaMemcpyDefault, s));
        break;
      case Primitive::scatter:
        for (int r = 0; r < p.ranks; ++r)
          PRIMBENCH_CUDA(cudaMemcpyAsync(recv(r).data, send(root).data + r * bytes, bytes, cudaMemcpyDefault, s));
        break;
      case Primitive::broadcast:  // the root has no receive buffer: nothing to copy to itself
        for (int r = 0; r < p.ranks; ++r)
          if (r != root)
            PRIMBENCH_CUDA(cudaMemcpyAsync(recv(r).data, send(root).data, bytes, cudaMemcpyDefault, s));
        break;
      case Primitive::reduce:
        reduce_into(recv(root).data, s);
        break;
      case Primitive::allreduce:  // rank 0's result first, then a copy of it for every other rank
        reduce_into(recv(0).data, s);
        for (int r = 1; r < p.ranks; ++r)
          PRIMBENCH_CUDA(cudaMemcpyAsync(recv(r).data, recv(0).data, bytes, cudaMemcpyDefault, s));
        break;
    }
  }

  // dst = O over the ranks' send buffers, ranks in order: a copy of rank 0's for one rank, else
  // P - 1 combine_pair launches (ranks 0 and 1 into dst, then each later rank folded into it).
  void reduce_into(std::byte* dst, cudaStream_t s) {
    const Problem& p = problem();
    if (p.ranks == 1) {
      PRIMBENCH_CUDA(cudaMemcpyAsync(dst, send(0).data, p.count * p.elem_bytes(), cudaMemcpyDefault, s));
      return;
    }
    with_dtype(p.dtype, [&](auto tag) {
      using T = typename decltype(tag)::type;
      with_op(p.op, [&](auto op) {
        using O = decltype(op);
        const auto blocks = static_cast<unsigned>(div_up(p.count, kThreads));
        T* acc = reinterpret_cast<T*>(dst);
        combine_pair<T, O><<<blocks, kThreads, 0, s>>>(acc, send_ptr<T>(0), send_ptr<T>(1), p.count);
        PRIMBENCH_CUDA_LAUNCHED("combine_pair");
        for (int r = 2; r < p.ranks; ++r) {
          combine_pair<T, O><<<blocks, kThreads, 0, s>>>(acc, acc, send_ptr<T>(r), p.count);
          PRIMBENCH_CUDA_LAUNCHED("combine_pair");
        }
      });
    });
  }
};

// ---- cuda.kernel

class CudaKernel final : public DeviceCollective {
 public:
  // The reducing kernels stage their pointer tables in shared memory, within the 48 KB any
  // launch gets without opting in: reduce one table of P source pointers, allreduce two (P
  // sources, P destinations). The copies read their job table from global memory; they keep the
  // one-table bound, which also keeps their grid's y dimension (one per job) far under 65535.
  static constexpr std::size_t kSharedTableBytes = 48 * 1024;
  static constexpr int kMaxRanks = static_cast<int>(kSharedTableBytes / sizeof(void*));  // 6144
  static constexpr int kMaxAllreduceRanks = kMaxRanks / 2;                                // 3072
  static_assert(2 * kMaxAllreduceRanks * sizeof(void*) <= kSharedTableBytes);

  static int max_ranks(Primitive prim) {
    switch (prim) {
      case Primitive::gather:
      case Primitive::scatter:
      case Primitive::broadcast:
      case Primitive::reduce: return kMaxRanks;
      case Primitive::allreduce: return kMaxAllreduceRanks;
    }
    throw std::invalid_argument("unknown primitive");
  }

  explicit CudaKernel(const Problem& p) : DeviceCollective(p) {
    if (p.ranks > max_ranks(p.primitive))
      throw std::invalid_argument("cuda.kernel supports at most " + std::to_string(max_ranks(p.primitive)) +
                                  " ranks for " + std::string(name(p.primitive)));
    require_peer_access();
    const std::size_t bytes = p.count * p.elem_bytes();
    std::vector<CopyJob> jobs;     // the copies: one per destination block
    std::vector<void*> pointers;   // the reductions: sources, then (allreduce) destinations
    switch (p.primitive) {
      case Primitive::gather:
        for (int r = 0; r < p.ranks; ++r) jobs.push_back({send(r).data, recv(p.root).data + r * bytes});
        break;
      case Primitive::scatter:
        for (int r = 0; r < p.ranks; ++r) jobs.push_back({send(p.root).data + r * bytes, recv(r).data});
        break;
      case Primitive::broadcast:  // P - 1 jobs, none for the root (it has no receive buffer)
        for (int r = 0; r < p.ranks; ++r)
          if (r != p.root) jobs.push_back({send(p.root).data, recv(r).data});
        break;
      case Primitive::reduce:
        for (int r = 0; r < p.ranks; ++r) pointers.push_back(send(r).data);
        break;
      case Primitive::allreduce:
        for (int r = 0; r < p.ranks; ++r) pointers.push_back(send(r).data);
        for (int r = 0; r < p.ranks; ++r) pointers.push_back(recv(r).data);
        break;
    }
    jobs_ = jobs.size();
    if (!jobs.empty()) table_ = upload(jobs.data(), jobs.size() * sizeof(CopyJob));
    if (!pointers.empty()) table_ = upload(pointers.data(), pointers.size() * sizeof(void*));
    shared_ = pointers.size() * sizeof(void*);
    wave_ = [&] {
      if (!info(p.primitive).takes_op) return wave(copy_blocks, 0, multiprocessors());
      return with_dtype(p.dtype, [&](auto tag) {
        using T = typename decltype(tag)::type;
        return with_op(p.op, [&](auto op) {
          using O = decltype(op);
          return p.primitive == Primitive::reduce ? wave(reduce_ranks<T, O>, shared_, multiprocessors())
                                                  : wave(allreduce_ranks<T, O>, shared_, multiprocessors());
        });
      });
    }();
  }

 private:
  void enqueue(cudaStream_t s) override {
    const Problem& p = problem();
    if (p.count == 0) return;
    switch (p.primitive) {
      case Primitive::gather:
      case Primitive::scatter:
      case Primitive::broadcast: copy(s); break;
      case Primitive::reduce: reduce(s); break;
      case Primitive::allreduce: allreduce(s); break;
    }
  }

  // Grid size of the reducing kernels: two vectors per thread per step, at most one full wave.
  template <class T> unsigned reduce_blocks() const {
    const std::size_t vectors = problem().count / (16 / sizeof(T));
    return static_cast<unsigned>(std::clamp<std::size_t>(div_up(vectors, 2 * kThreads), 1, wave_));
  }

  // Every job's block in one copy_blocks launch, one wave of blocks shared among the jobs.
  void copy(cudaStream_t s) {
    if (jobs_ == 0) return;  // a broadcast with one rank: nothing moves
    const std::size_t bytes = problem().count * problem().elem_bytes();
    const std::size_t per_job = std::max<std::size_t>(1, wave_ / jobs_);
    const dim3 grid(static_cast<unsigned>(std::clamp<std::size_t>(div_up(bytes / 16, kThreads * 4), 1, per_job)),
                    static_cast<unsigned>(jobs_));
    copy_blocks<<<grid, kThreads, 0, s>>>(static_cast<const CopyJob*>(table_), bytes);
    PRIMBENCH_CUDA_LAUNCHED("copy_blocks");
  }

  void reduce(cudaStream_t s) {
    const Problem& p = problem();
    with_dtype(p.dtype, [&](auto tag) {
      using T = typename decltype(tag)::type;
      with_op(p.op, [&](auto op) {
        using O = decltype(op);
        reduce_ranks<T, O><<<reduce_blocks<T>(), kThreads, shared_, s>>>(
            static_cast<const T* const*>(table_), p.ranks, recv_ptr<T>(p.root), p.count);
        PRIMBENCH_CUDA_LAUNCHED("reduce_ranks");
      });
    });
  }

  void allreduce(cudaStream_t s) {
    const Problem& p = problem();
    const auto* pointers = static_cast<void* const*>(table_);
    with_dtype(p.dtype, [&](auto tag) {
      using T = typename decltype(tag)::type;
      with_op(p.op, [&](auto op) {
        using O = decltype(op);
        allreduce_ranks<T, O><<<reduce_blocks<T>(), kThreads, shared_, s>>>(
            reinterpret_cast<const T* const*>(pointers), reinterpret_cast<T* const*>(pointers + p.ranks), p.ranks,
            p.count);
        PRIMBENCH_CUDA_LAUNCHED("allreduce_ranks");
      });
    });
  }

  void* table_ = nullptr;
  std::size_t jobs_ = 0;
  std::size_t shared_ = 0;  // the reducing kernels' pointer tables (P or 2P), staged in shared memory
  std::size_t wave_ = 1;    // blocks of this problem's kernel the GPU holds at once
};

// ---- the reference beside each benchmark

// One cudaMemcpyAsync of half the benchmark's memory traffic (a copy reads and writes each
// byte), device to device on the GPU every rank of the problem is on, between two events on a
// stream of its own, the event waited for: as DeviceCollective::run times a collective, so a
// launch's cost is in both. Its buffers are offset by kGuardBytes from their allocations, as a
// rank's are. Hot, where the benchmark's working set and this one fit in the L2 together, each
// trial copies once untimed first: the benchmark's loop runs on what its previous iteration
// left in the L2, so the reference must too (the host reference's rule). Cold: the L2 is
// flushed before every trial, as before every iteration.
class CopyReference final : public DeviceReference {
 public:
  CopyReference(int device, std::size_t bytes, bool warm, bool cold)
      : device_(device), bytes_(bytes), warm_(warm), src_(device, bytes + 2 * kGuardBytes),
        dst_(device, bytes + 2 * kGuardBytes) {
    PRIMBENCH_CUDA(cudaMemset(src_.get(), 0x5A, src_.bytes()));  // never measure on zeros
    PRIMBENCH_CUDA(cudaMemset(dst_.get(), 0xA5, dst_.bytes()));
    if (cold) {
      int l2 = 0;
      PRIMBENCH_CUDA(cudaDeviceGetAttribute(&l2, cudaDevAttrL2CacheSize, device));
      flush_ = DeviceMemory(device, 2 * static_cast<std::size_t>(std::max(l2, 1 << 20)));
    }
    cudaError_t e = cudaStreamCreate(&stream_);
    if (e == cudaSuccess) e = cudaEventCreate(&start_);
    if (e == cudaSuccess) e = cudaEventCreate(&stop_);
    if (e == cudaSuccess) e = cudaDeviceSynchronize();
    if (e != cudaSuccess) {
      destroy();  // the destructor does not run when a constructor throws
      check(e, "creating the reference's stream and events");
    }
  }
  ~CopyReference() override {
    cudaSetDevice(device_);
    if (stream_) cudaStreamSynchronize(stream_);
    destroy();
  }

  double trial() override {
    PRIMBENCH_CUDA(cudaSetDevice(device_));
    if (flush_.get()) PRIMBENCH_CUDA(cudaMemsetAsync(flush_.get(), (++pass_ & 1) ? 0x5A : 0xA5, flush_.bytes(), stream_));
    if (warm_) copy();
    PRIMBENCH_CUDA(cudaEventRecord(start_, stream_));
    copy();
    PRIMBENCH_CUDA(cudaEventRecord(stop_, stream_));
    PRIMBENCH_CUDA(cudaEventSynchronize(stop_));
    float ms = 0;
    PRIMBENCH_CUDA(cudaEventElapsedTime(&ms, start_, stop_));
    return static_cast<double>(ms) * 1e-3;
  }

 private:
  void copy() {
    PRIMBENCH_CUDA(cudaMemcpyAsync(dst_.get() + kGuardBytes, src_.get() + kGuardBytes, bytes_, cudaMemcpyDeviceToDevice, stream_));
  }
  void destroy() {
    if (start_) cudaEventDestroy(start_);
    if (stop_) cudaEventDestroy(stop_);
    if (stream_) cudaStreamDestroy(stream_);
    start_ = stop_ = nullptr;
    stream_ = nullptr;
  }

  int device_;
  std::size_t bytes_;
  bool warm_;
  DeviceMemory src_, dst_, flush_;
  unsigned pass_ = 0;
  cudaStream_t stream_ = nullptr;
  cudaEvent_t start_ = nullptr, stop_ = nullptr;
};

// Backend::reference: with more than one GPU a problem of several ranks reads and writes its
// peers' memory over their links, which no one GPU's copy measures: none then.
std::unique_ptr<DeviceReference> make_reference(const Problem& p, double traffic_bytes, bool cold) {
  int devices = 0;
  PRIMBENCH_CUDA(cudaGetDeviceCount(&devices));
  if (devices > 1 && p.ranks > 1) return nullptr;
  int l2 = 0;
  PRIMBENCH_CUDA(cudaDeviceGetAttribute(&l2, cudaDevAttrL2CacheSize, 0));
  const auto bytes = static_cast<std::size_t>(traffic_bytes / 2);
  const bool warm = !cold && 2 * traffic_bytes <= l2;
  return std::make_unique<CopyReference>(0, bytes, warm, cold);
}

// ---- the probe

std::string version_text(int v) { return std::to_string(v / 1000) + "." + std::to_string(v % 1000 / 10); }

// Device-to-device copy bandwidth on GPU 0, counting bytes read plus written: the best of ten
// copies of 1 GiB (or an eighth of the memory, if smaller), after two warm-up copies.
double measure_copy_GBps(const cudaDeviceProp& prop) {
  const std::size_t bytes = std::min<std::size_t>(std::size_t{1} << 30, prop.totalGlobalMem / 8) & ~std::size_t{255};
  DeviceMemory a(0, bytes), b(0, bytes);
  PRIMBENCH_CUDA(cudaMemset(a.get(), 0x5A, bytes));  // never measure on zeros
  PRIMBENCH_CUDA(cudaMemset(b.get(), 0xA5, bytes));
  cudaStream_t s = nullptr;
  cudaEvent_t e0 = nullptr, e1 = nullptr;
  PRIMBENCH_CUDA(cudaStreamCreate(&s));
  PRIMBENCH_CUDA(cudaEventCreate(&e0));
  PRIMBENCH_CUDA(cudaEventCreate(&e1));
  float best = 0;
  for (int i = 0; i < 12; ++i) {
    PRIMBENCH_CUDA(cudaEventRecord(e0, s));
    PRIMBENCH_CUDA(cudaMemcpyAsync(b.get(), a.get(), bytes, cudaMemcpyDeviceToDevice, s));
    PRIMBENCH_CUDA(cudaEventRecord(e1, s));
    PRIMBENCH_CUDA(cudaEventSynchronize(e1));
    float ms = 0;
    PRIMBENCH_CUDA(cudaEventElapsedTime(&ms, e0, e1));
    if (i >= 2 && (best == 0 || ms < best)) best = ms;
  }
  cudaEventDestroy(e0);
  cudaEventDestroy(e1);
  cudaStreamDestroy(s);
  return best > 0 ? 2.0 * static_cast<double>(bytes) / (best * 1e-3) / 1e9 : 0;
}

Availability probe() {
  int runtime = 0, driver = 0;
  cudaRuntimeGetVersion(&runtime);
  cudaDriverGetVersion(&driver);  // 0 when no driver is installed
  int count = 0;
  if (const cudaError_t e = cudaGetDeviceCount(&count); e != cudaSuccess) {
    cudaGetLastError();
    if (driver == 0) return {false, "CUDA driver not found (" + std::string(cudaGetErrorName(e)) + ")", "runtime " + version_text(runtime)};
    if (e == cudaErrorInsufficientDriver)
      return {false, "CUDA driver " + version_text(driver) + " is older than the runtime " + version_text(runtime) +
                         " (" + describe(e) + ")", ""};
    return {false, "no CUDA device (" + describe(e) + ")", "driver " + version_text(driver) + ", runtime " + version_text(runtime)};
  }
  if (count == 0) return {false, "no CUDA device (cudaGetDeviceCount found none)", ""};
  cudaDeviceProp prop{};
  PRIMBENCH_CUDA(cudaGetDeviceProperties(&prop, 0));
  const std::string arch = std::to_string(prop.major) + std::to_string(prop.minor);
  char memory[32];
  std::snprintf(memory, sizeof memory, "%.1f GiB", static_cast<double>(prop.totalGlobalMem) / (1 << 30));
  Availability a;
  a.version = std::string(prop.name) + " (sm_" + arch + ", " + std::to_string(prop.multiProcessorCount) + " SMs, " +
              memory + ", L2 " + std::to_string(prop.l2CacheSize >> 20) + " MiB), driver " + version_text(driver) +
              ", runtime " + version_text(runtime) + ", built for " PRIMBENCH_CUDA_ARCHITECTURES;
  if (count > 1) a.version += ", " + std::to_string(count) + " GPUs (rank r on GPU r % " + std::to_string(count) + ")";
  // A GPU older than every architecture in this build has no kernel image to run.
  cudaFuncAttributes attr{};
  PRIMBENCH_CUDA(cudaSetDevice(0));
  if (const cudaError_t e = cudaFuncGetAttributes(&attr, probe_kernel); e != cudaSuccess) {
    cudaGetLastError();
    return {false, std::string(prop.name) + " (sm_" + arch + ") has no kernel image in this build (architectures " +
                       PRIMBENCH_CUDA_ARCHITECTURES "): rebuild with -DCMAKE_CUDA_ARCHITECTURES=" + arch + " (" + describe(e) + ")",
            a.version};
  }
  try {
    a.device_copy_GBps = measure_copy_GBps(prop);
  } catch (const std::exception& e) {
    a.version += "; copy ceiling not measured: " + std::string(e.what());
  }
  for (int d = 0; d < count; ++d) {
    std::size_t free = 0, total = 0;
    if (cudaSetDevice(d) == cudaSuccess && cudaMemGetInfo(&free, &total) == cudaSuccess) a.device_free_bytes += free;
  }
  cudaGetLastError();
  cudaSetDevice(0);
  return a;
}

}  // namespace

[[maybe_unused]] const bool registered = registry().add(Backend{.name = "cuda", .probe = probe, .reference = make_reference});
PRIMBENCH_REGISTER("cuda.memcpy", CudaMemcpy, Primitive::gather, Primitive::scatter, Primitive::reduce,
                   Primitive::allreduce, Primitive::broadcast);
PRIMBENCH_REGISTER("cuda.kernel", CudaKernel, Primitive::gather, Primitive::scatter, Primitive::reduce,
                   Primitive::allreduce, Primitive::broadcast);

}  // namespace primbench::cuda_backend
