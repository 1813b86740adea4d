// Test helper shared by the CLI tests: runs the real attestctl binary
// (ATTESTCTL_PATH, set by cli/CMakeLists.txt) and captures stdout and the
// exit code.
#ifndef RP_CLI_ATTESTCTL_TEST_RUNNER_H_
#define RP_CLI_ATTESTCTL_TEST_RUNNER_H_

#include <sys/wait.h>

#include <cstdio>
#include <string>

namespace rp::cli::testing {

struct CmdResult {
  int exit_code = -1;  // -1 if it could not be started or did not exit
  std::string out;     // stdout (stderr is discarded)
};

inline CmdResult Attestctl(const std::string& args) {
  const std::string cmd = std::string(ATTESTCTL_PATH) + " " + args + " 2>/dev/null";
  CmdResult r;
  FILE* p = popen(cmd.c_str(), "r");
  if (p == nullptr) return r;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), p)) > 0) r.out.append(buf, n);
  const int st = pclose(p);
  r.exit_code = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return r;
}

}  // namespace rp::cli::testing

#endif  // RP_CLI_ATTESTCTL_TEST_RUNNER_H_
