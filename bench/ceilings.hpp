// The machine's own limits, measured at start so every result can say how close it came.
#pragma once

namespace primbench {

struct HostCeilings {
  double read_GBps = 0;  // all cores summing a buffer far larger than the last-level cache
  double copy_GBps = 0;  // all cores copying such a buffer: bytes copied per second
};

HostCeilings measure_host_ceilings();

}  // namespace primbench
