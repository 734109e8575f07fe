// The mpi4py peer (mpi4py_peer.py): the Python recipe measured beside the C++ implementations.
// Its implementations are names only here: the backend's launcher starts the Python script
// under mpirun for them, with the same methodology, selectors and journal as primbench's own
// ranks.
//   mpi4py.pickle  comm.gather / comm.scatter / comm.reduce on Python objects (pickled)
//   mpi4py.buffer  comm.Gather / comm.Scatter / comm.Reduce on NumPy buffers
#include <climits>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <stdexcept>
#include <string>

#include "mpi_collective.hpp"

extern char** environ;

namespace primbench::mpi {
namespace {

// Output and exit status of a program run without a shell.
std::pair<int, std::string> capture(std::vector<std::string> argv) {
  int fd[2];
  if (::pipe(fd) != 0) return {-1, ""};
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, fd[1], 1);
  posix_spawn_file_actions_adddup2(&fa, fd[1], 2);
  posix_spawn_file_actions_addclose(&fa, fd[0]);
  std::vector<char*> args;
  for (auto& a : argv) args.push_back(a.data());
  args.push_back(nullptr);
  pid_t pid = 0;
  const int rc = ::posix_spawn(&pid, args[0], &fa, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  ::close(fd[1]);
  std::string out;
  char buf[512];
  for (ssize_t k; (k = ::read(fd[0], buf, sizeof buf)) > 0;) out.append(buf, static_cast<std::size_t>(k));
  ::close(fd[0]);
  if (rc != 0) return {-1, "cannot run " + argv[0]};
  int status = 0;
  ::waitpid(pid, &status, 0);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

std::string python() {
  const char* py = std::getenv("PRIMBENCH_PYTHON");
  return py && *py ? py : "/usr/bin/python3";
}

Availability probe() {
  if (world().size() > 1)
    return {false, "the mpi4py peer is started by `primbench run` itself, not inside an MPI job", ""};
  const Availability& m = registry().availability("mpi");
  if (!m.available) return {false, m.reason, ""};
  if (::access(PRIMBENCH_MPI4PY_PEER, R_OK) != 0)
    return {false, std::string("the peer script ") + PRIMBENCH_MPI4PY_PEER + " is missing from this source tree", ""};
  if (::access(PRIMBENCH_CHECK_LIBRARY, R_OK) != 0)
    return {false, std::string("the peer's validator ") + PRIMBENCH_CHECK_LIBRARY + " is not built (cmake --build)", ""};
  const std::string python = mpi::python();
  // Its MPI library's vendor too (MPI not initialised): under another MPI's launcher the peer's
  // ranks would be P one-rank jobs (Debian's mpi4py is Open MPI's).
  auto [rc, out] = capture({python, "-c",
                            "import numpy, mpi4py; mpi4py.rc.initialize = False; from mpi4py import MPI; "
                            "print(MPI.get_vendor()[0]); print('mpi4py', mpi4py.__version__)"});
  while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
  if (rc != 0)
    return {false, python + " cannot import mpi4py and numpy (apt-get install python3-mpi4py python3-numpy)", ""};
  const std::string vendor = out.substr(0, out.find('\n'));
  const std::string ours = m.version.rfind("Open MPI", 0) == 0 ? "Open MPI" : m.version.rfind("MPICH", 0) == 0 ? "MPICH" : "";
  if (vendor != ours)
    return {false, python + "'s mpi4py is built for " + vendor + ", primbench for " + (ours.empty() ? m.version : ours), ""};
  return {true, "", out.substr(out.find('\n') + 1) + " with " + python};
}

struct Peer final : Collective {
  explicit Peer(const Problem& p) : Collective(p) {
    throw std::runtime_error("mpi4py implementations run as the Python peer, started by `primbench run`");
  }
  Buffer send(int) override { return {}; }
  Buffer recv(int) override { return {}; }
  void run(std::span<double>) override {}
};

// primbench's worker command line (`primbench run|validate ARGS`) as the peer's.
Launch launch_peer(int ranks, const std::vector<std::string>& program) {
  std::vector<std::string> peer = {python(), PRIMBENCH_MPI4PY_PEER, "--validator", PRIMBENCH_CHECK_LIBRARY};
  if (program.size() > 1 && program[1] == "validate") peer.push_back("--validate-only");
  for (std::size_t i = 2; i < program.size(); ++i) {
    if (program[i] == "--plugin") { ++i; continue; }  // primbench's plugins are not the peer's
    peer.push_back(program[i]);
  }
  return launch(ranks, peer);
}

PRIMBENCH_BACKEND("mpi4py", probe, launch_peer, static_cast<std::size_t>(INT_MAX),
                  "the mpi4py peer times its own loop, one root a benchmark");
PRIMBENCH_REGISTER("mpi4py.pickle", Peer, Primitive::gather, Primitive::scatter, Primitive::reduce, Primitive::allreduce,
                   Primitive::broadcast);
PRIMBENCH_REGISTER("mpi4py.buffer", Peer, Primitive::gather, Primitive::scatter, Primitive::reduce, Primitive::allreduce,
                   Primitive::broadcast);

}  // namespace
}  // namespace primbench::mpi
