// MPI backend: one process per rank.
//   mpi.native    MPI_Gather / MPI_Scatter / MPI_Reduce / MPI_Allreduce / MPI_Bcast: the
//                 library's own algorithms.
//   mpi.linear    the root exchanges one message with every other rank (reduce: the root
//                 combines each rank's vector as it arrives, receiving the next meanwhile;
//                 allreduce: that reduce at rank 0, then the result sent to every rank).
//   mpi.binomial  binomial tree over ranks relative to the root, any P and any root
//                 (primbench/binomial.hpp): the same tree as thread.tree, with messages instead
//                 of shared staging buffers (allreduce: a reduce up the tree rooted at rank 0,
//                 then a broadcast down it).
// Each derives from TypedMpiCollective<Self> and writes its collective once, as a template
// work<T>() over the element type.
#include <cstring>
#include <vector>

#include "mpi_collective.hpp"
#include "primbench/binomial.hpp"

namespace primbench::mpi {
namespace {

constexpr int kTag = 0;  // each collective has its own communicator; MPI keeps pair order

// collective() as Derived::work<T>(), T the problem's element type.
template <class Derived> class TypedMpiCollective : public MpiCollective {
 public:
  using MpiCollective::MpiCollective;

 private:
  void collective() final {
    with_dtype(problem().dtype,
               [&](auto t) { static_cast<Derived*>(this)->template work<typename decltype(t)::type>(); });
  }
};

class Native final : public TypedMpiCollective<Native> {
 public:
  using TypedMpiCollective::TypedMpiCollective;

 private:
  friend TypedMpiCollective;

  template <class T> void work() {
    const Problem& p = problem();
    const int n = static_cast<int>(p.count);
    switch (p.primitive) {
      case Primitive::gather:
        MPI_Gather(send_ptr<T>(rank_), n, type_, recv_ptr<T>(rank_), n, type_, p.root, comm_);
        break;
      case Primitive::scatter:
        MPI_Scatter(send_ptr<T>(rank_), n, type_, recv_ptr<T>(rank_), n, type_, p.root, comm_);
        break;
      case Primitive::reduce:
        MPI_Reduce(send_ptr<T>(rank_), recv_ptr<T>(rank_), n, type_, op(p.op), p.root, comm_);
        break;
      case Primitive::allreduce:
        MPI_Allreduce(send_ptr<T>(rank_), recv_ptr<T>(rank_), n, type_, op(p.op), comm_);
        break;
      case Primitive::broadcast:  // one buffer: the root's send, every other rank's receive
        MPI_Bcast(rank_ == p.root ? send_ptr<T>(rank_) : recv_ptr<T>(rank_), n, type_, p.root, comm_);
        break;
    }
  }
};

class Linear final : public TypedMpiCollective<Linear> {
 public:
  explicit Linear(const Problem& p) : TypedMpiCollective(p) {
    const bool reduces = p.primitive == Primitive::reduce || p.primitive == Primitive::allreduce;
    if (reduces && rank_ == p.root && p.ranks > 1)
      for (auto& t : temp_) t = HostBuffer(p.count * p.elem_bytes());
  }

 private:
  friend TypedMpiCollective;

  template <class T> void work() {
    const Problem& p = problem();
    const std::size_t n = p.count;
    const Message one = blocks(1);
    requests_.clear();
    if (rank_ != p.root) {
      switch (p.primitive) {
        case Primitive::gather:
        case Primitive::reduce: MPI_Send(send_ptr<T>(rank_), one.count, one.type, p.root, kTag, comm_); break;
        case Primitive::allreduce: MPI_Send(send_ptr<T>(rank_), one.count, one.type, p.root, kTag, comm_); [[fallthrough]];
        case Primitive::scatter:
        case Primitive::broadcast: MPI_Recv(recv_ptr<T>(rank_), one.count, one.type, p.root, kTag, comm_, MPI_STATUS_IGNORE); break;
      }
      return;
    }
    switch (p.primitive) {
      case Primitive::gather:
        for (int r = 0; r < p.ranks; ++r)
          if (r != rank_)
            MPI_Irecv(recv_ptr<T>(rank_) + r * n, one.count, one.type, r, kTag, comm_, &requests_.emplace_back());
        std::memcpy(recv_ptr<T>(rank_) + rank_ * n, send_ptr<T>(rank_), n * sizeof(T));
        break;
      case Primitive::scatter:
        for (int r = 0; r < p.ranks; ++r)
          if (r != rank_)
            MPI_Isend(send_ptr<T>(rank_) + r * n, one.count, one.type, r, kTag, comm_, &requests_.emplace_back());
        std::memcpy(recv_ptr<T>(rank_), send_ptr<T>(rank_) + rank_ * n, n * sizeof(T));
        break;
      case Primitive::reduce: reduce<T>(); break;
      case Primitive::allreduce: reduce<T>(), to_the_others<T>(recv_ptr<T>(rank_)); break;
      case Primitive::broadcast: to_the_others<T>(send_ptr<T>(rank_)); break;
    }
    MPI_Waitall(static_cast<int>(requests_.size()), requests_.data(), MPI_STATUSES_IGNORE);
  }

