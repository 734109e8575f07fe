// What primbench measures beside each timing, for a process that is not primbench: the mpi4py
// peer loads these from libprimbench_check.so with ctypes (impls/mpi/mpi4py_peer.py), so its
// peak_fraction is over the same reference at the benchmark's own working set, and its results
// carry the same machine state, as every C++ implementation's (docs/measurement.md).
#include <cstring>
#include <exception>
#include <stdexcept>
#include <string>
#include <vector>

#include "c_api.hpp"
#include "machine.hpp"
#include "reference.hpp"

using namespace primbench;

extern "C" {

// The reference of one benchmark (bench/reference.hpp): `share` of the problem's traffic over
// `threads` threads of this process; `cold`: its buffers evicted before each pass. Null, with one
// line in `error`, for a problem primbench would refuse or memory it cannot have.
void* primbench_reference_open(const char* primitive, const char* dtype, int ranks, unsigned long long count, double share,
                               int threads, int cold, char* error, std::size_t cap) {
  try {
    const PrimitiveInfo* d = find_primitive(primitive);
    if (!d) throw std::invalid_argument(std::string("unknown primitive '") + primitive + "'");
    const DType t = c_api::named(dtype, {DType::i32, DType::i64, DType::f32, DType::f64}, "dtype");
    if (ranks < 1 || !(share > 0 && share <= 1) || threads < 1)
      throw std::invalid_argument("ranks and threads must be at least 1, share in (0, 1]");
    const Problem p{d->primitive, ranks, static_cast<std::size_t>(count), t, Op::sum, 0};
    return new Reference(p, share, threads, cold != 0);
  } catch (const std::exception& e) {
    c_api::copy_out(std::string("the reference could not be set up: ") + e.what(), error, cap);
    return nullptr;
  }
}

// Seconds one pass of this process's share takes now, made in `way` (Reference::trial), and the
// ways it can be made (Reference::ways), which the peer measures in blocks as the runner does.
double primbench_reference_trial(void* h, int way) { return static_cast<Reference*>(h)->trial(way); }
int primbench_reference_ways(void* h) { return static_cast<Reference*>(h)->ways(); }

// fastest_median (bench/reference.hpp) of `ways` ways' trials in GB/s, way k's `counts[k]` after
// the earlier ways' in `rates`: out[0] the faster way's median, out[1] its trials' spread.
void primbench_fastest_median(const double* rates, const int* counts, int ways, double out[2]) {
  std::vector<std::vector<double>> by_way;
  for (int k = 0; k < ways; rates += counts[k++]) by_way.emplace_back(rates, rates + counts[k]);
  const Fastest fastest = fastest_median(std::move(by_way));
  out[0] = fastest.GBps, out[1] = fastest.spread;
}

void primbench_reference_close(void* h) { delete static_cast<Reference*>(h); }

// The machine now (CpuSample): wall seconds, then the ticks busy, stolen, in all, of this
// process, and of the processes that started it up to the supervisor (primbench_set_supervisor).
void primbench_machine_sample(double out[6]) {
  const CpuSample s = sample_cpu();
  const double v[6] = {s.wall, double(s.busy), double(s.steal), double(s.total), double(s.self), double(s.launch)};
  std::memcpy(out, v, sizeof v);
}

void primbench_set_supervisor(int pid) { set_supervisor(pid); }

// Between two samples, `own` the run's ticks (its ranks on this host, the launch once):
// load average, online CPUs, steal %, other processes' CPU %, this process's huge pages (KiB).
void primbench_machine_state(const double from[6], const double to[6], double own, double out[5]) {
  auto sample = [](const double* v) {
    return CpuSample{v[0], (long long)v[1], (long long)v[2], (long long)v[3], (long long)v[4], (long long)v[5]};
  };
  const MachineState m = machine_state(sample(from), sample(to), static_cast<long long>(own));
  const double v[5] = {m.load_avg, m.online_cpus, m.steal_pct, m.others_cpu_pct, m.huge_pages_kib};
  std::memcpy(out, v, sizeof v);
}

}  // extern "C"
