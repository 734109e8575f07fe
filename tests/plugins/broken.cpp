// Deliberately broken implementations, test-only, loaded as a plugin (--plugin) exactly as a
// user's library would be. The validator must catch every one of them; the fault injectors
// (crash, hang, exception) show that a failing implementation loses no other results.
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <functional>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <type_traits>
#include <algorithm>
#include <atomic>
#include <limits>
#include <memory>
#include <csignal>
#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "primbench/dispatch.hpp"

namespace primbench {
namespace {

// A correct sequential collective with one hook per fault.
class Broken : public HostCollective {
 public:
  explicit Broken(const Problem& p) : HostCollective(p) {
    for (int r = 0; r < p.ranks; ++r) allocate(r);
  }
  void run(std::span<double> seconds) override {
    const double t0 = now_seconds();
    ++calls_;
    if (!idle()) with_dtype(problem().dtype, [&](auto tag) { body<typename decltype(tag)::type>(); });
    std::fill(seconds.begin(), seconds.end(), clock(now_seconds() - t0));
  }

 protected:
  int calls_ = 0;  // run() calls so far: 3 validation rounds, then the warm-up, then the timed loop
  // Whether this call does no work at all.
  virtual bool idle() { return false; }
  // The time reported for a call that took `measured` seconds.
  virtual double clock(double measured) const { return measured; }
  // Rank r's part left out (gather, scatter: its block; reduce: its contribution).
  virtual bool skipped(int) const { return false; }
  // Where rank r's block goes in the root's buffer (gather) or comes from (scatter).
  virtual int block_of(int r) const { return r; }
  virtual int root() const { return problem().root; }
  virtual int ranks_done() const { return problem().ranks; }
  virtual std::size_t elements(std::size_t n) const { return n; }
  virtual void after() {}

