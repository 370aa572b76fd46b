// Subprocess helpers for end-to-end tests: run a program to completion with captured output, and
// pick free TCP ports. Every process started here is waited for (reaped), even on timeout.
#pragma once

#include <sys/types.h>

#include <map>
#include <string>
#include <vector>

namespace rdb::test {

struct ProcessResult {
  int exit_code = -1;  // -1 if killed by a signal (then `signal` is set)
  int signal = 0;
  bool timed_out = false;
  std::string out;
  std::string err;
};

// Runs argv[0] (a path) with argv, extra environment variables (added to or overriding the current
// environment; an empty value unsets), and stdin_data on standard input. Kills it with SIGKILL
// after timeout_ms.
ProcessResult RunProcess(const std::vector<std::string>& argv,
                         const std::map<std::string, std::string>& env = {},
                         const std::string& stdin_data = "", int timeout_ms = 30000);

// A TCP port on 127.0.0.1 that was free a moment ago (bound with port 0, then released).
int FreePort();

// fork + exec with stdout and stderr appended to log_path; the child dies with the parent
// (PR_SET_PDEATHSIG). Returns the pid, or -1.
pid_t SpawnProcess(const std::vector<std::string>& argv, const std::string& log_path,
                   const std::map<std::string, std::string>& env = {});

// Waits for pid up to timeout_ms. Returns true and the wait status if it exited.
bool WaitForExit(pid_t pid, int timeout_ms, int* wait_status);

}  // namespace rdb::test
