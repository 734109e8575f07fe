#include "selection.hpp"

#include <fnmatch.h>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cctype>
#include <limits>
#include <numeric>
#include <optional>
#include <set>
#include <thread>

namespace primbench {
namespace {

constexpr std::size_t kMax = std::size_t{1} << 40;  // per-rank count limit: 1 Ti elements
constexpr std::size_t kMaxValues = 4096;            // values one arithmetic range may give
constexpr std::size_t kMaxPlan = 100000;            // benchmarks one run may plan

std::size_t parse_size(const std::string& raw, const std::string& what) {
  std::string t = raw;
  t.erase(std::remove_if(t.begin(), t.end(), ::isspace), t.end());
  const std::string accepted = " (accepted: a non-negative integer with optional K, M or G suffix, e.g. 4K)";
  if (t.empty()) throw UsageError("empty " + what + accepted);
  if (t[0] == '-') throw UsageError(what + " '" + raw + "' is negative" + accepted);
  std::size_t mult = 1;
  switch (std::toupper(static_cast<unsigned char>(t.back()))) {
    case 'K': mult = std::size_t{1} << 10; t.pop_back(); break;
    case 'M': mult = std::size_t{1} << 20; t.pop_back(); break;
    case 'G': mult = std::size_t{1} << 30; t.pop_back(); break;
    default: break;
  }
  if (t.empty() || !std::all_of(t.begin(), t.end(), ::isdigit))
    throw UsageError(what + " '" + raw + "' is not a number" + accepted);
  if (t.size() > 15) throw UsageError(what + " '" + raw + "' is too large (at most 2^40)");
  const std::size_t v = std::stoull(t);
  if (v > kMax / mult) throw UsageError(what + " '" + raw + "' is too large (at most 2^40)");
  return v * mult;
}

template <class E> E parse_enum(const std::string& s, std::initializer_list<E> all, const std::string& what) {
  std::string accepted;
  for (E e : all) {
    if (name(e) == s) return e;
    accepted += (accepted.empty() ? "" : ", ") + std::string(name(e));
  }
  throw UsageError("unknown " + what + " '" + s + "' (accepted: " + accepted + ")");
}

}  // namespace

std::string all_primitives(const std::string& sep) {
  std::string out;
  for (const PrimitiveInfo& d : primitives()) out += (out.empty() ? "" : sep) + std::string(d.name);
  return out;
}

std::string primitives_in_words(bool taking_op) {
  std::vector<std::string_view> names;
  for (const PrimitiveInfo& d : primitives())
    if (d.takes_op || !taking_op) names.push_back(d.name);
  if (names.size() < 2) return fmt::format("{}", fmt::join(names, ""));
  return fmt::format("{} and {}", fmt::join(names.begin(), names.end() - 1, ", "), names.back());
}

std::vector<std::string> split(const std::string& text, char sep) {
  std::vector<std::string> out;
  std::size_t start = 0;
  for (;;) {
    const std::size_t end = text.find(sep, start);
    out.push_back(text.substr(start, end - start));
    if (end == std::string::npos) return out;
    start = end + 1;
  }
}

std::vector<std::size_t> parse_sizes(const std::string& text, const std::string& what) {
  std::vector<std::size_t> out;
  for (const std::string& item : split(text, ',')) {
    const auto parts = split(item, ':');
    if (parts.size() == 1) {
      out.push_back(parse_size(parts[0], what));
      continue;
    }
    if (parts.size() != 3)
      throw UsageError("malformed " + what + " range '" + item + "' (accepted: START:END:xFACTOR or START:END:+STEP, e.g. 1:64M:x4)");
    const std::size_t lo = parse_size(parts[0], what), hi = parse_size(parts[1], what);
    const std::string& step = parts[2];
    if (lo > hi) throw UsageError(what + " range '" + item + "' is empty: start is above end");
    if (step.size() < 2 || (step[0] != 'x' && step[0] != '+'))
      throw UsageError("malformed step '" + step + "' in " + what + " range '" + item + "' (accepted: xFACTOR or +STEP)");
    const std::size_t s = parse_size(step.substr(1), what + " step");
    if (step[0] == 'x') {
      if (s < 2) throw UsageError("factor in " + what + " range '" + item + "' must be at least 2");
      if (lo == 0) throw UsageError(what + " range '" + item + "' starts at 0 and cannot grow by a factor");
      for (std::size_t v = lo; v <= hi; v *= s) {
        out.push_back(v);
        if (v > hi / s) break;
      }
    } else {
      if (s == 0) throw UsageError("step in " + what + " range '" + item + "' must be positive");
      if ((hi - lo) / s >= kMaxValues)  // found by fuzz_sizes: '0:1G:+6' asked for 178M values
        throw UsageError(fmt::format("{} range '{}' gives more than {} values (use a larger step)", what, item, kMaxValues));
      for (std::size_t v = lo; v <= hi; v += s) out.push_back(v);
    }
  }
  return out;
}

bool glob_match(const std::string& pattern, const std::string& text) {
  // A shell's wildcards (*, ?, [set]); names never hold a NUL, so C strings lose nothing.
  return ::fnmatch(pattern.c_str(), text.c_str(), FNM_NOESCAPE) == 0;
}

std::string benchmark_name(std::string run_name) {
  constexpr std::string_view suffix = "/manual_time";
  if (run_name.size() >= suffix.size() && run_name.compare(run_name.size() - suffix.size(), suffix.size(), suffix) == 0)
    run_name.resize(run_name.size() - suffix.size());
  return run_name;
}

std::string benchmark_name(const Implementation& impl, const Problem& p, bool rotate) {
  const std::string op = p.info().takes_op ? fmt::format("/{}", name(p.op)) : "";
  return fmt::format("{}/{}/{}{}/ranks:{}/count:{}/root:{}", name(p.primitive), impl.name, name(p.dtype), op, p.ranks,
                     p.count, rotate ? "rotate" : std::to_string(p.root));
}

std::vector<int> Planned::roots() const {
  std::vector<int> r(rotate ? static_cast<std::size_t>(problem.ranks) : 1);
  std::iota(r.begin(), r.end(), rotate ? 0 : problem.root);
  return r;
}

std::size_t footprint(const Planned& p) { return footprint(p.problem) * p.roots().size(); }

std::size_t footprint(const Problem& p) {
  std::size_t bytes = 0;
  for (int r = 0; r < p.ranks; ++r)
    bytes += (p.send_count(r) + p.recv_count(r)) * p.elem_bytes() + 4 * kGuardBytes;
  // Staging of tree algorithms and the validator's host copy: at most as much again; and the
  // reference measured beside it, as much once more.
  return 3 * bytes;
}

std::vector<Selection> conformance(Selection s, bool dtypes, bool ops, bool ranks, bool counts, bool roots) {
  const std::size_t cores = usable_cpus().size();
  if (ranks) s.ranks = fmt::format("1:{}:+1", std::max<std::size_t>(5, cores + 1));
  Selection large = s;
  if (dtypes) s.dtypes = "i32,i64,f32,f64";
  if (ops) s.ops = "sum,prod,min,max";
  if (roots) s.roots = "0,mid,last";
  if (!counts) return {s};
  s.counts = "0,1,2,3,7,8,9,15,16,17,63,64,65,1000,1027";
  // Past the L2, where checking costs most: both element widths, integer and floating, an
  // arithmetic op and a comparison, the first and last root.
  large.counts = "65539,1048579";
  if (dtypes) large.dtypes = "i32,f64";
  if (ops) large.ops = "sum,max";
  if (roots) large.roots = "0,last";
  return {s, large};
}

namespace {

// The implementations the comma-separated globs match, each once.
std::vector<const Implementation*> matching(const std::string& globs, Registry& registry) {
  std::vector<const Implementation*> impls;
  for (const std::string& glob : split(globs, ',')) {
    if (glob.empty()) throw UsageError("empty implementation pattern in --impl '" + globs + "'");
    bool any = false;
    for (const auto& impl : registry.implementations()) {
      if (!glob_match(glob, impl.name)) continue;
      any = true;
      if (std::find(impls.begin(), impls.end(), &impl) == impls.end()) impls.push_back(&impl);
    }
    if (!any) {
      std::vector<std::string_view> known;
      for (const auto& impl : registry.implementations()) known.push_back(impl.name);
      throw UsageError(fmt::format("no implementation matches '{}' (known: {})", glob, fmt::join(known, ", ")));
    }
  }
  return impls;
}

std::vector<Primitive> parse_primitives(const std::string& text) {
  std::vector<Primitive> out;
  for (const auto& t : split(text, ',')) {
    const PrimitiveInfo* d = find_primitive(t);
    if (!d) throw UsageError("unknown primitive '" + t + "' (accepted: " + all_primitives(", ") + ")");
    out.push_back(d->primitive);
  }
  return out;
}

template <class E> std::vector<E> parse_enums(const std::string& text, std::initializer_list<E> all, const std::string& what) {
  std::vector<E> out;
  for (const auto& t : split(text, ',')) out.push_back(parse_enum(t, all, what));
  return out;
}

// Default: 1, 2, 4, ... up to and including the core count.
std::vector<std::size_t> parse_ranks(const std::string& text) {
  std::vector<std::size_t> ranks;
  if (text.empty()) {
    const std::size_t cores = usable_cpus().size();
    for (std::size_t r = 1; r < cores; r *= 2) ranks.push_back(r);
    ranks.push_back(cores);
  } else {
    ranks = parse_sizes(text, "rank count");
  }
  for (std::size_t r : ranks)
    if (r == 0 || r > 4096) throw UsageError(fmt::format("rank count {} is out of range (accepted: 1 to 4096)", r));
  return ranks;
}

// The selectors every (implementation, primitive) is planned over, parsed and checked.
struct Axes {
  std::vector<DType> dtypes;
  std::vector<Op> ops;
  std::vector<std::size_t> ranks, counts;
  std::string roots;
};

Axes parse_axes(const Selection& s) {
  Axes a;
  a.dtypes = parse_enums(s.dtypes.empty() ? "f32" : s.dtypes, {DType::i32, DType::i64, DType::f32, DType::f64}, "dtype");
  a.ops = parse_enums(s.ops.empty() ? "sum" : s.ops, {Op::sum, Op::prod, Op::min, Op::max}, "op");
  a.ranks = parse_ranks(s.ranks);
  a.counts = parse_sizes(s.counts.empty() ? "1:16M:x8" : s.counts, "count");
  a.roots = s.roots;
  for (const std::string& root_text : split(a.roots, ','))
    if (root_text != "last" && root_text != "mid" && root_text != "rotate" &&
        parse_size(root_text, "root") >= *std::max_element(a.ranks.begin(), a.ranks.end()))
      throw UsageError("root " + root_text + " is not below any rank count (accepted: 0 to ranks-1, 'mid', 'last' or 'rotate')");
  return a;
}

// The rank a root selector names at P ranks; none for a number not below P (only the larger
// rank counts have that root; parse_axes checked it is below some).
std::optional<std::size_t> root_at(const std::string& root_text, std::size_t P) {
  if (root_text == "last") return P - 1;
  if (root_text == "mid") return P / 2;
  const std::size_t root = parse_size(root_text, "root");
  if (root >= P) return std::nullopt;
  return root;
}

// The planned benchmarks so far, each name once: repeated selector values (`--count 8,8`,
// `--root 0,last` at P=1) plan once.
struct Plan {
  std::vector<Planned> out;
  std::set<std::string> names;