  // Root: one block sent to every other rank at once.
  template <class T> void to_the_others(const T* block) {
    const Message one = blocks(1);
    for (int r = 0; r < problem().ranks; ++r)
      if (r != rank_) MPI_Isend(block, one.count, one.type, r, kTag, comm_, &requests_.emplace_back());
  }

  // Root: its own vector first, then every other rank's as it arrives, double-buffered.
  template <class T> void reduce() {
    const Problem& p = problem();
    const int n = static_cast<int>(p.count);
    T* acc = recv_ptr<T>(rank_);
    std::memcpy(acc, send_ptr<T>(rank_), p.count * sizeof(T));
    std::vector<int> others;
    for (int r = 0; r < p.ranks; ++r)
      if (r != rank_) others.push_back(r);
    if (others.empty()) return;
    MPI_Request req[2];
    auto post = [&](std::size_t i) {
      MPI_Irecv(temp_[i % 2].view().as<T>(), n, type_, others[i], kTag, comm_, &req[i % 2]);
    };
    post(0);
    with_op(p.op, [&](auto o) {
      for (std::size_t i = 0; i < others.size(); ++i) {
        if (i + 1 < others.size()) post(i + 1);
        MPI_Wait(&req[i % 2], MPI_STATUS_IGNORE);
        combine<decltype(o)>(acc, acc, temp_[i % 2].view().as<T>(), p.count);
      }
    });
  }

  void flush_caches() override {
    MpiCollective::flush_caches();
    for (const HostBuffer& t : temp_) t.evict();
  }

  HostBuffer temp_[2];
};

// The tree of primbench/binomial.hpp: this rank is relative rank v_ = (rank - root) mod P;
// v's subtree is [v, v + tree_.span(v)).
class Binomial final : public TypedMpiCollective<Binomial> {
 public:
  explicit Binomial(const Problem& p)
      : TypedMpiCollective(p), tree_{p.ranks, p.root}, v_(tree_.relative(rank_)), children_(tree_.children(v_)) {
    const std::size_t block = p.count * p.elem_bytes();
    std::size_t staged = 0;  // blocks of staging; leaves, a root at rank 0 and broadcast need none
    switch (p.primitive) {
      case Primitive::reduce:
      case Primitive::allreduce:
        staged = (v_ != 0 && !children_.empty()) ? 1 : 0;
        for (std::size_t i = 0; i < children_.size(); ++i) temp_.emplace_back(block);
        break;
      case Primitive::gather:
      case Primitive::scatter:
        staged = v_ == 0 ? (p.root == 0 ? 0 : p.ranks) : (children_.empty() ? 0 : tree_.span(v_));
        break;
      case Primitive::broadcast: break;
    }
    staging_ = HostBuffer(staged * block);
  }

 private:
  friend TypedMpiCollective;

  int parent() const { return tree_.absolute(BinomialTree::parent(v_)); }
  template <class T> T* staging() { return staging_.view().as<T>(); }

  template <class T> void work() {
    requests_.clear();
    switch (problem().primitive) {
      case Primitive::gather: gather<T>(); break;
      case Primitive::scatter: scatter<T>(); break;
      case Primitive::reduce: reduce<T>(); break;
      case Primitive::allreduce: reduce<T>(), down<T>(recv_ptr<T>(rank_)); break;
      case Primitive::broadcast: down<T>(v_ == 0 ? send_ptr<T>(rank_) : recv_ptr<T>(rank_)); break;
    }
  }

  // The block in `mine` down the tree: received from the parent (the root's is complete), then
  // sent to the children, largest subtree first.
  template <class T> void down(T* mine) {
    const Message one = blocks(1);
    if (v_ != 0) MPI_Recv(mine, one.count, one.type, parent(), kTag, comm_, MPI_STATUS_IGNORE);
    requests_.clear();
    tree_.for_children_largest_first(v_, [&](int c) {
      MPI_Isend(mine, one.count, one.type, tree_.absolute(c), kTag, comm_, &requests_.emplace_back());
    });
    MPI_Waitall(static_cast<int>(requests_.size()), requests_.data(), MPI_STATUSES_IGNORE);
  }

