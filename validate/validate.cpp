#include "validate.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <deque>
#include <limits>
#include <memory>
#include <span>
#include <sstream>
#include <stdexcept>
#include <thread>
#include <vector>

#include "primbench/dispatch.hpp"

namespace primbench::validate {
namespace {


// Exponent budget of a product of P factors 2^e: the result stays exact and far from overflow
// (and, for floats, from subnormals).
template <class T> int exponent_budget() {
  if constexpr (std::is_same_v<T, std::int32_t>) return 30;
  if constexpr (std::is_same_v<T, std::int64_t>) return 62;
  if constexpr (std::is_same_v<T, float>) return 120;
  return 1000;
}

// Values of a distinct-looking, wide range: a misplaced element almost never equals the right
// one, and never the poison pattern (ints stay within +-2^29 / 2^61; poison is below).
template <class T> T wide(std::uint64_t h) {
  if constexpr (std::is_same_v<T, std::int32_t>) return static_cast<std::int32_t>(h >> 34) - (1 << 29);
  if constexpr (std::is_same_v<T, std::int64_t>) return static_cast<std::int64_t>(h >> 2) - (std::int64_t{1} << 61);
  if constexpr (std::is_same_v<T, float>) return static_cast<float>(h >> 41) - 4194304.0f;  // integers, |x| < 2^22
  return static_cast<double>(h >> 11) * 0x1p-20 - 0x1p32;  // 53 significant bits
}

// v negated where the hash's top bit is set, without a branch (v > 0; the sign is random, so a
// branch would be mispredicted every other element).
template <class T> T signed_by(T v, std::uint64_t h) {
  if constexpr (std::is_floating_point_v<T>) {
    return v * static_cast<T>(1 - 2 * static_cast<int>(h >> 63));
  } else {
    const T flip = -static_cast<T>(h >> 63);
    return static_cast<T>((v ^ flip) - flip);
  }
}

// out[k] = value(mix(key ^ (begin + k))) for k below len: the loop validating a large problem
// spends its time in. Built for AVX-512 and AVX2 as well, the one for this CPU chosen at load
// time: 64-bit multiplies vectorise only there (2 - 3x the baseline's speed). Not under the
// sanitizers, whose runtimes do not take ifuncs, nor off x86-64.
template <class T, class V>
#if defined(__x86_64__) && !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__)
__attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#endif
void hashed(std::uint64_t key, std::size_t begin, std::size_t len, T* out, V value) {
  for (std::size_t k = 0; k < len; ++k) out[k] = value(mix(key ^ (begin + k)));
}

// The inputs of one rank: element i is a function of hash(seed, rank, i) alone. What depends
// only on (problem, mode, seed, rank) is worked out once, and fill() makes a run of elements in
// a loop of its own per kind: filling and checking cost one hash and a conversion per element,
// which is what validating a large problem spends its time on.
template <class T> class Inputs {
 public:
  Inputs(const Problem& p, Mode mode, std::uint64_t seed, int rank)
      : key_(mix(seed ^ mix(static_cast<std::uint64_t>(rank) + 0x51ED27ull))),
        emax_(exponent_budget<T>() / p.ranks),
        spread_(std::min(1.0, 100.0 / p.ranks)) {
    const bool random = mode == Mode::random, real = random && std::is_floating_point_v<T>, integer = random && !real;
    if (!p.info().takes_op || p.op == Op::min || p.op == Op::max) kind_ = real ? Kind::real : integer ? Kind::any : Kind::wide;
    else if (p.op == Op::sum) kind_ = real ? Kind::real : integer ? Kind::large : Kind::small;
    else kind_ = real ? Kind::real_factor : integer ? Kind::factor : Kind::power_of_two;
    if constexpr (std::is_integral_v<T>) {
      // Random integers: magnitudes up to max/P for sums (no partial sum in any order overflows)
      // and up to the P-th root of max for products.
      using U = std::make_unsigned_t<T>;
      const U max = static_cast<U>(std::numeric_limits<T>::max());
      bound_ = kind_ == Kind::large ? static_cast<std::uint64_t>(max / static_cast<U>(p.ranks)) : 1;
      if (kind_ == Kind::factor) {
        auto fits = [&](std::uint64_t m) {  // m^P <= max
          unsigned __int128 v = 1;
          for (int r = 0; r < p.ranks && v <= max; ++r) v *= m;
          return v <= max;
        };
        auto m = static_cast<std::uint64_t>(std::pow(static_cast<long double>(max), 1.0L / p.ranks)) + 1;
        while (m > 1 && !fits(m)) --m;
        bound_ = m;
      }
    }
  }

  // out[k] = element begin + k, for k below len.
  void fill(std::size_t begin, std::size_t len, T* out) const {
    auto each = [&](auto value) {
      if (len >= 64) return hashed(key_, begin, len, out, value);
      for (std::size_t k = 0; k < len; ++k) out[k] = value(mix(key_ ^ (begin + k)));  // a spot: inlined, no dispatch
    };
    switch (kind_) {
      case Kind::wide: return each([](std::uint64_t h) { return wide<T>(h); });
      case Kind::real:  // in [-1, 1) times 2^-3 .. 2^4 (a power of two: the product is exact)
        return each([](std::uint64_t h) {
          static constexpr double kScale[8] = {0x1p-3, 0x1p-2, 0x1p-1, 1, 2, 4, 8, 16};
          return static_cast<T>((static_cast<double>(h >> 11) * 0x1p-53 * 2 - 1) * kScale[h & 7]);
        });
      case Kind::small:  // non-zero small integers: every partial sum is exact, a missing rank always shows
        return each([](std::uint64_t h) {
          return signed_by(static_cast<T>(below(h >> 8, 1000) + 1), h);
        });
      case Kind::real_factor:
        return each([s = spread_](std::uint64_t h) {
          const double m = std::exp2((static_cast<double>(h >> 11) * 0x1p-53 * 2 - 1) * s);
          return signed_by(static_cast<T>(m), h);
        });
      case Kind::any:  // any value of the type but the poison pattern: a copy or comparison through a narrower type shows
        if constexpr (std::is_integral_v<T>) {
          return each([](std::uint64_t h) {
            const T v = static_cast<T>(h);
            T poison;
            std::memset(&poison, static_cast<int>(kPoison), sizeof poison);
            return static_cast<T>(v ^ static_cast<T>(v == poison));
          });
        }
        return;
      case Kind::large:  // non-zero, up to max/P: sums past 2^24 (2^53) that a float (double) accumulator rounds
      case Kind::factor:  // non-zero, up to the P-th root of max: products that float arithmetic rounds
        if constexpr (std::is_integral_v<T>) {
          return each([m = bound_](std::uint64_t h) {
            // 1 .. m from the 63 bits below the sign's
            const auto v = static_cast<std::uint64_t>((static_cast<unsigned __int128>(h & ~(std::uint64_t{1} << 63)) * m) >> 63) + 1;
            return signed_by(static_cast<T>(v), h);
          });
        }
        return;
      case Kind::power_of_two:  // signed powers of two with bounded exponents: exact products in any order
        return each([emax = static_cast<std::uint32_t>(emax_)](std::uint64_t h) {
          const int e = static_cast<int>(below(h >> 8, emax + 1));
          if constexpr (std::is_floating_point_v<T>) {  // 2^(+-e), built from its bits
            const int flip = -static_cast<int>((h >> 40) & 1);
            const int exponent = (e ^ flip) - flip + std::numeric_limits<T>::max_exponent - 1;
            using Bits = std::conditional_t<sizeof(T) == 8, std::uint64_t, std::uint32_t>;
            return signed_by(std::bit_cast<T>(static_cast<Bits>(static_cast<Bits>(exponent) << (std::numeric_limits<T>::digits - 1))), h);
          } else {
            return signed_by(static_cast<T>(std::int64_t{1} << e), h);
          }
        });
    }
  }

  T operator()(std::size_t index) const {
    T v;
    fill(index, 1, &v);
    return v;
  }

 private:
  enum class Kind { wide, real, small, real_factor, power_of_two, any, large, factor };
  // A value in [0, n) from the low 32 bits of x, by multiplication rather than division.
  static std::uint32_t below(std::uint64_t x, std::uint32_t n) {
    return static_cast<std::uint32_t>(((x & 0xFFFFFFFFull) * n) >> 32);
  }
  std::uint64_t key_;
  int emax_;
  double spread_;
  std::uint64_t bound_ = 1;  // random integers: the largest magnitude
  Kind kind_ = Kind::wide;
};

template <class T> std::string show(T v) {
  std::ostringstream s;
  if constexpr (std::is_floating_point_v<T>) s.precision(std::numeric_limits<T>::max_digits10);
  s << v;
  return s.str();
}

template <class T> bool same_bits(T a, T b) { return std::memcmp(&a, &b, sizeof(T)) == 0; }

// A host view of a guarded buffer: the buffer itself for host memory, a copy for device memory.
class View {
 public:
  View(Collective& c, Buffer b) : b_(b) {
    const std::size_t total = b.bytes + 2 * kGuardBytes;
    if (c.memory() == Memory::host) {
      base_ = b.data - kGuardBytes;
    } else {
      copy_.resize(total);
      c.read(b.data - kGuardBytes, copy_.data(), total);
      base_ = copy_.data();
    }
  }
  const std::byte* payload() const { return base_ + kGuardBytes; }
  // Offset of the first overwritten guard byte relative to the payload start, or none.
  bool guard_broken(std::ptrdiff_t* where) const {
    for (std::size_t i = 0; i < kGuardBytes; ++i) {
      if (base_[i] != kGuard) { *where = static_cast<std::ptrdiff_t>(i) - kGuardBytes; return true; }
      if (base_[kGuardBytes + b_.bytes + i] != kGuard) { *where = b_.bytes + i; return true; }
    }
    return false;
  }