  template <class T> void body() {
    const Problem& p = problem();
    const std::size_t n = p.count, m = elements(n);
    switch (p.primitive) {
      case Primitive::gather:
        for (int r = 0; r < ranks_done(); ++r)
          if (!skipped(r)) std::memcpy(recv_ptr<T>(root()) + block_of(r) * n, send_ptr<T>(r), m * sizeof(T));
        break;
      case Primitive::scatter:
        for (int r = 0; r < ranks_done(); ++r)
          if (!skipped(r)) std::memcpy(recv_ptr<T>(r), send_ptr<T>(root()) + block_of(r) * n, m * sizeof(T));
        break;
      case Primitive::reduce: reduce_into<T>(recv_ptr<T>(root()), m); break;
      case Primitive::allreduce:  // to every rank (ranks_done() contribute)
        for (int r = 0; r < p.ranks; ++r) reduce_into<T>(recv_ptr<T>(r), m);
        break;
      case Primitive::broadcast:
        for (int r = 0; r < ranks_done(); ++r)
          if (r != p.root && !skipped(r)) std::memcpy(recv_ptr<T>(r), send_ptr<T>(root()), m * sizeof(T));
        break;
    }
    after();
  }
  // out[i] for i below m: the op over the ranks done and not skipped.
  template <class T> void reduce_into(T* out, std::size_t m) {
    with_op(problem().op, [&](auto op) {
      int first = 0;
      while (first + 1 < ranks_done() && skipped(first)) ++first;
      for (std::size_t i = 0; i < m; ++i) {
        T acc = send_ptr<T>(first)[i];
        for (int r = first + 1; r < ranks_done(); ++r)
          if (!skipped(r)) acc = combine<T>(op, acc, send_ptr<T>(r)[i]);
        out[i] = acc;
      }
    });
  }
  // One step of the reduction (a bug may compare or accumulate differently).
  template <class T, class O> T combine(O, T a, T b) const {
    if constexpr (std::is_same_v<T, double>)
      if (accumulate_in_float_) return static_cast<double>(static_cast<float>(a) + static_cast<float>(b));
    if constexpr (std::is_integral_v<T> && (std::is_same_v<O, Sum> || std::is_same_v<O, Prod>))
      if (integers_in_float_) {  // as a float reduction kernel would: exact while the values stay below 2^24
        const float x = std::is_same_v<O, Sum> ? static_cast<float>(a) + static_cast<float>(b)
                                               : static_cast<float>(a) * static_cast<float>(b);
        // (rounded up past the type's range, clamped rather than converted out of range)
        return static_cast<T>(std::clamp<long double>(x, std::numeric_limits<T>::min(), std::numeric_limits<T>::max()));
      }
    if constexpr (std::is_same_v<O, Min> || std::is_same_v<O, Max>)
      if (unsigned_compare_) {
        using U = std::conditional_t<sizeof(T) == 4, std::uint32_t, std::uint64_t>;
        U ua, ub;
        std::memcpy(&ua, &a, sizeof a), std::memcpy(&ub, &b, sizeof b);
        return std::is_same_v<O, Min> ? (ua < ub ? a : b) : (ua > ub ? a : b);
      }
    return O::template apply<T>(a, b);
  }
  bool accumulate_in_float_ = false;  // f64 sums in f32 (only the op is sum where it is set)
  bool integers_in_float_ = false;    // i32 and i64 sums and products in float
  bool unsigned_compare_ = false;     // min and max on the bits as unsigned integers
};

struct WrongOrder final : Broken {  // blocks in reverse rank order
  using Broken::Broken;
  int block_of(int r) const override { return problem().ranks - 1 - r; }
};
struct WrongRoot final : Broken {  // result left on rank 0, whatever the root
  using Broken::Broken;
  int root() const override { return 0; }
};
struct MissingLastRank final : Broken {
  using Broken::Broken;
  int ranks_done() const override { return problem().ranks - 1; }
};
struct PartialWrite final : Broken {  // only the first half of each block
  using Broken::Broken;
  std::size_t elements(std::size_t n) const override { return n / 2; }
};
struct OffByOne final : Broken {  // each block one element short at its upper edge
  using Broken::Broken;
  std::size_t elements(std::size_t n) const override { return n == 0 ? 0 : n - 1; }
};
struct WritePastEnd final : Broken {  // one element beyond the end of the root's output
  using Broken::Broken;
  void after() override {
    const Buffer b = recv(problem().root);
    std::memset(b.data + b.bytes, 0, problem().elem_bytes());
  }
};
struct SendModified final : Broken {  // scribbles on the last rank's input
  using Broken::Broken;
  void after() override {
    const Buffer b = send(problem().ranks - 1);
    if (b.bytes > 0) b.data[b.bytes - 1] ^= std::byte{1};
  }
};
struct OneUlp final : Broken {  // the last element of the output one ulp off
  using Broken::Broken;
  void after() override {
    const Buffer b = recv(problem().root);
    if (b.bytes == 0) return;
    with_dtype(problem().dtype, [&](auto tag) {
      using T = typename decltype(tag)::type;
      T* last = b.as<T>() + b.bytes / sizeof(T) - 1;
      if constexpr (std::is_floating_point_v<T>)
        *last = std::nextafter(*last, std::numeric_limits<T>::infinity());
      else
        *last += 1;
    });
  }
};

// Bugs real implementations have, each caught by the default `primbench validate` sweep (or by
// `run`, for those of the timed loop and the clock).
struct RootSkippedUnlessZero final : Broken {  // the root's own contribution forgotten when root != 0
  using Broken::Broken;
  bool skipped(int r) const override { return problem().root != 0 && r == problem().root && problem().ranks > 1; }
};
struct WrongAtLastRoot final : Broken {  // right for every root but P-1, where the blocks come reversed
  using Broken::Broken;
  int block_of(int r) const override {
    const Problem& p = problem();
    return p.ranks > 1 && p.root == p.ranks - 1 ? p.ranks - 1 - r : r;
  }
  // reduce: the last rank's contribution left out at that root
  bool skipped(int r) const override {
    const Problem& p = problem();
    return p.primitive == Primitive::reduce && p.ranks > 1 && p.root == p.ranks - 1 && r == p.ranks - 1;
  }
};
struct WrongForOddRanks final : Broken {  // the last rank forgotten when P is odd
  using Broken::Broken;
  int ranks_done() const override { return problem().ranks > 1 && problem().ranks % 2 == 1 ? problem().ranks - 1 : problem().ranks; }
};
struct NoVectorTail final : Broken {  // a loop of 8-element vectors without its scalar tail
  using Broken::Broken;
  std::size_t elements(std::size_t n) const override { return n / 8 * 8; }
};
struct HalfWidth final : Broken {  // 8-byte elements copied as if they were 4 bytes
  using Broken::Broken;
  std::size_t elements(std::size_t n) const override { return problem().elem_bytes() == 8 ? n / 2 : n; }
};
struct WritesAtCountZero final : Broken {  // one element written even when there are none
  using Broken::Broken;
  void after() override {
    if (problem().count == 0) std::memset(recv(problem().root).data, 0, problem().elem_bytes());
  }
};
struct UnsignedMinMax final : Broken {
  explicit UnsignedMinMax(const Problem& p) : Broken(p) { unsigned_compare_ = true; }
};
struct F64SumInF32 final : Broken {
  explicit F64SumInF32(const Problem& p) : Broken(p) { accumulate_in_float_ = p.op == Op::sum; }
};
struct IntegersInFloat final : Broken {  // i32/i64 sums and products accumulated in float
  explicit IntegersInFloat(const Problem& p) : Broken(p) { integers_in_float_ = true; }
};
struct Lazy final : Broken {  // does the work in validation and the first warm-up call only
  using Broken::Broken;
  bool idle() override { return calls_ > 4; }
};
struct Caching final : Broken {  // from the warm-up on, hands out the result it computed then
  using Broken::Broken;
  bool idle() override {
    const Buffer out = recv(problem().root);
    if (calls_ == 4) cached_.assign(out.data, out.data + out.bytes);
    if (calls_ <= 4) return false;
    std::copy(cached_.begin(), cached_.end(), out.data);
    return true;
  }
  std::vector<std::byte> cached_;
};
// From the warm-up on, reads every input and writes nothing: a plausible time, and the result is
// whatever the root's buffer held. Far beyond the cache the reference's paired trial is made on the
// benchmark's own buffers and writes the right result there just before each iteration: the
// checks must poison it after the trial, not before.
struct ReadsOnly final : Broken {
  using Broken::Broken;
  bool idle() override {
    if (calls_ <= 4) return false;
    std::uint64_t sum = 0;
    for (int r = 0; r < problem().ranks; ++r) {
      const Buffer in = send(r);
      for (std::size_t i = 0; i + 8 <= in.bytes; i += 8) {
        std::uint64_t v;
        std::memcpy(&v, in.data + i, 8);
        sum += v;
      }
    }
    sink_ = sum;
    return true;
  }
  volatile std::uint64_t sink_ = 0;
};
// Correct, its gather result in a buffer allocated afresh on every call, the last call's freed
// (one that large goes back to the kernel): whoever kept the old one's address, as the paired
// trials in place once did, writes into memory no longer mapped.
class MovesItsResult final : public Collective {
 public:
  explicit MovesItsResult(const Problem& p) : Collective(p) {
    for (int r = 0; r < p.ranks; ++r) {
      send_.emplace_back(p.send_count(r) * p.elem_bytes());
      recv_.emplace_back(p.recv_count(r) * p.elem_bytes());
    }
  }
  Buffer send(int r) override { return send_[r].view(); }
  Buffer recv(int r) override { return recv_[r].view(); }
  void run(std::span<double> seconds) override {
    const double t0 = now_seconds();
    const Problem& p = problem();
    HostBuffer fresh(p.recv_count(p.root) * p.elem_bytes());
    const Buffer now = fresh.view(), old = recv_[p.root].view();
    const std::size_t block = p.count * p.elem_bytes();
    for (int r = 0; r < p.ranks; ++r) std::memcpy(now.data + r * block, send_[r].view().data, block);
    // The guards as the harness filled them around the last one
    std::memcpy(now.data - kGuardBytes, old.data - kGuardBytes, kGuardBytes);
    std::memcpy(now.data + now.bytes, old.data + old.bytes, kGuardBytes);
    recv_[p.root] = std::move(fresh);
    std::fill(seconds.begin(), seconds.end(), now_seconds() - t0);
  }

