// The validator is itself tested: every deliberately broken implementation in the test plugin
// must be caught, with a message that names what is wrong and where.
#include <dlfcn.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <set>

#include "primbench/primbench.hpp"
#include "validate.hpp"

namespace primbench {
namespace {

const Implementation& broken(const std::string& name) {
  static const bool loaded = [] {
    if (!dlopen(PRIMBENCH_BROKEN_PLUGIN, RTLD_NOW | RTLD_GLOBAL)) throw std::runtime_error(dlerror());
    return true;
  }();
  (void)loaded;
  for (const auto& impl : registry().implementations())
    if (impl.name == name) return impl;
  throw std::runtime_error("plugin did not register " + name);
}

std::string failure(const std::string& impl, Primitive prim, int P = 4, std::size_t n = 8, int root = 1,
                    DType dt = DType::i32, Op op = Op::sum, validate::Mode mode = validate::Mode::exact) {
  auto c = broken(impl).make(Problem{prim, P, n, dt, op, root});
  return validate::rounds(*c, mode, 5, 3);
}

using ::testing::HasSubstr;

TEST(Validator, CatchesWrongBlockOrder) {
  const std::string gather = failure("broken.wrong_order", Primitive::gather);
  EXPECT_THAT(gather, HasSubstr("rank 1 recv element 0 (block of rank 0, element 0)"));
  EXPECT_THAT(gather, HasSubstr("32 wrong"));
  EXPECT_THAT(failure("broken.wrong_order", Primitive::scatter), HasSubstr("rank 0 recv element 0: expected"));
}

TEST(Validator, CatchesWrongRoot) {
  // The result lands in rank 0's receive buffer, which is empty when the root is 1: its guard
  // shows the stray write first, then every element of the real root's buffer is wrong. (Small
  // counts keep the stray write inside the guard, so the test heap stays intact.)
  EXPECT_THAT(failure("broken.wrong_root", Primitive::gather, 4, 2),
              HasSubstr("rank 0 recv guard overwritten at byte 0 (write past the end) of a 0-byte buffer; 9 wrong"));
  EXPECT_THAT(failure("broken.wrong_root", Primitive::reduce, 4, 2), HasSubstr("; 3 wrong"));
}

TEST(Validator, CatchesMissingLastRank) {
  EXPECT_THAT(failure("broken.missing_last_rank", Primitive::gather), HasSubstr("(block of rank 3, element 0)"));
  EXPECT_THAT(failure("broken.missing_last_rank", Primitive::scatter), HasSubstr("rank 3 recv element 0"));
  for (Op op : {Op::sum, Op::prod, Op::min, Op::max})
    EXPECT_THAT(failure("broken.missing_last_rank", Primitive::reduce, 4, 64, 1, DType::f64, op),
                HasSubstr("rank 1 recv element")) << name(op);
}

// The two primitives described after the first three are checked by the same rule: every rank's
// result for allreduce, every non-root's copy of the root's block for broadcast.
TEST(Validator, CatchesBrokenAllreduceAndBroadcast) {
  // allreduce: the last rank's contribution missing from every result; half of each written.
  EXPECT_THAT(failure("broken.missing_last_rank", Primitive::allreduce, 4, 8, 0), HasSubstr("rank 0 recv element 0: expected"));
  EXPECT_THAT(failure("broken.missing_last_rank", Primitive::allreduce, 4, 8, 0), HasSubstr("; 32 wrong"));
  EXPECT_THAT(failure("broken.partial_write", Primitive::allreduce, 4, 8, 0), HasSubstr("rank 0 recv element 4"));
  EXPECT_THAT(failure("broken.partial_write", Primitive::allreduce, 4, 8, 0), HasSubstr("; 16 wrong"));
  // broadcast: the last rank never gets the block; half of it; the block sent from rank 0 (an
  // empty buffer when the root is 1) and the real root's empty receive buffer left alone.
  EXPECT_THAT(failure("broken.missing_last_rank", Primitive::broadcast, 4, 8, 1), HasSubstr("rank 3 recv element 0: expected"));
  EXPECT_THAT(failure("broken.missing_last_rank", Primitive::broadcast, 4, 8, 1), HasSubstr("; 8 wrong"));
  EXPECT_THAT(failure("broken.partial_write", Primitive::broadcast, 4, 8, 1), HasSubstr("rank 0 recv element 4"));
  EXPECT_THAT(failure("broken.wrong_root", Primitive::broadcast, 4, 2, 1), HasSubstr("rank 0 recv"));
}

TEST(Validator, CatchesPartialWrite) {
  EXPECT_THAT(failure("broken.partial_write", Primitive::gather), HasSubstr("recv element 4 (block of rank 0, element 4)"));
  EXPECT_THAT(failure("broken.partial_write", Primitive::reduce), HasSubstr("rank 1 recv element 4"));
}

TEST(Validator, CatchesOffByOneAtBlockEdge) {
  const std::string msg = failure("broken.off_by_one", Primitive::gather, 3, 5, 0);
  EXPECT_THAT(msg, HasSubstr("rank 0 recv element 4 (block of rank 0, element 4)"));
  EXPECT_THAT(msg, HasSubstr("3 wrong"));
  EXPECT_THAT(failure("broken.off_by_one", Primitive::scatter, 3, 5, 0), HasSubstr("rank 0 recv element 4"));
}

TEST(Validator, CatchesWritePastTheEnd) {
  for (Primitive prim : {Primitive::gather, Primitive::reduce})
    EXPECT_THAT(failure("broken.write_past_end", prim), HasSubstr("rank 1 recv guard overwritten at byte"));
  EXPECT_THAT(failure("broken.write_past_end", Primitive::gather), HasSubstr("(write past the end)"));
}

TEST(Validator, CatchesModifiedSendBuffer) {
  EXPECT_THAT(failure("broken.send_modified", Primitive::gather), HasSubstr("rank 3 send buffer modified at element 7"));
}

TEST(Validator, CatchesASumOneUlpOffInExactMode) {
  for (DType dt : {DType::f32, DType::f64, DType::i32, DType::i64}) {
    const std::string msg = failure("broken.one_ulp", Primitive::reduce, 4, 8, 1, dt);
    EXPECT_THAT(msg, HasSubstr("rank 1 recv element 7: expected")) << name(dt);
    EXPECT_THAT(msg, HasSubstr("1 wrong")) << name(dt);
  }
}

TEST(Validator, RandomModeAcceptsRoundingButNotAWrongRank) {
  // One ulp is within the rigorous bound for a random-mode sum...
  EXPECT_EQ(failure("broken.one_ulp", Primitive::reduce, 4, 64, 1, DType::f32, Op::sum, validate::Mode::random), "");
  // ...a missing rank is far outside it.
  EXPECT_THAT(failure("broken.missing_last_rank", Primitive::reduce, 4, 64, 1, DType::f32, Op::sum, validate::Mode::random),
              HasSubstr("tolerance"));
}

TEST(Validator, CatchesARace) {
  EXPECT_THAT(failure("broken.race", Primitive::gather), HasSubstr("(block of rank 0, element 0)"));
  EXPECT_THAT(failure("broken.race", Primitive::scatter), HasSubstr("rank 0 recv element 0"));
}

// Past 2^18 elements a buffer is checked in chunks on every core, in runs of 512: the first wrong
// element is still the first in the buffer (here all in the last chunk), and the count covers
// every chunk, run and rank (allreduce: one result made for the four ranks, compared with each).
TEST(Validator, ALargeResultIsCheckedInChunksWithTheFirstWrongElementAndTheCount) {
  const std::size_t n = (std::size_t{1} << 19) + 3;
  const std::string gather = failure("broken.missing_last_rank", Primitive::gather, 4, n, 1);
  EXPECT_THAT(gather, HasSubstr("rank 1 recv element " + std::to_string(3 * n) + " (block of rank 3, element 0)"));
  EXPECT_THAT(gather, HasSubstr("; " + std::to_string(n) + " wrong"));
  const std::string allreduce = failure("broken.missing_last_rank", Primitive::allreduce, 4, n, 0, DType::f64);
  EXPECT_THAT(allreduce, HasSubstr("rank 0 recv element 0: expected"));
  EXPECT_THAT(allreduce, HasSubstr("; " + std::to_string(4 * n) + " wrong"));
  const std::string half = failure("broken.partial_write", Primitive::allreduce, 4, n, 0, DType::f32);
  EXPECT_THAT(half, HasSubstr("rank 0 recv element " + std::to_string(n / 2) + ": expected"));
  EXPECT_THAT(half, HasSubstr("; " + std::to_string(4 * (n - n / 2)) + " wrong"));
  // Random mode: the same first element, judged against its bound (the poison left in the
  // unwritten half is within it only where a sum is within it of zero, so no exact count).
  const std::string random = failure("broken.partial_write", Primitive::allreduce, 4, n, 0, DType::f32, Op::sum, validate::Mode::random);
  EXPECT_THAT(random, HasSubstr("rank 0 recv element " + std::to_string(n / 2) + ": expected"));
  EXPECT_THAT(random, HasSubstr("(tolerance "));
}

// Buffers that are not the problem's are named before any element is read or written: one
// result that every rank's buffer names, a null empty buffer (which crashed the validator), a
// buffer longer than its payload (slack before the guard, where a stray write went unseen).
TEST(Validator, CatchesBuffersThatAreNotTheProblems) {
  EXPECT_THAT(failure("broken.one_result", Primitive::allreduce, 4, 8, 0),
              HasSubstr("allreduce P=4 n=8 i32 sum: rank 0 recv buffer and rank 1 recv buffer share 160 bytes, guards included"));
  EXPECT_THAT(failure("broken.one_result", Primitive::broadcast, 4, 8, 0), HasSubstr("rank 1 recv buffer and rank 2 recv buffer share"));
  EXPECT_EQ(failure("broken.one_result", Primitive::broadcast, 2, 8, 0), "");  // one receiver: one buffer, rightly
  EXPECT_THAT(failure("broken.null_where_empty", Primitive::gather, 4, 8, 1),
              HasSubstr("rank 0 recv buffer is at address 0x0, with no room for its 64-byte guards"));
  EXPECT_THAT(failure("broken.null_where_empty", Primitive::scatter, 4, 8, 1), HasSubstr("rank 0 send buffer is at address 0x0"));
  EXPECT_THAT(failure("broken.padded", Primitive::gather, 4, 8, 1),
              HasSubstr("rank 1 recv buffer says it holds 132 bytes, where the problem has 128 (32 elements of 4 bytes)"));
  // Asked by prepare and poison too, which write nothing then; and by check, after the run.
  auto c = broken("broken.padded").make(Problem{Primitive::gather, 4, 8, DType::i32, Op::sum, 1});
  EXPECT_THROW(validate::prepare(*c, validate::Mode::exact, 5), std::invalid_argument);
  EXPECT_THROW(validate::poison(*c, 5, 4), std::invalid_argument);
  EXPECT_THAT(validate::check(*c, validate::Mode::exact, 5), HasSubstr("gather P=4 n=8 i32 root=1: rank 1 recv buffer says"));
}

// Buffers carved out of one allocation at chosen offsets: apart only where no byte of one,
// guards included, is a byte of another.
class Carved final : public Collective {
 public:
  Carved(const Problem& p, std::vector<std::size_t> send_at, std::vector<std::size_t> recv_at)
      : Collective(p), arena_(1 << 16), send_at_(std::move(send_at)), recv_at_(std::move(recv_at)) {}
  Buffer send(int r) override { return {arena_.view().data + kGuardBytes + send_at_[r], problem().send_count(r) * problem().elem_bytes()}; }
  Buffer recv(int r) override { return {arena_.view().data + kGuardBytes + recv_at_[r], problem().recv_count(r) * problem().elem_bytes()}; }
  void run(std::span<double>) override {}

