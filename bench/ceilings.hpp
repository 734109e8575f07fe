// The machine's own limits, measured at start so every result can say how close it came.
#pragma once

namespace primbench {

struct HostCeilings {
  double read_GBps = 0;  // all cores summing a buffer far larger than the last-level cache
  double copy_GBps = 0;  // all cores copying such a buffer: bytes copied per second
};

HostCeilings measure_host_ceilings();

// All cores copying a buffer that stays in their L1 cache, bytes copied per second: no host
// implementation moves bytes faster, so a timing beyond it (with a margin) cannot be true.
double measure_cache_copy_GBps();

}  // namespace primbench
