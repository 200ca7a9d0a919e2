// query -w: the matching packets written whole, as pcap or pcapng, with the
// bytes read back from the captures' original files (see DESIGN.md,
// "Export").
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>

#include "capdb/filter.h"
#include "capdb/pcap_writer.h"
#include "capdb/store.h"

namespace capdb {

struct ExportResult {
    std::uint64_t packets = 0;
    std::uint64_t bytes = 0;  // of the written file
};

// Writes every packet store.query(filter) returns, in its order, to path
// ("-": to out). Two passes over the query: the first finds the captures,
// link types and precisions and opens (and checks) every original file,
// before a byte is written; the second reads and checks each record and
// writes it. A file is written as path.tmp-XXXXXX and renamed at the end,
// so that a failure leaves no half-written file; an existing device or FIFO
// is written directly.
// Throws SourceError (a file missing, changed or never kept), UsageError
// (pcap asked for several link types), Error when writing fails.
ExportResult export_packets(Store& store, const Filter& filter, WriteFormat format, const std::string& path,
                            std::FILE* out);

}  // namespace capdb
