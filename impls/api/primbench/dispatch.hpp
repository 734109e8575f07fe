// Write a primitive once over its element type and operation: dispatch the runtime dtype and op
// to a template, and combine arrays element-wise. Header-only; usable by plugins.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <utility>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "primbench/primbench.hpp"

namespace primbench {

template <class T> struct Tag { using type = T; };

// Calls f(Tag<T>{}) with T the C++ type of `t`.
template <class F> decltype(auto) with_dtype(DType t, F&& f) {
  switch (t) {
    case DType::i32: return std::forward<F>(f)(Tag<std::int32_t>{});
    case DType::i64: return std::forward<F>(f)(Tag<std::int64_t>{});
    case DType::f32: return std::forward<F>(f)(Tag<float>{});
    case DType::f64: return std::forward<F>(f)(Tag<double>{});
  }
  throw std::invalid_argument("unknown dtype");
}

// The element-wise operations, once for host and device code (nvcc compiles them for both):
// O::apply(a, b), or O{}(a, b) where a functor is wanted (CUB, Thrust, kernels).
#if defined(__CUDACC__)
#define PRIMBENCH_HOST_DEVICE __host__ __device__
#else
#define PRIMBENCH_HOST_DEVICE
#endif
template <class Self> struct ElementwiseOp {
  template <class T> PRIMBENCH_HOST_DEVICE T operator()(T a, T b) const { return Self::apply(a, b); }
};
struct Sum : ElementwiseOp<Sum> { template <class T> PRIMBENCH_HOST_DEVICE static T apply(T a, T b) { return a + b; } };
struct Prod : ElementwiseOp<Prod> { template <class T> PRIMBENCH_HOST_DEVICE static T apply(T a, T b) { return a * b; } };
struct Min : ElementwiseOp<Min> { template <class T> PRIMBENCH_HOST_DEVICE static T apply(T a, T b) { return b < a ? b : a; } };
struct Max : ElementwiseOp<Max> { template <class T> PRIMBENCH_HOST_DEVICE static T apply(T a, T b) { return a < b ? b : a; } };

// Calls f(OpType{}) with OpType one of Sum, Prod, Min, Max.
template <class F> decltype(auto) with_op(Op o, F&& f) {
  switch (o) {
    case Op::sum: return std::forward<F>(f)(Sum{});
    case Op::prod: return std::forward<F>(f)(Prod{});
    case Op::min: return std::forward<F>(f)(Min{});
    case Op::max: return std::forward<F>(f)(Max{});
  }
  throw std::invalid_argument("unknown op");
}

// dst[i] = O(a[i], b[i]) for i in [0, n). dst may alias a.
template <class O, class T>
inline void combine(T* dst, const T* a, const T* __restrict__ b, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) dst[i] = O::template apply<T>(a[i], b[i]);
}

// Binomial trees work in relative rank order: relative block b belongs to rank (b + root) mod P.
// Copies all P blocks of n elements from absolute to relative order, or back.
template <class T>
inline void to_relative_order(T* relative, const T* absolute, const Problem& p) {
  const std::size_t head = (p.ranks - p.root) * p.count, tail = p.root * p.count;
  std::copy_n(absolute + tail, head, relative);
  std::copy_n(absolute, tail, relative + head);
}
template <class T>
inline void to_absolute_order(T* absolute, const T* relative, const Problem& p) {
  const std::size_t head = (p.ranks - p.root) * p.count, tail = p.root * p.count;
  std::copy_n(relative, head, absolute + tail);
  std::copy_n(relative + head, tail, absolute);
}

// Copies `bytes` to dst with non-temporal stores where the target is 16-byte aligned: a result
// far larger than the caches goes straight to memory instead of being read for ownership first.
// Callers publish the result to other threads only after stream_fence().
inline void stream_copy(void* dst, const void* src, std::size_t bytes) {
#if defined(__SSE2__)
  auto* d = static_cast<char*>(dst);
  const auto* s = static_cast<const char*>(src);
  const std::size_t head = std::min(bytes, (16 - reinterpret_cast<std::uintptr_t>(d) % 16) % 16);
  std::memcpy(d, s, head);
  std::size_t i = head;
  for (; i + 16 <= bytes; i += 16)
    _mm_stream_si128(reinterpret_cast<__m128i*>(d + i), _mm_loadu_si128(reinterpret_cast<const __m128i*>(s + i)));
  std::memcpy(d + i, s + i, bytes - i);
#else
  std::memcpy(dst, src, bytes);
#endif
}

// memcpy in pieces of kCopyChunk bytes. glibc picks its strategy by the size of one call, and
// where a whole large block's is the slower this is the faster copy (the figures:
// docs/measurement.md, "The reference beside each benchmark").
inline constexpr std::size_t kCopyChunk = std::size_t{64} << 10;
inline void chunked_copy(void* dst, const void* src, std::size_t bytes) {
  auto* d = static_cast<char*>(dst);
  const auto* s = static_cast<const char*>(src);
  for (std::size_t i = 0; i < bytes; i += kCopyChunk) std::memcpy(d + i, s + i, std::min(kCopyChunk, bytes - i));
}

// A copy with non-temporal stores (`stream`: a result past the caches) or a plain memcpy.
inline void copy_out(void* dst, const void* src, std::size_t bytes, bool stream) {
  if (stream) stream_copy(dst, src, bytes);
  else std::memcpy(dst, src, bytes);
}

inline void stream_fence() {
#if defined(__SSE2__)
  _mm_sfence();
#endif
}

// Results at least this large are written with non-temporal stores by combine_all.
inline constexpr std::size_t kStreamBytes = std::size_t{8} << 20;

// dst[i] = O over r of src[r][i], i in [lo, hi), ranks in order 0..P-1. Reads each source once,
// writes dst once: the bandwidth-optimal shape of a shared-memory reduce. With `stream`, each
// tile is combined in L1 and streamed out; call stream_fence() before publishing dst. With two
// or more ranks dst may be src[0] (a tree's partial result combined in place).
template <class O, class T>
inline void combine_all(T* dst, const T* const* src, int ranks, std::size_t lo,
                        std::size_t hi, bool stream = false) {
  constexpr std::size_t kTile = 2048 / sizeof(T);  // keeps the partial result in L1
  alignas(64) T tile[kTile];
  for (std::size_t t = lo; t < hi; t += kTile) {
    const std::size_t e = std::min(hi, t + kTile);
    T* out = stream ? tile : dst + t;
    if (ranks == 1) {
      std::copy(src[0] + t, src[0] + e, out);
    } else {
      combine<O>(out, src[0] + t, src[1] + t, e - t);
      for (int r = 2; r < ranks; ++r) combine<O>(out, out, src[r] + t, e - t);
    }
    if (stream) stream_copy(dst + t, tile, (e - t) * sizeof(T));
  }
}

}  // namespace primbench
