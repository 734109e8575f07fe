// The supervisor: `primbench run` and `validate` never run an implementation in their own
// process. Shared-memory implementations run in a worker process (one after another);
// process-per-rank ones in the ranks their backend's launcher starts. Workers append every
// event to a journal; the supervisor tails it, prints the table, writes --out, and survives
// any crash, exit, hang or signal of a worker or launcher: the benchmark in progress gets an
// error entry saying what happened, the worker's process group and every process it left are
// killed, and a fresh worker goes on with the rest.
#pragma once

#include <vector>

#include "runner.hpp"

namespace primbench {

// This executable's path as it was when primbench started (main asks first, before anything
// could replace it): a launcher starts the ranks by it. Workers on this host start this very
// image (/proc/self/exe), whatever the path holds by then.
const std::string& self_executable();

// `primbench run` or `validate` as the supervisor. Returns the exit status (Exit, or 128 + the
// signal that interrupted it).
int supervise(const std::vector<Planned>& plan, const RunOptions& opts);

// Every rank of an MPI job a user launched runs `plan` itself; rank 0 keeps the journal and
// writes --out at the end.
int run_in_mpi_job(const std::vector<Planned>& plan, const RunOptions& opts);

// A worker: runs `plan` in this process, each event appended to the journal at `journal`.
int run_worker(const std::vector<Planned>& plan, const RunOptions& opts, const std::string& journal);

}  // namespace primbench