 private:
  HostBuffer arena_;
  std::vector<std::size_t> send_at_, recv_at_;
};

// A HostBuffer never allocated (one rank's empty buffer forgotten): its view is null plus the
// guard, 64, where writing the guard crashed.
class Unallocated final : public Collective {
 public:
  explicit Unallocated(const Problem& p) : Collective(p), send_(p.count * p.elem_bytes()), recv_(p.ranks * p.count * p.elem_bytes()) {}
  Buffer send(int r) override { return r == 0 ? send_.view() : HostBuffer().view(); }
  Buffer recv(int r) override { return r == 0 ? recv_.view() : HostBuffer().view(); }
  void run(std::span<double>) override {}

 private:
  HostBuffer send_, recv_;
};

TEST(Validator, AnUnallocatedBufferIsNamedNotWritten) {
  Unallocated c(Problem{Primitive::gather, 2, 16, DType::i32, Op::sum, 0});
  EXPECT_THAT(validate::layout(c), HasSubstr("rank 1 send buffer is at address 0x40, with no room for its 64-byte guards"));
  EXPECT_THROW(validate::prepare(c, validate::Mode::exact, 5), std::invalid_argument);
}

TEST(Validator, BuffersAreApartOnlyWithTheirGuards) {
  const Problem p{Primitive::gather, 2, 16, DType::i32, Op::sum, 0};  // sends of 64 bytes; the root's result 128, rank 1's none
  const std::size_t g = kGuardBytes, step = 64 + 2 * g;               // a send buffer with its guards
  auto layout = [&](std::vector<std::size_t> send_at, std::vector<std::size_t> recv_at) {
    Carved c(p, std::move(send_at), std::move(recv_at));
    return validate::layout(c);
  };
  // Guard against guard, and the empty one right after the root's result: apart.
  EXPECT_EQ(layout({0, step}, {2 * step, 2 * step + 128 + 2 * g}), "");
  // One byte shared by two guards.
  EXPECT_THAT(layout({0, step - 1}, {2 * step, 4 * step}), HasSubstr("rank 0 send buffer and rank 1 send buffer share 1 bytes"));
  // Rank 1's send where its block of the root's result is (a gather in place).
  EXPECT_THAT(layout({4 * step, 64}, {0, 8 * step}), HasSubstr("rank 0 recv buffer and rank 1 send buffer share 192 bytes"));
}

TEST(Validator, MessageNamesTheProblem) {
  const std::string msg = failure("broken.wrong_order", Primitive::gather, 4, 8, 1, DType::f64);
  EXPECT_THAT(msg, HasSubstr("gather P=4 n=8 f64 root=1 (exact, seed 5)"));
}

TEST(Validator, CorrectImplementationPasses) {
  // The base of every broken implementation, unbroken: the failures above are the faults.
  for (const auto& impl : registry().implementations())
    if (impl.name == "seq.ref")
      for (Primitive prim : {Primitive::gather, Primitive::scatter, Primitive::reduce}) {
        auto c = impl.make(Problem{prim, 4, 8, DType::i32, Op::sum, 1});
        EXPECT_EQ(validate::rounds(*c, validate::Mode::exact, 5, 3), "");
      }
}

TEST(Validator, InputsDifferAcrossSeedsRanksAndIndices) {
  const Problem p{Primitive::gather, 4, 8, DType::i32, Op::sum, 0};
  std::set<std::int32_t> seen;
  for (std::uint64_t seed : {1, 2})
    for (int r = 0; r < 4; ++r)
      for (std::size_t i = 0; i < 8; ++i) seen.insert(validate::input<std::int32_t>(p, validate::Mode::exact, seed, r, i));
  EXPECT_EQ(seen.size(), 64u);
}

}  // namespace
}  // namespace primbench