 private:
  Buffer b_;
  const std::byte* base_ = nullptr;
  std::vector<std::byte> copy_;
};

void fill(Collective& c, Buffer b, std::byte value) {
  if (c.memory() == Memory::host) {
    std::memset(b.data, static_cast<int>(value), b.bytes);
    return;
  }
  std::vector<std::byte> bytes(b.bytes, value);
  c.write(b.data, bytes.data(), bytes.size());
}

// Elements worked on together: the expected values of up to kTile consecutive elements are made
// rank by rank in tight loops, and compared in one memcmp when they are bit-exact.
constexpr std::size_t kTile = 512;

template <class T> struct Expected {
  bool bounded = false;        // random floating sum or product: accepted within tol of exact
  T want[kTile];
  T row[kTile];                // scratch: one rank's inputs
  long double exact[kTile];    // the reference before rounding to T
  long double tol[kTile];      // 0: bit-exact
  double hi[kTile], err[kTile], abs_sum[kTile];  // a random sum in double-double, and sum|x|
};

// Element lo + k of the reducing primitive's result, k below len. `in` holds every rank's inputs.
template <class T> void reduced(const Problem& p, Mode mode, const std::vector<Inputs<T>>& in, std::size_t lo, std::size_t len,
                                Expected<T>& e) {
  in[0].fill(lo, len, e.want);
  e.bounded = mode == Mode::random && std::is_floating_point_v<T> && (p.op == Op::sum || p.op == Op::prod);
  if (!e.bounded) {  // exact: combined in rank order, in T
    with_op(p.op, [&](auto op) {
      for (int r = 1; r < p.ranks; ++r) {
        in[r].fill(lo, len, e.row);
        for (std::size_t k = 0; k < len; ++k) e.want[k] = decltype(op)::template apply<T>(e.want[k], e.row[k]);
      }
    });
    return;
  }
  // Random floating inputs, accepted within gamma(P-1) * sum|x| for sums and gamma(P-1) * |prod|
  // for products, plus 4 P u_ref of the same for the reference's own error (u_ref: long double's
  // epsilon). Products are made in long double. Sums in double-double, in double arithmetic that
  // vectorises: each addition's exact rounding error (TwoSum, branch-free) summed apart, so the
  // reference is off by about P^2 2^-106 sum|x|, far inside that allowance; sum|x| is rounded up.
  const long double u = std::numeric_limits<T>::epsilon() / 2;
  const long double kk = p.ranks - 1;
  const long double gamma = kk * u / (1 - kk * u) + 4 * p.ranks * std::numeric_limits<long double>::epsilon();
  if (p.op == Op::prod) {
    for (std::size_t k = 0; k < len; ++k) e.exact[k] = e.want[k];
    for (int r = 1; r < p.ranks; ++r) {
      in[r].fill(lo, len, e.row);
      for (std::size_t k = 0; k < len; ++k) e.exact[k] *= e.row[k];
    }
    for (std::size_t k = 0; k < len; ++k) e.tol[k] = gamma * std::fabs(e.exact[k]), e.want[k] = static_cast<T>(e.exact[k]);
    return;
  }
  for (std::size_t k = 0; k < len; ++k) e.hi[k] = e.want[k], e.err[k] = 0, e.abs_sum[k] = std::fabs(e.hi[k]);
  for (int r = 1; r < p.ranks; ++r) {
    in[r].fill(lo, len, e.row);
    for (std::size_t k = 0; k < len; ++k) {
      const double x = e.row[k], acc = e.hi[k], t = acc + x, z = t - acc;
      e.err[k] += (acc - (t - z)) + (x - z);
      e.hi[k] = t;
      e.abs_sum[k] += std::fabs(x);
    }
  }
  const long double up = 1 + 2 * p.ranks * std::numeric_limits<double>::epsilon();  // sum|x|'s own rounding
  for (std::size_t k = 0; k < len; ++k) {
    e.exact[k] = static_cast<long double>(e.hi[k]) + e.err[k];
    e.tol[k] = gamma * up * e.abs_sum[k];
    e.want[k] = static_cast<T>(e.exact[k]);
  }
}

// Chunks, one per core, for a range large enough.
std::size_t chunks_for(std::size_t count) {
  return count >= (std::size_t{1} << 18) ? std::min<std::size_t>(16, usable_cpus().size()) : 1;
}

// f(chunk, begin, end) over [0, count) in chunks_for(count) chunks, one thread each.
template <class F> void parallel_for(std::size_t count, F&& f) {
  const std::size_t threads = chunks_for(count);
  if (threads <= 1) return f(std::size_t{0}, std::size_t{0}, count);
  std::vector<std::thread> pool;
  for (std::size_t k = 0; k < threads; ++k) pool.emplace_back([&, k] { f(k, count * k / threads, count * (k + 1) / threads); });
  for (auto& t : pool) t.join();
}

// Wrong elements seen: how many, and the message of the first (built for that one only, so a
// wrong 16M-element result is reported as fast as a right one is checked).
struct Tally {
  std::size_t wrong = 0;
  std::string first;
  template <class F> void note(F&& what) {
    if (wrong++ == 0) first = what();
  }
  void add(Tally&& later) {
    if (wrong == 0) first = std::move(later.first);
    wrong += later.wrong;
  }
};

// f(lo, len, expected, tallies) for runs of at most kTile elements covering [0, count), none
// crossing a multiple of `edge` (0: no edges), or for the single elements of `only` below
// count. Chunks run in parallel; out[j] gets the chunks' tallies[j] in index order.
template <class T, class F>
void runs(std::size_t count, std::size_t edge, const std::vector<std::size_t>* only, std::span<Tally> out, F&& f) {
  if (only) {
    auto e = std::make_unique_for_overwrite<Expected<T>>();
    for (std::size_t i : *only)
      if (i < count) f(i, std::size_t{1}, *e, out.data());
    return;
  }
  std::vector<Tally> parts(chunks_for(count) * out.size());
  parallel_for(count, [&](std::size_t k, std::size_t lo, std::size_t hi) {
    auto e = std::make_unique_for_overwrite<Expected<T>>();
    for (std::size_t i = lo; i < hi;) {
      std::size_t len = std::min(kTile, hi - i);
      if (edge) len = std::min(len, edge - i % edge);
      f(i, len, *e, parts.data() + k * out.size());
      i += len;
    }
  });
  for (std::size_t j = 0; j < out.size(); ++j)
    for (std::size_t k = 0; k * out.size() < parts.size(); ++k) out[j].add(std::move(parts[k * out.size() + j]));
}

// Notes the elements got[lo, lo + len) that differ from e; message(i, k) describes element i.
template <class T, class M> void compare(const T* got, std::size_t lo, std::size_t len, const Expected<T>& e, Tally& t, M&& message) {
  if (!e.bounded && std::memcmp(got + lo, e.want, len * sizeof(T)) == 0) return;
  for (std::size_t k = 0; k < len; ++k) {
    const T g = got[lo + k];
    const bool ok = !e.bounded || e.tol[k] == 0 ? same_bits(g, e.want[k])
                                                : std::fabs(static_cast<long double>(g) - e.exact[k]) <= e.tol[k];
    if (!ok) t.note([&] { return message(lo + k, k); });
  }
}

// `spots`: null for every element, else the receive elements to check per local rank (send
// buffers are then checked at the same indices where they have them).
template <class T> std::string check_typed(Collective& c, Mode mode, std::uint64_t seed, const Spots* spots) {
  const Problem& p = c.problem();
  const PrimitiveInfo& d = p.info();
  const std::size_t n = p.count;
  std::vector<Inputs<T>> inputs;
  for (int r = 0; r < p.ranks; ++r) inputs.emplace_back(p, mode, seed, r);
  const std::vector<int> locals = c.local_ranks();

  // Per local rank, in the order the first wrong thing is reported: send guard, send elements,
  // receive guard, receive elements.
  struct Side {
    std::deque<View> views;
    std::vector<Tally> guard, elements;
  } send, recv;
  for (Side* s : {&send, &recv}) {
    const bool is_send = s == &send;
    s->guard.resize(locals.size()), s->elements.resize(locals.size());
    for (std::size_t j = 0; j < locals.size(); ++j) {
      const Buffer b = is_send ? c.send(locals[j]) : c.recv(locals[j]);
      const View& v = s->views.emplace_back(c, b);
      std::ptrdiff_t at = 0;
      if (v.guard_broken(&at))
        s->guard[j].note([&] {
          return fmt::format("rank {} {} guard overwritten at byte {} ({}) of a {}-byte buffer", locals[j], is_send ? "send" : "recv",
                             at, at < 0 ? "write before the start" : "write past the end", b.bytes);
        });
    }
  }
  auto data = [](const Side& s, std::size_t j) { return reinterpret_cast<const T*>(s.views[j].payload()); };
  auto only = [&](std::size_t j) { return spots ? &spots->at(locals[j]) : nullptr; };

  for (std::size_t j = 0; j < locals.size(); ++j) {
    const int rank = locals[j];
    const T* got = data(send, j);
    runs<T>(p.send_count(rank), 0, only(j), std::span(&send.elements[j], 1), [&](std::size_t lo, std::size_t len, Expected<T>& e, Tally* t) {
      inputs[rank].fill(lo, len, e.want);
      e.bounded = false;
      compare(got, lo, len, e, *t, [&](std::size_t i, std::size_t k) {
        return fmt::format("rank {} send buffer modified at element {}: expected {} got {}", rank, i, show(e.want[k]), show(got[i]));
      });
    });
  }

  auto recv_message = [&](int rank, const T* got, std::size_t i, const Expected<T>& e, std::size_t k) {
    std::string where = fmt::format("recv element {}", i);
    if (!d.takes_op && n > 0 && p.recv_count(rank) > n)  // several blocks: say whose
      where += fmt::format(" (block of rank {}, element {})", d.source(rank, i, n, p.root).from, i % n);
    const long double tol = e.bounded ? e.tol[k] : 0;
    const std::string tolerance = tol > 0 ? fmt::format(" (tolerance {})", show(static_cast<double>(tol))) : "";
    return fmt::format("rank {} {}: expected {} got {}{}", rank, where, show(e.want[k]), show(got[i]), tolerance);
  };
  if (d.takes_op && !spots) {
    // Every receiving local rank's element i is the same combination: made once, compared with each.
    std::vector<std::size_t> receivers;
    for (std::size_t j = 0; j < locals.size(); ++j)
      if (p.recv_count(locals[j]) > 0) receivers.push_back(j);
    std::vector<Tally> tallies(receivers.size());
    auto each_receiver = [&](std::size_t lo, std::size_t len, Expected<T>& e, Tally* t) {
      reduced(p, mode, inputs, lo, len, e);
      for (std::size_t r = 0; r < receivers.size(); ++r) {
        const T* got = data(recv, receivers[r]);
        const int rank = locals[receivers[r]];
        compare(got, lo, len, e, t[r], [&](std::size_t i, std::size_t k) { return recv_message(rank, got, i, e, k); });
      }
    };
    if (!receivers.empty()) runs<T>(n, 0, nullptr, tallies, each_receiver);  // none, off a reduce's root: nothing to make
    for (std::size_t r = 0; r < receivers.size(); ++r) recv.elements[receivers[r]] = std::move(tallies[r]);
  } else {
    for (std::size_t j = 0; j < locals.size(); ++j) {
      const int rank = locals[j];
      const T* got = data(recv, j);
      // The expected-result rule: a reducing primitive's element i combines element i of every
      // rank; a copying one's is the send element its description names, a run of a send
      // buffer for each block of n.
      runs<T>(p.recv_count(rank), n, only(j), std::span(&recv.elements[j], 1), [&](std::size_t lo, std::size_t len, Expected<T>& e, Tally* t) {
        if (d.takes_op) {
          reduced(p, mode, inputs, lo, len, e);
        } else {
          const PrimitiveInfo::Source from = d.source(rank, lo, n, p.root);
          inputs[from.from].fill(from.index, len, e.want);
          e.bounded = false;
        }
        compare(got, lo, len, e, *t, [&](std::size_t i, std::size_t k) { return recv_message(rank, got, i, e, k); });
      });
    }
  }

  Tally tally;
  for (std::size_t j = 0; j < locals.size(); ++j)
    for (Side* s : {&send, &recv}) tally.add(std::move(s->guard[j])), tally.add(std::move(s->elements[j]));
  if (tally.wrong == 0) return "";
  return fmt::format("{} ({}, seed {}): {}; {} wrong", p.describe(), mode == Mode::exact ? "exact" : "random", seed, tally.first,
                     tally.wrong);
}

}  // namespace

template <class T> T input(const Problem& p, Mode mode, std::uint64_t seed, int rank, std::size_t index) {
  return Inputs<T>(p, mode, seed, rank)(index);
}

template std::int32_t input<std::int32_t>(const Problem&, Mode, std::uint64_t, int, std::size_t);
template std::int64_t input<std::int64_t>(const Problem&, Mode, std::uint64_t, int, std::size_t);
template float input<float>(const Problem&, Mode, std::uint64_t, int, std::size_t);
template double input<double>(const Problem&, Mode, std::uint64_t, int, std::size_t);

std::string layout(Collective& c) {
  const Problem& p = c.problem();
  struct Extent {
    std::uintptr_t lo, hi;  // guards included
    int rank;
    const char* side;
  };
  std::vector<Extent> all;
  for (int rank : c.local_ranks())
    for (const bool is_send : {true, false}) {
      const Buffer b = is_send ? c.send(rank) : c.recv(rank);
      const char* side = is_send ? "send" : "recv";
      const std::size_t elements = is_send ? p.send_count(rank) : p.recv_count(rank), want = elements * p.elem_bytes();
      const auto at = reinterpret_cast<std::uintptr_t>(b.data);
      // Below Linux's lowest mappable address (vm.mmap_min_addr's default) nothing is memory: a
      // null pointer, or a default HostBuffer's view (null + its guard).
      constexpr std::uintptr_t kLowest = 65536;
      if (at < kLowest + kGuardBytes || at + want + kGuardBytes < at)
        return fmt::format("rank {} {} buffer is at address {:#x}, with no room for its {}-byte guards (every buffer has "
                           "them, an empty one too)", rank, side, at, kGuardBytes);
      if (b.bytes != want)
        return fmt::format("rank {} {} buffer says it holds {} bytes, where the problem has {} ({} elements of {} bytes): "
                           "the guards must lie right around the payload", rank, side, b.bytes, want, elements, p.elem_bytes());
      all.push_back({at - kGuardBytes, at + want + kGuardBytes, rank, side});
    }
  // By start, then as they were listed (rank, send before recv): the pair named does not depend
  // on the sort.
  std::stable_sort(all.begin(), all.end(), [](const Extent& a, const Extent& b) { return a.lo < b.lo; });
  // Sorted by start, two overlap somewhere only if two neighbours do.
  for (std::size_t i = 1; i < all.size(); ++i)
    if (const Extent &a = all[i - 1], &b = all[i]; b.lo < a.hi)
      return fmt::format("rank {} {} buffer and rank {} {} buffer share {} bytes, guards included: each must be memory of "
                         "its own (a result written once into one buffer would pass for every rank that names it)",
                         a.rank, a.side, b.rank, b.side, std::min(a.hi, b.hi) - b.lo);
  return "";
}

std::string agreed_layout(Collective& c) {
  const std::string wrong = world().first_error(layout(c));
  return wrong.empty() ? "" : fmt::format("{}: {}", c.problem().describe(), wrong);
}

void prepare(Collective& c, Mode mode, std::uint64_t seed) {
  if (std::string wrong = layout(c); !wrong.empty()) throw std::invalid_argument(wrong);
  const Problem& p = c.problem();
  with_dtype(p.dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    const bool host = c.memory() == Memory::host;
    std::vector<std::byte> staging;
    for (int rank : c.local_ranks()) {
      // Host buffers are filled in place; device buffers through one host copy each.
      const Buffer s = c.send(rank);
      std::byte* base = s.data - kGuardBytes;
      if (!host) {
        staging.assign(s.bytes + 2 * kGuardBytes, kGuard);
        base = staging.data();
      }
      std::memset(base, static_cast<int>(kGuard), kGuardBytes);
      std::memset(base + kGuardBytes + s.bytes, static_cast<int>(kGuard), kGuardBytes);
      T* payload = reinterpret_cast<T*>(base + kGuardBytes);
      const Inputs<T> in(p, mode, seed, rank);
      parallel_for(p.send_count(rank), [&](std::size_t, std::size_t lo, std::size_t hi) {
        in.fill(lo, hi - lo, payload + lo);
      });
      if (!host) c.write(s.data - kGuardBytes, staging.data(), staging.size());
      const Buffer r = c.recv(rank);
      fill(c, r, kPoison);
      std::vector<std::byte> guard(kGuardBytes, kGuard);
      c.write(r.data - kGuardBytes, guard.data(), kGuardBytes);
      c.write(r.data + r.bytes, guard.data(), kGuardBytes);
    }
  });
}

