// SQLite backend of the message store: main.db (catalog, routing inbox, queues) plus one file
// per UTC day of received time (messages-YYYYMMDD.db) holding messages and their events.
// See docs/store.md for the layout and the reasons behind it.
#pragma once

#include <string>

#include "store/message_store.h"

namespace sb::store::sqlite {

inline constexpr Millis kDayMillis = 86'400'000;

// YYYYMMDD of the UTC day containing `t`.
int utcDay(Millis t);
// Start of that UTC day in epoch milliseconds.
Millis dayStartMillis(int day);
// "messages-YYYYMMDD.db"
std::string partitionFileName(int day);
// The query search() runs against each day file. Parameters in order: the id bound, then each
// key present in the order channel, type, trigger, control id, patient id, status, from, to,
// then the limit. Exposed so tests can check SQLite's plan for it.
std::string searchSql(const SearchQuery& query);

}  // namespace sb::store::sqlite
