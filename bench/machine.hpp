// The machine's state during a benchmark, from /proc: load, steal, and the CPU time that other
// processes took, so a result measured under contention says so.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace primbench {

struct CpuSample {
  double wall = 0;            // seconds
  long long busy = 0;         // ticks all CPUs spent on any process (user, nice, system, irq)
  long long steal = 0;        // ticks the hypervisor gave to other guests
  long long total = 0;        // all ticks
  long long self = 0;         // ticks this process took (all its threads)
  long long launch = 0;       // ticks the processes that started it took, up to the supervisor (set_supervisor)
};
CpuSample sample_cpu();

// The supervisor that started this worker or rank (0: none). Its ticks, and those of the
// processes between it and this one (mpirun, a launcher's proxy), are the run's own, not other
// processes': it rewrites --out every few seconds (docs/measurement.md, "The machine's state").
void set_supervisor(int pid);
// The ticks of this process's ancestors up to and including `supervisor`; 0 where it is none of
// them (or gone).
long long launch_ticks(int supervisor);

struct MachineState {
  double load_avg = 0;        // 1-minute load average at the end
  double online_cpus = 0;
  double steal_pct = 0;       // of all CPU time over the interval
  double others_cpu_pct = 0;  // other processes' CPU time over the interval, % of all CPUs
  double huge_pages_kib = 0;  // this process's memory in transparent huge pages at the end
};
// Between two samples; `self_ticks` is what this run's own processes took (the MPI ranks on
// this host together).
MachineState machine_state(const CpuSample& from, const CpuSample& to, long long self_ticks);

// "busy: steal 12 %, others 35 % of CPU, load 5.2 on 2 cores", or "" when nothing competed.
// Judged only over at least kJudgedSeconds: /proc counts in 10 ms ticks, and over a shorter
// interval one tick of a stray process would read as contention.
inline constexpr double kJudgedSeconds = 0.25;
std::string busy(double steal_pct, double others_cpu_pct, double load_avg, double online_cpus, double seconds);

// Transparent huge pages and the frequency governor, for the context ("" where unreadable).
nlohmann::json host_settings();

}  // namespace primbench
