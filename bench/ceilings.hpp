// The machine's own limits, measured at start so every result can say how close it came.
#pragma once

namespace primbench {

// The one representation of the ceilings: given (--ceilings, or a supervisor's to its workers;
// 0 = measure), measured, compared with and written to the context's `ceilings`.
struct Ceilings {
  double host_read_GBps = 0;        // all cores summing a buffer far larger than the last-level cache
  double host_copy_GBps = 0;        // all cores copying such a buffer: bytes copied per second
  double host_cache_copy_GBps = 0;  // L1-resident copy on all cores: the plausibility limit
  double device_copy_GBps = 0;      // read + written, from a device backend's probe
  double host_round_trip_ns = 0;    // a cache line handed between two cores and back
};

// host_read_GBps and host_copy_GBps measured; the other fields 0.
Ceilings measure_host_ceilings();

// All cores copying a buffer that stays in their L1 cache, bytes copied per second: no host
// implementation moves bytes faster, so a timing beyond it (with a margin) cannot be true.
double measure_cache_copy_GBps();

// Two threads on the first two CPUs this process may use, handing one cache line back and
// forth: nanoseconds per round trip, the best of `trials` means of 1000 (short trials, so a vCPU
// descheduled for a moment does not count), the floor of any synchronisation between two
// cores; 0 where this process may use only one CPU (an MPI rank bound to a core).
double measure_round_trip_ns(int trials = 30);

}  // namespace primbench
