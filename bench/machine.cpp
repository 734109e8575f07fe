#include "machine.hpp"

#include <fmt/format.h>
#include <sched.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

#include "primbench/primbench.hpp"

namespace primbench {

namespace {
std::string first_line(const char* path) {
  std::ifstream f(path);
  std::string line;
  std::getline(f, line);
  return line;
}

// A process's parent and the ticks it took (all its threads), from /proc/PID/stat; false when
// it is gone. The command may hold spaces and parentheses: the fields follow the last ')'.
bool stat_of(const std::string& pid, long long& ppid, long long& ticks) {
  const std::string s = first_line(("/proc/" + pid + "/stat").c_str());
  const std::size_t close = s.rfind(')');
  if (close == std::string::npos) return false;
  std::istringstream in(s.substr(close + 2));
  std::string field;
  long long utime = 0, stime = 0;
  ppid = 0;
  for (int i = 3; in >> field; ++i) {  // field 3 is the state
    if (i == 4) ppid = std::stoll(field);
    if (i == 14) utime = std::stoll(field);
    if (i == 15) { stime = std::stoll(field); break; }
  }
  ticks = utime + stime;
  return true;
}

long long self_ticks() {
  long long ppid = 0, ticks = 0;
  return stat_of("self", ppid, ticks) ? ticks : 0;
}

int g_supervisor = 0;

double huge_kib() {
  std::ifstream f("/proc/self/smaps_rollup");
  for (std::string line; std::getline(f, line);)
    if (line.rfind("AnonHugePages:", 0) == 0) return std::stod(line.substr(14));
  return 0;
}


}  // namespace

long long launch_ticks(int supervisor) {
  if (supervisor <= 0) return 0;
  long long sum = 0, pid = ::getppid(), ppid = 0, ticks = 0;
  for (int depth = 0; pid >= 1 && depth < 16; ++depth, pid = ppid) {
    if (pid == 1 && supervisor != 1) return 0;  // init: past every process of the run
    if (!stat_of(std::to_string(pid), ppid, ticks)) return 0;
    sum += ticks;
    if (pid == supervisor) return sum;
  }
  return 0;  // not started by it
}

void set_supervisor(int pid) { g_supervisor = pid; }

CpuSample sample_cpu() {
  CpuSample c;
  c.wall = now_seconds();
  std::istringstream in(first_line("/proc/stat"));
  std::string cpu;
  long long user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0;
  in >> cpu >> user >> nice >> system >> idle >> iowait >> irq >> softirq >> steal;
  c.busy = user + nice + system + irq + softirq;
  c.steal = steal;
  c.total = c.busy + idle + iowait + steal;
  c.self = self_ticks();
  c.launch = launch_ticks(g_supervisor);
  return c;
}

MachineState machine_state(const CpuSample& from, const CpuSample& to, long long self) {
  MachineState m;
  m.online_cpus = static_cast<double>(::sysconf(_SC_NPROCESSORS_ONLN));
  std::istringstream(first_line("/proc/loadavg")) >> m.load_avg;
  const double total = static_cast<double>(to.total - from.total);
  if (total > 0) {
    m.steal_pct = 100.0 * static_cast<double>(to.steal - from.steal) / total;
    const double others = static_cast<double>((to.busy - from.busy) - self);
    m.others_cpu_pct = std::max(0.0, 100.0 * others / total);
  }
  m.huge_pages_kib = huge_kib();
  return m;
}

std::string busy(double steal_pct, double others_cpu_pct, double load_avg, double online_cpus, double seconds) {
  if (seconds < kJudgedSeconds) return "";
  // A twentieth of the machine stolen by the hypervisor, or a tenth taken by other processes,
  // while this benchmark ran. The load average lags by a minute (it still counts the last
  // benchmark's threads), so it is shown, not judged.
  if (steal_pct < 5 && others_cpu_pct < 10) return "";
  return fmt::format("busy: steal {:.0f} %, others {:.0f} % of CPU, load {:.1f} on {:.0f} cores", steal_pct, others_cpu_pct,
                     load_avg, online_cpus);
}

nlohmann::json host_settings() {
  auto selected = [](const std::string& s) {  // "always [madvise] never" -> "madvise"
    const std::size_t a = s.find('['), b = s.find(']');
    return a != std::string::npos && b > a ? s.substr(a + 1, b - a - 1) : s;
  };
  return {{"transparent_hugepage", selected(first_line("/sys/kernel/mm/transparent_hugepage/enabled"))},
          {"transparent_hugepage_defrag", selected(first_line("/sys/kernel/mm/transparent_hugepage/defrag"))},
          {"scaling_governor", first_line("/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor")},
          {"online_cpus", ::sysconf(_SC_NPROCESSORS_ONLN)},
          {"usable_cpus", usable_cpus().size()}};
}

}  // namespace primbench
