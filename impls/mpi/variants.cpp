// The MPI variants clusters ask the suites for (OSU -l, osu_igather, *_persistent), each an
// implementation of its own so it is timed and reported beside mpi.native:
//   mpi.inplace      MPI_IN_PLACE at the root: the library's in-place path, with the root's own
//                    block put where the result goes (gather, reduce: before the call; scatter:
//                    after it) inside the timed window, so it moves what the others move.
//                    (Allreduce: every rank's; broadcast is in place by definition: not here.)
//   mpi.nonblocking  MPI_Igather / MPI_Iscatter / MPI_Ireduce / MPI_Iallreduce / MPI_Ibcast,
//                    then MPI_Wait.
//   mpi.persistent   MPI_Gather_init / MPI_Scatter_init / MPI_Reduce_init / MPI_Allreduce_init /
//                    MPI_Bcast_init (MPI 4.0; Open MPI
//                    4.1's MPIX_ extension), created once per problem, MPI_Start + MPI_Wait per
//                    iteration. Registered only where the library has them.
#include <cstring>

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

 private:
  void collective() override {
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
#endif

PRIMBENCH_REGISTER("mpi.inplace", InPlace, Primitive::gather, Primitive::scatter, Primitive::reduce, Primitive::allreduce);
PRIMBENCH_REGISTER("mpi.nonblocking", Nonblocking, Primitive::gather, Primitive::scatter, Primitive::reduce,
                   Primitive::allreduce, Primitive::broadcast);

}  // namespace
}  // namespace primbench::mpi
