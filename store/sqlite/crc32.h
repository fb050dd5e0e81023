// CRC-32 (zlib's) of a byte range: the ingest journal's record check and the check of a queued
// transform output (queue.payload_check).
#pragma once

#include <cstdint>
#include <string_view>

#include <zlib.h>

namespace sb::store::sqlite {

inline std::uint32_t crc32Of(std::string_view data) {
  return static_cast<std::uint32_t>(crc32(crc32(0L, Z_NULL, 0),
                                          reinterpret_cast<const Bytef*>(data.data()),
                                          static_cast<uInt>(data.size())));
}

}  // namespace sb::store::sqlite
