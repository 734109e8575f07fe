// The MPI variants clusters ask the suites for (OSU -l, osu_igather, *_persistent), each an
// implementation of its own so it is timed and reported beside mpi.native:
//   mpi.inplace      MPI_IN_PLACE at the root: the library's in-place path, with the root's own
//                    block put where the result goes (gather, reduce: before the call; scatter:
//                    after it) inside the timed window, so it moves what the others move.
//                    (Allreduce: every rank's; broadcast is in place by definition: not here.)
//   mpi.nonblocking  MPI_Igather / MPI_Iscatter / MPI_Ireduce / MPI_Iallreduce / MPI_Ibcast,
//                    then MPI_Wait; and osu_igather's overlap of a dummy compute (overlap_pct).
//   mpi.persistent   MPI_Gather_init / MPI_Scatter_init / MPI_Reduce_init / MPI_Allreduce_init /
//                    MPI_Bcast_init (MPI 4.0; Open MPI
//                    4.1's MPIX_ extension), created once per problem, MPI_Start + MPI_Wait per
//                    iteration. Registered only where the library has them.
#include <algorithm>
#include <cstring>
#include <stdexcept>
#include <string>

#include "mpi_collective.hpp"

#if __has_include(<mpi-ext.h>)
#include <mpi-ext.h>
#endif

namespace primbench::mpi {
namespace {

class InPlace final : public MpiCollective {
 public:
  using MpiCollective::MpiCollective;

 private:
  // The root's own block is put in place inside the window, as every other implementation has
  // to: the result is the same, so is the traffic the bandwidth is computed from.
  void collective() override {
    const Problem& p = problem();
    const int n = static_cast<int>(p.count);
    const bool root = rank_ == p.root;
    const std::size_t block = p.count * p.elem_bytes();
    std::byte* send = send_ptr<std::byte>(rank_);
    std::byte* recv = recv_ptr<std::byte>(rank_);
    switch (p.primitive) {
      case Primitive::gather:
        if (root) std::memcpy(recv + p.root * block, send, block);
        MPI_Gather(root ? MPI_IN_PLACE : send, n, type_, recv, n, type_, p.root, comm_);
        break;
      case Primitive::scatter:
        MPI_Scatter(send, n, type_, root ? MPI_IN_PLACE : recv, n, type_, p.root, comm_);
        if (root) std::memcpy(recv, send + p.root * block, block);
        break;
      case Primitive::reduce:
        if (root) std::memcpy(recv, send, block);
        MPI_Reduce(root ? MPI_IN_PLACE : send, recv, n, type_, op(p.op), p.root, comm_);
        break;
      case Primitive::allreduce:  // every rank's own block in place
        std::memcpy(recv, send, block);
        MPI_Allreduce(MPI_IN_PLACE, recv, n, type_, op(p.op), comm_);
        break;
      case Primitive::broadcast: break;  // always in place: not registered for it
    }
  }
};

class Nonblocking final : public MpiCollective {
 public:
  using MpiCollective::MpiCollective;

  // osu_igather's overlap, after each repetition: the pure call's time (start, then wait), then
  // the same call with a dummy compute of that length between start and wait, each averaged
  // over the ranks; overlap % = max(0, 100 - 100 (overall - (compute - test)) / pure). The
  // compute never enters MPI (OSU's default, no probes: test = 0), so what overlaps is what the
  // library progresses on its own. Calls enough to last about 2 ms each way (1 to 50).
  std::vector<std::pair<std::string, double>> measure_counters() override {
    auto call = [&](bool compute, double length, double& computed) {
      MPI_Barrier(comm_);
      const double t0 = MPI_Wtime();
      MPI_Request r = start();
      if (compute) {
        const double c0 = MPI_Wtime();
        while (MPI_Wtime() - c0 < length) {
        }
        computed += MPI_Wtime() - c0;
      }
      MPI_Wait(&r, MPI_STATUS_IGNORE);
      return MPI_Wtime() - t0;
    };
    double none = 0, first = call(false, 0, none);
    MPI_Allreduce(MPI_IN_PLACE, &first, 1, MPI_DOUBLE, MPI_MAX, comm_);
    const int n = static_cast<int>(std::clamp(0.002 / std::max(first, 1e-9), 1.0, 50.0));
    double t[3] = {0, 0, 0};  // pure, overall, compute: this rank's means
    for (int i = 0; i < n; ++i) t[0] += call(false, 0, none);
    t[0] /= n;
    for (int i = 0; i < n; ++i) t[1] += call(true, t[0], t[2]);
    t[1] /= n, t[2] /= n;
    MPI_Allreduce(MPI_IN_PLACE, t, 3, MPI_DOUBLE, MPI_SUM, comm_);
    int size = 1;
    MPI_Comm_size(comm_, &size);
    const double pure = t[0] / size, overall = t[1] / size, compute = t[2] / size;
    const double overlap = pure > 0 ? std::max(0.0, 100 - 100 * (overall - compute) / pure) : 0;
    return {{"overlap_pct", overlap}, {"overlap_pure_s", pure}, {"overlap_overall_s", overall}, {"overlap_compute_s", compute}};
  }