Spots poison(Collective& c, std::uint64_t key, std::size_t per_buffer) {
  if (std::string wrong = layout(c); !wrong.empty()) throw std::invalid_argument(wrong);
  const Problem& p = c.problem();
  Spots spots(static_cast<std::size_t>(p.ranks));
  const bool host = c.memory() == Memory::host;
  for (int rank : c.local_ranks()) {
    const Buffer r = c.recv(rank);
    const std::size_t count = p.recv_count(rank), elem = p.elem_bytes();
    if (!host || count <= 2 * per_buffer) {  // small, or on a device: all of it
      fill(c, r, kPoison);
      spots[rank].resize(count);
      for (std::size_t i = 0; i < count; ++i) spots[rank][i] = i;
      continue;
    }
    std::vector<std::size_t>& at = spots[rank];
    for (std::size_t b = 0; b * p.count < count; ++b)  // every block's first and last element
      at.push_back(b * p.count), at.push_back(std::min(count, (b + 1) * p.count) - 1);
    for (std::size_t k = 0; k < per_buffer; ++k)
      at.push_back(static_cast<std::size_t>((mix(key ^ mix(k + (static_cast<std::uint64_t>(rank) << 32))) >> 11) % count));
    for (std::size_t i : at) std::memset(r.data + i * elem, static_cast<int>(kPoison), elem);
  }
  return spots;
}

std::string check(Collective& c, Mode mode, std::uint64_t seed, const Spots* spots) {
  // Asked again: the buffers may have moved since prepare (a result allocated afresh each call).
  if (std::string wrong = layout(c); !wrong.empty()) return fmt::format("{}: {}", c.problem().describe(), wrong);
  return with_dtype(c.problem().dtype,
                    [&](auto tag) { return check_typed<typename decltype(tag)::type>(c, mode, seed, spots); });
}

std::string rounds(Collective& c, Mode mode, std::uint64_t seed, int rounds) {
  std::vector<double> seconds(c.local_ranks().size());
  for (int i = 0; i < rounds; ++i) {
    if (std::string error = agreed_layout(c); !error.empty()) return error;
    prepare(c, mode, seed + i);
    c.run(seconds);
    // Every process agrees on the outcome before any stops, so no rank is left waiting.
    if (std::string error = world().first_error(check(c, mode, seed + i)); !error.empty()) return error;
  }
  return "";
}

}  // namespace primbench::validate
