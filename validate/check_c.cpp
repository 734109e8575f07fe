// primbench's validator for a process that is not primbench: the mpi4py peer loads
// libprimbench_check.so with ctypes and checks its NumPy buffers with the same inputs, rules and
// messages as every C++ implementation, at the same speed (impls/mpi/mpi4py_peer.py).
// One handle is one rank's buffers of one problem; the caller owns the buffers.
#include <algorithm>
#include <cstddef>
#include <cstring>
#include <exception>
#include <memory>
#include <stdexcept>
#include <string>

#include "c_api.hpp"
#include "validate.hpp"

namespace primbench::validate {
namespace {

using c_api::copy_out;

// Rank `rank`'s send and receive payloads, each with kGuardBytes of guard either side.
class Borrowed final : public Collective {
 public:
  Borrowed(const Problem& p, int rank, std::byte* send, std::byte* recv)
      : Collective(p), rank_(rank), send_{send, p.send_count(rank) * p.elem_bytes()}, recv_{recv, p.recv_count(rank) * p.elem_bytes()} {}
  std::vector<int> local_ranks() const override { return {rank_}; }
  Buffer send(int) override { return send_; }
  Buffer recv(int) override { return recv_; }
  void run(std::span<double>) override { throw std::logic_error("the caller runs the collective"); }
  Spots spots;  // of the last poison()
  const std::vector<std::size_t>& my_spots() const { return spots.at(static_cast<std::size_t>(rank_)); }

 private:
  int rank_;
  Buffer send_, recv_;
};

Mode mode_of(int random) { return random ? Mode::random : Mode::exact; }

// Runs f: 0, or 1 and one line in `error` (`what`, then what it threw: out of memory, no thread
// for a parallel fill). No C++ exception crosses into the caller, where it would end the process
// without a word.
template <class F> int guarded(const char* what, char* error, std::size_t cap, F&& f) {
  try {
    f();
    return 0;
  } catch (const std::exception& e) {
    copy_out(std::string(what) + e.what(), error, cap);
    return 1;
  }
}

}  // namespace
}  // namespace primbench::validate

using namespace primbench;
using primbench::validate::Borrowed;

extern "C" {

std::size_t primbench_check_guard_bytes() { return kGuardBytes; }

// Null, with one line in `error`, for a problem primbench would refuse.
void* primbench_check_open(const char* primitive, const char* dtype, const char* op, int ranks, unsigned long long count, int root,
                           int rank, void* send, void* recv, char* error, std::size_t cap) {
  try {
    const PrimitiveInfo* d = find_primitive(primitive);
    if (!d) throw std::invalid_argument(std::string("unknown primitive '") + primitive + "'");
    Problem p{d->primitive, ranks, static_cast<std::size_t>(count),
              c_api::named(dtype, {DType::i32, DType::i64, DType::f32, DType::f64}, "dtype"),
              c_api::named(op, {Op::sum, Op::prod, Op::min, Op::max}, "op"), root};
    if (ranks < 1 || rank < 0 || rank >= ranks || root < 0 || root >= ranks)
      throw std::invalid_argument("rank and root must be below ranks (at least 1)");
    return new Borrowed(p, rank, static_cast<std::byte*>(send), static_cast<std::byte*>(recv));
  } catch (const std::exception& e) {
    c_api::copy_out(e.what(), error, cap);
    return nullptr;
  }
}

void primbench_check_close(void* h) { delete static_cast<Borrowed*>(h); }

// Inputs into the send buffer, poison into the receive buffer, guards around both. 0, or 1 and
// one line in `error`.
int primbench_check_prepare(void* h, int random, unsigned long long seed, char* error, std::size_t cap) {
  return validate::guarded("the validator failed preparing the inputs: ", error, cap,
                           [&] { validate::prepare(*static_cast<Borrowed*>(h), validate::mode_of(random), seed); });
}

// Poisons the receive elements a sampled check looks at (validate::poison) and keeps them for
// primbench_check_result and primbench_check_spots; their number in `count`. 0, or 1 and one line
// in `error`.
int primbench_check_poison(void* h, unsigned long long key, std::size_t per_buffer, std::size_t* count, char* error,
                           std::size_t cap) {
  auto* b = static_cast<Borrowed*>(h);
  return validate::guarded("the validator failed poisoning the spots: ", error, cap, [&] {
    b->spots = validate::poison(*b, key, per_buffer);
    *count = b->my_spots().size();
  });
}

// Copies the last poison's elements (as many as it returned) to `out`.
void primbench_check_spots(void* h, std::size_t* out) {
  const std::vector<std::size_t>& mine = static_cast<Borrowed*>(h)->my_spots();
  std::copy(mine.begin(), mine.end(), out);
}

// 0 when every element (spots: those of the last poison) is right, else 1 and one line in `message`
// (cut at cap - 1 bytes).
int primbench_check_result(void* h, int random, unsigned long long seed, int spots, char* message, std::size_t cap) {
  auto* b = static_cast<Borrowed*>(h);
  std::string error;
  if (validate::guarded("the validator failed: ", message, cap,
                        [&] { error = validate::check(*b, validate::mode_of(random), seed, spots ? &b->spots : nullptr); }))
    return 1;
  c_api::copy_out(error, message, cap);
  return error.empty() ? 0 : 1;
}

}  // extern "C"
