#include "channels/common/file_ingest.h"

#include <memory>
#include <mutex>
#include <stdexcept>

#include <fmt/format.h>

#include "channels/common/hl7_ingest.h"
#include "channels/common/x12_ingest.h"
#include "common/log.h"
#include "parsers/hl7v2/hl7v2.h"

namespace sb::channels {
namespace {

// Counts the outstanding commits of one file and reports once, when the last one is known.
class Pending {
 public:
  Pending(std::size_t count, IngestSink& sink, FileIngestDone done)
      : remaining_(count), sink_(sink), done_(std::move(done)) {}

  void finished(bool ok, bool routable, const std::string& error) {
    FileIngestDone done;
    FileIngestResult result;
    bool wake = false;
    {
      std::lock_guard lock(mutex_);
      if (!ok && error_.empty()) error_ = error.empty() ? "commit failed" : error;
      if (ok && routable) routable_ = true;
      if (--remaining_ != 0) return;
      result.committed = error_.empty();
      result.error = error_;
      done = std::move(done_);
      wake = routable_;
    }
    // Messages committed before a failure are routed all the same: they are in the store.
    if (wake) sink_.committed();
    if (done) done(std::move(result));
  }

 private:
  std::mutex mutex_;
  std::size_t remaining_;
  bool routable_ = false;
  std::string error_;
  IngestSink& sink_;
  FileIngestDone done_;
};

store::InboundRecord wholeFile(const std::string& channel, const std::string& peer,
                               std::string messageType, std::string bytes) {
  store::InboundRecord record;
  record.channel = channel;
  record.peer = peer;
  record.receivedAt = store::nowMillis();
  record.messageType = std::move(messageType);
  record.status = store::MessageStatus::kReceived;
  record.raw = std::move(bytes);
  return record;
}

// HL7 v2 file: every message found (batch envelope or MSH after MSH) is evaluated like an MLLP
// message; the ACK it would get is dropped, the verdict (received or rejected) is kept.
std::vector<store::InboundRecord> hl7Records(const std::string& channel, const std::string& peer,
                                             const std::string& bytes) {
  std::vector<store::InboundRecord> records;
  const hl7::BatchResult split = hl7::splitBatch(bytes);
  for (const auto& f : split.findings) {
    log::at(log::Level::kWarn, "ingest", "channel {}: file {}: {} {}", channel, peer,
            errorInfo(f.code).id, f.text);
  }
  for (const auto& message : split.messages) {
    Hl7Ingest::Verdict v = Hl7Ingest::evaluate(channel, std::string(message));
    v.record.peer = peer;
    if (!v.accepted) {
      log::at(log::Level::kInfo, "ingest", "channel {}: rejected message in {}: {}", channel, peer,
              v.record.error);
    }
    records.push_back(std::move(v.record));
  }
  if (records.empty()) {
    // No MSH anywhere: the whole file is kept as one rejected message, so the bytes are not lost
    // and the file is still archived (bad input is kept and survived, not retried forever).
    Hl7Ingest::Verdict v = Hl7Ingest::evaluate(channel, bytes);
    v.record.peer = peer;
    log::at(log::Level::kInfo, "ingest", "channel {}: file {} holds no HL7 message: {}", channel,
            peer, v.record.error);
    records.push_back(std::move(v.record));
  }
  return records;
}

}  // namespace

bool isKnownFileFormat(std::string_view format) {
  return format == "raw" || format == "hl7v2" || format == "x12";
}

void ingestFile(std::string_view format, const std::string& channel, IngestSink& sink,
                const std::string& peer, const std::string& fileName, std::string bytes,
                FileIngestDone done) {
  const std::string source = fileName.empty() ? peer
                                              : (peer.empty() || peer.back() == '/'
                                                     ? peer + fileName
                                                     : fmt::format("{}/{}", peer, fileName));
  // The one place that knows how a file format becomes messages. A format that also answers the
  // peer (X12 TA1/999) returns its files in FileIngestResult::replies from its `done`.
  std::vector<store::InboundRecord> records;
  if (format == "raw") {
    records.push_back(wholeFile(channel, source, "RAW", std::move(bytes)));
  } else if (format == "hl7v2") {
    records = hl7Records(channel, source, bytes);
  } else if (format == "x12") {
    // One message per interchange; the TA1/999 come back as reply files named after the input
    // ("claims.x12.999", or ".ta1" when only a TA1 is due), made only after the commit.
    X12Ingest ingest(channel, sink);
    ingest.accept(source, std::move(bytes),
                  [done = std::move(done), fileName](X12Ingest::Result r) {
                    FileIngestResult result;
                    result.committed = r.committed;
                    result.error = std::move(r.error);
                    const std::string base = fileName.empty() ? std::string("x12") : fileName;
                    for (std::size_t i = 0; i < r.acks.size(); ++i) {
                      const std::string suffix = r.acks.size() > 1 ? fmt::format(".{}", i + 1) : "";
                      const bool with999 = i < r.acksWith999.size() && r.acksWith999[i];
                      result.replies.push_back(
                          {base + suffix + (with999 ? ".999" : ".ta1"), std::move(r.acks[i])});
                    }
                    done(std::move(result));
                  });
    return;
  } else {
    throw std::invalid_argument(fmt::format("unknown file format \"{}\"", format));
  }

  auto pending = std::make_shared<Pending>(records.size(), sink, std::move(done));
  // Submitted in file order from one thread: the accepted records get ids (and reach the router)
  // in that order; rejected ones commit straight into SQLite beside them.
  for (std::size_t i = 0; i < records.size(); ++i) {
    const bool routable = records[i].status != store::MessageStatus::kRejected;
    try {
      sink.store().submitInbound(std::move(records[i]), [pending, routable, channel](
                                                            std::optional<store::MessageId> id,
                                                            const std::string& error) {
        if (!id) {
          log::at(log::Level::kError, "ingest", "channel {}: commit failed: {}", channel, error);
        }
        pending->finished(id.has_value(), routable, error);
      });
    } catch (const std::exception& e) {
      // The rest is never submitted: count it as failed so `done` still runs exactly once.
      log::at(log::Level::kError, "ingest", "channel {}: commit failed: {}", channel, e.what());
      for (std::size_t j = i; j < records.size(); ++j) pending->finished(false, false, e.what());
      return;
    }
  }
}

}  // namespace sb::channels