 private:
  std::vector<HostBuffer> send_, recv_;
};
// Buffers that are not what the problem says. Validated by element, each passes (or crashes the
// harness): the buffer checks before any element must name it.
// Every receiving rank's result in one buffer, rank 0's (broadcast: the first rank's that is not
// the root): each rank's check finds the right values, and one P-th of the result exists. From the
// first call; with Timed, from the warm-up on (each repetition's checks must ask again).
template <bool Timed> struct OneResult final : Broken {
  using Broken::Broken;
  Buffer recv(int r) override {
    const Problem& p = problem();
    int first = 0;
    while (first + 1 < p.ranks && p.recv_count(first) == 0) ++first;
    const bool shared = (!Timed || calls_ >= 4) && p.recv_count(r) > 0;
    return Broken::recv(shared ? first : r);
  }
};
// An empty buffer (a non-root's receive buffer of gather or reduce, its send buffer of scatter)
// handed out as a null pointer, with no guards around it.
struct NullWhereEmpty final : Broken {
  using Broken::Broken;
  Buffer send(int r) override { return problem().send_count(r) ? Broken::send(r) : Buffer{}; }
  Buffer recv(int r) override { return problem().recv_count(r) ? Broken::recv(r) : Buffer{}; }
};
// The root's receive buffer one element longer than the result, as it says; the result written
// one element too far, into that slack, before the guard.
class Padded final : public Broken {
 public:
  explicit Padded(const Problem& p) : Broken(p), padded_((p.recv_count(p.root) + 1) * p.elem_bytes()) {}
  Buffer recv(int r) override { return r == problem().root ? padded_.view() : Broken::recv(r); }
  void after() override {
    const Problem& p = problem();
    std::memset(padded_.view().data + p.recv_count(p.root) * p.elem_bytes(), 0x7f, p.elem_bytes());
  }

