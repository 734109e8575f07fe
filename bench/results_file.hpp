// --out: checked before anything is measured, locked for the run, replaced atomically.
#pragma once

#include <stdexcept>
#include <string>
#include <vector>

namespace primbench {

// Writing --out failed (a full disk): the last good file is kept and no temporary is left.
struct WriteError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

class ResultsFile {
 public:
  // Refuses (UsageError) a path whose directory is missing or not writable, a directory, a
  // device, FIFO or socket, a read-only file, one another run is writing, a journal (through
  // symlinks too) or one of `plugins`. A symlink's target is what gets written; the link stays.
  explicit ResultsFile(const std::string& path, const std::vector<std::string>& plugins = {});
  ~ResultsFile();
  ResultsFile(const ResultsFile&) = delete;
  ResultsFile& operator=(const ResultsFile&) = delete;

  const std::string& path() const { return path_; }
  // The run's journal next to the file (hidden); it is also the lock.
  const std::string& journal() const { return journal_; }
  // The journal a run that was killed left behind ("" when none): --resume reads it.
  const std::string& stale_journal() const { return stale_; }
  void forget_stale();  // empties the journal left behind, once read

  // A unique temporary file in the same directory, then rename(2); throws WriteError.
  void write(const std::string& text, bool sync);
  // The run is complete and written: the journal is no longer needed.
  void finish();

 private:
  std::string path_, target_, dir_, journal_, stale_;
  int lock_ = -1;
};

}  // namespace primbench
