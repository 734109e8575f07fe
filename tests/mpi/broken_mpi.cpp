// Deliberately broken MPI implementations, test-only, loaded with --plugin into launched ranks.
// Each is a correct point-to-point collective (root exchanges with every rank) with one fault;
// the validator, agreeing across ranks, must catch every one under real processes, and a rank
// that never joins must end the run by the timeout, not hang it.
#include <unistd.h>

#include <csignal>
#include <cstdlib>
#include <cstring>
#include <stdexcept>

#include "mpi_collective.hpp"

namespace primbench::mpi {
namespace {

class Faulty : public MpiCollective {
 public:
  using MpiCollective::MpiCollective;

 protected:
  virtual int block_of(int r) const { return r; }             // where rank r's block goes
  virtual int root() const { return problem().root; }         // where the result goes
  virtual std::size_t elements(std::size_t n, int) const { return n; }  // sent by rank r
  virtual bool skips(int) const { return false; }            // rank r takes no part
  virtual bool absent(int) const { return false; }           // ... though the root waits for it
  virtual void after() {}                                     // on every rank, after the call

  void collective() override {
    with_dtype(problem().dtype, [&](auto t) { work<typename decltype(t)::type>(); });
    after();
  }

  template <class T> void work() {
    const Problem& p = problem();
    const std::size_t n = p.count;
    const int root = this->root();
    if (skips(rank_) || absent(rank_)) return;
    std::vector<T> tmp(p.ranks * n);  // the result at a wrong root, which has no buffer for it
    auto msg = [&](int r) { return static_cast<int>(elements(n, r)); };
    switch (p.primitive) {
      case Primitive::gather:
        if (rank_ != root) {
          MPI_Send(send_ptr<T>(rank_), msg(rank_), type_, root, 0, comm_);
        } else {
          for (int r = 0; r < p.ranks; ++r) {
            T* dst = (rank_ == p.root ? recv_ptr<T>(rank_) : tmp.data()) + block_of(r) * n;
            if (r == rank_) std::memcpy(dst, send_ptr<T>(r), msg(r) * sizeof(T));
            else if (!skips(r)) MPI_Recv(dst, msg(r), type_, r, 0, comm_, MPI_STATUS_IGNORE);
          }
        }
        break;
      case Primitive::scatter:
        if (rank_ != p.root) {
          MPI_Recv(recv_ptr<T>(rank_), msg(rank_), type_, p.root, 0, comm_, MPI_STATUS_IGNORE);
        } else {
          for (int r = 0; r < p.ranks; ++r) {
            const T* src = send_ptr<T>(rank_) + block_of(r) * n;
            if (r == rank_) std::memcpy(recv_ptr<T>(r), src, msg(r) * sizeof(T));
            else if (!skips(r)) MPI_Send(src, msg(r), type_, r, 0, comm_);
          }
        }
        break;
      case Primitive::reduce:
        with_op(p.op, [&](auto o) {
          if (rank_ != root) {
            MPI_Send(send_ptr<T>(rank_), msg(rank_), type_, root, 0, comm_);
            return;
          }
          T* acc = rank_ == p.root ? recv_ptr<T>(rank_) : tmp.data();
          std::memcpy(acc, send_ptr<T>(rank_), n * sizeof(T));
          std::vector<T> in(n);
          for (int r = 0; r < p.ranks; ++r) {
            if (r == rank_ || skips(r)) continue;
            MPI_Recv(in.data(), msg(r), type_, r, 0, comm_, MPI_STATUS_IGNORE);
            combine<decltype(o)>(acc, acc, in.data(), msg(r));
          }
        });
        break;
      case Primitive::allreduce:
      case Primitive::broadcast: break;  // registered for the first three primitives only
    }
  }
};

// Gather and scatter: blocks of ranks 0 and 1 swapped.
struct WrongOrder final : Faulty {
  using Faulty::Faulty;
  int block_of(int r) const override { return r < 2 && problem().ranks > 1 ? 1 - r : r; }
};
// The result goes to the rank after the root (which MPI gives no receive buffer).
struct WrongRoot final : Faulty {
  using Faulty::Faulty;
  int root() const override { return (problem().root + 1) % problem().ranks; }
};
// Right but at the last root, whose result goes to rank 0: only a rotating root's benchmark of
// root 0 sees it.
struct WrongAtLastRoot final : Faulty {
  using Faulty::Faulty;
  int root() const override { return problem().root == problem().ranks - 1 ? 0 : problem().root; }
};
// Every message one element short: the last element of each block is never moved.
struct OffByOne final : Faulty {
  using Faulty::Faulty;
  std::size_t elements(std::size_t n, int) const override { return n > 0 ? n - 1 : 0; }
};
// The last rank never takes part.
struct MissingLastRank final : Faulty {
  using Faulty::Faulty;
  bool skips(int r) const override { return problem().ranks > 1 && r == problem().ranks - 1; }
};
// The root writes one element past the end of its receive buffer.
struct PastEnd final : Faulty {
  using Faulty::Faulty;
  void after() override {
    const Buffer b = recv(rank_);
    if (rank_ == problem().root && b.bytes > 0) std::memset(b.data + b.bytes, 0, problem().elem_bytes());
  }
};
// Rank 1 alone corrupts its output (scatter: its block; gather/reduce as root 1): only one rank
// sees the failure, every rank must agree on it and go on.
struct OneRankWrong final : Faulty {
  using Faulty::Faulty;
  void after() override {
    const Buffer b = recv(rank_);
    if (rank_ == 1 && b.bytes > 0) b.data[b.bytes - 1] ^= std::byte{0x40};
  }
};
// Reduce (sum): the root's first element one ulp (one unit, for integers) off.
struct OneUlp final : Faulty {
  using Faulty::Faulty;
  void after() override {
    const Buffer b = recv(rank_);
    if (rank_ == problem().root && b.bytes > 0) b.data[0] ^= std::byte{1};
  }
};
// Rank 1 never joins the collective while the others wait for it: a hang.
struct Hang final : Faulty {
  using Faulty::Faulty;
  bool absent(int r) const override { return r == 1; }
};

// Correct, but rank 1 crashes freeing its buffers: rank 0 said done before the others had.
struct CrashFreeingOnRank1 final : Faulty {
  using Faulty::Faulty;
  ~CrashFreeingOnRank1() override {
    if (rank_ == 1) std::raise(SIGSEGV);
  }
};
// Correct, but its own counters throw on rank 1 only: the others went on waiting for it.
struct CountersThrowOnRank1 final : Faulty {
  using Faulty::Faulty;
  std::vector<std::pair<std::string, double>> measure_counters() override {
    if (rank_ == 1) throw std::runtime_error("no counters on rank 1");
    return {};
  }
};
// Correct through validation and the warm-up (4 calls with --warmup 0), then exit(0) on every
// rank, as a library's error path may.
struct ExitsOnEveryRank final : Faulty {
  using Faulty::Faulty;
  void after() override {
    if (++calls_ > 4) std::exit(0);
  }
  int calls_ = 0;
};
// Correct through validation and the warm-up, then MPI_Abort(MPI_COMM_WORLD, 0) on rank 1, as a
// library's error path may: the launcher kills every rank and, told 0, exits 0.
struct AbortsWithZero final : Faulty {
  using Faulty::Faulty;
  void after() override {
    if (++calls_ > 4 && rank_ == 1) MPI_Abort(MPI_COMM_WORLD, 0);
  }
  int calls_ = 0;
};

PRIMBENCH_REGISTER("mpibroken.wrong_order", WrongOrder);
PRIMBENCH_REGISTER("mpibroken.wrong_root", WrongRoot);
PRIMBENCH_REGISTER("mpibroken.wrong_at_last_root", WrongAtLastRoot);
PRIMBENCH_REGISTER("mpibroken.off_by_one", OffByOne);
PRIMBENCH_REGISTER("mpibroken.missing_last_rank", MissingLastRank);
PRIMBENCH_REGISTER("mpibroken.past_end", PastEnd);
PRIMBENCH_REGISTER("mpibroken.one_rank_wrong", OneRankWrong);
PRIMBENCH_REGISTER("mpibroken.one_ulp", OneUlp);
PRIMBENCH_REGISTER("mpibroken.hang", Hang);
PRIMBENCH_REGISTER("mpibroken.crash_freeing_on_rank1", CrashFreeingOnRank1, Primitive::gather);
PRIMBENCH_REGISTER("mpibroken.counters_throw_on_rank1", CountersThrowOnRank1, Primitive::gather);
PRIMBENCH_REGISTER("mpibroken.exits_on_every_rank", ExitsOnEveryRank, Primitive::gather);
PRIMBENCH_REGISTER("mpibroken.aborts_with_0", AbortsWithZero, Primitive::gather);
PRIMBENCH_BACKEND("mpibroken", [] { return Availability{true, "", "test-only"}; }, mpi::launch);  // started as MPI ranks are

}  // namespace
}  // namespace primbench::mpi
