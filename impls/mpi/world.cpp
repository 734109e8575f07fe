// MPI as primbench's World: initialised before main when this process was started by an MPI
// launcher (mpirun, mpiexec, srun), finalised at exit. Outside a launcher MPI is never
// initialised: the supervisor starts the launcher instead (launch.cpp).
#include <unistd.h>

#include <fmt/format.h>

#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <string>

#include "mpi_collective.hpp"

namespace primbench::mpi {

// launch.cpp: why the program `launch` runs cannot be found here, or "". Declared here, not in
// mpi_collective.hpp: that header is the plugins' API, and this is the backend's own business.
std::string launcher_missing();

namespace {

// Set by the launchers primbench supports: Open MPI's mpirun (OMPI_*), any PMIx launcher
// including srun --mpi=pmix (PMIX_RANK), PMI-1/2 launchers such as MPICH's hydra and
// srun --mpi=pmi2 (PMI_RANK, PMI_SIZE).
bool started_by_launcher() {
  for (const char* v : {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_RANK", "PMI_SIZE"})
    if (std::getenv(v)) return true;
  return false;
}

int env_int(const char* name) {
  const char* v = std::getenv(name);
  if (!v || !*v) return -1;
  char* end = nullptr;
  const long n = std::strtol(v, &end, 10);
  return *end == '\0' && n >= 0 && n <= INT_MAX ? static_cast<int>(n) : -1;
}

// How many processes the launcher says it started, and which one this is (-1: it does not say).
// srun sets SLURM_STEP_NUM_TASKS for the tasks of a step, never in a batch script itself.
struct Launched {
  const char* variable = nullptr;
  int size = -1, rank = -1;
};
Launched launched() {
  for (auto [size, rank] : {std::pair{"OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_RANK"}, std::pair{"PMI_SIZE", "PMI_RANK"},
                            std::pair{"SLURM_STEP_NUM_TASKS", "SLURM_PROCID"}})
    if (env_int(size) >= 0) return {size, env_int(size), env_int(rank)};
  return {};
}

// A launcher that started P processes which do not form one MPI world of P (an MPI library
// that cannot speak to that launcher: P singletons; srun without --mpi) would give P separate
// one-rank runs that each look complete. That is refused with one line, from the first task.
[[noreturn]] void refuse(const Launched& l, const std::string& what) {
  if (l.rank <= 0)
    std::fprintf(stderr, "primbench: error: the launcher started %d processes (%s) but %s\n", l.size, l.variable, what.c_str());
  std::exit(2);
}

class MpiWorld final : public World {
 public:
  MpiWorld() {
    MPI_Comm_dup(MPI_COMM_WORLD, &comm_);
    MPI_Comm_rank(comm_, &rank_);
    MPI_Comm_size(comm_, &size_);
    char mine[256] = {};
    ::gethostname(mine, sizeof mine - 1);
    std::vector<char> all(256 * static_cast<std::size_t>(size_));
    MPI_Allgather(mine, 256, MPI_CHAR, all.data(), 256, MPI_CHAR, comm_);
    for (int r = 0; r < size_; ++r) hosts_.emplace_back(all.data() + 256 * r);
  }
  int rank() const override { return rank_; }
  int size() const override { return size_; }
  void barrier() override { MPI_Barrier(comm_); }
  double max(double v) override { return reduce(v, MPI_MAX); }
  double min(double v) override { return reduce(v, MPI_MIN); }
  double sum(double v) override { return reduce(v, MPI_SUM); }
  std::string first_error(const std::string& local) override {
    int mine = local.empty() ? size_ : rank_, first = size_;
    MPI_Allreduce(&mine, &first, 1, MPI_INT, MPI_MIN, comm_);
    if (first == size_) return "";
    long long len = rank_ == first ? static_cast<long long>(local.size()) : 0;
    MPI_Bcast(&len, 1, MPI_LONG_LONG, first, comm_);
    std::string s = rank_ == first ? local : std::string(static_cast<std::size_t>(len), '\0');
    MPI_Bcast(s.data(), static_cast<int>(len), MPI_CHAR, first, comm_);
    return s;
  }
  std::vector<std::string> hosts() override { return hosts_; }
  void finalize() override;

 private:
  double reduce(double v, MPI_Op o) {
    double r = v;
    MPI_Allreduce(&v, &r, 1, MPI_DOUBLE, o, comm_);
    return r;
  }
  MPI_Comm comm_ = MPI_COMM_NULL;
  int rank_ = 0, size_ = 1;
  std::vector<std::string> hosts_;
};

void finalize() {
  int done = 0;
  MPI_Finalized(&done);
  if (!done) MPI_Finalize();
}

void MpiWorld::finalize() { primbench::mpi::finalize(); }

std::string library_version();

bool g_running = [] {
  const Launched l = launched();
  if (!started_by_launcher()) {
    if (l.size > 1)
      refuse(l, "none of them has an MPI connection (no PMIx or PMI in its environment): use srun --mpi=pmix "
                "(srun --mpi=list shows what this Slurm offers)");
    return false;
  }
  int provided = 0;
  // Only the main thread calls MPI; rank threads of other backends and the watchdog never do.
  MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided);
  std::atexit(finalize);
  int size = 0;
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  if (l.size >= 0 && l.size != size)
    refuse(l, fmt::format("this primbench's MPI ({}) sees a world of {}: it cannot talk to that launcher (use the mpiexec "
                          "of the MPI primbench was built with, or srun --mpi=pmix)", library_version(), size));
  set_world(std::make_unique<MpiWorld>());
  return true;
}();

std::string library_version() {
  char text[MPI_MAX_LIBRARY_VERSION_STRING] = {};
  int len = 0;
  MPI_Get_library_version(text, &len);  // allowed before MPI_Init
  std::string v(text, static_cast<std::size_t>(len));
  v = v.substr(0, v.find('\n'));
  while (!v.empty() && (v.back() == ' ' || v.back() == '\0')) v.pop_back();
  return v;
}

Availability probe() {
  Availability a{true, "", library_version()};
  // Outside a job the supervisor starts the ranks with `launch`: available when its launcher is.
  if (!g_running)
    if (std::string why = launcher_missing(); !why.empty()) a = {false, std::move(why), a.version};
  return a;
}

}  // namespace

bool running() { return g_running; }

MPI_Datatype datatype(DType t) {
  switch (t) {
    case DType::i32: return MPI_INT32_T;
    case DType::i64: return MPI_INT64_T;
    case DType::f32: return MPI_FLOAT;
    case DType::f64: return MPI_DOUBLE;
  }
  throw std::invalid_argument("unknown dtype");
}

MPI_Op op(Op o) {
  switch (o) {
    case Op::sum: return MPI_SUM;
    case Op::prod: return MPI_PROD;
    case Op::min: return MPI_MIN;
    case Op::max: return MPI_MAX;
  }
  throw std::invalid_argument("unknown op");
}

MpiCollective::MpiCollective(const Problem& p) : HostCollective(p) {
  if (!g_running)
    throw std::runtime_error("MPI implementations run only as MPI ranks (let primbench run start mpirun, or run it under mpirun/srun)");
  if (p.ranks != world().size())
    throw std::runtime_error(fmt::format("problem has {} ranks but this MPI job has {} processes", p.ranks, world().size()));
  MPI_Comm_dup(MPI_COMM_WORLD, &comm_);  // collective: every rank constructs the same problems
  MPI_Comm_rank(comm_, &rank_);
  type_ = datatype(p.dtype);
  MPI_Type_contiguous(static_cast<int>(p.count), type_, &block_);
  MPI_Type_commit(&block_);
  allocate(rank_);
}

MpiCollective::~MpiCollective() {
  if (block_ != MPI_DATATYPE_NULL) MPI_Type_free(&block_);
  if (comm_ != MPI_COMM_NULL) MPI_Comm_free(&comm_);
}

MpiCollective::Message MpiCollective::blocks(std::size_t k) const {
  const std::size_t elems = k * problem().count;
  if (elems <= static_cast<std::size_t>(INT_MAX)) return {type_, static_cast<int>(elems)};
  return {block_, static_cast<int>(k)};
}

void MpiCollective::run(std::span<double> seconds) {
  MPI_Barrier(comm_);
  const double t0 = MPI_Wtime();
  collective();
  seconds[0] = MPI_Wtime() - t0;
}

PRIMBENCH_BACKEND("mpi", probe, launch, static_cast<std::size_t>(INT_MAX));

}  // namespace primbench::mpi

// MPI_Abort() for every caller in primbench's processes, over the MPI library's (through its
// profiling interface, PMPI_Abort): primbench never aborts, so an implementation or a library it
// uses did. That is said first (ended_by: a worker's journal is sealed), and an abort with error
// code 0, after which the launcher killed every rank and exited 0 as if the job had succeeded
// (2026-12-06), aborts with 3, primbench's "incomplete", instead.
extern "C" int MPI_Abort(MPI_Comm comm, int errorcode) {
  primbench::ended_by("MPI_Abort(…, {})", errorcode);
  return PMPI_Abort(comm, errorcode == 0 ? 3 : errorcode);
}
