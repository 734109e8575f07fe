// cuda.kernel's copy of P rank blocks in one launch (gather, scatter, broadcast), in a header of
// its own so that the tuning probe impls/cuda/copy_variants.cu times the very same kernel.
#pragma once

#include <cuda_runtime.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>

namespace primbench::cuda_backend {

constexpr int kThreads = 256;

// One rank's block of a gather, scatter or broadcast.
struct CopyJob {
  const std::byte* src;
  std::byte* dst;
};

// The 16 source bytes at byte offset kShift past the aligned chunk s[i] (kShift in 0, 4, 8, 12:
// every dtype is a multiple of 4 bytes, so so is every misalignment).
template <unsigned kShift> __device__ __forceinline__ uint4 load_shifted(const uint4* s, std::size_t i) {
  const uint4 lo = __ldg(s + i);
  if constexpr (kShift == 0) {
    return lo;
  } else {
    const uint4 hi = __ldg(s + i + 1);
    if constexpr (kShift == 4) return make_uint4(lo.y, lo.z, lo.w, hi.x);
    if constexpr (kShift == 8) return make_uint4(lo.z, lo.w, hi.x, hi.y);
    return make_uint4(lo.w, hi.x, hi.y, hi.z);
  }
}

// Aligned 16-byte chunks dst[0, chunks) from the source starting kShift bytes past s. Four chunks
// per thread, a grid stride apart, are loaded before the first is stored, to keep enough bytes in
// flight for HBM. (Contiguous 16 KiB tiles per block, grid-strided, were 2 - 4 % slower on an
// H200: docs/cuda.md.)
template <unsigned kShift>
__device__ void copy_chunks(const uint4* __restrict__ s, uint4* __restrict__ dst, std::size_t chunks) {
  constexpr int kUnroll = 4;
  const std::size_t stride = static_cast<std::size_t>(gridDim.x) * blockDim.x;
  std::size_t i = static_cast<std::size_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  for (; i + (kUnroll - 1) * stride < chunks; i += kUnroll * stride) {
    uint4 v[kUnroll];
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) v[u] = load_shifted<kShift>(s, i + u * stride);
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) dst[i + u * stride] = v[u];
  }
  for (; i < chunks; i += stride) dst[i] = load_shifted<kShift>(s, i);
}

// blockIdx.y picks the rank; each copy is split into an unaligned head and tail (under 16 bytes,
// copied as 4-byte words) and an aligned middle copied as 16-byte chunks.
__global__ void __launch_bounds__(kThreads) copy_blocks(const CopyJob* jobs, std::size_t bytes) {
  const CopyJob job = jobs[blockIdx.y];
  const auto dst = reinterpret_cast<std::uintptr_t>(job.dst);
  const std::uintptr_t end = dst + bytes;
  const std::uintptr_t a0 = std::min<std::uintptr_t>((dst + 15) & ~std::uintptr_t{15}, end);
  const std::uintptr_t a1 = std::max<std::uintptr_t>(end & ~std::uintptr_t{15}, a0);
  if (blockIdx.x == 0) {
    const unsigned head = static_cast<unsigned>(a0 - dst) / 4, tail = static_cast<unsigned>(end - a1) / 4;
    if (threadIdx.x < head + tail) {
      const std::size_t off = threadIdx.x < head ? 4 * threadIdx.x : (a1 - dst) + 4 * (threadIdx.x - head);
      *reinterpret_cast<std::uint32_t*>(job.dst + off) = *reinterpret_cast<const std::uint32_t*>(job.src + off);
    }
  }
  const std::byte* s = job.src + (a0 - dst);  // source of the first aligned chunk
  const unsigned shift = static_cast<unsigned>(reinterpret_cast<std::uintptr_t>(s) & 15);
  const auto* base = reinterpret_cast<const uint4*>(s - shift);
  auto* out = reinterpret_cast<uint4*>(a0);
  const std::size_t chunks = (a1 - a0) / 16;
  switch (shift) {
    case 0: copy_chunks<0>(base, out, chunks); break;
    case 4: copy_chunks<4>(base, out, chunks); break;
    case 8: copy_chunks<8>(base, out, chunks); break;
    default: copy_chunks<12>(base, out, chunks); break;
  }
}

}  // namespace primbench::cuda_backend
