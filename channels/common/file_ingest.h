// Ingest of whole files (SFTP today, a local folder or an upload later): one file becomes one
// or more committed messages of a declared format, and the caller learns when all of them are
// durable, so it removes or archives the file only then (commit before acknowledge).
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "channels/common/connector.h"

namespace sb::channels {

// A file to hand back to the peer once the input is committed (e.g. an X12 999 acknowledgement).
struct FileReply {
  std::string name;
  std::string bytes;
};

struct FileIngestResult {
  bool committed = false;  // every message of the file is durable (rejected ones included)
  std::string error;       // why not, without PHI
  std::vector<FileReply> replies;
};

using FileIngestDone = std::function<void(FileIngestResult)>;

// "raw", "hl7v2" and "x12": what a config may name as a file format.
bool isKnownFileFormat(std::string_view format);

// Commits `bytes` (one whole file) as messages of `format` and calls `done` once, after every
// message is committed or as soon as the last outstanding commit is known to have failed.
// `done` runs on the store's commit thread (or on the caller's thread when nothing was
// submitted): it must not block.
//   raw    one message of type "RAW"
//   hl7v2  every message of the file (a batch FHS/BHS ... or MSH after MSH), each validated like
//          an MLLP message; invalid ones are kept as rejected; no replies
//   x12    (until the X12 ingest lands) one message of type "X12", like raw
// The stored peer is "<peer>/<fileName>", so a message names the file it came from.
// Throws std::invalid_argument for an unknown format (the config check refuses those first).
void ingestFile(std::string_view format, const std::string& channel, IngestSink& sink,
                const std::string& peer, const std::string& fileName, std::string bytes,
                FileIngestDone done);

}  // namespace sb::channels