 private:
  MPI_Request start() {
    const Problem& p = problem();
    const int n = static_cast<int>(p.count);
    void* send = send_ptr<std::byte>(rank_);
    void* recv = recv_ptr<std::byte>(rank_);
    MPI_Request r = MPI_REQUEST_NULL;
    switch (p.primitive) {
      case Primitive::gather: MPI_Igather(send, n, type_, recv, n, type_, p.root, comm_, &r); break;
      case Primitive::scatter: MPI_Iscatter(send, n, type_, recv, n, type_, p.root, comm_, &r); break;
      case Primitive::reduce: MPI_Ireduce(send, recv, n, type_, op(p.op), p.root, comm_, &r); break;
      case Primitive::allreduce: MPI_Iallreduce(send, recv, n, type_, op(p.op), comm_, &r); break;
      case Primitive::broadcast: MPI_Ibcast(rank_ == p.root ? send : recv, n, type_, p.root, comm_, &r); break;
    }
    return r;
  }
  void collective() override {
    MPI_Request r = start();
    MPI_Wait(&r, MPI_STATUS_IGNORE);
  }
};

#if defined(OMPI_HAVE_MPI_EXT_PCOLLREQ) && OMPI_HAVE_MPI_EXT_PCOLLREQ
#define PRIMBENCH_PERSISTENT(name) MPIX_##name##_init
#elif MPI_VERSION >= 4
#define PRIMBENCH_PERSISTENT(name) MPI_##name##_init
#endif

#ifdef PRIMBENCH_PERSISTENT
class Persistent final : public MpiCollective {
 public:
  explicit Persistent(const Problem& p) : MpiCollective(p) {
    const int n = static_cast<int>(p.count);
    void* send = send_ptr<std::byte>(rank_);
    void* recv = recv_ptr<std::byte>(rank_);
    switch (p.primitive) {  // collective: every rank creates the same request, in order
      case Primitive::gather:
        PRIMBENCH_PERSISTENT(Gather)(send, n, type_, recv, n, type_, p.root, comm_, MPI_INFO_NULL, &request_);
        break;
      case Primitive::scatter:
        PRIMBENCH_PERSISTENT(Scatter)(send, n, type_, recv, n, type_, p.root, comm_, MPI_INFO_NULL, &request_);
        break;
      case Primitive::reduce:
        PRIMBENCH_PERSISTENT(Reduce)(send, recv, n, type_, op(p.op), p.root, comm_, MPI_INFO_NULL, &request_);
        break;
      case Primitive::allreduce:
        PRIMBENCH_PERSISTENT(Allreduce)(send, recv, n, type_, op(p.op), comm_, MPI_INFO_NULL, &request_);
        break;
      case Primitive::broadcast:
        PRIMBENCH_PERSISTENT(Bcast)(rank_ == p.root ? send : recv, n, type_, p.root, comm_, MPI_INFO_NULL, &request_);
        break;
    }
  }
  ~Persistent() override {
    if (request_ != MPI_REQUEST_NULL) MPI_Request_free(&request_);
  }

 private:
  void collective() override {
    MPI_Start(&request_);
    MPI_Wait(&request_, MPI_STATUS_IGNORE);
  }
  MPI_Request request_ = MPI_REQUEST_NULL;
};
PRIMBENCH_REGISTER("mpi.persistent", Persistent, Primitive::gather, Primitive::scatter, Primitive::reduce,
                   Primitive::allreduce, Primitive::broadcast);
#else
// Listed, with why, instead of missing from `primbench list`.
[[maybe_unused]] const bool kPersistentListed = registry().add(Implementation{
    "mpi.persistent", [](const Problem&) -> std::unique_ptr<Collective> { throw std::logic_error("mpi.persistent is unavailable"); },
    {Primitive::gather, Primitive::scatter, Primitive::reduce, Primitive::allreduce, Primitive::broadcast},
    "this MPI library (MPI " + std::to_string(MPI_VERSION) + "." + std::to_string(MPI_SUBVERSION) +
        ") has neither MPI 4.0's MPI_Gather_init nor Open MPI's MPIX_Gather_init"});
#endif

PRIMBENCH_REGISTER("mpi.inplace", InPlace, Primitive::gather, Primitive::scatter, Primitive::reduce, Primitive::allreduce);
PRIMBENCH_REGISTER("mpi.nonblocking", Nonblocking, Primitive::gather, Primitive::scatter, Primitive::reduce,
                   Primitive::allreduce, Primitive::broadcast);

}  // namespace
}  // namespace primbench::mpi
