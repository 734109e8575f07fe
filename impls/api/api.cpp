#include <sched.h>
#include <sys/mman.h>
#include <unistd.h>

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "primbench/primbench.hpp"

namespace primbench {

namespace {
using Source = PrimitiveInfo::Source;

// Memory traffic is what the best shared-memory algorithm moves: gather and scatter copy P
// blocks; reduce reads P and writes one; allreduce reads P and writes P (each rank reduces a
// slice of every block and writes it to every result); broadcast copies the root's block to
// the other P-1 ranks (MPI leaves the root's buffer as it is).
constexpr PrimitiveInfo kPrimitives[] = {
    {Primitive::gather, "gather", false, true,
     [](int, int, int) -> std::size_t { return 1; },
     [](int rank, int root, int P) -> std::size_t { return rank == root ? P : 0; },
     [](int, std::size_t i, std::size_t n, int) { return Source{static_cast<int>(i / n), i % n}; },
     [](int P) { return double(P); }, [](int P) { return (P - 1.0) / P; },
     [](int P) { return double(P); }, [](int P) { return double(P); }},
    {Primitive::scatter, "scatter", false, true,
     [](int rank, int root, int P) -> std::size_t { return rank == root ? P : 0; },
     [](int, int, int) -> std::size_t { return 1; },
     [](int rank, std::size_t i, std::size_t n, int root) { return Source{root, rank * n + i}; },
     [](int P) { return double(P); }, [](int P) { return (P - 1.0) / P; },
     [](int P) { return double(P); }, [](int P) { return double(P); }},
    {Primitive::reduce, "reduce", true, true,
     [](int, int, int) -> std::size_t { return 1; },
     [](int rank, int root, int) -> std::size_t { return rank == root ? 1 : 0; },
     nullptr,
     [](int) { return 1.0; }, [](int) { return 1.0; },
     [](int P) { return double(P); }, [](int) { return 1.0; }},
    {Primitive::allreduce, "allreduce", true, false,
     [](int, int, int) -> std::size_t { return 1; },
     [](int, int, int) -> std::size_t { return 1; },
     nullptr,
     [](int) { return 1.0; }, [](int P) { return 2 * (P - 1.0) / P; },
     [](int P) { return double(P); }, [](int P) { return double(P); }},
    {Primitive::broadcast, "broadcast", false, true,
     [](int rank, int root, int) -> std::size_t { return rank == root ? 1 : 0; },
     [](int rank, int root, int) -> std::size_t { return rank == root ? 0 : 1; },
     [](int, std::size_t i, std::size_t, int root) { return Source{root, i}; },
     [](int) { return 1.0; }, [](int) { return 1.0; },
     [](int P) { return P - 1.0; }, [](int P) { return P - 1.0; }},
};
static_assert(std::size(kPrimitives) == static_cast<std::size_t>(Primitive::broadcast) + 1);
}  // namespace

std::span<const PrimitiveInfo> primitives() { return kPrimitives; }

const PrimitiveInfo& info(Primitive p) { return kPrimitives[static_cast<std::size_t>(p)]; }

const PrimitiveInfo* find_primitive(std::string_view name) {
  for (const PrimitiveInfo& i : kPrimitives)
    if (i.name == name) return &i;
  return nullptr;
}

std::string_view name(Primitive p) { return info(p).name; }

std::string_view name(DType t) {
  switch (t) {
    case DType::i32: return "i32";
    case DType::i64: return "i64";
    case DType::f32: return "f32";
    case DType::f64: return "f64";
  }
  return "?";
}

std::string_view name(Op o) {
  switch (o) {
    case Op::sum: return "sum";
    case Op::prod: return "prod";
    case Op::min: return "min";
    case Op::max: return "max";
  }
  return "?";
}

std::size_t size_of(DType t) {
  return t == DType::i32 || t == DType::f32 ? 4 : 8;
}

std::size_t Problem::send_count(int rank) const { return count * info().send_blocks(rank, root, ranks); }

std::size_t Problem::recv_count(int rank) const { return count * info().recv_blocks(rank, root, ranks); }

std::string Problem::describe() const {
  const std::string op_text = info().takes_op ? fmt::format(" {}", name(op)) : "";
  const std::string root_text = info().rooted ? fmt::format(" root={}", root) : "";
  return fmt::format("{} P={} n={} {}{}{}", name(primitive), ranks, count, name(dtype), op_text, root_text);
}

void HostBuffer::Free::operator()(std::byte* p) const { std::free(p); }

namespace {
std::atomic<bool> g_huge_pages{false};
constexpr std::size_t kHugePage = std::size_t{2} << 20;
}  // namespace

int cgroup_cpu_limit(const std::string& cgroup_root, const std::string& self_cgroup) {
  // cgroup v2's line is "0::/path"; v1's controllers (other lines) are not read.
  std::istringstream lines(self_cgroup);
  std::string path;
  for (std::string line; std::getline(lines, line);)
    if (line.rfind("0::", 0) == 0) path = line.substr(3);
  if (path.empty() || path[0] != '/') return 0;
  int least = 0;
  for (std::filesystem::path dir = path;; dir = dir.parent_path()) {
    std::ifstream f(cgroup_root + dir.string() + "/cpu.max");
    std::string quota;
    double period = 0;
    if (f >> quota >> period && quota != "max" && period > 0) {
      char* end = nullptr;
      const double q = std::strtod(quota.c_str(), &end);
      if (end != quota.c_str() && *end == '\0' && q > 0) {
        const int cpus = static_cast<int>(std::max(1.0, std::ceil(q / period - 1e-9)));
        least = least ? std::min(least, cpus) : cpus;
      }
    }
    if (dir == dir.parent_path()) break;
  }
  return least;
}

const std::vector<int>& usable_cpus() {
  static const std::vector<int> cpus = [] {
    std::vector<int> v;
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof set, &set) == 0)
      for (int c = 0; c < CPU_SETSIZE; ++c)
        if (CPU_ISSET(c, &set)) v.push_back(c);
    if (v.empty())
      for (long c = 0; c < std::max(1L, ::sysconf(_SC_NPROCESSORS_ONLN)); ++c) v.push_back(static_cast<int>(c));
    std::ifstream f("/proc/self/cgroup");
    std::stringstream text;
    text << f.rdbuf();
    if (const int limit = cgroup_cpu_limit("/sys/fs/cgroup", text.str()); limit > 0 && static_cast<std::size_t>(limit) < v.size())
      v.resize(static_cast<std::size_t>(limit));
    return v;
  }();
  return cpus;
}
namespace {
[[maybe_unused]] const bool g_cpus_read = !usable_cpus().empty();  // at load, before any pool pins a thread
}