 private:
  HostBuffer padded_;
};
struct Intermittent final : Broken {  // the last rank's part left out on 10 % of calls
  using Broken::Broken;
  bool idle() override {
    miss_ = std::uniform_real_distribution<double>(0, 1)(rng_) < 0.1;
    return false;
  }
  bool skipped(int r) const override { return miss_ && r == problem().ranks - 1; }
  std::mt19937_64 rng_{std::random_device{}()};
  bool miss_ = false;
};
// Right on inputs it has not seen; on the inputs of its previous call (every timed iteration
// but the last, which runs on fresh ones) one element in the middle of each gathered block is
// wrong: where a spot check rarely looks.
struct StalePartial final : Broken {
  using Broken::Broken;
  void after() override {
    const Problem& p = problem();
    const Buffer in = send(0);
    const std::size_t h = std::hash<std::string_view>{}({reinterpret_cast<const char*>(in.data), in.bytes});
    const bool same = calls_ > 1 && h == last_;
    last_ = h;
    if (!same || p.count < 4) return;
    for (int r = 0; r < p.ranks; ++r)
      std::memset(recv(p.root).data + (r * p.count + p.count / 2 + 1) * p.elem_bytes(), 0x7f, p.elem_bytes());
  }
  std::size_t last_ = 0;
};
// Correct, and 50 ms a call: a collective slow against --timeout, whose loop is cut short.
struct Slow final : Broken {
  using Broken::Broken;
  void after() override { std::this_thread::sleep_for(std::chrono::milliseconds(50)); }
};

// Correct, but each of its collectives, freed, leaves a thread behind that crashes the process
// 300 ms later: while the next benchmark in the same worker runs.
struct LeavesACrashBehind final : Broken {
  using Broken::Broken;
  ~LeavesACrashBehind() override {
    std::thread([] {
      std::this_thread::sleep_for(std::chrono::milliseconds(300));
      std::raise(SIGSEGV);
    }).detach();
  }
};

// Correct, with a pool that keeps every CPU busy for 20 ms after each call returns, as an OpenMP
// runtime with an active wait policy does: a reference trial made right after the call shares
// its CPUs with the pool (bench/runner.cpp, paired trials).
class SpinsAfterCall final : public Broken {
 public:
  explicit SpinsAfterCall(const Problem& p) : Broken(p) {
    for (unsigned i = 0; i < std::max(1u, std::thread::hardware_concurrency()); ++i)
      pool_.emplace_back([this] {
        while (!stop_.load())
          if (now_seconds() >= until_.load()) std::this_thread::sleep_for(std::chrono::microseconds(100));
      });
  }
  ~SpinsAfterCall() override {
    stop_ = true;
    for (std::thread& t : pool_) t.join();
  }
  void run(std::span<double> seconds) override {
    Broken::run(seconds);
    until_ = now_seconds() + 0.02;
  }

 private:
  std::atomic<bool> stop_{false};
  std::atomic<double> until_{0};
  std::vector<std::thread> pool_;
};
template <int Kind> struct LyingClock final : Broken {  // right results, a clock that lies
  using Broken::Broken;
  double clock(double measured) const override {
    switch (Kind) {
      case 0: return -measured;
      case 1: return 0;
      case 2: return std::numeric_limits<double>::quiet_NaN();
      case 3: return std::numeric_limits<double>::infinity();
      case 4: return 1e-15;
      case 6: return measured / 100;  // 40 - 55 times the reference beside it (a sequential copy is 0.4 - 0.55 of it)
      default: return 1e30;
    }
  }
};

// Right results, but it says it holds only the root, so only the root would be given inputs and checked.
struct HoldsRootOnly final : Broken {
  using Broken::Broken;
  std::vector<int> local_ranks() const override { return {problem().root}; }
};

// Right results and times, and a counter of its own named like the entry's measured time.
struct CounterNamedRealTime final : Broken {
  using Broken::Broken;
  std::vector<std::pair<std::string, double>> measure_counters() override { return {{"real_time", 0.25}}; }
};

// Right results and times, and its own counters measured after each repetition, which throw
// after the second: two passing repetitions, then failing ones.
struct ThrowsInThirdRepetition final : Broken {
  using Broken::Broken;
  std::vector<std::pair<std::string, double>> measure_counters() override {
    if (++measured_ == 3) throw std::runtime_error("injected failure in the third repetition");
    return {};
  }
  int measured_ = 0;
};

// Host buffers it says are on a device: no device ceiling exists to check its times against.
struct SaysDeviceMemory final : Broken {
  using Broken::Broken;
  Memory memory() const override { return Memory::device; }
};

// A race: every rank but the root writes from its own thread, and run() returns without
// waiting for them, so the result is checked before it is complete.
class Racy final : public HostCollective {
 public:
  explicit Racy(const Problem& p) : HostCollective(p) {
    for (int r = 0; r < p.ranks; ++r) allocate(r);
  }
  ~Racy() override { join(); }
  void run(std::span<double> seconds) override {
    join();
    const Problem& p = problem();
    const std::size_t bytes = p.count * p.elem_bytes();
    for (int r = 0; r < p.ranks; ++r) {
      auto copy = [this, r, bytes, p] {
        if (p.primitive == Primitive::gather) std::memcpy(recv(p.root).data + r * bytes, send(r).data, bytes);
        else if (p.primitive == Primitive::scatter) std::memcpy(recv(r).data, send(p.root).data + r * bytes, bytes);
      };
      if (r == p.root) copy();
      else writers_.emplace_back([copy] { std::this_thread::sleep_for(std::chrono::milliseconds(20)); copy(); });
    }
    std::fill(seconds.begin(), seconds.end(), 0.0);
  }

