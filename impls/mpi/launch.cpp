// How the MPI backends start their ranks: the launcher of the MPI this was built with (CMake's
// MPIEXEC_EXECUTABLE: mpiexec for Open MPI, mpiexec.mpich for MPICH), told what it needs to run
// as many ranks as asked on this machine (Open MPI: --oversubscribe, and --allow-run-as-root as
// root; MPICH's Hydra needs neither). Environment: PRIMBENCH_MPIRUN (another launcher),
// PRIMBENCH_MPIRUN_ARGS (extra launcher arguments, split on spaces, e.g. "--hostfile hosts").
#include <unistd.h>

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
}  // namespace

Launch launch(int ranks, const std::vector<std::string>& program) {
  Launch l;
  l.argv = {env("PRIMBENCH_MPIRUN", PRIMBENCH_MPIEXEC)};
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
