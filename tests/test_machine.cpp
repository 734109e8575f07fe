// The machine's state (bench/machine.cpp): the CPU time of the processes that started a worker,
// up to its supervisor, is the run's own, so a supervisor rewriting --out between benchmarks does
// not mark the next one "busy" (it did, 79 of the default suite's 1062 on a quiet machine).
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>

#include "machine.hpp"

namespace primbench {
namespace {

// Burns about `seconds` of this process's CPU.
void burn(double seconds) {
  const auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  volatile unsigned long x = 0;
  while (std::chrono::steady_clock::now() < end) x = x + 1;
}

TEST(Machine, TheTicksOfTheProcessesThatStartedAWorkerAreCountedUpToItsSupervisor) {
  burn(0.3);  // this process: the "supervisor", 30 ticks or so
  const pid_t supervisor = ::getpid();
  int out[2];
  ASSERT_EQ(::pipe(out), 0);
  const pid_t sibling = ::fork();
  if (sibling == 0) {  // not an ancestor of the worker below
    ::pause();
    ::_exit(0);
  }
  const pid_t worker = ::fork();
  if (worker == 0) {
    const long long got[3] = {launch_ticks(supervisor), launch_ticks(sibling), launch_ticks(0)};
    [[maybe_unused]] ssize_t w = ::write(out[1], got, sizeof got);
    ::_exit(0);
  }
  long long got[3] = {-1, -1, -1};
  ASSERT_EQ(::read(out[0], got, sizeof got), static_cast<ssize_t>(sizeof got));
  ::waitpid(worker, nullptr, 0);
  ::kill(sibling, SIGKILL);
  ::waitpid(sibling, nullptr, 0);
  ::close(out[0]), ::close(out[1]);
  EXPECT_GE(got[0], 15) << "the supervisor's ticks";
  EXPECT_EQ(got[1], 0) << "a process that did not start the worker";
  EXPECT_EQ(got[2], 0) << "no supervisor";
}

}  // namespace
}  // namespace primbench
