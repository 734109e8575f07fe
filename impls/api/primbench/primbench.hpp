// primbench public API: the problem, the collective an implementation prepares for it, and the
// registry that names implementations. In-tree backends and plugins use exactly this header.
#pragma once

#include <cstddef>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <initializer_list>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace primbench {

enum class Primitive { gather, scatter, reduce, allreduce, broadcast };
enum class DType { i32, i64, f32, f64 };
enum class Op { sum, prod, min, max };

// What a primitive is, in one place (docs/semantics.md for the semantics, nccl-tests for size and bus
// factor). Everything past the implementations reads this, never the enum itself.
struct PrimitiveInfo {
  Primitive primitive;
  std::string_view name;
  // Reducing: element i of a result combines element i of every rank's send buffer by the op.
  bool takes_op;
  // Has a root (allreduce has none: its root is always 0).
  bool rooted;
  // Blocks of `count` elements in `rank`'s send and receive buffers (0: MPI ignores the buffer).
  std::size_t (*send_blocks)(int rank, int root, int ranks);
  std::size_t (*recv_blocks)(int rank, int root, int ranks);
  // Copying (not takes_op): element i of `rank`'s receive buffer is element `index` of rank
  // `from`'s send buffer.
  struct Source {
    int from;
    std::size_t index;
  };
  Source (*source)(int rank, std::size_t i, std::size_t count, int root);
  // nccl-tests: the size algbw is computed from, in blocks, and busbw / algbw.
  double (*size_blocks)(int ranks);
  double (*bus_factor)(int ranks);
  // The least memory traffic of the whole collective, in blocks read and blocks written.
  double (*read_blocks)(int ranks);
  double (*written_blocks)(int ranks);
  // A copy: every block read is written once (all but reduce, which combines P into one).
  bool copies(int ranks) const { return written_blocks(ranks) >= read_blocks(ranks); }
};

// Every primitive, in enum order; and one of them by value or by name (null: no such name).
std::span<const PrimitiveInfo> primitives();
const PrimitiveInfo& info(Primitive p);
const PrimitiveInfo* find_primitive(std::string_view name);

std::string_view name(Primitive p);
std::string_view name(DType t);
std::string_view name(Op o);
std::size_t size_of(DType t);

// One collective call, with MPI semantics (docs/semantics.md): P ranks, `count` elements per rank.
struct Problem {
  Primitive primitive = Primitive::gather;
  int ranks = 1;
  std::size_t count = 0;
  DType dtype = DType::f32;
  Op op = Op::sum;  // reducing primitives only
  int root = 0;      // rooted primitives only

  const PrimitiveInfo& info() const { return primbench::info(primitive); }
  std::size_t elem_bytes() const { return size_of(dtype); }
  // Elements in `rank`'s send and receive buffers (0 where MPI ignores the buffer).
  std::size_t send_count(int rank) const;
  std::size_t recv_count(int rank) const;
  std::string describe() const;  // "gather P=2 n=1024 f32 root=0" (op where it takes one)
};

// Monotonic wall clock in seconds, for implementations timing their own ranks.
inline double now_seconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// The CPUs this process may use, in order, as read when primbench was loaded (a backend's pool
// later pins the thread that calls it): those of its affinity mask (taskset, a Slurm or cgroup
// cpuset, mpirun's binding), cut to the first ⌈quota⌉ where a cgroup v2 CPU quota allows fewer
// (cpu.max of its cgroup or any above it: a container's --cpus, a Kubernetes CPU limit); every
// online CPU where neither can be read. Never empty. std::thread::hardware_concurrency() counts
// the machine's, whatever this process may use.
const std::vector<int>& usable_cpus();
// The CPUs a cgroup v2 quota allows (⌈quota / period⌉, the least of the cgroup's and its
// ancestors'), given the cgroup file system's root and /proc/self/cgroup's text; 0: no quota.
int cgroup_cpu_limit(const std::string& cgroup_root, const std::string& self_cgroup);

// Every buffer has kGuardBytes of guard before and after its payload; the harness fills them
// and checks them, so a write past either end is caught.
inline constexpr std::size_t kGuardBytes = 64;

// A rank's buffer: `bytes` of payload at `data`, in the collective's memory (host or device).
struct Buffer {
  std::byte* data = nullptr;
  std::size_t bytes = 0;
  template <class T> T* as() const { return reinterpret_cast<T*>(data); }
};

// A guarded, 64-byte aligned host allocation. The constructor touches every byte, so the thread
// that constructs it is the one the OS places its pages next to (first touch).
// --hugepages: host buffers of 2 MiB or more are aligned to huge pages and madvise(MADV_HUGEPAGE)d.
void set_huge_pages(bool on);
bool huge_pages();

class HostBuffer {
 public:
  HostBuffer() = default;
  explicit HostBuffer(std::size_t bytes);
  Buffer view() const { return {base_.get() + kGuardBytes, bytes_}; }
  // Flushes all of it, guards included, from the CPU caches (what --cache cold does to every
  // buffer; backends call it from flush_caches() for scratch buffers of their own).
  void evict() const;