void set_huge_pages(bool on) { g_huge_pages = on; }
bool huge_pages() { return g_huge_pages; }

HostBuffer::HostBuffer(std::size_t bytes) : bytes_(bytes) {
  // With --hugepages a buffer of at least one huge page is aligned to them and advised to the
  // kernel (madvise, as THP's "madvise" mode wants), before its first touch.
  const bool huge = g_huge_pages && bytes >= kHugePage;
  const std::size_t align = huge ? kHugePage : 64;
  const std::size_t total = (bytes + 2 * kGuardBytes + align - 1) / align * align;
  auto* p = static_cast<std::byte*>(std::aligned_alloc(align, total));
  if (!p) throw std::bad_alloc();
  if (huge) ::madvise(p, total, MADV_HUGEPAGE);
  std::memset(p, 0, total);  // first touch, by the allocating thread
  base_.reset(p);
}

std::vector<int> Collective::local_ranks() const {
  std::vector<int> r(problem_.ranks);
  for (int i = 0; i < problem_.ranks; ++i) r[i] = i;
  return r;
}

// (An empty buffer's pointer may be null, which memcpy may not be given even for 0 bytes.)
void Collective::read(const std::byte* src, void* dst, std::size_t bytes) {
  if (bytes) std::memcpy(dst, src, bytes);
}

