#include "context.hpp"

#include <dlfcn.h>
#include <link.h>
#include <unistd.h>

#include <benchmark/benchmark.h>

#include <cstdlib>
#include <cstring>
#include <fmt/format.h>
#include <fstream>
#include <map>
#include <sstream>

#include "ceilings.hpp"
#include "machine.hpp"
#include "primbench/primbench.hpp"
#include "runner.hpp"
#include "revision.hpp"
#include "version.hpp"

namespace primbench {

std::string cpu_model() {
  std::ifstream f("/proc/cpuinfo");
  for (std::string line; std::getline(f, line);)
    if (line.rfind("model name", 0) == 0) return line.substr(line.find(':') + 2);
  return "unknown";
}

Ceilings measure_ceilings(const RunOptions& opts, bool leader) {
  Ceilings c;
  if (leader) {
    c = opts.ceilings;
    if (!(c.host_read_GBps > 0 && c.host_copy_GBps > 0)) {
      const Ceilings h = measure_host_ceilings();
      c.host_read_GBps = h.host_read_GBps, c.host_copy_GBps = h.host_copy_GBps;
    }
    if (!(c.host_cache_copy_GBps > 0)) c.host_cache_copy_GBps = measure_cache_copy_GBps();
    if (!(c.host_round_trip_ns > 0)) c.host_round_trip_ns = measure_round_trip_ns();  // milliseconds
  }
  c.device_copy_GBps = 0;
  Registry& reg = registry();
  for (const std::string& b : reg.backend_names())
    c.device_copy_GBps = std::max(c.device_copy_GBps, reg.availability(b).device_copy_GBps);
  return c;
}

namespace {
std::string host_name() {
  char buf[256] = {};
  ::gethostname(buf, sizeof buf - 1);
  return buf;
}

// The GNU build ID (hex) of the loaded object at load address `base`, or of the program itself
// (the first object: primbench links everything of its own into it) where `program`; "" if none.
std::string loaded_build_id(bool program, ElfW(Addr) base) {
  struct Wanted {
    bool program;
    ElfW(Addr) base;
    std::string hex;
  } wanted{program, base, {}};
  ::dl_iterate_phdr([](dl_phdr_info* info, std::size_t, void* out) {
    auto& w = *static_cast<Wanted*>(out);
    if (!w.program && info->dlpi_addr != w.base) return 0;
    for (int i = 0; i < info->dlpi_phnum; ++i) {
      const ElfW(Phdr)& ph = info->dlpi_phdr[i];
      if (ph.p_type != PT_NOTE) continue;
      const char* p = reinterpret_cast<const char*>(info->dlpi_addr + ph.p_vaddr);
      const char* const end = p + ph.p_memsz;
      while (p + sizeof(ElfW(Nhdr)) <= end) {
        const auto* note = reinterpret_cast<const ElfW(Nhdr)*>(p);
        const char* name = p + sizeof *note;
        const char* desc = name + ((note->n_namesz + 3) & ~3u);
        if (desc + note->n_descsz > end) break;
        if (note->n_type == NT_GNU_BUILD_ID && note->n_namesz == 4 && std::memcmp(name, "GNU", 4) == 0) {
          for (unsigned k = 0; k < note->n_descsz; ++k) w.hex += fmt::format("{:02x}", static_cast<unsigned char>(desc[k]));
          return 1;
        }
        p = desc + ((note->n_descsz + 3) & ~3u);
      }
    }
    return 1;
  }, &wanted);
  return wanted.hex;
}

// A file's build where nothing else names it: "contents:" and the 64-bit FNV-1a hash of its bytes
// (hex), as the mpi4py peer names its script and validator.
std::string contents_id(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::uint64_t h = 0xcbf29ce484222325ull;  // FNV-1a, 64-bit (its offset basis lacked a digit until 2026-12-06)
  for (char c; f.get(c);) h = (h ^ static_cast<unsigned char>(c)) * 0x100000001b3ull;
  return fmt::format("contents:{:016x}", h);
}

// The plugins this process loaded, by the path --plugin gave: their build IDs.
std::map<std::string, std::string>& plugin_ids() {
  static std::map<std::string, std::string> ids;
  return ids;
}
}  // namespace

std::string build_id() {
  static const std::string id = loaded_build_id(true, 0);
  return id;
}

void plugin_loaded(const std::string& path, void* handle) {
  link_map* map = nullptr;
  std::string id = ::dlinfo(handle, RTLD_DI_LINKMAP, &map) == 0 && map ? loaded_build_id(false, map->l_addr) : "";
  plugin_ids()[path] = id.empty() ? contents_id(path) : id;  // linked without one (-Wl,--build-id=none)
}

nlohmann::json plugin_builds() { return plugin_ids(); }

nlohmann::json options_record(const RunOptions& o) {
  nlohmann::json r = {{"validate", o.validate_rounds},
                      {"check", o.both_modes ? "both" : o.mode == validate::Mode::exact ? "exact" : "random"},
                      {"seed", o.seed}};
  if (o.timing)
    r.update({{"repetitions", o.repetitions}, {"min-time", o.min_time}, {"warmup", o.warmup}, {"cache", o.cold ? "cold" : "hot"},
              {"check-iterations", o.check_iterations}, {"check-budget", o.check_budget}, {"rse", o.rse},
              {"rse-max-time", o.rse_max_time}, {"hugepages", o.huge_pages}, {"aggregates-only", o.aggregates_only}});
  return r;
}

nlohmann::json primbench_context(const RunOptions& opts, const Ceilings& ceilings) {
  nlohmann::json backends = nlohmann::json::object();
  Registry& reg = registry();
  for (const std::string& b : reg.backend_names()) {
    const Availability& a = reg.availability(b);
    backends[b] = {{"available", a.available}, {"reason", a.reason}, {"version", a.version}};
  }
  nlohmann::json ceil = {{"host_read_GBps", ceilings.host_read_GBps}, {"host_copy_GBps", ceilings.host_copy_GBps},
                         {"host_cache_copy_GBps", ceilings.host_cache_copy_GBps},
                         {"host_round_trip_ns", ceilings.host_round_trip_ns}};
  if (ceilings.device_copy_GBps > 0) ceil["device_copy_GBps"] = ceilings.device_copy_GBps;
  nlohmann::json hosts = nlohmann::json::object();  // ranks per host, for process-per-rank runs
  for (const std::string& h : world().hosts()) hosts[h] = hosts.value(h, 0) + 1;
  nlohmann::json c = {{"version", kVersion},
          {"git_revision", kGitRevision},
          {"build_id", build_id()},
          {"plugins", plugin_builds()},
          {"build_type", kBuildType},
          {"compiler", kCompiler},
          {"command_line", opts.command_line},
          {"options", options_record(opts)},
          {"machine", host_name() + " / " + cpu_model()},
          {"world_size", world().size()},
          {"hosts", hosts},
          {"ceilings", ceil},
          {"host", host_settings()},
          {"hugepages", huge_pages()},
          {"backends", backends}};
  // The test-only knob that slows thread.* (impls/thread/thread.cpp): a run with it set measured
  // deliberately slowed implementations, and says so.
  if (const char* knob = std::getenv("PRIMBENCH_TEST_SLOWDOWN"); knob && *knob) c["test_slowdown"] = knob;
  // Under Slurm: the job and step this ran in, as srun set them for the tasks.
  nlohmann::json slurm = nlohmann::json::object();
  for (auto [key, variable] : {std::pair{"job_id", "SLURM_JOB_ID"}, std::pair{"step_id", "SLURM_STEP_ID"},
                               std::pair{"nodelist", "SLURM_JOB_NODELIST"}, std::pair{"ntasks", "SLURM_NTASKS"},
                               std::pair{"tasks_per_node", "SLURM_STEP_TASKS_PER_NODE"}, std::pair{"cluster", "SLURM_CLUSTER_NAME"},
                               std::pair{"partition", "SLURM_JOB_PARTITION"}, std::pair{"mpi_type", "SLURM_MPI_TYPE"}})
    if (const char* v = std::getenv(variable)) slurm[key] = v;
  if (!slurm.empty()) c["slurm"] = slurm;
  return c;
}

nlohmann::json google_benchmark_context() {
  using Context = benchmark::BenchmarkReporter::Context;
  if (!Context::executable_name) Context::executable_name = "primbench";
  std::ostringstream out, err;
  benchmark::JSONReporter reporter;
  reporter.SetOutputStream(&out);
  reporter.SetErrorStream(&err);
  reporter.ReportContext(Context());
  reporter.Finalize();
  const nlohmann::json doc = nlohmann::json::parse(out.str(), nullptr, false);
  return doc.is_object() && doc.contains("context") ? doc["context"] : nlohmann::json::object();
}

}  // namespace primbench
