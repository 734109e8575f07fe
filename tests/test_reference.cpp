// The reference beside each benchmark (bench/reference.cpp): hot, a cache-sized working set is
// timed after an untimed pass, as the benchmark's loop times iterations after its first; cold,
// after the buffers are evicted. Issue 13: timed on its first pass after the benchmark's
// repetition, the reference made a cache-resident thread.flat reduce 1.6 times its "peak".
#include <gtest/gtest.h>

#include "reference.hpp"

namespace primbench {
namespace {

constexpr std::size_t kCacheResident = 256 << 10;  // f32 a rank: 1 MiB, as in the issue

TEST(Reference, HotWarmsACacheResidentWorkingSetBeforeTimingIt) {
  for (Primitive prim : {Primitive::gather, Primitive::scatter, Primitive::reduce}) {
    Reference ref(Problem{prim, 2, kCacheResident}, 1.0, 2, /*cold=*/false);
    EXPECT_TRUE(ref.warms()) << name(prim);
    EXPECT_GT(ref.trial(), 0) << name(prim);
  }
}

TEST(Reference, ColdTimesItsFirstPassAfterEvicting) {
  for (Primitive prim : {Primitive::gather, Primitive::reduce}) {
    Reference ref(Problem{prim, 2, kCacheResident}, 1.0, 2, /*cold=*/true);
    EXPECT_FALSE(ref.warms()) << name(prim);
    EXPECT_GT(ref.trial(), 0) << name(prim);
  }
}

// A copy is made two ways (one memcpy a thread, or 64 KiB pieces), the runner measuring each in a
// block of trials; read-P-write-1 one way. Each way is a real pass.
TEST(Reference, ACopyHasTwoWaysAReduceOne) {
  for (Primitive prim : {Primitive::gather, Primitive::scatter}) {
    Reference ref(Problem{prim, 2, kCacheResident}, 1.0, 2, /*cold=*/false);
    ASSERT_EQ(ref.ways(), 2) << name(prim);
    EXPECT_GT(ref.trial(0), 0) << name(prim);
    EXPECT_GT(ref.trial(1), 0) << name(prim);
  }
  Reference reduce(Problem{Primitive::reduce, 2, kCacheResident}, 1.0, 2, /*cold=*/false);
  EXPECT_EQ(reduce.ways(), 1);
}

// The faster way's median counts, with its own trials' spread; ways without trials are ignored.
TEST(Reference, TheFastestMedianOfTheWaysCounts) {
  EXPECT_EQ(fastest_median({{2, 2, 2}, {1, 1, 1, 5}}), std::make_pair(2.0, 0.0));  // 5 is one trial, not the median
  EXPECT_EQ(fastest_median({{1, 3, 2}, {4, 8, 4}}), std::make_pair(4.0, 1.0));
  EXPECT_EQ(fastest_median({{}, {3}}), std::make_pair(3.0, 0.0));
  EXPECT_EQ(fastest_median({}), std::make_pair(0.0, 0.0));
  EXPECT_EQ(fastest_median({{0, 0}}), std::make_pair(0.0, 0.0));
}

}  // namespace
}  // namespace primbench