 private:
  struct Free { void operator()(std::byte* p) const; };
  std::unique_ptr<std::byte, Free> base_;
  std::size_t bytes_ = 0;
};

enum class Memory { host, device };

// A problem prepared on one implementation: its buffers allocated, ready to run repeatedly.
// Shared-memory backends hold every rank; an MPI process holds only its own rank.
class Collective {
 public:
  explicit Collective(const Problem& problem) : problem_(problem) {}
  virtual ~Collective() = default;
  Collective(const Collective&) = delete;
  Collective& operator=(const Collective&) = delete;

  const Problem& problem() const { return problem_; }

  // Ranks whose buffers live in this process, ascending. Default: all of them. The validator
  // gives inputs to and checks these; the runner refuses a collective whose list is not every
  // rank (a shared-memory backend) or this process's own (one process per rank).
  virtual std::vector<int> local_ranks() const;
  // Each exactly the problem's send_count / recv_count elements, with kGuardBytes of guard
  // either side (an empty one too: never null), and no two sharing a byte, guards included; the
  // validator fails a collective whose buffers are not (validate::layout). A HostBuffer of 0
  // bytes is such a buffer; a default-constructed one is not.
  virtual Buffer send(int rank) = 0;
  virtual Buffer recv(int rank) = 0;

  // Runs the collective once. Local ranks start together, synchronised outside their timed
  // intervals; seconds[i] receives the time local rank i took from its start until its part of
  // the collective was complete (for the root: until the result is in place). Where ranks share
  // too few CPUs to all run at once, from the first rank's start (thread.*: a rank waiting for a
  // CPU is part of the collective's time; docs/measurement.md, "One iteration").
  virtual void run(std::span<double> seconds) = 0;

  // Where buffers live; the harness moves data through read/write, so device memory works too.
  virtual Memory memory() const { return Memory::host; }
  virtual void read(const std::byte* src, void* dst, std::size_t bytes);
  virtual void write(std::byte* dst, const void* src, std::size_t bytes);
  // Evicts every local buffer (guards included) from the caches, outside the timed window.
  // Backends with scratch buffers of their own (staging) override it to evict those too.
  virtual void flush_caches();

  // Counters of the implementation's own, measured after each repetition outside the timed
  // window (mpi.nonblocking's overlap); every rank calls it at the same point, so it may
  // communicate. They join the repetition's entry beside the runner's; a name the entry already
  // has (real_time, iterations, membw, ...) makes the benchmark an error.
  virtual std::vector<std::pair<std::string, double>> measure_counters() { return {}; }

 private:
  Problem problem_;
};

// Collective whose buffers are HostBuffers. Backends call allocate(rank) from the thread that
// owns the rank, so each rank's pages are first touched by that rank.
class HostCollective : public Collective {
 public:
  explicit HostCollective(const Problem& problem);
  Buffer send(int rank) override { return send_[rank].view(); }
  Buffer recv(int rank) override { return recv_[rank].view(); }

 protected:
  void allocate(int rank);
  template <class T> T* send_ptr(int rank) { return send(rank).template as<T>(); }
  template <class T> T* recv_ptr(int rank) { return recv(rank).template as<T>(); }

 private:
  std::vector<HostBuffer> send_, recv_;
};

struct Availability {
  bool available = true;
  std::string reason;   // why not, when unavailable
  std::string version;  // library / runtime version, for the JSON context
  // A device backend's memory ceiling, measured by its probe: device-to-device copy, bytes read
  // plus written per second (GB/s, 1e9). 0 for backends whose buffers are in host memory.
  double device_copy_GBps = 0;
  // A device backend's free device memory at probe time (all its devices together), so the
  // runner refuses a problem that would not fit before allocating anything. 0: host memory.
  std::size_t device_free_bytes = 0;
};

using Factory = std::function<std::unique_ptr<Collective>(const Problem&)>;

// The primitives an implementation registered without a list implements: the three primbench
// started with, so a plugin written then is not planned for a primitive it never heard of.
inline constexpr Primitive kFirstPrimitives[] = {Primitive::gather, Primitive::scatter, Primitive::reduce};

struct Implementation {
  std::string name;  // "backend.algorithm"
  Factory make;
  std::vector<Primitive> primitives;  // what it implements; others are listed, not run
  // Why it cannot run here though its backend can (a call this build's library lacks); listed
  // as unavailable with this reason, never planned. Empty where it can.
  std::string unavailable = {};
  std::string backend() const { return name.substr(0, name.find('.')); }
  bool implements(Primitive p) const;
};

// The reference beside each benchmark in a device backend's memory (docs/measurement.md), made
// by Backend::reference for one benchmark and measured by the runner before every repetition.
class DeviceReference {
 public:
  virtual ~DeviceReference() = default;
  // Seconds one pass of the reference takes, timed as the backend times a collective.
  virtual double trial() = 0;
};

// How a process-per-rank backend starts its ranks: the command line that runs `program`
// (primbench's own worker command line) as `ranks` processes, and their environment.
struct Launch {
  std::vector<std::string> argv;
  std::vector<std::string> environment;  // NAME=value
};
using Launcher = std::function<Launch(int ranks, const std::vector<std::string>& program)>;

