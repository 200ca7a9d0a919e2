// capdb verify: the database's own structures checked against their
// checksums and against each other, read-only, from one snapshot (see
// DESIGN.md, "Checksums", and the README's `capdb verify`).
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "capdb/packet.h"

namespace capdb {

// One problem found: where (the table, and the capture, block and page when
// known) and what.
struct VerifyProblem {
    std::optional<CaptureId> capture;
    std::string table;  // sqlite, schema, captures, interfaces, blocks, pages, postings, segments, file
    std::optional<std::int64_t> block;
    std::optional<std::uint32_t> page;
    std::string what;
};

struct VerifyRequest {
    std::optional<CaptureId> capture;  // only this capture (UsageError when there is none)
    bool files = false;                // also re-hash each capture's original file
    bool sqlite_check = true;          // run PRAGMA integrity_check (the whole file)
};

// What was checked.
struct VerifySummary {
    std::uint64_t captures = 0, blocks = 0, pages = 0, postings = 0, segments = 0, files = 0;
    std::uint64_t problems = 0;
};

// Checks the database at path; calls on_problem for each problem found.
// Throws DatabaseError when the file cannot be opened as a capdb database.
VerifySummary verify_database(const std::string& path, const VerifyRequest& request,
                              const std::function<void(const VerifyProblem&)>& on_problem);

}  // namespace capdb
