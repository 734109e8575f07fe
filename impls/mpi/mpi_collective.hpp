// What every MPI implementation shares: one rank per process, its buffers allocated and first
// touched by that process, a private communicator, and the timed run of docs/measurement.md (barrier outside
// the window, MPI_Wtime around the collective). Usable by plugins that add MPI algorithms.
#pragma once

#include <mpi.h>

#include <vector>

#include "primbench/dispatch.hpp"
#include "primbench/primbench.hpp"

namespace primbench::mpi {

MPI_Datatype datatype(DType t);
MPI_Op op(Op o);

// True when this process is one of the ranks of an MPI job (MPI initialised by primbench).
bool running();

// The MPI launcher's command line and environment that run `program` as `ranks` processes.
Launch launch(int ranks, const std::vector<std::string>& program);

class MpiCollective : public HostCollective {
 public:
  // Throws when the problem's rank count is not this job's size.
  explicit MpiCollective(const Problem& p);
  ~MpiCollective() override;

  std::vector<int> local_ranks() const override { return {rank_}; }
  void run(std::span<double> seconds) override;

 protected:
  // One collective call on this rank, between the barrier and the end of the timed interval.
  virtual void collective() = 0;

  // `blocks` blocks of `count` elements as one message: (type, count) that fit MPI's int count.
  struct Message { MPI_Datatype type; int count; };
  Message blocks(std::size_t k) const;

  int rank_ = 0;
  MPI_Comm comm_ = MPI_COMM_NULL;
  MPI_Datatype type_ = MPI_DATATYPE_NULL;   // the dtype
  MPI_Datatype block_ = MPI_DATATYPE_NULL;  // `count` contiguous elements
  std::vector<MPI_Request> requests_;
};

}  // namespace primbench::mpi
