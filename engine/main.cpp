#include <iostream>
#include <string>

#include "engine/cli/cli.h"

namespace {

constexpr const char* kUsage =
    "switchboard — healthcare integration engine\n\n"
    "usage:\n"
    "  switchboard run CONFIG [--data-dir DIR] [--log-level LEVEL]\n"
    "  switchboard check CONFIG\n"
    "  switchboard send --mllp HOST:PORT [--tls ...] FILE...\n"
    "  switchboard parse [--validate] FILE...\n"
    "  switchboard messages [--data-dir DIR] [filters] [--json] | show ID\n"
    "  switchboard reprocess [--data-dir DIR] ID... | --dead-letter DESTINATION\n"
    "  switchboard try CONFIG ROUTE FILE\n"
    "  switchboard test [DIR] [--allow-untested]\n"
    "  switchboard config-doc\n";

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::cerr << kUsage;
    return 2;
  }
  const std::string command = argv[1];
  const sb::cli::Args args(argv + 2, argv + argc);
  if (command == "run") return sb::cli::run(args);
  if (command == "check") return sb::cli::check(args);
  if (command == "send") return sb::cli::send(args);
  if (command == "parse") return sb::cli::parse(args);
  if (command == "messages") return sb::cli::messages(args);
  if (command == "reprocess") return sb::cli::reprocess(args);
  if (command == "config-doc") return sb::cli::configDoc(args);
  if (command == "try") return sb::cli::tryRoute(args);
  if (command == "test") return sb::cli::test(args);
  if (command == "--help" || command == "-h" || command == "help") {
    std::cout << kUsage;
    return 0;
  }
  std::cerr << "unknown command '" << command << "'\n" << kUsage;
  return 2;
}