struct Backend {
  std::string name;
  std::function<Availability()> probe;
  // Set for backends whose ranks are separate processes (one local rank per process), started
  // by the backend's own launcher (MPI: mpirun); the supervisor knows nothing else of it.
  Launcher launch = {};
  // Elements per rank one call of the backend's library can take (MPI: an int count); larger
  // problems are refused before anything runs.
  std::size_t max_count = SIZE_MAX;
  // Why its ranks cannot run --root rotate (a root that changes every iteration, which
  // primbench's own loop does with one collective per root); empty where they can.
  std::string no_rotation = {};
  // A device backend's reference for one benchmark of problem `p` whose buffers are in the
  // backend's memory: the same memory traffic, `traffic_bytes` read plus written, as a
  // device-to-device copy at that working set, where all of p's ranks are on one device (else
  // nullptr: no one device's copy is the limit). `cold`: the caches flushed before every pass,
  // as --cache cold flushes them before every iteration. Where unset or null, results are
  // compared with Availability::device_copy_GBps.
  std::function<std::unique_ptr<DeviceReference>(const Problem& p, double traffic_bytes, bool cold)> reference = {};
  bool process_per_rank() const { return static_cast<bool>(launch); }
};

// Implementation and backend names: `backend.algorithm`, each part of [a-z0-9_].
bool valid_name(std::string_view implementation);

class Registry {
 public:
  bool add(Implementation impl);
  bool add(Backend backend);
  const std::vector<Implementation>& implementations() const { return impls_; }
  const Backend* backend(std::string_view name) const;
  std::vector<std::string> backend_names() const;
  // Cached availability of a backend; a backend never registered is available.
  const Availability& availability(std::string_view backend);
  // Records a backend's availability as found elsewhere (its probe run in a child process), so
  // availability() does not probe it here.
  void remember(std::string_view backend, Availability a);

 private:
  std::vector<Implementation> impls_;
  std::vector<Backend> backends_;
  std::deque<std::pair<std::string, Availability>> probed_;  // stable references
};

Registry& registry();

// The processes that together hold all ranks. One process (the default) for shared-memory
// runs; the MPI backend installs its communicator so results and errors agree across ranks.
class World {
 public:
  virtual ~World() = default;
  virtual int rank() const { return 0; }
  virtual int size() const { return 1; }
  virtual void barrier() {}
  virtual double max(double v) { return v; }
  virtual double min(double v) { return v; }
  virtual double sum(double v) { return v; }
  // The first non-empty message by rank order, on every rank ("" when all are empty).
  virtual std::string first_error(const std::string& local) { return local; }
  // Host name of every process, in rank order; empty when all ranks are in this process.
  virtual std::vector<std::string> hosts() { return {}; }
  // The process's last word with the others before it ends (MPI_Finalize).
  virtual void finalize() {}
};

World& world();
void set_world(std::unique_ptr<World> w);

// primbench's own, not the plugins': what a process of primbench says first when something else
// ends it early, an implementation or a library it uses, by calling exit() or MPI_Abort(), which
// primbench defines over the libraries' (bench/main.cpp, impls/mpi/world.cpp). Once a process:
// the first such call is the one said. `call` is how it was called, {} standing for its status.
void ended_by(const char* call, int status);
void on_ended_by(void (*say)(const char* call, int status));

}  // namespace primbench

#define PRIMBENCH_CAT2(a, b) a##b
#define PRIMBENCH_CAT(a, b) PRIMBENCH_CAT2(a, b)

// One line next to an implementation, with the primitives it implements:
//   PRIMBENCH_REGISTER("thread.flat", ThreadFlat, Primitive::gather, Primitive::allreduce);
// TYPE is a Collective constructible from a const Problem&. Without a list: kFirstPrimitives.
#define PRIMBENCH_REGISTER(NAME, TYPE, ...)                                             \
  [[maybe_unused]] static const bool PRIMBENCH_CAT(primbench_impl_, __COUNTER__) =     \
      ::primbench::registry().add(::primbench::Implementation{                         \
          NAME, [](const ::primbench::Problem& p) -> std::unique_ptr<::primbench::Collective> { \
            return std::make_unique<TYPE>(p);                                           \
          }, ::primbench::primitive_list({__VA_ARGS__})})

namespace primbench {
// The list PRIMBENCH_REGISTER was given, or kFirstPrimitives for none.
inline std::vector<Primitive> primitive_list(std::initializer_list<Primitive> given) {
  if (given.size() == 0) return {std::begin(kFirstPrimitives), std::end(kFirstPrimitives)};
  return given;
}
}  // namespace primbench

// Declares a backend and how to tell whether it can run here: PRIMBENCH_BACKEND("cuda", probe);
#define PRIMBENCH_BACKEND(NAME, PROBE, ...)                                             \
  [[maybe_unused]] static const bool PRIMBENCH_CAT(primbench_backend_, __COUNTER__) =  \
      ::primbench::registry().add(::primbench::Backend{NAME, PROBE, ##__VA_ARGS__})
