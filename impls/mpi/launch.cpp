// How the MPI backends start their ranks: the launcher of the MPI this was built with (CMake's
// MPIEXEC_EXECUTABLE: mpiexec for Open MPI, mpiexec.mpich for MPICH), told what it needs to run
// as many ranks as asked on this machine (Open MPI: --oversubscribe, and --allow-run-as-root as
// root; MPICH's Hydra needs neither). Environment: PRIMBENCH_MPIRUN (another launcher),
// PRIMBENCH_MPIRUN_ARGS (extra launcher arguments, split on spaces, e.g. "--hostfile hosts").
#include <unistd.h>

#include <fmt/format.h>

#include <cstdlib>
#include <sstream>

#include "mpi_collective.hpp"

extern char** environ;

namespace primbench::mpi {

namespace {
std::string env(const char* name, const std::string& fallback) {
  const char* v = std::getenv(name);
  return v && *v ? v : fallback;
}

// The program `launch` runs.
std::string launcher() { return env("PRIMBENCH_MPIRUN", PRIMBENCH_MPIEXEC); }

bool on_path(const std::string& program) {
  const std::string dirs = env("PATH", "/usr/bin:/bin");
  for (std::size_t a = 0; a <= dirs.size();) {
    std::size_t b = dirs.find(':', a);
    if (b == std::string::npos) b = dirs.size();
    const std::string dir = dirs.substr(a, b - a);
    if (!dir.empty() && ::access((dir + "/" + program).c_str(), X_OK) == 0) return true;
    a = b + 1;
  }
  return false;
}
}  // namespace

std::string launcher_missing() {
  const std::string l = launcher();
  const bool is_path = l.find('/') != std::string::npos;
  if (is_path ? ::access(l.c_str(), X_OK) == 0 : on_path(l)) return "";
  return fmt::format("no MPI launcher: '{}' {} (install the launcher of the MPI primbench was built with, or set PRIMBENCH_MPIRUN)",
                     l, is_path ? "is not an executable file" : "is not on PATH");
}

Launch launch(int ranks, const std::vector<std::string>& program) {
  Launch l;
  l.argv = {launcher()};
  if (registry().availability("mpi").version.rfind("Open MPI", 0) == 0) {
    l.argv.push_back("--oversubscribe");  // more ranks than cores works, as on a laptop
    if (::geteuid() == 0) l.argv.push_back("--allow-run-as-root");
  }
  std::istringstream extra(env("PRIMBENCH_MPIRUN_ARGS", ""));
  for (std::string w; extra >> w;) l.argv.push_back(w);
  l.argv.insert(l.argv.end(), {"-np", std::to_string(ranks)});
  l.argv.insert(l.argv.end(), program.begin(), program.end());
  // Without the variables of an MPI job this process may itself belong to (a user's
  // `mpirun -np 1 primbench run`), which would confuse the launcher it starts.
  for (char** e = environ; *e; ++e) {
    const std::string v = *e;
    if (v.rfind("OMPI_", 0) == 0 && v.rfind("OMPI_MCA_", 0) != 0) continue;
    if (v.rfind("PMIX_", 0) == 0 || v.rfind("PMI_", 0) == 0) continue;
    l.environment.push_back(v);
  }
  return l;
}

}  // namespace primbench::mpi
