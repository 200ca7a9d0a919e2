// What a ClickHouse query reads: the SQL conditions that narrow the rows
// fetched (time, capture, block, address ranges), never the full filter,
// which capdb applies to each row with matches() (capdb/filter.h), so that
// both stores answer with the same predicate.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "capdb/address.h"
#include "capdb/filter.h"
#include "capdb/store.h"

namespace capdb::clickhouse {

// Address ranges at least one of which holds a source or destination address
// of every packet that matches expr; nullopt when expr does not require one
// (then the packets table is read, by time).
[[nodiscard]] std::optional<std::vector<Prefix>> required_ranges(const Expr& expr);

// The WHERE clause (without the keyword) for the filter's time, capture and
// block range, and, with ranges, for reading packets_by_addr: each packet
// once. Built only from integers and hex digits that capdb formats itself.
[[nodiscard]] std::string where_clause(const Filter& filter, const std::optional<BlockRange>& blocks,
                                       const std::optional<std::vector<Prefix>>& ranges);

}  // namespace capdb::clickhouse