  template <class T> void gather() {
    const Problem& p = problem();
    const std::size_t n = p.count;
    T* mine = v_ == 0 ? (p.root == 0 ? recv_ptr<T>(rank_) : staging<T>())
                      : (children_.empty() ? send_ptr<T>(rank_) : staging<T>());
    for (int c : children_) {
      const Message m = blocks(tree_.span(c));
      MPI_Irecv(mine + (c - v_) * n, m.count, m.type, tree_.absolute(c), kTag, comm_, &requests_.emplace_back());
    }
    if (mine != send_ptr<T>(rank_)) std::memcpy(mine, send_ptr<T>(rank_), n * sizeof(T));
    MPI_Waitall(static_cast<int>(requests_.size()), requests_.data(), MPI_STATUSES_IGNORE);
    if (v_ == 0) {
      if (p.root != 0) to_absolute_order<T>(recv_ptr<T>(rank_), mine, p);
    } else {
      const Message m = blocks(tree_.span(v_));
      MPI_Send(mine, m.count, m.type, parent(), kTag, comm_);
    }
  }

  template <class T> void scatter() {
    const Problem& p = problem();
    const std::size_t n = p.count;
    T* mine = v_ == 0 ? (p.root == 0 ? send_ptr<T>(rank_) : staging<T>())
                      : (children_.empty() ? recv_ptr<T>(rank_) : staging<T>());
    if (v_ == 0) {
      if (p.root != 0) to_relative_order<T>(mine, send_ptr<T>(rank_), p);
    } else {
      const Message m = blocks(tree_.span(v_));
      MPI_Recv(mine, m.count, m.type, parent(), kTag, comm_, MPI_STATUS_IGNORE);
    }
    // Largest subtree first, as MPI's binomial scatter does: it has the longest way to go.
    tree_.for_children_largest_first(v_, [&](int c) {
      const Message m = blocks(tree_.span(c));
      MPI_Isend(mine + (c - v_) * n, m.count, m.type, tree_.absolute(c), kTag, comm_, &requests_.emplace_back());
    });
    if (mine != recv_ptr<T>(rank_)) std::memcpy(recv_ptr<T>(rank_), mine, n * sizeof(T));
    MPI_Waitall(static_cast<int>(requests_.size()), requests_.data(), MPI_STATUSES_IGNORE);
  }

  // Every child's partial result is received at once; each is combined as it is complete.
  template <class T> void reduce() {
    const Problem& p = problem();
    const int n = static_cast<int>(p.count);
    const T* own = send_ptr<T>(rank_);
    T* acc = v_ == 0 ? recv_ptr<T>(rank_) : (children_.empty() ? const_cast<T*>(own) : staging<T>());
    for (std::size_t i = 0; i < children_.size(); ++i) {
      const int child = tree_.absolute(children_[i]);
      MPI_Irecv(temp_[i].view().as<T>(), n, type_, child, kTag, comm_, &requests_.emplace_back());
    }
    with_op(p.op, [&](auto o) {
      for (std::size_t i = 0; i < children_.size(); ++i) {
        MPI_Wait(&requests_[i], MPI_STATUS_IGNORE);
        combine<decltype(o)>(acc, i == 0 ? own : acc, temp_[i].view().as<T>(), p.count);
      }
    });
    if (children_.empty() && acc != own) std::memcpy(acc, own, p.count * sizeof(T));  // P = 1
    if (v_ != 0) MPI_Send(acc, n, type_, parent(), kTag, comm_);
  }

  void flush_caches() override {
    MpiCollective::flush_caches();
    staging_.evict();
    for (const HostBuffer& t : temp_) t.evict();
  }

  BinomialTree tree_;
  int v_;                      // this rank, relative
  std::vector<int> children_;  // its relative children, smallest subtree first
  HostBuffer staging_;
  std::vector<HostBuffer> temp_;
};

PRIMBENCH_REGISTER("mpi.native", Native, Primitive::gather, Primitive::scatter, Primitive::reduce, Primitive::allreduce,
                   Primitive::broadcast);
PRIMBENCH_REGISTER("mpi.linear", Linear, Primitive::gather, Primitive::scatter, Primitive::reduce, Primitive::allreduce,
                   Primitive::broadcast);
PRIMBENCH_REGISTER("mpi.binomial", Binomial, Primitive::gather, Primitive::scatter, Primitive::reduce,
                   Primitive::allreduce, Primitive::broadcast);

}  // namespace
}  // namespace primbench::mpi
