// query -w: the matching packets written whole, as pcap or pcapng, with the
// bytes read back from the captures' original files (see DESIGN.md,
// "Export").
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>

#include "capdb/filter.h"
#include "capdb/follow.h"
#include "capdb/pcap_writer.h"
#include "capdb/store.h"

namespace capdb {

struct ExportResult {
    std::uint64_t packets = 0;
    std::uint64_t bytes = 0;  // of the written file
    bool closed = false;      // the output's reader went away first (EPIPE)
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

// query --follow -w: the matches stored now, then, look by look (see
// follow_looks()), those of every block committed since, each look's in the
// two passes of export_packets() and flushed at its end, until options stop
// it or filter.limit is reached. The format is open-ended (WritePlan):
// pcap takes its link type from the first packet and is always nanosecond;
// a later packet of another link type is a UsageError (what was written
// stays). path is written directly (no temporary file: it is read as it
// grows). A reader that closes the output ends it without an error
// (ExportResult::closed). Throws as export_packets().
ExportResult export_follow(Store& store, const Filter& filter, WriteFormat format, const std::string& path,
                           std::FILE* out, const FollowOptions& options);

}  // namespace capdb
