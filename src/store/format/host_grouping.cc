#include "store/format/host_grouping.h"

#include <algorithm>
#include <cstring>
#include <utility>

namespace capdb::store {

namespace {

std::uint64_t load64(const std::uint8_t* p) noexcept {
    std::uint64_t v;
    std::memcpy(&v, p, sizeof v);
    return v;
}

std::uint64_t mix(std::uint64_t h) noexcept {  // murmur3's 64-bit finaliser
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ull;
    h ^= h >> 33;
    return h;
}

// Numbers 64-bit keys from 0 in order of first appearance (open addressing).
class KeyNumbers {
public:
    // The key's number, and whether it is new.
    std::pair<std::uint32_t, bool> intern(std::uint64_t key) {
        if (2 * (size_ + 1) > slots_.size()) grow();
        const std::size_t mask = slots_.size() - 1;
        for (std::size_t i = mix(key) & mask;; i = (i + 1) & mask) {
            Slot& s = slots_[i];
            if (s.id == 0) {
                s = {key, ++size_};
                return {size_ - 1, true};
            }
            if (s.key == key) return {s.id - 1, false};
        }
    }

private:
    struct Slot {
        std::uint64_t key = 0;
        std::uint32_t id = 0;  // number + 1; 0 is empty
    };
    void grow() {
        std::vector<Slot> old(std::max<std::size_t>(64, 2 * slots_.size()));
        old.swap(slots_);
        const std::size_t mask = slots_.size() - 1;
        for (const Slot& s : old) {
            if (s.id == 0) continue;
            std::size_t i = mix(s.key) & mask;
            while (slots_[i].id != 0) i = (i + 1) & mask;
            slots_[i] = s;
        }
    }
    std::vector<Slot> slots_;
    std::uint32_t size_ = 0;
};

// Prefix sums in place: counts[k] becomes the sum of counts[0..k].
void accumulate(std::vector<std::uint32_t>& counts) {
    for (std::size_t k = 1; k < counts.size(); ++k) counts[k] += counts[k - 1];
}

// Step 1: each address's rows (a row from a host to itself counts once).
std::vector<std::uint32_t> count_endpoints(const std::vector<RowRef>& rows, std::uint32_t hosts) {
    std::vector<std::uint32_t> packets_of(hosts);
    for (const RowRef& r : rows) {
        if (r.src_id == kNoAddress) continue;
        ++packets_of[r.src_id];
        if (r.dst_id != r.src_id) ++packets_of[r.dst_id];
    }
    return packets_of;
}

// Conversations (anchor, other) numbered in order of first appearance, with
// their rows; anchors in order of the first appearance of a conversation of
// theirs. Node `hosts` stands for the non-IP rows, whose conversation is
// (hosts, kNoAddress).
struct Conversations {
    std::vector<std::uint32_t> of_row;               // row -> conversation
    std::vector<std::uint32_t> anchor, other, rows;  // per conversation
    std::vector<std::uint32_t> anchors;
    std::vector<std::uint8_t> is_anchor;  // per node
    [[nodiscard]] std::uint32_t size() const noexcept { return static_cast<std::uint32_t>(anchor.size()); }
};

// Step 2.
Conversations choose_anchors(const std::vector<RowRef>& rows, const std::vector<std::uint32_t>& packets_of,
                             std::uint32_t hosts) {
    const std::uint32_t non_ip = hosts;
    Conversations c;
    c.of_row.assign(rows.size(), 0);
    c.is_anchor.assign(std::size_t{hosts} + 1, 0);
    KeyNumbers numbers;
    std::uint64_t last_key = 0;
    std::uint32_t last = kNoAddress;
    for (std::size_t i = 0; i < rows.size(); ++i) {
        const RowRef& r = rows[i];
        std::uint32_t anchor = non_ip, other = kNoAddress;
        if (r.src_id != kNoAddress) {
            const bool src_rarer = packets_of[r.src_id] < packets_of[r.dst_id] ||
                                   (packets_of[r.src_id] == packets_of[r.dst_id] && r.src_id < r.dst_id);
            anchor = src_rarer ? r.src_id : r.dst_id;
            other = src_rarer ? r.dst_id : r.src_id;
        }
        // Consecutive rows of a flow repeat the same conversation.
        const std::uint64_t key = (std::uint64_t{anchor} << 32) | other;
        if (last == kNoAddress || key != last_key) {
            const auto [number, added] = numbers.intern(key);
            if (added) {
                if (!c.is_anchor[anchor]) {
                    c.is_anchor[anchor] = 1;
                    c.anchors.push_back(anchor);
                }
                c.anchor.push_back(anchor);
                c.other.push_back(other);
                c.rows.push_back(0);
            }
            last_key = key;
            last = number;
        }
        ++c.rows[last];
        c.of_row[i] = last;
    }
    return c;
}

// Step 3: per node, the conversation with its parent (kNoAddress for a root).
std::vector<std::uint32_t> choose_parents(const Conversations& c, std::uint32_t hosts) {
    std::vector<std::uint32_t> parent_conversation(std::size_t{hosts} + 1, kNoAddress);
    for (std::uint32_t k = 0; k < c.size(); ++k) {
        const std::uint32_t a = c.anchor[k];
        if (a == hosts || c.other[k] == a) continue;
        const std::uint32_t best = parent_conversation[a];
        if (best == kNoAddress || c.rows[k] > c.rows[best]) parent_conversation[a] = k;
    }
    return parent_conversation;
}

// Each anchor's rank in the order of groups, and how many groups there are.
struct GroupOrder {
    std::vector<std::uint32_t> rank_of_anchor;  // per node; kNoAddress for a node without a group
    std::uint32_t ranks = 0;
};

// Step 4: groups in the depth-first order of the forest.
GroupOrder lay_out_forest(const Conversations& c, const std::vector<std::uint32_t>& parent_conversation,
                          std::uint32_t hosts) {
    auto parent = [&](std::uint32_t node) {
        const std::uint32_t k = parent_conversation[node];
        return k == kNoAddress ? kNoAddress : c.other[k];
    };
    // Children of each node, in order of first appearance.
    std::vector<std::uint32_t> child_start(std::size_t{hosts} + 2);
    for (std::uint32_t a : c.anchors)
        if (parent(a) != kNoAddress) ++child_start[parent(a) + 1];
    accumulate(child_start);
    std::vector<std::uint32_t> children(child_start.back());
    {
        std::vector<std::uint32_t> fill(child_start.begin(), child_start.end() - 1);
        for (std::uint32_t a : c.anchors)
            if (parent(a) != kNoAddress) children[fill[parent(a)]++] = a;
    }
    GroupOrder order;
    order.rank_of_anchor.assign(std::size_t{hosts} + 1, kNoAddress);
    std::vector<std::uint32_t> stack;
    for (std::uint32_t root = 0; root <= hosts; ++root) {
        if (parent(root) != kNoAddress) continue;
        if (!c.is_anchor[root] && child_start[root] == child_start[root + 1]) continue;
        stack.push_back(root);
        while (!stack.empty()) {
            const std::uint32_t node = stack.back();
            stack.pop_back();
            if (c.is_anchor[node]) order.rank_of_anchor[node] = order.ranks++;
            for (std::uint32_t k = child_start[node + 1]; k > child_start[node]; --k) stack.push_back(children[k - 1]);
        }
    }
    return order;
}

// Step 5: each conversation's place in the order: by group rank, the one
// with the parent first, then first appearance.
std::vector<std::uint32_t> order_within_groups(const Conversations& c,
                                               const std::vector<std::uint32_t>& parent_conversation,
                                               const GroupOrder& groups) {
    const auto& rank_of_anchor = groups.rank_of_anchor;
    std::vector<std::uint32_t> start(std::size_t{groups.ranks} + 1);
    for (std::uint32_t k = 0; k < c.size(); ++k) ++start[rank_of_anchor[c.anchor[k]] + 1];
    accumulate(start);
    std::vector<std::uint32_t> position(c.size());
    for (std::uint32_t a : c.anchors) {
        const std::uint32_t k = parent_conversation[a];
        if (k != kNoAddress) position[k] = start[rank_of_anchor[a]]++;
    }
    for (std::uint32_t k = 0; k < c.size(); ++k) {
        const std::uint32_t a = c.anchor[k];
        if (k != parent_conversation[a]) position[k] = start[rank_of_anchor[a]]++;
    }
    return position;
}

// Rows by their conversation's position, file order within one (a stable
// counting sort).
void place_rows(std::vector<RowRef>& rows, const Conversations& c, const std::vector<std::uint32_t>& position) {
    std::vector<std::uint32_t> first_row(std::size_t{c.size()} + 1);
    for (std::uint32_t k : c.of_row) ++first_row[position[k] + 1];
    accumulate(first_row);
    std::vector<RowRef> sorted(rows.size());
    for (std::size_t i = 0; i < rows.size(); ++i) sorted[first_row[position[c.of_row[i]]]++] = rows[i];
    rows.swap(sorted);
}

}  // namespace

std::uint64_t address_hash(const Address& a) noexcept {
    return mix(load64(a.bytes.data()) * 0x9e3779b97f4a7c15ull ^ load64(a.bytes.data() + 8));
}

void AddressTable::clear() noexcept {
    std::fill(slots_.begin(), slots_.end(), 0u);
    addresses_.clear();
}

void AddressTable::grow() {
    std::vector<std::uint32_t> old(std::max<std::size_t>(64, 2 * slots_.size()));
    old.swap(slots_);
    const std::size_t mask = slots_.size() - 1;
    for (std::uint32_t id : old) {
        if (id == 0) continue;
        std::size_t i = address_hash(addresses_[id - 1]) & mask;
        while (slots_[i] != 0) i = (i + 1) & mask;
        slots_[i] = id;
    }
}

std::uint32_t AddressTable::intern(const Address& a) {
    if (2 * (addresses_.size() + 1) > slots_.size()) grow();
    const std::size_t mask = slots_.size() - 1;
    for (std::size_t i = address_hash(a) & mask;; i = (i + 1) & mask) {
        const std::uint32_t id = slots_[i];
        if (id == 0) {
            addresses_.push_back(a);
            slots_[i] = static_cast<std::uint32_t>(addresses_.size());
            return slots_[i] - 1;
        }
        if (addresses_[id - 1] == a) return id - 1;
    }
}

void number_addresses(std::vector<RowRef>& rows, AddressTable& table) {
    table.clear();
    // Consecutive packets of a flow repeat the same pair: remember the last.
    Address last_src{}, last_dst{};
    std::uint32_t src_id = kNoAddress, dst_id = kNoAddress;
    for (RowRef& r : rows) {
        const Summary& s = r.packet->summary;
        // A tunnel's endpoints are numbered too (for the page dictionary
        // and the postings); the grouping looks at the inner pair only.
        if (s.outer_network != Network::none) {
            r.outer_src_id = table.intern(s.outer_src);
            r.outer_dst_id = table.intern(s.outer_dst);
        }
        if (s.network == Network::none && !s.arp) continue;
        if (src_id == kNoAddress || !(s.src == last_src)) {
            src_id = table.intern(s.src);
            last_src = s.src;
        }
        if (dst_id == kNoAddress || !(s.dst == last_dst)) {
            dst_id = table.intern(s.dst);
            last_dst = s.dst;
        }
        r.src_id = src_id;
        r.dst_id = dst_id;
    }
}

void group_by_host(std::vector<RowRef>& rows, AddressTable& table) {
    number_addresses(rows, table);
    const std::uint32_t hosts = table.size();
    const auto packets_of = count_endpoints(rows, hosts);
    const Conversations conversations = choose_anchors(rows, packets_of, hosts);
    const auto parent_conversation = choose_parents(conversations, hosts);
    const GroupOrder groups = lay_out_forest(conversations, parent_conversation, hosts);
    const auto position = order_within_groups(conversations, parent_conversation, groups);
    place_rows(rows, conversations, position);
}

}  // namespace capdb::store
