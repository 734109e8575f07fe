// What the user asked for: selectors parsed into the list of (implementation, problem) to run.
#pragma once

#include <cstddef>
#include <stdexcept>
#include <string>
#include <vector>

#include "primbench/primbench.hpp"

namespace primbench {

// Bad input of any kind; main prints the message on one line and exits with status 2.
struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};
// One that every rank of an MPI job throws alike (agreed through World::first_error or a
// reduction): said once, by rank 0.
struct SharedUsageError : UsageError {
  using UsageError::UsageError;
};

// "1:64M:x4" (geometric), "0:1K:+256" (arithmetic), "1,2,8", "4K", with K/M/G = 2^10/2^20/2^30.
std::vector<std::size_t> parse_sizes(const std::string& text, const std::string& what);
bool glob_match(const std::string& pattern, const std::string& text);
std::vector<std::string> split(const std::string& text, char sep);
// Every primitive's name, in order: "gather,scatter,reduce,allreduce,broadcast".
std::string all_primitives(const std::string& sep = ",");
// The primitives' names in prose for help text, "gather, scatter, reduce, allreduce and broadcast";
// with `taking_op`, only those an op applies to ("reduce and allreduce").
std::string primitives_in_words(bool taking_op = false);

struct Selection {
  std::string impls = "*";  // comma-separated globs
  std::string primitives;   // default: every primitive
  std::string dtypes;       // default: f32
  std::string ops;          // default: sum
  std::string ranks;        // default: 1, 2, 4, ... up to and including the core count
  std::string counts;       // default: 1 element to 16M elements, x4
  std::string roots = "0";  // ranks, "mid" (P/2), "last" (P-1) or "rotate" (iteration i: i mod P)
};

// `primbench validate`'s defaults, a conformance sweep, for each selector not given (true): every
// dtype and op; ranks 1 to max(5, cores + 1) (odd, non-powers of two, a prime above 4); roots 0,
// mid, last; counts at the edges of blocks and vectors — and two non-round counts past the L2
// for fewer dtypes, ops and roots. The plan is the union of the selections returned.
std::vector<Selection> conformance(Selection s, bool dtypes, bool ops, bool ranks, bool counts, bool roots);

struct Planned {
  const Implementation* impl;
  Problem problem;  // root 0 where the root rotates
  std::string name;  // primitive/impl/dtype[/op]/ranks:P/count:n/root:r (root:0 where there is none, root:rotate)
  // --root rotate (OSU's -k rotate, IMB's -root_shift): timed iteration i has root i mod P, one
  // collective prepared for each root, each validated and checked like a benchmark of its own.
  bool rotate = false;
  // The roots it runs at: 0 to P-1 when rotating, else its problem's.
  std::vector<int> roots() const;
  std::string root_text() const { return rotate ? "rotate" : std::to_string(problem.root); }
};

// Every selected (implementation, problem), available implementations only; the unavailable
// ones, and the selected primitives an implementation does not implement, are listed with the
// reason. Throws UsageError naming what is accepted when a selector
// is malformed or matches nothing.
std::vector<Planned> plan(const Selection& s, Registry& registry,
                          std::vector<std::string>* unavailable = nullptr);

std::string benchmark_name(const Implementation& impl, const Problem& p, bool rotate = false);
// A benchmark's name from Google Benchmark's run name: `<name>/manual_time` without the suffix.
std::string benchmark_name(std::string run_name);

// Bytes a problem allocates on all ranks, guards and staging included (for the memory check);
// a rotating root's benchmark holds one problem's buffers for each root.
std::size_t footprint(const Problem& p);
std::size_t footprint(const Planned& p);

}  // namespace primbench
