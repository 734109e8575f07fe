// seq.ref: the obviously correct reference. One thread walks every rank in order.
#include <algorithm>
#include <cstring>

#include "primbench/dispatch.hpp"

namespace primbench {
namespace {

class SeqRef final : public HostCollective {
 public:
  explicit SeqRef(const Problem& p) : HostCollective(p) {
    for (int r = 0; r < p.ranks; ++r) allocate(r);
  }

  void run(std::span<double> seconds) override {
    const double t0 = now_seconds();
    with_dtype(problem().dtype, [&](auto tag) { body<typename decltype(tag)::type>(); });
    std::fill(seconds.begin(), seconds.end(), now_seconds() - t0);
  }

 private:
  template <class T> void body() {
    const Problem& p = problem();
    const std::size_t n = p.count;
    switch (p.primitive) {
      case Primitive::gather:
        for (int r = 0; r < p.ranks; ++r)
          std::copy_n(send_ptr<T>(r), n, recv_ptr<T>(p.root) + r * n);
        break;
      case Primitive::scatter:
        for (int r = 0; r < p.ranks; ++r)
          std::copy_n(send_ptr<T>(p.root) + r * n, n, recv_ptr<T>(r));
        break;
      case Primitive::reduce:
        reduce_into<T>(recv_ptr<T>(p.root));
        break;
      case Primitive::allreduce:
        reduce_into<T>(recv_ptr<T>(0));
        for (int r = 1; r < p.ranks; ++r) std::copy_n(recv_ptr<T>(0), n, recv_ptr<T>(r));
        break;
      case Primitive::broadcast:
        for (int r = 0; r < p.ranks; ++r)
          if (r != p.root) std::copy_n(send_ptr<T>(p.root), n, recv_ptr<T>(r));
        break;
    }
  }

  // out[i] = op over ranks 0..P-1, in order, of element i of their send buffers.
  template <class T> void reduce_into(T* out) {
    const Problem& p = problem();
    with_op(p.op, [&](auto op) {
      using O = decltype(op);
      for (std::size_t i = 0; i < p.count; ++i) {
        T acc = send_ptr<T>(0)[i];
        for (int r = 1; r < p.ranks; ++r) acc = O::template apply<T>(acc, send_ptr<T>(r)[i]);
        out[i] = acc;
      }
    });
  }
};

PRIMBENCH_BACKEND("seq", [] { return Availability{true, "", "built-in"}; });
PRIMBENCH_REGISTER("seq.ref", SeqRef, Primitive::gather, Primitive::scatter, Primitive::reduce, Primitive::allreduce,
                   Primitive::broadcast);

}  // namespace
}  // namespace primbench
