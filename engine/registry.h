// Every connector, listed by name in one place (registerAll), no static-initializer magic.
#pragma once

#include <string_view>
#include <vector>

#include "channels/common/connector.h"

namespace sb::engine {

class Registry {
 public:
  void add(channels::SourceFactory factory) { sources_.push_back(std::move(factory)); }
  void add(channels::SenderFactory factory) { senders_.push_back(std::move(factory)); }
  const channels::SourceFactory* source(std::string_view type) const;
  const channels::SenderFactory* sender(std::string_view type) const;
  const std::vector<channels::SourceFactory>& sources() const { return sources_; }
  const std::vector<channels::SenderFactory>& senders() const { return senders_; }

 private:
  std::vector<channels::SourceFactory> sources_;
  std::vector<channels::SenderFactory> senders_;
};

void registerAll(Registry& registry);

}  // namespace sb::engine
