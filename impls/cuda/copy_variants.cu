// Tuning probe for cuda.kernel's copy (not part of primbench): its copy kernel (copy.cuh) side by
// side with cudaMemcpyAsync, on one GPU, in one process, in the layouts and loops that differ
// between this probe and primbench. P blocks (the benchmark's f32 case: whole 16-byte chunks),
// CUDA events, median of 20 timed launches after 3 warm-ups, bandwidth counting bytes read plus
// written (as the copy ceiling does), every copied byte checked after the last launch.
// Built and run by `impls/cuda/gpu-suite.sh variants`; docs/cuda.md has what it found.
//
// On an H200 (2026-12-04) the kernel moved 0.93 - 0.95 of one cudaMemcpyAsync here, on
// 256-byte-aligned blocks in one allocation, but 0.79 - 0.83 of the copy ceiling inside
// primbench, where cudaMemcpyAsync lost less. The rows after the first four each change one
// thing towards primbench, to find which costs the kernel that much (not yet run on a GPU):
//   memcpy1       one cudaMemcpyAsync of all P blocks (the ceiling's copy)
//   memcpy        one cudaMemcpyAsync per block (cuda.memcpy)
//   kernel        copy_blocks at one wave (occupancy API), as cuda.kernel launches it
//   kernel8       the same at 8 blocks a SM (cuda.kernel before 5d795f3)
//   memcpy@64     every block 64 bytes past a 256-byte boundary (primbench's kGuardBytes)
//   kernel@64
//   memcpy.pb     primbench's layout for a gather: each rank's source its own cudaMalloc, the
//   kernel.pb     root's P blocks one, every payload 64 bytes in
//   kernel.b2b    aligned blocks, the 23 launches back to back (primbench's timed loop) instead of
//   kernel.pb.b2b source and destination rewritten before each; primbench's layout and loop
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "copy.cuh"

using namespace primbench::cuda_backend;

