// The cuda.* implementations against the validator, on the problems that break device
// collectives: every primitive (gather, scatter, reduce, allreduce, broadcast), n = 0, P = 1, odd
// counts (every rank block of a gather or scatter misaligned by 4, 8 or 12 bytes), counts past
// one pass of the grid, every dtype, op and root (rank 0 only for allreduce, which has none).
// Without a usable GPU each test skips with the backend's reason; the probe itself is checked
// everywhere.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "primbench/primbench.hpp"
#include "validate.hpp"

namespace primbench {
namespace {

const std::vector<std::string> kImpls = {"cuda.memcpy", "cuda.kernel", "cuda.cub"};

const Implementation& find(const std::string& name) {
  for (const auto& impl : registry().implementations())
    if (impl.name == name) return impl;
  throw std::runtime_error("no implementation " + name);
}

const Availability& cuda() { return registry().availability("cuda"); }

#define SKIP_WITHOUT_GPU() \
  if (!cuda().available) GTEST_SKIP() << "cuda: unavailable: " << cuda().reason

TEST(CudaProbe, SaysWhyWhenUnavailableAndWhatWhenAvailable) {
  ASSERT_NE(registry().backend("cuda"), nullptr);
  const Availability& a = cuda();
  if (a.available) {
    EXPECT_TRUE(a.reason.empty());
    EXPECT_NE(a.version.find("driver"), std::string::npos) << a.version;
    EXPECT_NE(a.version.find("SMs"), std::string::npos) << a.version;
    EXPECT_GT(a.device_copy_GBps, 0) << a.version;
  } else {
    EXPECT_FALSE(a.reason.empty());
    EXPECT_NE(a.reason.find("CUDA"), std::string::npos) << a.reason;
    EXPECT_EQ(a.device_copy_GBps, 0);
  }
}

TEST(CudaProbe, EveryImplementationIsRegistered) {
  for (const std::string& name : kImpls) EXPECT_NO_THROW(find(name)) << name;
}

const std::vector<Primitive> kPrimitives = {Primitive::gather, Primitive::scatter, Primitive::reduce,
                                           Primitive::allreduce, Primitive::broadcast};

TEST(CudaProbe, EveryImplementationImplementsEveryPrimitive) {
  for (const std::string& name : kImpls)
    for (Primitive prim : kPrimitives)
      EXPECT_TRUE(find(name).implements(prim)) << name << " " << primbench::name(prim);
}

// The reference beside each benchmark (Backend::reference, docs/measurement.md): a trial is one
// device copy of half the traffic, timed by events, hot (warmed in the L2 where it fits) and
// cold, empty traffic included. Its speed is a measurement, reported as ref_GBps, not asserted.
TEST(CudaReference, ACopyOfTheTrafficTimedHotAndCold) {
  ASSERT_TRUE(registry().backend("cuda")->reference);
  SKIP_WITHOUT_GPU();
  const Problem p{Primitive::gather, 2, 1, DType::f32, Op::sum, 0};
  for (bool cold : {false, true})
    for (double traffic : {0.0, 8.0, 1e6 * 4, 256e6}) {
      auto ref = registry().backend("cuda")->reference(p, traffic, cold);
      if (!ref) GTEST_SKIP() << "more than one GPU: no reference for several ranks";
      for (int k = 0; k < 3; ++k) {
        const double s = ref->trial();
        EXPECT_TRUE(std::isfinite(s) && s >= 0 && s < 10) << s << " s for " << traffic << " bytes, cold " << cold;
      }
    }
}

// First, last and middle rank, each once; rank 0 alone for a primitive without a root.
std::vector<int> roots(Primitive prim, int P) {
  if (!info(prim).rooted) return {0};
  std::vector<int> r = {0, P - 1, P / 2};
  std::sort(r.begin(), r.end());
  r.erase(std::unique(r.begin(), r.end()), r.end());
  return r;
}

class Cuda : public ::testing::TestWithParam<std::string> {};

TEST_P(Cuda, EveryPrimitiveDtypeOpRankCountRootAndCount) {
  SKIP_WITHOUT_GPU();
  const Implementation& impl = find(GetParam());
  const std::vector<int> ranks = {1, 2, 3, 5, 8};
  const std::vector<std::size_t> counts = {0, 1, 2, 3, 4, 5, 17, 1000, 4099, 65539};
  int checked = 0;
  for (Primitive prim : kPrimitives)
    for (DType dt : {DType::i32, DType::i64, DType::f32, DType::f64})
      for (Op op : info(prim).takes_op ? std::vector<Op>{Op::sum, Op::prod, Op::min, Op::max}
                                       : std::vector<Op>{Op::sum})
        for (int P : ranks)
          for (std::size_t n : counts)
            for (int root : roots(prim, P)) {
              const Problem p{prim, P, n, dt, op, root};
              auto c = impl.make(p);
              ASSERT_EQ(c->memory(), Memory::device);
              EXPECT_EQ(validate::rounds(*c, validate::Mode::exact, 11, 2), "") << impl.name;
              if (dt == DType::f32 || dt == DType::f64) {
                EXPECT_EQ(validate::rounds(*c, validate::Mode::random, 29, 1), "") << impl.name;
              }
              ++checked;
            }
  EXPECT_GT(checked, 1000);
}

// Several grid-stride passes per thread, and blocks of a gather/scatter misaligned by every
// possible offset across ranks (odd count of 4-byte elements); broadcast from a middle root.
TEST_P(Cuda, LargeOddCountsAcrossSeveralGridPasses) {
  SKIP_WITHOUT_GPU();
  const Implementation& impl = find(GetParam());
  for (Primitive prim : kPrimitives)
    for (DType dt : {DType::i32, DType::f64})
      for (int root : info(prim).rooted ? std::vector<int>{0, 5} : std::vector<int>{0}) {
        const Problem p{prim, 8, (std::size_t{1} << 22) + 5, dt, Op::sum, root};
        auto c = impl.make(p);
        EXPECT_EQ(validate::rounds(*c, validate::Mode::exact, 7, 1), "") << impl.name;
      }
}

// The timed loop: many runs on the same buffers, cold caches between some, a result still right;
// every local rank gets the run's time.
TEST_P(Cuda, RepeatedRunsAndColdCachesKeepTheResult) {
  SKIP_WITHOUT_GPU();
  const Implementation& impl = find(GetParam());
  for (Primitive prim : kPrimitives) {
    const Problem p{prim, 4, 12345, DType::f32, Op::max, info(prim).rooted ? 3 : 0};
    auto c = impl.make(p);
    validate::prepare(*c, validate::Mode::exact, 5);
    std::vector<double> seconds(c->local_ranks().size(), -1.0);
    for (int i = 0; i < 20; ++i) {
      if (i % 3 == 0) c->flush_caches();
      c->run(seconds);
    }
    EXPECT_EQ(validate::check(*c, validate::Mode::exact, 5), "") << impl.name;
    for (double s : seconds) {
      EXPECT_GT(s, 0.0);
      EXPECT_EQ(s, seconds.front());
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Impls, Cuda, ::testing::ValuesIn(kImpls), [](const auto& info) {
  std::string s = info.param;
  std::replace(s.begin(), s.end(), '.', '_');
  return s;
});

}  // namespace
}  // namespace primbench