 private:
  void join() {
    for (auto& t : writers_) t.join();
    writers_.clear();
  }
  std::vector<std::thread> writers_;
};

// Unbounded recursion that the optimiser cannot turn into a loop.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Winfinite-recursion"
int overflow(int depth) {
  volatile char frame[256];
  frame[0] = static_cast<char>(depth);
  return overflow(depth + 1) + frame[0];
}
#pragma GCC diagnostic pop

// Ignores SIGTERM and leaves a child in a session of its own, which also ignores it: only
// SIGKILL of both ends it. The child's pid goes to $PRIMBENCH_TEST_PIDFILE.
[[noreturn]] void stubborn() {
  std::signal(SIGTERM, SIG_IGN);
  if (const pid_t child = ::fork(); child == 0) {
    ::setsid();
    for (;;) ::pause();
  } else if (const char* file = std::getenv("PRIMBENCH_TEST_PIDFILE")) {
    if (FILE* f = std::fopen(file, "w")) std::fprintf(f, "%d\n", child), std::fclose(f);
  }
  for (;;) ::pause();
}

// Fault injectors: correct through validation and the warm-up (4 runs with --warmup 0), then
// crash, hang, throw or end the process in the first timed iteration.
enum class FaultKind {
  segv, hang, exception, exit0, exit7, abort, stack, sigkill, stubborn, leave_group, flood, signal_parent, signal_parent_exit,
  forge_done, forge_pass, forge_empty, forge_other, forge_exit, forge_all, exit1_thread
};
template <FaultKind Kind> struct Fault final : Broken {
  using Broken::Broken;
  void after() override {
    if (++runs_ <= 4) return;
    if constexpr (Kind == FaultKind::segv) std::raise(SIGSEGV);
    if constexpr (Kind == FaultKind::hang) std::this_thread::sleep_for(std::chrono::hours(1));
    if constexpr (Kind == FaultKind::exception) throw std::runtime_error("injected failure");
    if constexpr (Kind == FaultKind::exit0) std::exit(0);
    if constexpr (Kind == FaultKind::exit7) ::_exit(7);
    if constexpr (Kind == FaultKind::abort) std::abort();
    if constexpr (Kind == FaultKind::stack) {  // with the default SIGSEGV action, as a user's runtime may restore it
      std::signal(SIGSEGV, SIG_DFL);
      runs_ += overflow(0);
    }
    if constexpr (Kind == FaultKind::sigkill) std::raise(SIGKILL);  // what the OOM killer does
    if constexpr (Kind == FaultKind::stubborn) stubborn();
    if constexpr (Kind == FaultKind::leave_group) {  // into the supervisor's process group, then hang
      ::setpgid(0, ::getpgid(::getppid()));
      for (;;) ::pause();
    }
    if constexpr (Kind == FaultKind::flood) {  // output without end, never finishing
      static const std::string line(99, 'x');
      for (;;) [[maybe_unused]] ssize_t w = ::write(2, (line + "\n").c_str(), 100);
    }
    if constexpr (Kind == FaultKind::signal_parent) {  // the supervisor, as if the user had pressed ^C
      ::kill(::getppid(), SIGINT);
      for (;;) ::pause();
    }
    if constexpr (Kind == FaultKind::signal_parent_exit) {  // the same, then gone (reaped: no parent to look up)
      ::kill(::getppid(), SIGINT);
      ::_exit(0);
    }
    if constexpr (Kind == FaultKind::exit1_thread) {  // a library's fatal-error path on a thread of its own
      static std::atomic<bool> exiting{false};
      if (runs_ == 5) std::thread([] { exiting = true, std::exit(1); }).detach();
      while (!exiting) std::this_thread::yield();  // the main thread goes on while exit() runs
    }
    if (runs_ != 5) return;  // once, in the first timed iteration
    // Its own benchmark said done: with foreign entries, with a passing result, with none.
    if constexpr (Kind == FaultKind::forge_done) forge([](const std::string& self) {
      return done_line(self, "[{\"name\":\"forged/manual_time\"}]");
    });
    if constexpr (Kind == FaultKind::forge_pass) forge([](const std::string& self) {
      return done_line(self, passing_entries(self));
    });
    if constexpr (Kind == FaultKind::forge_empty) forge([](const std::string& self) {
      return done_line(self, "[]");
    });
    if constexpr (Kind == FaultKind::forge_exit) {  // a passing result, then gone before the worker's own lines
      forge([](const std::string& self) { return done_line(self, passing_entries(self)); });
      ::_exit(0);
    }
    // A hostile probe's attack: a passing result for its own benchmark, a start and a passing
    // result for another implementation's (thread.flat's), the worker's own "finished", gone.
    if constexpr (Kind == FaultKind::forge_all) {
      forge([](const std::string& self) {
        const std::size_t a = self.find('/'), b = self.find('/', a + 1);
        const std::string other = self.substr(0, a + 1) + "thread.flat" + self.substr(b);
        return done_line(self, passing_entries(self)) + "\n{\"start\":\"" + other + "\"}\n" + done_line(other, passing_entries(other)) +
               "\n{\"finished\":true}";
      });
      ::_exit(0);
    }
    // Another implementation's benchmark (thread.flat's of the same problem, planned in a
    // worker of its own) said done and passed, before it ran.
    if constexpr (Kind == FaultKind::forge_other) forge([](const std::string& self) {
      const std::size_t a = self.find('/'), b = self.find('/', a + 1);
      const std::string other = self.substr(0, a + 1) + "thread.flat" + self.substr(b);
      return done_line(other, passing_entries(other));
    });
  }
  // Finds the journal among its descriptors, as any implementation could, and appends the line
  // `make(benchmark in progress)` returns.
  template <class Make> static void forge(Make make) {
    for (int fd = 3; fd < 1024; ++fd) {
      char link[64], target[4096];
      std::snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
      const ssize_t k = ::readlink(link, target, sizeof target - 1);
      if (k <= 0) continue;
      const std::string path(target, static_cast<std::size_t>(k));
      if (path.size() < 18 || path.compare(path.size() - 18, 18, ".primbench-journal") != 0) continue;
      std::ifstream in(path);
      std::string line, current;
      for (const std::string key = "{\"start\":\""; std::getline(in, line);)
        if (line.rfind(key, 0) == 0) current = line.substr(key.size(), line.find('"', key.size()) - key.size());
      const std::string forged = make(current) + "\n";
      [[maybe_unused]] ssize_t w = ::write(fd, forged.data(), forged.size());
      return;
    }
  }
  static std::string done_line(const std::string& name, const std::string& entries) {
    return "{\"done\":\"" + name + "\",\"entries\":" + entries + ",\"status\":\"passed\"}";
  }
  // Entries as the worker writes them for a fast, passing benchmark `name` (primitive/impl/...).
  static std::string passing_entries(const std::string& name) {
    const std::size_t a = name.find('/'), b = name.find('/', a + 1);
    const std::string impl = name.substr(a + 1, b - a - 1);
    std::string entries;
    for (int rep = 0; rep < 2; ++rep)
      entries += std::string(rep ? "," : "") + "{\"name\":\"" + name + "/manual_time\",\"impl\":\"" + impl +
                 "\",\"run_type\":\"iteration\",\"repetitions\":2,\"repetition_index\":" + std::to_string(rep) +
                 ",\"validation\":\"passed\",\"real_time\":0.5,\"time_unit\":\"ns\"}";
    return "[" + entries + "]";
  }
  int runs_ = 0;
};

PRIMBENCH_BACKEND("broken", [] { return Availability{true, "", "test-only"}; });
PRIMBENCH_REGISTER("broken.wrong_order", WrongOrder);
// These are wrong for allreduce and broadcast too (but a root of 0 is allreduce's); the rest
// for the first three primitives.
PRIMBENCH_REGISTER("broken.wrong_root", WrongRoot, Primitive::gather, Primitive::scatter, Primitive::reduce,
                   Primitive::broadcast);
PRIMBENCH_REGISTER("broken.missing_last_rank", MissingLastRank, Primitive::gather, Primitive::scatter, Primitive::reduce,
                   Primitive::allreduce, Primitive::broadcast);
PRIMBENCH_REGISTER("broken.partial_write", PartialWrite, Primitive::gather, Primitive::scatter, Primitive::reduce,
                   Primitive::allreduce, Primitive::broadcast);
PRIMBENCH_REGISTER("broken.off_by_one", OffByOne);
PRIMBENCH_REGISTER("broken.write_past_end", WritePastEnd);
PRIMBENCH_REGISTER("broken.send_modified", SendModified);
PRIMBENCH_REGISTER("broken.one_ulp", OneUlp);
PRIMBENCH_REGISTER("broken.race", Racy);
PRIMBENCH_REGISTER("broken.one_result", OneResult<false>, Primitive::allreduce, Primitive::broadcast);
PRIMBENCH_REGISTER("broken.null_where_empty", NullWhereEmpty);
PRIMBENCH_REGISTER("broken.padded", Padded);
PRIMBENCH_BACKEND("bug", [] { return Availability{true, "", "test-only"}; });
PRIMBENCH_REGISTER("bug.root_skipped_unless_zero", RootSkippedUnlessZero);
PRIMBENCH_REGISTER("bug.wrong_at_last_root", WrongAtLastRoot);
PRIMBENCH_REGISTER("bug.wrong_for_odd_ranks", WrongForOddRanks);
PRIMBENCH_REGISTER("bug.no_vector_tail", NoVectorTail);
PRIMBENCH_REGISTER("bug.half_width", HalfWidth);
PRIMBENCH_REGISTER("bug.writes_at_count_zero", WritesAtCountZero);
PRIMBENCH_REGISTER("bug.unsigned_min_max", UnsignedMinMax);
PRIMBENCH_REGISTER("bug.f64_sum_in_f32", F64SumInF32);
PRIMBENCH_REGISTER("bug.integers_in_float", IntegersInFloat);
PRIMBENCH_REGISTER("bug.lazy", Lazy);
PRIMBENCH_REGISTER("bug.caching", Caching);
PRIMBENCH_REGISTER("bug.reads_only", ReadsOnly);
PRIMBENCH_REGISTER("bug.one_result_when_timed", OneResult<true>, Primitive::allreduce, Primitive::broadcast);
PRIMBENCH_REGISTER("bug.intermittent", Intermittent);
PRIMBENCH_REGISTER("bug.stale_partial", StalePartial, Primitive::gather);
PRIMBENCH_REGISTER("slow.sleep50ms", Slow);
PRIMBENCH_REGISTER("slow.spins_after_call", SpinsAfterCall, Primitive::gather);
PRIMBENCH_REGISTER("slow.moves_its_result", MovesItsResult, Primitive::gather);
PRIMBENCH_REGISTER("bug.clock_negative", LyingClock<0>);
PRIMBENCH_REGISTER("bug.clock_zero", LyingClock<1>);
PRIMBENCH_REGISTER("bug.clock_nan", LyingClock<2>);
PRIMBENCH_REGISTER("bug.clock_inf", LyingClock<3>);
PRIMBENCH_REGISTER("bug.clock_femtosecond", LyingClock<4>);
PRIMBENCH_REGISTER("bug.clock_1e30_s", LyingClock<5>);
PRIMBENCH_REGISTER("bug.clock_divided_by_100", LyingClock<6>);
PRIMBENCH_REGISTER("bug.holds_root_only", HoldsRootOnly);
PRIMBENCH_REGISTER("bug.counter_real_time", CounterNamedRealTime);
PRIMBENCH_REGISTER("bug.throws_in_third_repetition", ThrowsInThirdRepetition);
PRIMBENCH_REGISTER("bug.says_device_memory", SaysDeviceMemory);
PRIMBENCH_BACKEND("fault", [] { return Availability{true, "", "test-only"}; });
PRIMBENCH_REGISTER("fault.crash", Fault<FaultKind::segv>);
PRIMBENCH_REGISTER("fault.hang", Fault<FaultKind::hang>);
PRIMBENCH_REGISTER("fault.throw", Fault<FaultKind::exception>);
PRIMBENCH_REGISTER("fault.exit0", Fault<FaultKind::exit0>);
PRIMBENCH_REGISTER("fault.exit1_thread", Fault<FaultKind::exit1_thread>);
PRIMBENCH_REGISTER("fault.late_crash", LeavesACrashBehind);
PRIMBENCH_REGISTER("fault.exit7", Fault<FaultKind::exit7>);
PRIMBENCH_REGISTER("fault.abort", Fault<FaultKind::abort>);
PRIMBENCH_REGISTER("fault.stack_overflow", Fault<FaultKind::stack>);
PRIMBENCH_REGISTER("fault.sigkill", Fault<FaultKind::sigkill>);
PRIMBENCH_REGISTER("fault.stubborn", Fault<FaultKind::stubborn>);
PRIMBENCH_REGISTER("fault.leave_group", Fault<FaultKind::leave_group>);
PRIMBENCH_REGISTER("fault.flood", Fault<FaultKind::flood>);
PRIMBENCH_REGISTER("fault.signal_parent", Fault<FaultKind::signal_parent>);
PRIMBENCH_REGISTER("fault.signal_parent_exit", Fault<FaultKind::signal_parent_exit>);
PRIMBENCH_REGISTER("fault.forge_done", Fault<FaultKind::forge_done>);
PRIMBENCH_REGISTER("fault.forge_pass", Fault<FaultKind::forge_pass>);
PRIMBENCH_REGISTER("fault.forge_empty", Fault<FaultKind::forge_empty>);
PRIMBENCH_REGISTER("fault.forge_other", Fault<FaultKind::forge_other>);
PRIMBENCH_REGISTER("fault.forge_exit", Fault<FaultKind::forge_exit>);
PRIMBENCH_REGISTER("fault.forge_all", Fault<FaultKind::forge_all>);
// The plugin's static destructor, in every process that loads it and ends by exit(), does what
// PRIMBENCH_TEST_AT_EXIT says: "exit0" (_exit(0)), "crash" (SIGSEGV) or "hang" (unset: nothing).
struct AtExit {
  ~AtExit() {
    const std::string how = std::getenv("PRIMBENCH_TEST_AT_EXIT") ? std::getenv("PRIMBENCH_TEST_AT_EXIT") : "";
    if (how == "exit0") ::_exit(0);
    if (how == "crash") std::raise(SIGSEGV);
    if (how == "hang")
      for (;;) ::pause();
  }
} g_at_exit;
// A process-per-rank backend whose launcher throws: its benchmarks are errors, the others run.
PRIMBENCH_BACKEND("badlaunch", [] { return Availability{true, "", "test-only"}; },
                  [](int, const std::vector<std::string>&) -> Launch { throw std::runtime_error("no launcher here"); });
PRIMBENCH_REGISTER("badlaunch.ref", Broken);
// A backend whose probe, as PRIMBENCH_TEST_PROBE says, exits with status 0, crashes, hangs or
// throws (unset: available): the supervisor probes in a child and goes on without it.
PRIMBENCH_BACKEND("badprobe", [] {
  const std::string how = std::getenv("PRIMBENCH_TEST_PROBE") ? std::getenv("PRIMBENCH_TEST_PROBE") : "";
  if (how == "exit0") std::exit(0);
  if (how == "segv") std::raise(SIGSEGV);
  if (how == "hang")
    for (;;) ::pause();
  if (how == "throw") throw std::runtime_error("no device here");
  return Availability{true, "", "test-only"};
});
PRIMBENCH_REGISTER("badprobe.ref", Broken);
// A device backend with 64 MiB free, for the memory check (refused before it allocates).
PRIMBENCH_BACKEND("tinydevice", [] {
  Availability a{true, "", "test-only"};
  a.device_free_bytes = std::size_t{64} << 20;
  return a;
});
PRIMBENCH_REGISTER("tinydevice.ref", Broken);

// Device backends whose "device" is host memory, with a copy ceiling of 1000 GB/s, for the
// runner's handling of a device backend's reference beside each benchmark (Backend::reference).
// The reference's trial moves the traffic at 100 GB/s by its own account; what the runner asked it
// for, each benchmark's memory traffic and cache state, comes back as the collective's own
// counters.
double g_traffic_asked = -1;
bool g_cold_asked = false;
struct OnFakeDevice final : Broken {
  using Broken::Broken;
  Memory memory() const override { return Memory::device; }
  std::vector<std::pair<std::string, double>> measure_counters() override {
    return {{"traffic_asked", g_traffic_asked}, {"cold_asked", g_cold_asked ? 1 : 0}};
  }
};
struct HundredGBpsReference final : DeviceReference {
  double trial() override { return g_traffic_asked / 100e9; }
};
// One that says the device moves 1 MB/s: every result is then more than ten times it.
struct MegabytePerSecondReference final : DeviceReference {
  double trial() override { return g_traffic_asked / 1e6; }
};
struct ThrowingReference final : DeviceReference {
  double trial() override { throw std::runtime_error("the reference's copy failed"); }
};
Availability fake_device() {
  Availability a{true, "", "test-only"};
  a.device_copy_GBps = 1000;
  return a;
}
template <class R> std::unique_ptr<DeviceReference> fake_reference(const Problem&, double traffic_bytes, bool cold) {
  g_traffic_asked = traffic_bytes, g_cold_asked = cold;
  if constexpr (std::is_void_v<R>) return nullptr;
  else return std::make_unique<R>();
}
[[maybe_unused]] const bool fake_devices[] = {
    registry().add(Backend{.name = "fakedevice", .probe = fake_device, .reference = fake_reference<HundredGBpsReference>}),
    registry().add(Backend{.name = "norefdevice", .probe = fake_device, .reference = fake_reference<void>}),
    registry().add(Backend{.name = "slowrefdevice", .probe = fake_device, .reference = fake_reference<MegabytePerSecondReference>}),
    registry().add(Backend{.name = "badrefdevice", .probe = fake_device, .reference = fake_reference<ThrowingReference>}),
};
PRIMBENCH_REGISTER("fakedevice.ref", OnFakeDevice);
PRIMBENCH_REGISTER("norefdevice.ref", OnFakeDevice);
PRIMBENCH_REGISTER("slowrefdevice.ref", OnFakeDevice);
PRIMBENCH_REGISTER("badrefdevice.ref", OnFakeDevice);

}  // namespace
}  // namespace primbench
