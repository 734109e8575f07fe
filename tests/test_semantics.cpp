// Every in-process implementation against the validator, over the problems that break
// collectives: n = 0, P = 1, P not a power of two, P above the core count, every root, counts
// that are not a multiple of any vector width, every dtype and op, both check modes.
#include <gtest/gtest.h>

#include <thread>

#include "primbench/dispatch.hpp"
#include "validate.hpp"

namespace primbench {
namespace {

std::vector<std::string> in_process_impls() {
  std::vector<std::string> names;
  for (const auto& impl : registry().implementations()) {
    const Backend* b = registry().backend(impl.backend());
    if (b && b->process_per_rank()) continue;
    if (!registry().availability(impl.backend()).available) continue;
    names.push_back(impl.name);
  }
  return names;
}

const Implementation& find(const std::string& name) {
  for (const auto& impl : registry().implementations())
    if (impl.name == name) return impl;
  throw std::runtime_error("no implementation " + name);
}

class Semantics : public ::testing::TestWithParam<std::string> {};

TEST_P(Semantics, EveryPrimitiveDtypeOpRankCountRootAndCount) {
  const Implementation& impl = find(GetParam());
  const int cores = static_cast<int>(std::thread::hardware_concurrency());
  const std::vector<int> ranks = {1, 2, 3, 5, 2 * cores + 1};
  const std::vector<std::size_t> counts = {0, 1, 3, 17, 1000, 4099};
  int checked = 0;
  for (const PrimitiveInfo& d : primitives()) {
    if (!impl.implements(d.primitive)) continue;
    for (DType dt : {DType::i32, DType::i64, DType::f32, DType::f64})
      for (Op op : d.takes_op ? std::vector<Op>{Op::sum, Op::prod, Op::min, Op::max} : std::vector<Op>{Op::sum})
        for (int P : ranks)
          for (std::size_t n : counts)
            for (int root : d.rooted ? std::vector<int>{0, P - 1, P / 2} : std::vector<int>{0}) {
              const Primitive prim = d.primitive;
              const Problem p{prim, P, n, dt, op, root};
              auto c = impl.make(p);
              EXPECT_EQ(validate::rounds(*c, validate::Mode::exact, 11, 2), "") << impl.name;
              if (dt == DType::f32 || dt == DType::f64) {
                EXPECT_EQ(validate::rounds(*c, validate::Mode::random, 29, 1), "") << impl.name;
              }
              ++checked;
            }
  }
  EXPECT_GT(checked, 1000);
}

// The in-tree CPU implementations implement every primitive there is.
TEST(Semantics, InTreeCpuImplementationsImplementEveryPrimitive) {
  for (const char* name : {"seq.ref", "thread.flat", "thread.tree"})
    for (const PrimitiveInfo& d : primitives()) EXPECT_TRUE(find(name).implements(d.primitive)) << name << " " << d.name;
}

INSTANTIATE_TEST_SUITE_P(AllImplementations, Semantics, ::testing::ValuesIn(in_process_impls()),
                         [](const auto& info) {
                           std::string s = info.param;
                           for (char& ch : s) if (!isalnum(static_cast<unsigned char>(ch))) ch = '_';
                           return s;
                         });

TEST(Semantics, EveryBuiltInBackendIsRegistered) {
  const auto names = in_process_impls();
  for (const char* expected : {"seq.ref", "thread.flat", "thread.tree"})
    EXPECT_NE(std::find(names.begin(), names.end(), expected), names.end()) << expected;
}

// Large enough that each rank's part spans many pages and vector tiles, and that reduce takes
// its streaming-store path (results of kStreamBytes and more).
TEST(Semantics, LargeCountsStayCorrect) {
  for (const std::string& name : in_process_impls())
    for (const PrimitiveInfo& d : primitives()) {
      if (!find(name).implements(d.primitive)) continue;
      const Problem p{d.primitive, 3, kStreamBytes / sizeof(float) + 5, DType::f32, Op::sum, d.rooted ? 1 : 0};
      auto c = find(name).make(p);
      EXPECT_EQ(validate::rounds(*c, validate::Mode::exact, 3, 1), "") << name;
    }
}

// thread.* and the reference copy in kCopyChunk pieces: every byte, none past the end, for sizes
// on and around the pieces' boundaries.
TEST(Semantics, ChunkedCopyCopiesEveryByteAndNoMore) {
  for (std::size_t bytes : {std::size_t{0}, std::size_t{1}, kCopyChunk - 1, kCopyChunk, kCopyChunk + 1, 3 * kCopyChunk + 7}) {
    std::vector<unsigned char> src(bytes), dst(bytes + 64, 0xAB);
    for (std::size_t i = 0; i < bytes; ++i) src[i] = static_cast<unsigned char>(i * 131 + 7);
    chunked_copy(dst.data(), src.data(), bytes);
    EXPECT_TRUE(std::equal(src.begin(), src.end(), dst.begin())) << bytes;
    EXPECT_TRUE(std::all_of(dst.begin() + static_cast<std::ptrdiff_t>(bytes), dst.end(), [](unsigned char c) { return c == 0xAB; }))
        << bytes;
  }
}

}  // namespace
}  // namespace primbench
