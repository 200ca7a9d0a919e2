// The order of a block's rows: each host's packets together, so that a
// query for a rare host reads few pages (see DESIGN.md, "Host grouping").
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "capdb/address.h"
#include "store/format/page_codec.h"

namespace capdb::store {

std::uint64_t address_hash(const Address& a) noexcept;

struct AddressHash {
    std::size_t operator()(const Address& a) const noexcept { return static_cast<std::size_t>(address_hash(a)); }
};

// Distinct addresses (of a block, or of a postings segment), numbered from 0 in order of first
// appearance. Open addressing; clear() keeps the capacity for the next use.
class AddressTable {
public:
    void clear() noexcept;
    std::uint32_t intern(const Address& a);
    [[nodiscard]] const Address& operator[](std::uint32_t id) const noexcept { return addresses_[id]; }
    [[nodiscard]] std::uint32_t size() const noexcept { return static_cast<std::uint32_t>(addresses_.size()); }

private:
    void grow();
    std::vector<std::uint32_t> slots_;  // id + 1; 0 is empty
    std::vector<Address> addresses_;
};

// Numbers the addresses of rows in table (src_id, dst_id, and a tunnel's
// outer_src_id, outer_dst_id), keeping the order.
void number_addresses(std::vector<RowRef>& rows, AddressTable& table);

// Numbers the addresses (as number_addresses) and orders a block's rows so
// that each host's packets sit together. Linear time, in five steps:
//
// 1. Count endpoints: each address's rows in the block.
// 2. Choose anchors: every IP row goes to the group of its rarer endpoint
//    (the anchor: the one with fewer rows; ties to the lower address number,
//    i.e. the first seen); non-IP rows form one group. Rows of one group
//    with one other endpoint are a conversation.
// 3. Choose parents: a group's parent is its dominant peer, the other
//    endpoint it has most rows with (ties to the conversation seen first),
//    ignoring rows from a host to itself. A parent is always more common
//    than its child, so the groups form a forest.
// 4. Lay out the forest depth first: a group, then the groups whose parent
//    it is (recursively, in order of first appearance of a conversation of
//    theirs). Roots come in order of their address numbers (a root may be a
//    host with no group of its own, only children), the non-IP group last.
// 5. Order within groups: first the conversation with the parent, then the
//    other conversations in order of first appearance; within a
//    conversation, file order.
//
// A selective query asks for a rare host X. Its rows sit in its own group
// (with hosts more common than X) and in the groups of hosts rarer than X;
// those of the rarer hosts that mostly talk to X follow X's group, so that
// X's packets in a block fill few adjacent pages, which is what the query
// reads.
void group_by_host(std::vector<RowRef>& rows, AddressTable& table);

}  // namespace capdb::store
