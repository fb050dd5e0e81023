#include "channels/mllp/mllp.h"

namespace sb::mllp {

std::string frame(std::string_view payload) {
  std::string out;
  out.reserve(payload.size() + 3);
  out.push_back(kStartBlock);
  out.append(payload);
  out.push_back(kEndBlock);
  out.push_back(kCarriageReturn);
  return out;
}

FrameDecoder::FrameDecoder(std::size_t maxFrameBytes) : maxFrameBytes_(maxFrameBytes) {}

void FrameDecoder::feed(std::string_view data, std::vector<Event>& out) {
  std::size_t pos = 0;
  while (pos < data.size()) {
    switch (state_) {
      case State::kAfterEnd:
        state_ = State::kOutside;
        if (data[pos] == kCarriageReturn) ++pos;
        break;
      case State::kOutside: {
        const std::size_t start = data.find(kStartBlock, pos);
        const std::size_t end = start == std::string_view::npos ? data.size() : start;
        junk_.append(data.substr(pos, end - pos));
        pos = end;
        if (start != std::string_view::npos) {
          if (!junk_.empty()) {
            out.push_back(Event{Event::Kind::kJunk, std::move(junk_)});
            junk_.clear();
          }
          ++pos;
          state_ = State::kInside;
          buffer_.clear();
        }
        break;
      }
      case State::kInside: {
        // Scan in bulk: frames can be megabytes and arrive in large reads.
        const std::size_t endAt = data.find(kEndBlock, pos);
        const std::size_t stop = endAt == std::string_view::npos ? data.size() : endAt;
        const std::size_t room = maxFrameBytes_ - buffer_.size();
        const std::size_t chunk = stop - pos;
        if (chunk > room) {
          buffer_.append(data.substr(pos, room));
          discarded_ = chunk - room;
          state_ = State::kDiscarding;
          pos = stop;
        } else {
          buffer_.append(data.substr(pos, chunk));
          pos = stop;
        }
        if (endAt != std::string_view::npos && state_ == State::kInside) {
          ++pos;
          out.push_back(Event{Event::Kind::kFrame, std::move(buffer_)});
          buffer_.clear();
          state_ = State::kAfterEnd;
        }
        break;
      }
      case State::kDiscarding: {
        const std::size_t endAt = data.find(kEndBlock, pos);
        const std::size_t stop = endAt == std::string_view::npos ? data.size() : endAt;
        discarded_ += stop - pos;
        pos = stop;
        if (endAt != std::string_view::npos) {
          ++pos;
          const std::size_t total = buffer_.size() + discarded_;
          out.push_back(Event{Event::Kind::kOversized, std::move(buffer_), total});
          buffer_.clear();
          discarded_ = 0;
          state_ = State::kAfterEnd;
        }
        break;
      }
    }
  }
  // Reported per feed so that a peer streaming junk cannot grow our buffer without bound.
  if (!junk_.empty()) {
    out.push_back(Event{Event::Kind::kJunk, std::move(junk_)});
    junk_.clear();
  }
}

bool FrameDecoder::inFrame() const {
  return state_ == State::kInside || state_ == State::kDiscarding;
}

std::size_t FrameDecoder::bufferedBytes() const {
  return inFrame() ? buffer_.size() : 0;
}

std::string FrameDecoder::takePartial() {
  std::string partial;
  if (inFrame()) partial = std::move(buffer_);
  buffer_.clear();
  discarded_ = 0;
  state_ = State::kOutside;
  return partial;
}

}  // namespace sb::mllp
