// The validator: fills inputs that depend on (seed, rank, index), poisons outputs, guards every
// buffer, runs the collective once and checks every element of every local rank against values
// it computes itself. It knows nothing of backends: only the Collective interface.
#pragma once

#include <cstdint>
#include <string>

#include "primbench/primbench.hpp"

namespace primbench::validate {

// exact: inputs whose results are exactly representable in any combination order, compared
//        bit for bit. random: real-valued inputs, floating sums and products accepted within
//        the rigorous bound gamma(P-1) (docs/validation.md).
enum class Mode { exact, random };

// splitmix64's finaliser: the hash every input, and every sampling decision, is drawn from.
inline std::uint64_t mix(std::uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

inline constexpr std::byte kPoison{0xA5};  // output payload before every run
inline constexpr std::byte kGuard{0xC3};   // guard bytes around every buffer

// Input element `index` of `rank`'s send buffer, as the bits of the problem's dtype.
template <class T> T input(const Problem& p, Mode mode, std::uint64_t seed, int rank, std::size_t index);

// "" when every local rank's send and receive buffers hold exactly the problem's elements (no
// more: writes past the count would land before the guard, unseen), none is null or within the
// first 64 KiB (an empty one too has its guards), and no two of them, guards included, share a
// byte (a result written once into a buffer every rank names would pass for every rank's); else
// one line: the first wrong buffer in rank order, or the overlapping pair at the lowest address.
// prepare, poison and check ask it first: they write and read only buffers it passes (each asks
// the collective for its buffers again: one that answers otherwise from call to call is a plugin
// written to subvert, which validation.md does not claim to catch).
std::string layout(Collective& c);
// layout() agreed by every process (the lowest failing rank's), as "PROBLEM: line"; "" when none has one.
std::string agreed_layout(Collective& c);

// Fills send buffers, poisons receive buffers and writes guards, for every local rank.
// std::invalid_argument, with layout()'s line, where that has one: nothing is written then.
void prepare(Collective& c, Mode mode, std::uint64_t seed);

// Receive-buffer elements of each rank (indexed by rank; empty for ranks not local).
using Spots = std::vector<std::vector<std::size_t>>;

// Poisons, for a check of one timed iteration at the cost of a few hundred elements whatever the
// count: `per_buffer` elements of each local receive buffer drawn from `key`, and the first and
// last element of each block (all of a small buffer, or of one in device memory). Returns them.
// std::invalid_argument, with layout()'s line, where that has one.
Spots poison(Collective& c, std::uint64_t key, std::size_t per_buffer);

// Checks guards, unchanged send buffers and every output element after one run on inputs from
// prepare(c, mode, seed) — or only the elements in `spots`. Returns "" when correct, else one
// line: the first wrong rank and element, expected and got, and how many elements were wrong
// (or, read before any element, what layout() says is wrong with the buffers).
std::string check(Collective& c, Mode mode, std::uint64_t seed, const Spots* spots = nullptr);

// layout, prepare, run, check for `rounds` fresh seeds starting at `seed`; first failure or "".
// Every process agrees on each step's outcome before the next.
std::string rounds(Collective& c, Mode mode, std::uint64_t seed, int rounds);

}  // namespace primbench::validate
