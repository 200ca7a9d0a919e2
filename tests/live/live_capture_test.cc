// Pure parts of live capture: the interface list format (as tcpdump -D), and
// the store support for `query --follow` (blocks committed after a known one).
#include "capdb/live.h"

#include <gtest/gtest.h>

#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "capdb/store.h"

namespace capdb {
namespace {

using C = InterfaceInfo::Connection;

InterfaceInfo iface(std::string name, std::string desc, bool up, bool running, bool loopback, bool wireless,
                    C connection) {
    InterfaceInfo i;
    i.name = std::move(name);
    i.description = std::move(desc);
    i.up = up;
    i.running = running;
    i.loopback = loopback;
    i.wireless = wireless;
    i.connection = connection;
    return i;
}

TEST(DescribeInterface, AsTcpdump) {
    EXPECT_EQ(describe_interface(iface("eth0", "", true, true, false, false, C::connected)),
              "eth0 [Up, Running, Connected]");
    EXPECT_EQ(describe_interface(iface("any", "Pseudo-device that captures on all interfaces", true, true, false, false,
                                       C::not_applicable)),
              "any (Pseudo-device that captures on all interfaces) [Up, Running]");
    EXPECT_EQ(describe_interface(iface("lo", "", true, true, true, false, C::not_applicable)),
              "lo [Up, Running, Loopback]");
    EXPECT_EQ(describe_interface(iface("ifb0", "", false, false, false, false, C::not_applicable)), "ifb0 [none]");
    EXPECT_EQ(describe_interface(iface("eth1", "", true, false, false, false, C::disconnected)),
              "eth1 [Up, Disconnected]");
    EXPECT_EQ(describe_interface(iface("wlan0", "", true, true, false, true, C::connected)),
              "wlan0 [Up, Running, Wireless, Associated]");
    EXPECT_EQ(describe_interface(iface("wlan1", "", false, false, false, true, C::unknown)),
              "wlan1 [Wireless, Association status unknown]");
    EXPECT_EQ(describe_interface(iface("bt", "Bluetooth", false, false, false, true, C::not_applicable)),
              "bt (Bluetooth) [Wireless]");
    // No flag bit at all: no bracket (tcpdump prints none either).
    EXPECT_EQ(describe_interface(iface("odd", "", false, false, false, false, C::unknown)), "odd");
}

TEST(DescribeInterface, Printable) {
    EXPECT_EQ(describe_interface(iface("a\x1b[2Jb", "d\ne", true, false, false, false, C::not_applicable)),
              "a\\x1b[2Jb (d\\x0ae) [Up]");
}

// ---------------------------------------------------------------------------

class FollowStore : public ::testing::Test {
protected:
    void SetUp() override {
        char dir[] = "/tmp/capdb-follow-XXXXXX";
        ASSERT_NE(::mkdtemp(dir), nullptr);
        dir_ = dir;
        path_ = dir_ + "/t.db";
        store_ = open_sqlite_store(path_, {.read_only = false, .create = true});
    }
    void TearDown() override {
        store_.reset();
        for (const char* s : {"", "-wal", "-shm"}) ::unlink((path_ + s).c_str());
        ::rmdir(dir_.c_str());
    }

    static PacketView udp(std::int64_t ts, std::uint16_t dport) {
        PacketView p;
        p.ts_ns = ts;
        p.caplen = p.wirelen = 60;
        p.linktype = 1;
        p.summary.network = Network::ipv4;
        p.summary.ip_proto = 17;
        p.summary.has_ports = true;
        p.summary.src_port = 1000;
        p.summary.dst_port = dport;
        const std::uint8_t a[4] = {127, 0, 0, 1};
        p.summary.src = p.summary.dst = Address::from_v4(a);
        return p;
    }

    std::vector<std::int64_t> times(const BlockRange& r, const Filter& f = {}) {
        std::vector<std::int64_t> out;
        store_->query_blocks(f, r, [&](const PacketView& p) {
            out.push_back(p.ts_ns);
            return true;
        });
        return out;
    }

    std::string dir_, path_;
    std::unique_ptr<Store> store_;
};

TEST_F(FollowStore, EmptyStoreHasNoBlocks) {
    EXPECT_EQ(store_->max_block_id(), 0);
    EXPECT_TRUE(times({0, 0}).empty());
}

TEST_F(FollowStore, RangesSelectWhatWasCommittedSince) {
    CaptureMeta meta;
    meta.source = "lo";
    meta.live = true;
    meta.linktype = 1;
    auto w1 = store_->begin_capture(meta, 8192);
    for (std::int64_t t : {30, 10, 20}) w1->append(udp(t, 53));
    w1->finish(CaptureState::complete, "", LiveStats{3, 0, 0});
    const std::int64_t b1 = store_->max_block_id();
    ASSERT_GT(b1, 0);

    auto w2 = store_->begin_capture(meta, 8192);
    for (std::int64_t t : {15, 5}) w2->append(udp(t, 80));
    w2->request_commit();  // asynchronous: committed by the storage thread shortly
    for (int i = 0; i < 500 && store_->max_block_id() == b1; ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
    const std::int64_t b2 = store_->max_block_id();
    ASSERT_GT(b2, b1) << "request_commit() did not commit while the writer stays open";

    EXPECT_EQ(times({0, b1}), (std::vector<std::int64_t>{10, 20, 30}));
    EXPECT_EQ(times({b1, b2}), (std::vector<std::int64_t>{5, 15}));  // in time order
    EXPECT_EQ(times({0, b2}), (std::vector<std::int64_t>{5, 10, 15, 20, 30}));
    EXPECT_TRUE(times({b2, b2}).empty());
    EXPECT_TRUE(times({b2, b1}).empty());

    Filter port53;
    port53.also(Expr::port(53, 53, Dir::either));
    EXPECT_TRUE(times({b1, b2}, port53).empty());
    EXPECT_EQ(times({0, b2}, port53).size(), 3u);
    Filter limited;
    limited.limit = 1;
    EXPECT_EQ(times({b1, b2}, limited), (std::vector<std::int64_t>{5}));
    Filter by_host;  // the posting-list path
    by_host.also(Expr::address(*parse_prefix("127.0.0.1"), Dir::either));
    EXPECT_EQ(times({b1, b2}, by_host), (std::vector<std::int64_t>{5, 15}));

    w2->append(udp(1, 80));
    w2->finish(CaptureState::complete, "", LiveStats{3, 0, 0});
    const std::int64_t b3 = store_->max_block_id();
    EXPECT_EQ(times({b2, b3}), (std::vector<std::int64_t>{1}));
    // query() itself is unchanged: everything, in time order.
    std::vector<std::int64_t> all;
    store_->query({}, [&](const PacketView& p) {
        all.push_back(p.ts_ns);
        return true;
    });
    EXPECT_EQ(all, (std::vector<std::int64_t>{1, 5, 10, 15, 20, 30}));
}

}  // namespace
}  // namespace capdb
