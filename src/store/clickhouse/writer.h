// The ClickHouse capture writer: as the SQLite one (DESIGN.md, "Threads and
// queues"), the appending thread hands PacketBatches through one
// byte-bounded queue to a storage thread of the writer's own, which encodes
// them as RowBinary and, every `batch` packets, commits them with its own
// HTTP connection: the packets, their address rows, new interfaces, then the
// capture's row with its counts.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "capdb/store.h"
#include "store/clickhouse/rows.h"
#include "store/clickhouse/url.h"

namespace capdb::clickhouse {

// A writer for the capture of row (already in the captures table).
std::unique_ptr<CaptureWriter> make_writer(const Location& where, std::chrono::milliseconds timeout,
                                           const CaptureRow& row, std::uint32_t batch, std::size_t queue_bytes);

// A capture row's version: ns since the epoch, above last.
std::uint64_t next_version(std::uint64_t last) noexcept;

}  // namespace capdb::clickhouse
