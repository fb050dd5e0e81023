// `switchboard` subcommands. Each returns the process exit code.
#pragma once

#include <string>
#include <vector>

namespace sb::cli {

using Args = std::vector<std::string>;

int run(const Args& args);
int check(const Args& args);
int send(const Args& args);
int parse(const Args& args);
int messages(const Args& args);
int reprocess(const Args& args);
int configDoc(const Args& args);
int tryRoute(const Args& args);
int test(const Args& args);

// Small shared argument helpers.
struct ArgReader {
  explicit ArgReader(const Args& args) : args(args) {}
  const Args& args;
  std::size_t i = 0;
  bool done() const { return i >= args.size(); }
  const std::string& peek() const { return args[i]; }
  // "--name value" or "--name=value"; advances on a match. Throws on a missing value.
  bool option(const std::string& name, std::string& value);
  bool flag(const std::string& name);
};

}  // namespace sb::cli
