#include "validate.hpp"

#include <fmt/format.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <sstream>
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

// The inputs of one rank: element i is a function of hash(seed, rank, i) alone. What depends
// only on (problem, mode, seed, rank) is worked out once, so filling and checking cost one
// hash and a conversion per element.
template <class T> class Inputs {
 public:
  Inputs(const Problem& p, Mode mode, std::uint64_t seed, int rank)
      : key_(mix(seed ^ mix(static_cast<std::uint64_t>(rank) + 0x51ED27ull))),
        emax_(exponent_budget<T>() / p.ranks),
        spread_(std::min(1.0, 100.0 / p.ranks)) {
    const bool real = mode == Mode::random && std::is_floating_point_v<T>;
    if (!p.info().takes_op || p.op == Op::min || p.op == Op::max) kind_ = real ? Kind::real : Kind::wide;
    else if (p.op == Op::sum) kind_ = real ? Kind::real : Kind::small;
    else kind_ = real ? Kind::real_factor : Kind::power_of_two;
  }

  T operator()(std::size_t index) const {
    const std::uint64_t h = mix(key_ ^ index);
    const bool negative = (h >> 63) != 0;
    switch (kind_) {
      case Kind::wide: return wide<T>(h);
      case Kind::real: {  // in [-1, 1) times 2^-3 .. 2^4 (a power of two: the product is exact)
        static constexpr double kScale[8] = {0x1p-3, 0x1p-2, 0x1p-1, 1, 2, 4, 8, 16};
        return static_cast<T>((static_cast<double>(h >> 11) * 0x1p-53 * 2 - 1) * kScale[h & 7]);
      }
      case Kind::small: {  // non-zero small integers: every partial sum is exact, a missing rank always shows
        const T v = static_cast<T>(below(h >> 8, 1000) + 1);
        return negative ? static_cast<T>(-v) : v;
      }
      case Kind::real_factor: {
        const double m = std::exp2((static_cast<double>(h >> 11) * 0x1p-53 * 2 - 1) * spread_);
        return static_cast<T>(negative ? -m : m);
      }
      case Kind::power_of_two: break;
    }
    // Signed powers of two with bounded exponents: exact products in any order.
    int e = static_cast<int>(below(h >> 8, static_cast<std::uint32_t>(emax_) + 1));
    if constexpr (std::is_floating_point_v<T>)
      if ((h >> 40) & 1) e = -e;
    const T v = std::is_floating_point_v<T> ? static_cast<T>(std::ldexp(1.0, e)) : static_cast<T>(std::int64_t{1} << e);
    return negative ? static_cast<T>(-v) : v;
  }

 private:
  enum class Kind { wide, real, small, real_factor, power_of_two };
  // A value in [0, n) from the low 32 bits of x, by multiplication rather than division.
  static std::uint32_t below(std::uint64_t x, std::uint32_t n) {
    return static_cast<std::uint32_t>(((x & 0xFFFFFFFFull) * n) >> 32);
  }
  std::uint64_t key_;
  int emax_;
  double spread_;
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

// Expected value at element i of the root's reduce output, and how far `got` may be from it.
template <class T> struct Reduced {
  T value;
  long double exact;     // the reference before rounding to T (random mode)
  long double tolerance;  // 0: bit-exact
};

// `in` holds every rank's inputs.
template <class T> Reduced<T> reduced(const Problem& p, Mode mode, const std::vector<Inputs<T>>& in, std::size_t i) {
  if (mode == Mode::exact || !std::is_floating_point_v<T>) {
    T acc = in[0](i);
    with_op(p.op, [&](auto op) {
      for (int r = 1; r < p.ranks; ++r) acc = decltype(op)::template apply<T>(acc, in[r](i));
    });
    return {acc, 0.0L, 0.0L};
  }
  // Random floating inputs: reference in long double with compensated summation, accepted
  // within gamma(P-1) * sum|x| for sums and gamma(P-1) * |prod| for products, plus the
  // reference's own (far smaller) error.
  const long double u = std::numeric_limits<T>::epsilon() / 2;
  const long double k = p.ranks - 1;
  const long double gamma = k * u / (1 - k * u);
  const long double u_ref = std::numeric_limits<long double>::epsilon();
  long double acc = in[0](i), comp = 0, abs_sum = std::fabs(acc);
  for (int r = 1; r < p.ranks; ++r) {
    const long double x = in[r](i);
    switch (p.op) {
      case Op::sum: {
        const long double t = acc + x;
        comp += std::fabs(acc) >= std::fabs(x) ? (acc - t) + x : (x - t) + acc;
        acc = t;
        abs_sum += std::fabs(x);
        break;
      }
      case Op::prod: acc *= x; break;
      case Op::min: acc = std::min(acc, x); break;
      case Op::max: acc = std::max(acc, x); break;
    }
  }
  acc += comp;
  long double tol = 0;
  if (p.op == Op::sum) tol = (gamma + 4 * p.ranks * u_ref) * abs_sum;
  if (p.op == Op::prod) tol = (gamma + 4 * p.ranks * u_ref) * std::fabs(acc);
  return {static_cast<T>(acc), acc, tol};
}

// Chunks, one per core, for a range large enough (the validator's hashing is what validation
// of a large problem spends its time on).
std::size_t chunks_for(std::size_t count) {
  return count >= (std::size_t{1} << 18) ? std::min<std::size_t>(16, std::max(1u, std::thread::hardware_concurrency())) : 1;
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

// f(i, tally) for every i below count, or for those in `only`; chunks merged in index order.
template <class F> void scan(std::size_t count, const std::vector<std::size_t>* only, Tally& tally, F&& f) {
  if (only) {
    for (std::size_t i : *only)
      if (i < count) f(i, tally);
    return;
  }
  const std::size_t chunks = chunks_for(count);
  std::vector<Tally> parts(chunks);
  parallel_for(count, [&](std::size_t k, std::size_t lo, std::size_t hi) {
    for (std::size_t i = lo; i < hi; ++i) f(i, parts[k]);
  });
  for (Tally& t : parts) tally.add(std::move(t));
}

// `spots`: null for every element, else the receive elements to check per local rank (send
// buffers are then checked at the same indices where they have them).
template <class T> std::string check_typed(Collective& c, Mode mode, std::uint64_t seed, const Spots* spots) {
  const Problem& p = c.problem();
  const PrimitiveInfo& d = p.info();
  const std::size_t n = p.count;
  Tally tally;
  std::vector<Inputs<T>> inputs;
  for (int r = 0; r < p.ranks; ++r) inputs.emplace_back(p, mode, seed, r);

  for (int rank : c.local_ranks()) {
    for (bool is_send : {true, false}) {
      const Buffer b = is_send ? c.send(rank) : c.recv(rank);
      const View v(c, b);
      const char* which = is_send ? "send" : "recv";
      std::ptrdiff_t at = 0;
      if (v.guard_broken(&at)) {
        tally.note([&] {
          return fmt::format("rank {} {} guard overwritten at byte {} ({}) of a {}-byte buffer", rank, which, at,
                             at < 0 ? "write before the start" : "write past the end", b.bytes);
        });
      }
      const T* data = reinterpret_cast<const T*>(v.payload());
      const std::vector<std::size_t>* only = spots ? &spots->at(rank) : nullptr;
      if (is_send) {
        const std::size_t count = p.send_count(rank);
        const Inputs<T>& own = inputs[rank];
        scan(count, only, tally, [&](std::size_t i, Tally& t) {
          const T want = own(i);
          if (!same_bits(data[i], want))
            t.note([&] {
              return fmt::format("rank {} send buffer modified at element {}: expected {} got {}", rank, i, show(want),
                                 show(data[i]));
            });
        });
        continue;
      }
      const std::size_t count = p.recv_count(rank);
      scan(count, only, tally, [&](std::size_t i, Tally& t) {
        T want{};
        long double exact = 0, tol = 0;
        // The expected-result rule: a reducing primitive's element i combines element i of
        // every rank; a copying one's is the send element its description names.
        if (d.takes_op) {
          const Reduced<T> r = reduced<T>(p, mode, inputs, i);
          want = r.value;
          exact = r.exact;
          tol = r.tolerance;
        } else {
          const PrimitiveInfo::Source from = d.source(rank, i, n, p.root);
          want = inputs[from.from](from.index);
        }
        const T got = data[i];
        const bool ok = tol == 0 ? same_bits(got, want) : std::fabs(static_cast<long double>(got) - exact) <= tol;
        if (ok) return;
        t.note([&] {
          std::string where = fmt::format("recv element {}", i);
          if (!d.takes_op && n > 0 && p.recv_count(rank) > n)  // several blocks: say whose
            where += fmt::format(" (block of rank {}, element {})", d.source(rank, i, n, p.root).from, i % n);
          const std::string tolerance = tol > 0 ? fmt::format(" (tolerance {})", show(static_cast<double>(tol))) : "";
          return fmt::format("rank {} {}: expected {} got {}{}", rank, where, show(want), show(got), tolerance);
        });
      });
    }
  }
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

void prepare(Collective& c, Mode mode, std::uint64_t seed) {
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
        for (std::size_t i = lo; i < hi; ++i) payload[i] = in(i);
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
  return with_dtype(c.problem().dtype,
                    [&](auto tag) { return check_typed<typename decltype(tag)::type>(c, mode, seed, spots); });
}

std::string rounds(Collective& c, Mode mode, std::uint64_t seed, int rounds) {
  std::vector<double> seconds(c.local_ranks().size());
  for (int i = 0; i < rounds; ++i) {
    prepare(c, mode, seed + i);
    c.run(seconds);
    // Every process agrees on the outcome before any stops, so no rank is left waiting.
    if (std::string error = world().first_error(check(c, mode, seed + i)); !error.empty()) return error;
  }
  return "";
}

}  // namespace primbench::validate
