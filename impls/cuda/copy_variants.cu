// Tuning probe for cuda.kernel's copy (not part of primbench): its copy kernel (copy.cuh) in
// each loop and grid, side by side with cudaMemcpyAsync, on one GPU, in one process. Aligned
// blocks (the benchmark's f32 case), CUDA events, median of 20 timed launches after 3 warm-ups,
// bandwidth counting bytes read plus written (as the copy ceiling does), the copies checked.
// Built and run by `impls/cuda/gpu-suite.sh variants`; docs/cuda.md has what it found.
//   memcpy1   one cudaMemcpyAsync of all P blocks (the ceiling's copy)
//   memcpy    one cudaMemcpyAsync per block (cuda.memcpy)
//   kernel    copy_blocks (cuda.kernel's), one wave (occupancy API), as cuda.kernel launches it
//   kernel8   the same, 8 blocks a SM (cuda.kernel before 5d795f3: more than fit)
//   memcpy@64, kernel@64  memcpy and kernel with every block 64 bytes past a 256-byte boundary,
//             as primbench's guarded buffers (kGuardBytes) place them: on an H200 cuda.kernel
//             reached 0.80 - 0.83 of the copy ceiling inside primbench at 64M per rank, against
//             0.93 - 0.95 here on aligned blocks (docs/cuda.md); these rows test whether the
//             offset is why. Not yet run on a GPU.
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

int main() {
  int sms = 0, per_sm = 0;
  CHECK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, 0));
  CHECK(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, copy_blocks, kThreads, 0));
  std::printf("%d SMs; copy_blocks: %d blocks a SM\n", sms, per_sm);
  constexpr std::size_t kOffset = 64;  // primbench's kGuardBytes
  const std::size_t mib = std::size_t{1} << 20, most = 8 * 256 * mib + 8 * 256;
  std::byte *src = nullptr, *dst = nullptr;
  CHECK(cudaMalloc(&src, most));
  CHECK(cudaMalloc(&dst, most));
  CopyJob *table = nullptr, *table_offset = nullptr;
  CHECK(cudaMalloc(&table, 8 * sizeof(CopyJob)));
  CHECK(cudaMalloc(&table_offset, 8 * sizeof(CopyJob)));
  cudaStream_t s;
  cudaEvent_t e0, e1;
  CHECK(cudaStreamCreate(&s));
  CHECK(cudaEventCreate(&e0));
  CHECK(cudaEventCreate(&e1));
  std::printf("%-2s %-9s %-10s %9s %9s %10s\n", "P", "block MiB", "variant", "us", "GB/s", "/ memcpy1");
  struct Shape { int P; std::size_t block; };
  for (const Shape sh : {Shape{2, 64 * mib}, Shape{8, 64 * mib}, Shape{2, 256 * mib}, Shape{8, 256 * mib}}) {
    // Block r at r * (block + 256) (+ offset): each block's start 256-byte aligned (+ offset).
    auto jobs_at = [&](std::size_t offset) {
      std::vector<CopyJob> jobs;
      for (int r = 0; r < sh.P; ++r) {
        const std::size_t at = r * (sh.block + 256) + offset;
        jobs.push_back({src + at, dst + at});
      }
      return jobs;
    };
    const std::vector<CopyJob> aligned = jobs_at(0), offset = jobs_at(kOffset);
    CHECK(cudaMemcpy(table, aligned.data(), sh.P * sizeof(CopyJob), cudaMemcpyHostToDevice));
    CHECK(cudaMemcpy(table_offset, offset.data(), sh.P * sizeof(CopyJob), cudaMemcpyHostToDevice));
    auto grid = [&](int per_sm) {  // as cuda.kernel sizes it: the blocks shared among the jobs
      const std::size_t per_job = std::max<std::size_t>(1, std::size_t(per_sm) * sms / sh.P);
      return dim3(unsigned(std::min(per_job, sh.block / 16 / (kThreads * 4))), unsigned(sh.P));
    };
    const std::size_t span = sh.P * (sh.block + 256);
    auto time = [&](const std::vector<CopyJob>& jobs, auto&& launch) {
      std::vector<float> ms;
      unsigned char pattern = 0;
      for (int i = 0; i < 23; ++i) {
        pattern = static_cast<unsigned char>(0x11 * (i % 15 + 1));  // never on zeros
        CHECK(cudaMemsetAsync(dst, 0, span, s));
        CHECK(cudaMemsetAsync(src, pattern, span, s));
        CHECK(cudaEventRecord(e0, s));
        launch();
        CHECK(cudaGetLastError());
        CHECK(cudaEventRecord(e1, s));
        CHECK(cudaEventSynchronize(e1));
        float t = 0;
        CHECK(cudaEventElapsedTime(&t, e0, e1));
        if (i >= 3) ms.push_back(t);
      }
      // The last copy's result: every byte of every block.
      std::vector<unsigned char> back(sh.block);
      for (const CopyJob& j : jobs) {
        CHECK(cudaMemcpy(back.data(), j.dst, back.size(), cudaMemcpyDeviceToHost));
        if (std::count(back.begin(), back.end(), pattern) != static_cast<std::ptrdiff_t>(back.size())) {
          std::printf("WRONG COPY\n");
          std::exit(1);
        }
      }
      std::nth_element(ms.begin(), ms.begin() + ms.size() / 2, ms.end());
      return double(ms[ms.size() / 2]) * 1e-3;
    };
    const double bytes = 2.0 * sh.P * sh.block;
    const std::vector<CopyJob> whole = {{src, dst}};  // memcpy1 checks its first block's bytes
    const double base = time(whole, [&] { CHECK(cudaMemcpyAsync(dst, src, sh.P * sh.block, cudaMemcpyDeviceToDevice, s)); });
    auto row = [&](const char* name, double sec) {
      std::printf("%-2d %-9zu %-10s %9.1f %9.1f %10.3f\n", sh.P, sh.block / mib, name, sec * 1e6, bytes / sec / 1e9, base / sec);
    };
    auto memcpy_each = [&](const std::vector<CopyJob>& jobs) {
      return time(jobs, [&] {
        for (const CopyJob& j : jobs) CHECK(cudaMemcpyAsync(j.dst, j.src, sh.block, cudaMemcpyDeviceToDevice, s));
      });
    };
    row("memcpy1", base);
    row("memcpy", memcpy_each(aligned));
    row("kernel", time(aligned, [&] { copy_blocks<<<grid(per_sm), kThreads, 0, s>>>(table, sh.block); }));
    row("kernel8", time(aligned, [&] { copy_blocks<<<grid(8), kThreads, 0, s>>>(table, sh.block); }));
    row("memcpy@64", memcpy_each(offset));
    row("kernel@64", time(offset, [&] { copy_blocks<<<grid(per_sm), kThreads, 0, s>>>(table_offset, sh.block); }));
  }
  std::printf("every copy checked\n");
  return 0;
}
