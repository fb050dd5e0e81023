#include "engine/cli/route_mocks.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <fstream>
#include <sstream>

#include <fmt/format.h>

#include "channels/http/core_envelope.h"
#include "channels/http/http_sender.h"
#include "channels/mllp/mllp_connector.h"
#include "parsers/hl7v2/hl7v2.h"

namespace sb::cli {
namespace {

using config::KeySpec;
using config::ValueType;

constexpr std::array kRespondKeys = {
    KeySpec{"status", ValueType::kInteger, false, "", "HTTP: the status code"},
    KeySpec{"body", ValueType::kString, false, "",
            "HTTP: the body (envelope = \"core\": the Payload); MLLP: the answer"},
    KeySpec{"file", ValueType::kString, false, "", "like body, from a file"},
    KeySpec{"headers", ValueType::kTable, false, "", "HTTP: response headers"},
    KeySpec{"ack", ValueType::kString, false, "", "MLLP: AA, AE, AR, CA, CE or CR"},
    KeySpec{"text", ValueType::kString, false, "", "MLLP: MSA-3 of the ACK built"},
    KeySpec{"core_error", ValueType::kString, false, "Success", "CORE: the ErrorCode"},
    KeySpec{"core_error_message", ValueType::kString, false, "", "CORE: the ErrorMessage"},
    KeySpec{"core_envelope", ValueType::kBool, false, "true",
            "CORE: false sends body as it is, not in a CORE envelope"},
    KeySpec{"error", ValueType::kString, false, "",
            "any: the destination cannot be reached or written"},
};

constexpr std::array<std::string_view, 6> kAckCodes = {"AA", "AE", "AR", "CA", "CE", "CR"};

std::optional<std::string> slurp(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// What a peer's text looks like in one report line.
std::string shortText(std::string_view text, std::size_t max = 80) {
  std::string out;
  for (std::size_t i = 0; i < text.size() && i < max; ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    out.push_back(c == '\r' || c == '\n' ? ' '
                                         : (c >= 0x20 && c < 0x7f ? static_cast<char>(c) : '?'));
  }
  if (text.size() > max) out += "...";
  return out;
}

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

std::optional<std::string> header(const MockResponse& mock, std::string_view name) {
  for (const auto& [n, v] : mock.headers) {
    if (iequals(n, name)) return v;
  }
  return std::nullopt;
}

channels::SendResult httpOutcome(const channels::http::HttpSender& sender, const MockResponse& mock,
                                 std::time_t now) {
  const auto& options = sender.options();
  channels::http::HttpResponse response;
  response.status = *mock.status;
  response.retryAfter = header(mock, "Retry-After");
  response.contentType = header(mock, "Content-Type").value_or("");
  std::string body = mock.body.value_or("");
  if (options.core && mock.coreEnvelope) {
    // The payer's answer as a CORE response envelope, the way a CORE server sends it.
    channels::core::Envelope e;
    e.payloadType = body.empty() ? std::string(channels::core::kCoreEnvelopeError)
                                 : channels::http::corePayloadType(body).value_or(
                                       std::string(channels::core::kCoreEnvelopeError));
    e.processingMode = options.core->processingMode;
    e.payloadId = "00000000-0000-4000-8000-000000000000";
    e.timeStamp = "2026-01-01T12:00:00Z";
    e.senderId = options.core->receiverId;
    e.receiverId = options.core->senderId;
    e.coreRuleVersion = options.core->ruleVersion;
    e.errorCode =
        mock.coreError.empty() ? std::string(channels::core::error::kSuccess) : mock.coreError;
    e.errorMessage = mock.coreErrorMessage;
    e.payload = std::move(body);
    channels::core::Encoded encoded = channels::core::encodeMultipart(e);
    response.contentType = std::move(encoded.contentType);
    body = std::move(encoded.body);
  }
  // As the sender reads it: bytes beyond max_response_bytes are dropped.
  if (body.size() > options.maxResponseBytes) {
    body.resize(options.maxResponseBytes);
    response.complete = false;
  }
  response.body = std::move(body);
  return channels::http::classifyResponse(options, std::move(response), now);
}

std::optional<hl7::AckCode> ackCode(std::string_view code) {
  for (std::size_t i = 0; i < kAckCodes.size(); ++i) {
    if (kAckCodes[i] == code) return static_cast<hl7::AckCode>(i);
  }
  return std::nullopt;
}

channels::SendResult mllpOutcome(const channels::mllp_connector::MllpSender& sender,
                                 const MockResponse& mock, const std::string& payload) {
  std::string answer;
  if (mock.body) {
    // Files may use LF line ends; a peer sends CR.
    for (std::size_t i = 0; i < mock.body->size(); ++i) {
      const char c = (*mock.body)[i];
      if (c == '\r' && i + 1 < mock.body->size() && (*mock.body)[i + 1] == '\n') continue;
      answer.push_back(c == '\n' ? '\r' : c);
    }
  } else {
    const auto parsed = hl7::Message::parse(payload);
    if (!parsed.ok()) {
      return channels::SendResult::fail(
          "respond: the message sent is not HL7 v2, so no ACK can be built for it; give the "
          "answer as body or file");
    }
    hl7::AckOptions options;
    options.controlId = "ACK0001";
    options.timestamp = "20260101120000";
    options.textMessage = mock.text;
    answer = hl7::buildAck(*parsed.message, *ackCode(mock.ack), {}, options);
  }
  return channels::mllp_connector::classifyAck(sender.options(), std::move(answer)).result;
}

}  // namespace

std::optional<MockResponse> readMock(const config::Section& test, const std::string& destination,
                                     const config::Node& node, const engine::DestinationPlan& plan,
                                     const std::filesystem::path& base, config::Errors& errors) {
  const std::size_t before = errors.items.size();
  const std::string context = "respond." + destination;
  if (node.kind != config::Node::Kind::kMap) {
    errors.add(
        fmt::format("{}: '{}': must be a table such as {{ status = 503 }}", test.where(), context));
    return std::nullopt;
  }
  const config::Reader r(test, node, kRespondKeys, errors, context);
  MockResponse mock;
  const auto* http = dynamic_cast<const channels::http::HttpSender*>(plan.sender.get());
  const auto* mllp = dynamic_cast<const channels::mllp_connector::MllpSender*>(plan.sender.get());
  const auto notFor = [&](std::string_view key, std::string_view why) {
    if (r.has(key)) r.fail(key, fmt::format("'{}' is {}", destination, why));
  };
  if (r.has("error")) {
    mock.error = r.string("error");
    for (const auto& k : kRespondKeys) {
      if (k.key != "error" && r.has(k.key)) r.fail(k.key, "cannot be used together with error");
    }
    return errors.items.size() == before ? std::optional(mock) : std::nullopt;
  }
  if (r.has("body") && r.has("file")) r.fail("file", "cannot be used together with body");
  if (r.has("body")) mock.body = r.string("body");
  if (r.has("file")) {
    mock.body = slurp(base / r.string("file"));
    if (!mock.body) r.fail("file", fmt::format("cannot read {}", r.string("file")));
  }
  const std::string kind = fmt::format("of type {}", plan.type);
  if (http) {
    if (r.has("status")) {
      mock.status = r.integer("status", 200, 100, 599);
    } else {
      r.fail("status", "is required for an HTTP destination (or give error)");
    }
    if (const config::Node* h = r.node("headers")) {
      for (const auto& [name, value] : h->map) {
        if (value.kind != config::Node::Kind::kString) {
          r.fail("headers." + name, "must be a string");
        } else {
          mock.headers.emplace_back(name, value.text);
        }
      }
    }
    mock.coreError = r.string("core_error");
    mock.coreErrorMessage = r.string("core_error_message");
    mock.coreEnvelope = r.boolean("core_envelope", true);
    if (!http->options().core) {
      for (const std::string_view key : {"core_error", "core_error_message", "core_envelope"}) {
        notFor(key, "not a CORE destination (envelope = \"core\")");
      }
    }
    notFor("ack", kind + " (ack is for MLLP)");
    notFor("text", kind + " (text is for MLLP)");
  } else if (mllp) {
    mock.ack = r.string("ack");
    mock.text = r.string("text");
    if (r.has("ack") && !ackCode(mock.ack)) {
      r.fail("ack", fmt::format("must be AA, AE, AR, CA, CE or CR, got \"{}\"", mock.ack));
    }
    const bool answer = r.has("body") || r.has("file");
    if (r.has("ack") && answer) {
      r.fail("ack", "cannot be used together with body or file");
    } else if (!r.has("ack") && !answer) {
      r.fail("ack", "is required for an MLLP destination (or the answer as body or file)");
    }
    if (r.has("text") && !r.has("ack")) r.fail("text", "goes with ack");
    for (const std::string_view key :
         {"status", "headers", "core_error", "core_error_message", "core_envelope"}) {
      notFor(key, kind + " (it is for HTTP)");
    }
  } else {
    errors.add(
        fmt::format("{}: '{}': '{}' is {}: it can only be mocked as failing, with error = \"...\"",
                    test.where(), context, destination, kind));
  }
  return errors.items.size() == before ? std::optional(mock) : std::nullopt;
}

channels::SendResult mockedOutcome(const engine::DestinationPlan& plan, const MockResponse& mock,
                                   const std::string& payload, std::time_t now) {
  // Every sender retries a destination it cannot reach or write (a connection refused or timed
  // out, a full disk): the queue backs off and tries again.
  if (mock.error) return channels::SendResult::retry(*mock.error);
  if (const auto* http = dynamic_cast<const channels::http::HttpSender*>(plan.sender.get())) {
    try {
      return httpOutcome(*http, mock, now);
    } catch (const std::exception& e) {
      return channels::SendResult::fail(fmt::format("respond: {}", e.what()));
    }
  }
  if (const auto* mllp =
          dynamic_cast<const channels::mllp_connector::MllpSender*>(plan.sender.get())) {
    return mllpOutcome(*mllp, mock, payload);
  }
  return channels::SendResult::fail("respond: this destination can only be mocked with error");
}

std::string outcomeName(channels::SendStatus status) {
  switch (status) {
    case channels::SendStatus::kOk:
      return "delivered";
    case channels::SendStatus::kRetry:
      return "retry";
    case channels::SendStatus::kError:
      return "dead";
  }
  return "?";
}

std::string describeOutcome(const channels::SendResult& result) {
  std::string out = outcomeName(result.status);
  if (!result.error.empty()) out += ": " + result.error;
  if (result.retryAfterMillis) {
    out += fmt::format(" (Retry-After: next attempt in {} s)", *result.retryAfterMillis / 1000);
  }
  if (!result.response.empty())
    out += fmt::format(" [response kept: {}]", shortText(result.response));
  return out;
}

}  // namespace sb::cli
