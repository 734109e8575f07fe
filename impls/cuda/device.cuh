// What every CUDA implementation shares: error checks, guarded device buffers (one allocation per
// rank, on GPU rank % deviceCount), the stream and events that time a run, the L2 flush, and the
// element-wise operations as device functors.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

#include "primbench/primbench.hpp"

namespace primbench::cuda_backend {

// "cudaErrorNoDevice: no CUDA-capable device is detected"
std::string describe(cudaError_t e);

// Throws std::runtime_error naming the call (std::bad_alloc for out-of-memory).
void check(cudaError_t e, const char* what);
#define PRIMBENCH_CUDA(call) ::primbench::cuda_backend::check((call), #call)
// After a kernel launch: launch-configuration errors surface here, not at the launch.
#define PRIMBENCH_CUDA_LAUNCHED(what) ::primbench::cuda_backend::check(cudaGetLastError(), what)

// One cudaMalloc on one device, freed on destruction.
class DeviceMemory {
 public:
  DeviceMemory() = default;
  DeviceMemory(int device, std::size_t bytes);
  DeviceMemory(DeviceMemory&& o) noexcept { *this = std::move(o); }
  DeviceMemory& operator=(DeviceMemory&& o) noexcept;
  ~DeviceMemory() { release(); }
  std::byte* get() const { return p_; }
  std::size_t bytes() const { return bytes_; }
  int device() const { return device_; }

 private:
  void release();
  int device_ = 0;
  std::byte* p_ = nullptr;
  std::size_t bytes_ = 0;
};

// A collective whose buffers are guarded device allocations, one per rank and direction. All
// work of a run goes on one stream of the executing GPU (the root's), between two events.
class DeviceCollective : public Collective {
 public:
  explicit DeviceCollective(const Problem& p);
  ~DeviceCollective() override;

  Buffer send(int rank) override { return view(send_[rank]); }
  Buffer recv(int rank) override { return view(recv_[rank]); }
  Memory memory() const override { return Memory::device; }
  void read(const std::byte* src, void* dst, std::size_t bytes) override;
  void write(std::byte* dst, const void* src, std::size_t bytes) override;
  // Writes a buffer of twice the L2 size on every GPU in use, as NVBench does.
  void flush_caches() override;
  // Device time between events around enqueue(), the stream synchronised before returning;
  // every rank's part completes within that interval, so every rank gets that time.
  void run(std::span<double> seconds) final;

 protected:
  // The collective's work, enqueued on `stream` (a stream of exec_device(), already current).
  virtual void enqueue(cudaStream_t stream) = 0;

  int device_of(int rank) const { return rank % devices_; }
  int exec_device() const { return device_of(problem().root); }
  int multiprocessors() const { return multiprocessors_; }
  cudaStream_t stream() const { return stream_; }
  template <class T> T* send_ptr(int rank) { return send(rank).template as<T>(); }
  template <class T> T* recv_ptr(int rank) { return recv(rank).template as<T>(); }
  // Kernels on the executing GPU that touch other GPUs' buffers need peer access to them.
  void require_peer_access();
  // A device copy of `bytes` on the executing GPU, freed with the collective.
  void* upload(const void* host, std::size_t bytes);
  void* scratch(std::size_t bytes);

 private:
  static Buffer view(const DeviceMemory& m) {
    return {m.get() ? m.get() + kGuardBytes : nullptr, m.bytes() - 2 * kGuardBytes};
  }

  void destroy_stream();

  int devices_ = 1;
  int multiprocessors_ = 1;
  std::vector<DeviceMemory> send_, recv_, scratch_, flush_;
  cudaStream_t stream_ = nullptr;
  cudaEvent_t start_ = nullptr, stop_ = nullptr;
};

}  // namespace primbench::cuda_backend
