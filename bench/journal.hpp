// The journal: one JSON line per event of a run (a worker starting, a benchmark starting, its
// phase, its finished entries), appended and flushed by whichever process produced it, so that
// keeping a result costs one write(2) whatever the run's size, and a process that dies loses
// nothing it had finished. The supervisor tails it and writes --out from it.
#pragma once

#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <vector>

namespace primbench {

// Why a journal could not be written (a full disk): the run cannot keep results.
struct JournalError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

class Journal {
 public:
  explicit Journal(const std::string& path);  // appends to `path` (created if missing)
  ~Journal();
  Journal(const Journal&) = delete;
  Journal& operator=(const Journal&) = delete;
  // One line, in one write(2) on an O_APPEND descriptor; throws JournalError. Once sealed, none.
  void append(const nlohmann::json& line);
  // From here on no journal of this process is written to (a thread appending waits forever):
  // for an exit() that is not primbench's, while its main thread may still say "done".
  static void seal();

 private:
  std::string path_;
  int fd_ = -1;
};

// Reads the complete lines appended since the last call (a line still being written waits).
class JournalReader {
 public:
  explicit JournalReader(std::string path) : path_(std::move(path)) {}
  std::vector<nlohmann::json> read_new();

 private:
  std::string path_;
  unsigned long inode_ = 0;
  long long offset_ = 0;
  std::string partial_;
};

// A worker's message to the supervisor on its stderr: kept as the reason, not forwarded.
inline constexpr char kWorkerSays[] = "primbench: worker: ";
// What follows it when the worker could not write its journal: the run ends (a full disk is the
// run's, not the benchmark's).
inline constexpr char kJournalFailed[] = "journal: ";

}  // namespace primbench
