#include "channels/common/hl7_ingest.h"

#include <atomic>
#include <memory>
#include <mutex>

#include <fmt/format.h>

#include "common/log.h"

namespace sb::channels {
namespace {

std::string describe(const hl7::Finding& f) {
  const auto& info = errorInfo(f.code);
  const std::string where = f.location.toString();
  return where.empty() ? fmt::format("{} {}", info.id, f.text)
                       : fmt::format("{} {}: {}", info.id, where, f.text);
}

void fillKeys(store::InboundRecord& record, const hl7::Header& h) {
  record.messageType = h.messageType;
  record.triggerEvent = h.triggerEvent;
  record.controlId = h.controlId;
  record.patientId = h.patientId;
  record.sendingApplication = h.sendingApplication;
  record.sendingFacility = h.sendingFacility;
}

// Bytes that never made a whole message (oversized, truncated) kept as a rejected message. The
// header is at the front, so the kept bytes usually still name the sender and the control id.
store::InboundRecord rejected(const std::string& channel, const std::string& peer,
                              const hl7::Finding& finding, std::string bytes) {
  store::InboundRecord record;
  record.channel = channel;
  record.peer = peer;
  record.receivedAt = store::nowMillis();
  record.status = store::MessageStatus::kRejected;
  record.error = describe(finding);
  if (auto parsed = hl7::Message::parse(bytes); parsed.ok()) {
    fillKeys(record, parsed.message->header());
  }
  record.raw = std::move(bytes);
  return record;
}

// Built field by field: g++ 12 misreports brace-initialised Findings as maybe-uninitialized.
hl7::Finding makeFinding(ErrorCode code, std::string text) {
  hl7::Finding f;
  f.code = code;
  f.severity = hl7::Severity::kError;
  f.text = std::move(text);
  return f;
}

hl7::Finding storeFailure() {
  return makeFinding(ErrorCode::kStoreCommitFailed, "message could not be stored; resend later");
}

// The answer when the commit fails: AR (original mode) or CR (enhanced) with error 207, so the
// sender resends later. It depends only on the MSH segment, so ingest keeps a copy of that line
// and builds this ACK only when a commit actually fails.
std::string buildFailAck(std::string_view raw, bool parsedBefore) {
  auto parsed = hl7::Message::parse(raw);
  if (!parsedBefore || !parsed.ok()) return hl7::buildRejectAck(raw, storeFailure());
  const hl7::Message& msg = *parsed.message;
  return hl7::buildAck(msg,
                       msg.header().acceptAckType.empty() ? hl7::AckCode::kAR : hl7::AckCode::kCR,
                       {storeFailure()});
}

// The first segment (MSH), which is all buildFailAck reads.
std::string headerLine(std::string_view raw) {
  return std::string(raw.substr(0, raw.find_first_of("\r\n")));
}

// A rejection is AR when any finding's catalog entry says so (the message cannot be taken at
// all: wrong version, no MSH), otherwise AE (content error).
hl7::Outcome outcomeOf(const std::vector<hl7::Finding>& errors) {
  for (const auto& f : errors) {
    if (errorInfo(f.code).hl7AckCode == "AR") return hl7::Outcome::kRejected;
  }
  return hl7::Outcome::kError;
}

}  // namespace

Hl7Ingest::Hl7Ingest(std::string channel, IngestSink& sink)
    : channel_(std::move(channel)), sink_(sink) {}

Hl7Ingest::Verdict Hl7Ingest::evaluate(const std::string& channel, std::string payload) {
  return evaluate(channel, std::move(payload), true);
}

Hl7Ingest::Verdict Hl7Ingest::evaluate(const std::string& channel, std::string payload,
                                       bool withFailAck) {
  Verdict v;
  v.record.channel = channel;
  v.record.receivedAt = store::nowMillis();
  auto parsed = hl7::Message::parse(payload);
  if (!parsed.ok()) {
    v.findings.push_back(*parsed.error);
    v.ack = hl7::buildRejectAck(payload, *parsed.error);
    if (withFailAck) v.failAck = hl7::buildRejectAck(payload, storeFailure());
    v.record.status = store::MessageStatus::kRejected;
    v.record.error = describe(*parsed.error);
    v.record.raw = std::move(payload);
    return v;
  }
  v.parsed = true;
  const hl7::Message& msg = *parsed.message;
  const hl7::Header header = msg.header();
  fillKeys(v.record, header);
  // If the commit fails the sender must not believe it was taken: AR (original mode) or CR
  // (enhanced) with error 207, so it resends later.
  if (withFailAck) {
    v.failAck =
        hl7::buildAck(msg, header.acceptAckType.empty() ? hl7::AckCode::kAR : hl7::AckCode::kCR,
                      {storeFailure()});
  }
  std::vector<hl7::Finding> errors;
  for (auto& f : hl7::validate(msg)) {
    if (f.severity == hl7::Severity::kError) errors.push_back(f);
    v.findings.push_back(std::move(f));
  }
  if (errors.empty()) {
    v.accepted = true;
    v.record.status = store::MessageStatus::kReceived;
    if (auto code = hl7::chooseAck(header, hl7::Outcome::kAccepted)) {
      v.ack = hl7::buildAck(msg, *code, {});
    }
  } else {
    v.record.status = store::MessageStatus::kRejected;
    v.record.error = describe(errors.front());
    if (auto code = hl7::chooseAck(header, outcomeOf(errors))) {
      v.ack = hl7::buildAck(msg, *code, errors);
    }
  }
  v.record.raw = std::move(payload);
  return v;
}

void Hl7Ingest::commit(store::InboundRecord record, std::string ackOnSuccess, FailAck onFailure,
                       Answer answer) {
  const bool rejected = record.status == store::MessageStatus::kRejected;
  sink_.store().submitInbound(
      std::move(record),
      [this, rejected, ok = std::move(ackOnSuccess), failed = std::move(onFailure),
       answer = std::move(answer)](std::optional<store::MessageId> id, const std::string& error) {
        if (!id) {
          log::at(log::Level::kError, "ingest", "channel {}: commit failed: {}", channel_, error);
          if (answer)
            answer(failed.fromHeader ? buildFailAck(failed.text, failed.parsed) : failed.text);
          return;
        }
        if (!rejected) sink_.committed();
        if (answer) answer(ok);
      });
}

void Hl7Ingest::accept(const std::string& peer, std::string payload, Answer answer) {
  if (hl7::isBatch(payload)) {
    hl7::BatchResult batch = hl7::splitBatch(payload);
    for (const auto& f : batch.findings) {
      log::at(log::Level::kWarn, "ingest", "channel {}: batch from {}: {}", channel_, peer,
              describe(f));
    }
    // Answer once all messages are committed: a BHS, the ACKs in order, a BTS with the count.
    struct Pending {
      std::mutex mutex;
      std::vector<std::string> acks;
      std::size_t remaining;
      Answer answer;
    };
    auto pending = std::make_shared<Pending>();
    pending->acks.resize(batch.messages.size());
    pending->remaining = batch.messages.size();
    pending->answer = std::move(answer);
    if (batch.messages.empty()) {
      if (pending->answer) pending->answer("BHS|^~\\&\rBTS|0\r");
      return;
    }
    for (std::size_t i = 0; i < batch.messages.size(); ++i) {
      Verdict v = evaluate(channel_, std::string(batch.messages[i]), false);
      v.record.peer = peer;
      FailAck failed{headerLine(v.record.raw), true, v.parsed};
      commit(std::move(v.record), std::move(v.ack), std::move(failed),
             [pending, i](std::string reply) {
               std::lock_guard lock(pending->mutex);
               pending->acks[i] = std::move(reply);
               if (--pending->remaining != 0) return;
               std::string out = "BHS|^~\\&\r";
               std::size_t count = 0;
               for (const auto& a : pending->acks) {
                 if (a.empty()) continue;
                 out += a;
                 if (out.back() != '\r') out += '\r';
                 ++count;
               }
               out += fmt::format("BTS|{}\r", count);
               if (pending->answer) pending->answer(std::move(out));
             });
    }
    return;
  }
  Verdict v = evaluate(channel_, std::move(payload), false);
  v.record.peer = peer;
  if (!v.accepted) {
    log::at(log::Level::kInfo, "ingest", "channel {}: rejected message from {}: {}", channel_, peer,
            v.record.error);
  }
  FailAck failed{headerLine(v.record.raw), true, v.parsed};
  commit(std::move(v.record), std::move(v.ack), std::move(failed), std::move(answer));
}

void Hl7Ingest::acceptOversized(const std::string& peer, std::string prefix, std::size_t totalBytes,
                                Answer answer) {
  const hl7::Finding finding = makeFinding(
      ErrorCode::kMllpFrameTooLarge,
      fmt::format("message of {} bytes exceeds the limit of {} bytes", totalBytes, prefix.size()));
  log::at(log::Level::kWarn, "ingest", "channel {}: {} from {}", channel_, finding.text, peer);
  std::string ack = hl7::buildRejectAck(prefix, finding);
  store::InboundRecord record = rejected(channel_, peer, finding, std::move(prefix));
  FailAck failed{ack, false, false};
  commit(std::move(record), std::move(ack), std::move(failed), std::move(answer));
}

void Hl7Ingest::keepTruncated(const std::string& peer, std::string partial) {
  const hl7::Finding finding =
      makeFinding(ErrorCode::kMllpTruncatedFrame,
                  fmt::format("connection ended inside a frame after {} bytes", partial.size()));
  log::at(log::Level::kWarn, "ingest", "channel {}: {} ({})", channel_, finding.text, peer);
  commit(rejected(channel_, peer, finding, std::move(partial)), {}, FailAck{}, nullptr);
}

}  // namespace sb::channels