  void add(const Implementation& impl, const Problem& p, bool rotate) {
    if (p.count > std::numeric_limits<std::size_t>::max() / 16 / p.ranks)
      throw UsageError(fmt::format("count {} with {} ranks overflows", p.count, p.ranks));
    if (out.size() == kMaxPlan)  // a runaway product of ranges, not a run anyone waits for
      throw UsageError(fmt::format("the selection gives more than {} benchmarks (narrow --impl, --primitive, "
                                   "--dtype, --op, --ranks or --count)", kMaxPlan));
    if (std::string name = benchmark_name(impl, p, rotate); names.insert(name).second)
      out.push_back({&impl, p, std::move(name), rotate});
  }
};

// One implementation's problems of one primitive: dtypes x ops (where it takes one) x ranks x
// counts x roots (where it has one; "rotate" only where the backend's ranks run primbench's loop).
void plan_primitive(const Implementation& impl, const PrimitiveInfo& d, const Axes& a, bool rotates, Plan& into) {
  const std::vector<Op> ops = d.takes_op ? a.ops : std::vector<Op>{Op::sum};
  const std::vector<std::string> roots = split(d.rooted ? a.roots : "0", ',');
  for (DType dt : a.dtypes)
    for (Op op : ops)
      for (std::size_t P : a.ranks)
        for (std::size_t n : a.counts)
          for (const std::string& root_text : roots) {
            const bool rotate = root_text == "rotate";
            if (rotate && !rotates) continue;
            if (const std::optional<std::size_t> root = rotate ? 0 : root_at(root_text, P))
              into.add(impl, {d.primitive, static_cast<int>(P), n, dt, op, static_cast<int>(*root)}, rotate);
          }
}

}  // namespace

std::vector<Planned> plan(const Selection& s, Registry& registry, std::vector<std::string>* unavailable) {
  const std::vector<const Implementation*> impls = matching(s.impls, registry);
  const std::vector<Primitive> prims = parse_primitives(s.primitives.empty() ? all_primitives() : s.primitives);
  const Axes axes = parse_axes(s);
  Plan planned;
  for (const Implementation* impl : impls) {
    if (const Availability& a = registry.availability(impl->backend()); !a.available) {
      if (unavailable) unavailable->push_back(impl->name + ": unavailable: " + a.reason);
      continue;
    }
    if (!impl->unavailable.empty()) {
      if (unavailable) unavailable->push_back(impl->name + ": unavailable: " + impl->unavailable);
      continue;
    }
    const Backend* backend = registry.backend(impl->backend());
    const bool rotates = !backend || backend->no_rotation.empty();
    if (!rotates && unavailable && std::ranges::count(split(axes.roots, ','), "rotate"))
      unavailable->push_back(impl->name + ": no --root rotate: " + backend->no_rotation);
    for (Primitive prim : prims) {
      if (impl->implements(prim))
        plan_primitive(*impl, info(prim), axes, rotates, planned);
      else if (unavailable)
        unavailable->push_back(fmt::format("{}: does not implement {}", impl->name, name(prim)));
    }
  }
  return std::move(planned.out);
}

}  // namespace primbench
