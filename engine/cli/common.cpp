#include <stdexcept>

#include "engine/cli/cli.h"

namespace sb::cli {

bool ArgReader::option(const std::string& name, std::string& value) {
  if (done()) return false;
  const std::string& a = args[i];
  if (a == name) {
    if (i + 1 >= args.size()) throw std::invalid_argument(name + " needs a value");
    value = args[i + 1];
    i += 2;
    return true;
  }
  if (a.size() > name.size() && a.compare(0, name.size(), name) == 0 && a[name.size()] == '=') {
    value = a.substr(name.size() + 1);
    ++i;
    return true;
  }
  return false;
}

bool ArgReader::flag(const std::string& name) {
  if (!done() && args[i] == name) {
    ++i;
    return true;
  }
  return false;
}

}  // namespace sb::cli