#define CHECK(x)                                                        \
  do {                                                                  \
    cudaError_t e_ = (x);                                               \
    if (e_ != cudaSuccess) {                                            \
      std::fprintf(stderr, "%s: %s\n", #x, cudaGetErrorString(e_));     \
      std::exit(1);                                                     \
    }                                                                   \
  } while (0)

namespace {

constexpr std::size_t kMiB = std::size_t{1} << 20;
constexpr std::size_t kGuard = 64;  // primbench's kGuardBytes

std::byte* allocate(std::size_t bytes) {
  void* p = nullptr;
  CHECK(cudaMalloc(&p, bytes));
  return static_cast<std::byte*>(p);
}

// P copy jobs of `block` bytes each, their table on the device, and the allocations they use.
struct Layout {
  std::vector<CopyJob> jobs;
  CopyJob* table = nullptr;
  std::vector<std::byte*> owned;

  Layout(std::vector<CopyJob> j, std::vector<std::byte*> o = {}) : jobs(std::move(j)), owned(std::move(o)) {
    table = reinterpret_cast<CopyJob*>(allocate(jobs.size() * sizeof(CopyJob)));
    CHECK(cudaMemcpy(table, jobs.data(), jobs.size() * sizeof(CopyJob), cudaMemcpyHostToDevice));
  }
  ~Layout() {
    cudaFree(table);
    for (std::byte* p : owned) cudaFree(p);
  }
  Layout(const Layout&) = delete;
  Layout& operator=(const Layout&) = delete;
};

// Block r of both sides at r * (block + 256) + offset in the two shared allocations.
Layout within(std::byte* src, std::byte* dst, int P, std::size_t block, std::size_t offset) {
  std::vector<CopyJob> jobs;
  for (int r = 0; r < P; ++r) {
    const std::size_t at = r * (block + 256) + offset;
    jobs.push_back({src + at, dst + at});
  }
  return Layout(std::move(jobs));
}

// A gather's buffers as primbench makes them: one allocation per rank's send buffer and one for
// the root's receive buffer, each with kGuard bytes before and after the payload.
Layout primbench_gather(int P, std::size_t block) {
  std::vector<std::byte*> owned;
  std::byte* recv = allocate(P * block + 2 * kGuard);
  owned.push_back(recv);
  std::vector<CopyJob> jobs;
  for (int r = 0; r < P; ++r) {
    std::byte* send = allocate(block + 2 * kGuard);
    owned.push_back(send);
    jobs.push_back({send + kGuard, recv + kGuard + r * block});
  }
  return Layout(std::move(jobs), std::move(owned));
}

}  // namespace

int main() {
  int sms = 0, per_sm = 0;
  CHECK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, 0));
  CHECK(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, copy_blocks, kThreads, 0));
  std::printf("%d SMs; copy_blocks: %d blocks a SM\n", sms, per_sm);
  const std::size_t most = 8 * (256 * kMiB + 256);
  std::byte* src = allocate(most);
  std::byte* dst = allocate(most);
  cudaStream_t s;
  cudaEvent_t e0, e1;
  CHECK(cudaStreamCreate(&s));
  CHECK(cudaEventCreate(&e0));
  CHECK(cudaEventCreate(&e1));
  std::printf("%-2s %-9s %-13s %9s %9s %10s\n", "P", "block MiB", "variant", "us", "GB/s", "/ memcpy1");
  struct Shape { int P; std::size_t block; };
  for (const Shape sh : {Shape{2, 64 * kMiB}, Shape{8, 64 * kMiB}, Shape{2, 256 * kMiB}, Shape{8, 256 * kMiB}}) {
    const Layout aligned = within(src, dst, sh.P, sh.block, 0), offset = within(src, dst, sh.P, sh.block, kGuard);
    const Layout pb = primbench_gather(sh.P, sh.block);
    const Layout whole({CopyJob{src, dst}});  // memcpy1 checks the first block's bytes
    // Sources set to a pattern (never zeros), destinations zeroed: before every launch
    // (fresh), or once before the first (back to back); every byte checked after the last.
    auto set = [&](const Layout& l, unsigned char pattern) {
      for (const CopyJob& j : l.jobs) {
        CHECK(cudaMemsetAsync(j.dst, 0, sh.block, s));
        CHECK(cudaMemsetAsync(const_cast<std::byte*>(j.src), pattern, sh.block, s));
      }
    };
    auto time = [&](const Layout& l, bool fresh, auto&& launch) {
      std::vector<float> ms;
      unsigned char pattern = 0x5A;
      set(l, pattern);
      for (int i = 0; i < 23; ++i) {
        if (fresh) set(l, pattern = static_cast<unsigned char>(0x11 * (i % 15 + 1)));
        CHECK(cudaEventRecord(e0, s));
        launch(l);
        CHECK(cudaGetLastError());
        CHECK(cudaEventRecord(e1, s));
        CHECK(cudaEventSynchronize(e1));
        float t = 0;
        CHECK(cudaEventElapsedTime(&t, e0, e1));
        if (i >= 3) ms.push_back(t);
      }
      std::vector<unsigned char> back(sh.block);
      for (const CopyJob& j : l.jobs) {
        CHECK(cudaMemcpy(back.data(), j.dst, back.size(), cudaMemcpyDeviceToHost));
        if (std::count(back.begin(), back.end(), pattern) != static_cast<std::ptrdiff_t>(back.size())) {
          std::printf("WRONG COPY\n");
          std::exit(1);
        }
      }
      std::nth_element(ms.begin(), ms.begin() + ms.size() / 2, ms.end());
      return double(ms[ms.size() / 2]) * 1e-3;
    };
    auto grid = [&](int blocks_per_sm) {  // as cuda.kernel sizes it: the blocks shared among the jobs
      const std::size_t per_job = std::max<std::size_t>(1, std::size_t(blocks_per_sm) * sms / sh.P);
      return dim3(unsigned(std::min(per_job, sh.block / 16 / (kThreads * 4))), unsigned(sh.P));
    };
    auto kernel = [&](int blocks_per_sm) {
      return [&, blocks_per_sm](const Layout& l) { copy_blocks<<<grid(blocks_per_sm), kThreads, 0, s>>>(l.table, sh.block); };
    };
    auto memcpy_each = [&](const Layout& l) {
      for (const CopyJob& j : l.jobs) CHECK(cudaMemcpyAsync(j.dst, j.src, sh.block, cudaMemcpyDeviceToDevice, s));
    };
    const double bytes = 2.0 * sh.P * sh.block;
    const double base = time(whole, true, [&](const Layout&) {
      CHECK(cudaMemcpyAsync(dst, src, sh.P * sh.block, cudaMemcpyDeviceToDevice, s));
    });
    auto row = [&](const char* name, double sec) {
      std::printf("%-2d %-9zu %-13s %9.1f %9.1f %10.3f\n", sh.P, sh.block / kMiB, name, sec * 1e6, bytes / sec / 1e9, base / sec);
    };
    row("memcpy1", base);
    row("memcpy", time(aligned, true, memcpy_each));
    row("kernel", time(aligned, true, kernel(per_sm)));
    row("kernel8", time(aligned, true, kernel(8)));
    row("memcpy@64", time(offset, true, memcpy_each));
    row("kernel@64", time(offset, true, kernel(per_sm)));
    row("memcpy.pb", time(pb, true, memcpy_each));
    row("kernel.pb", time(pb, true, kernel(per_sm)));
    row("kernel.b2b", time(aligned, false, kernel(per_sm)));
    row("kernel.pb.b2b", time(pb, false, kernel(per_sm)));
  }
  std::printf("every copy checked\n");
  return 0;
}
