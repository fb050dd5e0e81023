#include "channels/common/x12_ingest.h"

#include <fmt/format.h>

#include <atomic>
#include <memory>
#include <mutex>

#include "common/error_catalog.h"
#include "common/log.h"
#include "parsers/x12/spec.h"

namespace sb::channels {

namespace {

// One line for the message's error column: catalog id, then the first findings (no values).
std::string describe(ErrorCode code, const std::vector<const x12::Finding*>& findings) {
  std::string text(errorInfo(code).id);
  text += " ";
  text += errorInfo(code).summary;
  int shown = 0;
  for (const x12::Finding* f : findings) {
    if (shown++ == 3) {
      text += fmt::format("; and {} more", findings.size() - 3);
      break;
    }
    text += fmt::format("; {} {}", f->x12Code, f->message);
  }
  return text;
}

}  // namespace

std::string x12PartnerKey(const x12::Interchange& ic) {
  return fmt::format("{}:{}", ic.senderQualifier, ic.senderId);
}

X12Ingest::X12Ingest(std::string channel, IngestSink& sink, x12::Limits limits)
    : channel_(std::move(channel)), sink_(sink), limits_(limits) {}

X12Ingest::Verdict X12Ingest::evaluate(const std::string& channel, const x12::Document& doc,
                                       const x12::AckNumbers& numbers,
                                       const x12::AckOptions& options) {
  // Consecutive numbers from `numbers`, as one sender would use them.
  x12::AckNumbers next = numbers;
  const AckNumbering sequential = [&next](std::size_t, const x12::AckPlan& plan) {
    const x12::AckNumbers these = next;
    ++next.interchange;
    ++next.group;
    next.firstSet += plan.groups;
    return these;
  };
  return evaluate(channel, doc, sequential, options);
}

X12Ingest::Verdict X12Ingest::evaluate(const std::string& channel, const x12::Document& doc,
                                       const AckNumbering& numbering,
                                       const x12::AckOptions& options) {
  Verdict v;
  v.accepted = doc.usable();
  const std::string_view raw = doc.raw();
  if (!doc.usable()) {
    store::InboundRecord r;
    r.channel = channel;
    r.receivedAt = store::nowMillis();
    r.messageType = "X12";
    r.status = store::MessageStatus::kRejected;
    std::vector<const x12::Finding*> all;
    for (const auto& f : doc.findings()) all.push_back(&f);
    const bool tooLarge = raw.size() > x12::Limits{}.maxBytes;
    r.error = describe(tooLarge ? ErrorCode::kX12TooLarge : ErrorCode::kX12NoInterchange, all);
    r.raw = std::string(raw);
    v.records.push_back(std::move(r));
    return v;
  }
  for (std::size_t i = 0; i < doc.interchanges().size(); ++i) {
    const x12::Interchange& ic = doc.interchanges()[i];
    store::InboundRecord r;
    r.channel = channel;
    r.receivedAt = store::nowMillis();
    // The first interchange takes any leading bytes, the last any trailing ones: nothing of the
    // input is dropped.
    const std::size_t begin = i == 0 ? 0 : ic.begin;
    const std::size_t end =
        i + 1 == doc.interchanges().size() ? raw.size() : doc.interchanges()[i + 1].begin;
    r.raw = std::string(raw.substr(begin, end - begin));
    r.controlId = ic.controlNumber;
    r.sendingApplication = ic.senderId;
    r.messageType = "X12";
    if (!ic.groups.empty()) {
      r.sendingFacility = doc.segments()[ic.groups[0].gs].element(2);
      if (!ic.groups[0].transactions.empty()) {
        const x12::Transaction& t = ic.groups[0].transactions[0];
        r.messageType = t.setId;
        r.triggerEvent = t.spec ? t.spec->label : t.convention;
      }
    } else if (!ic.ta1.empty()) {
      r.messageType = "TA1";
    }
    const x12::AckPlan plan = x12::planAck(doc, i, options);
    std::vector<const x12::Finding*> errors;
    for (const auto& f : doc.findings()) {
      if (f.interchange == static_cast<int>(i) && f.severity == x12::Severity::kError)
        errors.push_back(&f);
    }
    if (plan.interchangeRejected) {
      r.status = store::MessageStatus::kRejected;
      r.error = describe(ErrorCode::kX12InterchangeRejected, errors);
      v.accepted = false;
    } else if (plan.acceptedSets == 0 && plan.rejectedSets > 0) {
      r.status = store::MessageStatus::kRejected;
      r.error = describe(ErrorCode::kX12SetsRejected, errors);
      v.accepted = false;
    } else if (plan.rejectedSets > 0 || !errors.empty()) {
      r.error = describe(ErrorCode::kX12PartiallyAccepted, errors);
      v.accepted = false;
    }
    if (plan.sendTa1 || plan.groups > 0) {
      // Reserving numbers may throw (the store): then nothing is committed and the peer resends.
      const x12::AckNumbers numbers = numbering(i, plan);
      std::string ack, failure;
      bool built = false;
      try {
        ack = x12::buildAcknowledgement(doc, i, numbers, options);
        built = true;
      } catch (const std::exception& e) {
        failure = e.what();
      }
      if (built) {
        v.acks.push_back(std::move(ack));
        v.acksWith999.push_back(plan.groups > 0);
      } else {
        // A defect of ours, not of the input: the interchange is still kept, where rejected
        // messages are searched and reprocessed (with what was found in it, if anything), and
        // it gets no acknowledgement of ours.
        r.status = store::MessageStatus::kRejected;
        const std::string internal = fmt::format("{} the acknowledgement could not be built: {}",
                                                 errorInfo(ErrorCode::kInternal).id, failure);
        r.error = r.error.empty() ? internal : fmt::format("{}; {}", r.error, internal);
        v.accepted = false;
      }
    }
    v.records.push_back(std::move(r));
  }
  return v;
}

void X12Ingest::accept(const std::string& peer, std::string payload, Done done) {
  auto doc =
      std::make_shared<x12::Document>(x12::Document::parseOwned(std::move(payload), limits_));
  doc->validate(x12::SpecLibrary::builtin());
  // Control numbers of our acknowledgements are reserved before the commit, per partner: a
  // number is never handed out twice even if the commit then fails (a gap is allowed, reuse not).
  store::MessageStore& store = sink_.store();
  const AckNumbering reserved = [&](std::size_t i, const x12::AckPlan& plan) {
    const std::string partner = x12PartnerKey(doc->interchanges()[i]);
    x12::AckNumbers n;
    n.interchange = store.reserveControlNumbers(partner, "ISA", 1);
    n.group = plan.groups > 0 ? store.reserveControlNumbers(partner, "GS", 1) : 1;
    n.firstSet = plan.groups > 0 ? store.reserveControlNumbers(partner, "ST", plan.groups) : 1;
    return n;
  };
  Verdict verdict;
  try {
    verdict = evaluate(channel_, *doc, reserved);
  } catch (const std::exception& e) {
    Result r;
    // Reserving control numbers (the store) is what throws here; nothing was committed.
    r.error = fmt::format("{} the interchange could not be stored: {}",
                          errorInfo(ErrorCode::kStoreCommitFailed).id, e.what());
    done(std::move(r));
    return;
  }
  struct Pending {
    std::mutex mu;
    std::size_t left = 0;
    Result result;
    Done done;
  };
  auto pending = std::make_shared<Pending>();
  pending->left = verdict.records.size();
  pending->result.acks = std::move(verdict.acks);
  pending->result.acksWith999 = std::move(verdict.acksWith999);
  pending->result.ids.resize(verdict.records.size());
  pending->result.committed = true;
  pending->done = std::move(done);
  for (std::size_t i = 0; i < verdict.records.size(); ++i) {
    store::InboundRecord& r = verdict.records[i];
    r.peer = peer;
    store.submitInbound(
        std::move(r),
        [pending, i, sink = &sink_](std::optional<store::MessageId> id, const std::string& error) {
          bool last = false;
          {
            std::lock_guard lock(pending->mu);
            if (id) {
              pending->result.ids[i] = *id;
            } else {
              pending->result.committed = false;
              pending->result.error = error;
            }
            last = --pending->left == 0;
          }
          if (!last) return;
          if (pending->result.committed) {
            sink->committed();
          } else {
            pending->result.acks.clear();  // nothing is acknowledged unless all of it is stored
          }
          pending->done(std::move(pending->result));
        });
  }
}

}  // namespace sb::channels