void Collective::write(std::byte* dst, const void* src, std::size_t bytes) {
  if (bytes) std::memcpy(dst, src, bytes);
}

namespace {
void evict_lines(const std::byte* p, std::size_t bytes) {
#if defined(__x86_64__) || defined(__i386__)
  for (std::size_t i = 0; i < bytes; i += 64) __builtin_ia32_clflush(p + i);
  __builtin_ia32_mfence();
#else
  (void)p;
  (void)bytes;
#endif
}
}  // namespace

void HostBuffer::evict() const {
  if (base_) evict_lines(base_.get(), bytes_ + 2 * kGuardBytes);
}

void Collective::flush_caches() {
  if (memory() != Memory::host) return;
  for (int r : local_ranks()) {
    for (Buffer b : {send(r), recv(r)}) evict_lines(b.data - kGuardBytes, b.bytes + 2 * kGuardBytes);
  }
}

HostCollective::HostCollective(const Problem& problem)
    : Collective(problem), send_(problem.ranks), recv_(problem.ranks) {}

void HostCollective::allocate(int rank) {
  const Problem& p = problem();
  send_[rank] = HostBuffer(p.send_count(rank) * p.elem_bytes());
  recv_[rank] = HostBuffer(p.recv_count(rank) * p.elem_bytes());
}

bool valid_name(std::string_view n) {
  const std::size_t dot = n.find('.');
  if (dot == 0 || dot == std::string_view::npos || dot + 1 == n.size()) return false;
  for (std::size_t i = 0; i < n.size(); ++i) {
    const char c = n[i];
    if (i != dot && !((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_')) return false;
  }
  return true;
}

bool Implementation::implements(Primitive p) const {
  return std::find(primitives.begin(), primitives.end(), p) != primitives.end();
}

bool Registry::add(Implementation impl) {
  impls_.push_back(std::move(impl));
  return true;
}

bool Registry::add(Backend backend) {
  backends_.push_back(std::move(backend));
  return true;
}

const Backend* Registry::backend(std::string_view name) const {
  for (const auto& b : backends_)
    if (b.name == name) return &b;
  return nullptr;
}

std::vector<std::string> Registry::backend_names() const {
  std::vector<std::string> names;
  for (const auto& b : backends_) names.push_back(b.name);
  for (const auto& i : impls_)
    if (std::find(names.begin(), names.end(), i.backend()) == names.end())
      names.push_back(i.backend());
  return names;
}

const Availability& Registry::availability(std::string_view name) {
  for (const auto& [n, a] : probed_)
    if (n == name) return a;
  Availability a;
  if (const Backend* b = backend(name); b && b->probe) {
    try {
      a = b->probe();
    } catch (const std::exception& e) {
      a = {false, e.what(), ""};
    }
  }
  probed_.emplace_back(std::string(name), a);
  return probed_.back().second;
}

void Registry::remember(std::string_view name, Availability a) {
  for (auto& [n, known] : probed_)
    if (n == name) return void(known = std::move(a));
  probed_.emplace_back(std::string(name), std::move(a));
}

Registry& registry() {
  static Registry r;
  return r;
}

namespace {
std::unique_ptr<World>& world_slot() {
  static std::unique_ptr<World> w = std::make_unique<World>();
  return w;
}
}  // namespace

World& world() { return *world_slot(); }
void set_world(std::unique_ptr<World> w) { world_slot() = std::move(w); }

namespace {
std::atomic<void (*)(const char*, int)> g_say{nullptr};
}  // namespace

void ended_by(const char* call, int status) {
  static std::atomic<bool> first{true};
  if (const auto say = g_say.load(); say && first.exchange(false)) say(call, status);
}
void on_ended_by(void (*say)(const char* call, int status)) { g_say = say; }

}  // namespace primbench
