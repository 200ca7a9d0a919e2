#include "capdb/follow.h"

#include <gtest/gtest.h>

#include <functional>
#include <string>
#include <vector>

#include "capdb/store.h"
#include "testutil.h"

namespace capdb {
namespace {

using testing::TempDir;

// A packet of port `port` at second `sec` (after a fixed epoch).
testing::OwnedPacket packet(std::int64_t sec, std::uint16_t port) {
    testing::OwnedPacket p;
    p.view.ts_ns = 1'700'000'000'000'000'000 + sec * 1'000'000'000;
    p.view.caplen = p.view.wirelen = 60;
    p.view.linktype = 1;
    p.view.summary.network = Network::ipv4;
    p.view.summary.ethertype = 0x0800;
    p.view.summary.ip_proto = 17;
    p.view.summary.has_ports = true;
    p.view.summary.src_port = 40000;
    p.view.summary.dst_port = port;
    return p;
}

struct Seen {
    CaptureId capture;
    std::int64_t sec;
    bool operator==(const Seen&) const = default;
};

// A database written through one Store and followed through another, as
// `capdb ingest` and `capdb query --follow` do in two processes.
struct FollowFixture {
    TempDir dir;
    std::string path = dir.file("f.db");
    std::unique_ptr<Store> writer = open_sqlite_store(path, {.read_only = false, .create = true});
    std::unique_ptr<Store> reader = open_sqlite_store(path, {.read_only = true, .create = false});
    std::vector<Seen> seen;
    int waits = 0;

    // One capture, committed when this returns: (second, port) pairs.
    void commit(const std::vector<std::pair<std::int64_t, std::uint16_t>>& packets) {
        CaptureMeta meta;
        meta.source = "cap";
        meta.linktype = 1;
        auto w = writer->begin_capture(meta, 1000);
        for (auto [sec, port] : packets) w->append(packet(sec, port).get());
        w->finish(CaptureState::complete, "", std::nullopt);
    }

    // Runs follow() on the reader. Before the n-th wait (0-based),
    // at_wait[n] runs, if there is one; after the last, follow is stopped.
    FollowEnd run(const Filter& f, std::vector<std::function<void()>> at_wait) {
        FollowOptions o;
        o.wait = [&](std::chrono::milliseconds interval) {
            EXPECT_EQ(interval, o.poll_interval);
            if (static_cast<std::size_t>(waits) < at_wait.size()) at_wait[static_cast<std::size_t>(waits)]();
            ++waits;
        };
        o.should_stop = [&] { return static_cast<std::size_t>(waits) > at_wait.size(); };
        return follow(
            *reader, f,
            [&](const PacketView& p) {
                seen.push_back({p.capture, (p.ts_ns - 1'700'000'000'000'000'000) / 1'000'000'000});
                return true;
            },
            o);
    }
};

Filter port_filter(std::uint16_t port) {
    Filter f;
    f.also(Expr::port(port, port, Dir::either));
    return f;
}

TEST(Follow, StoredMatchesThenLaterCommits) {
    FollowFixture fx;
    fx.commit({{5, 53}, {1, 53}, {3, 80}});
    const FollowEnd end = fx.run(port_filter(53), {
                                                      [&] {
                                                          fx.commit({{2, 53}, {9, 80}, {0, 53}});
                                                      },      // late but earlier timestamps: printed as they come
                                                      [] {},  // nothing new
                                                      [&] {
                                                          fx.commit({{7, 53}});
                                                      },
                                                  });
    EXPECT_EQ(end, FollowEnd::stopped);
    const std::vector<Seen> want{{1, 1}, {1, 5}, {2, 0}, {2, 2}, {3, 7}};
    EXPECT_EQ(fx.seen, want);
    EXPECT_EQ(fx.waits, 4);
}

TEST(Follow, EmptyDatabaseWaitsForTheFirstCommit) {
    FollowFixture fx;
    EXPECT_EQ(fx.run(Filter{}, {[&] { fx.commit({{4, 1}}); }}), FollowEnd::stopped);
    EXPECT_EQ(fx.seen, (std::vector<Seen>{{1, 4}}));
}

TEST(Follow, LimitReachedByStoredPacketsReturnsWithoutWaiting) {
    FollowFixture fx;
    fx.commit({{1, 53}, {2, 53}, {3, 53}});
    Filter f = port_filter(53);
    f.limit = 2;
    EXPECT_EQ(fx.run(f, {}), FollowEnd::limit);
    EXPECT_EQ(fx.seen, (std::vector<Seen>{{1, 1}, {1, 2}}));
    EXPECT_EQ(fx.waits, 0);

    // Exactly as many as stored: also no wait.
    FollowFixture exact;
    exact.commit({{1, 53}, {2, 53}});
    f.limit = 2;
    EXPECT_EQ(exact.run(f, {}), FollowEnd::limit);
    EXPECT_EQ(exact.seen.size(), 2u);
    EXPECT_EQ(exact.waits, 0);

    f.limit = 0;
    EXPECT_EQ(exact.run(f, {}), FollowEnd::limit);
    EXPECT_EQ(exact.seen.size(), 2u);
}

TEST(Follow, LimitReachedInALaterPoll) {
    FollowFixture fx;
    fx.commit({{1, 53}});
    Filter f = port_filter(53);
    f.limit = 3;
    const FollowEnd end = fx.run(f, {
                                        [&] {
                                            fx.commit({{2, 80}});
                                        },
                                        [&] {
                                            fx.commit({{3, 53}});
                                        },
                                        [&] {
                                            fx.commit({{4, 53}, {5, 53}, {6, 53}});
                                        },
                                        [&] { ADD_FAILURE() << "waited after the limit was reached"; },
                                    });
    EXPECT_EQ(end, FollowEnd::limit);
    EXPECT_EQ(fx.seen, (std::vector<Seen>{{1, 1}, {3, 3}, {4, 4}}));
    EXPECT_EQ(fx.waits, 3);
}

TEST(Follow, StopBeforeTheFirstWait) {
    FollowFixture fx;
    fx.commit({{1, 53}});
    FollowOptions o;
    o.wait = [](std::chrono::milliseconds) { ADD_FAILURE() << "waited although stopped"; };
    o.should_stop = [] { return true; };
    int rows = 0;
    EXPECT_EQ(follow(
                  *fx.reader, Filter{}, [&](const PacketView&) { return ++rows, true; }, o),
              FollowEnd::stopped);
    EXPECT_EQ(rows, 1);  // the stored matches are printed before the first stop check
}

TEST(Follow, RowRefusedOrOutputClosedEnds) {
    FollowFixture fx;
    fx.commit({{1, 53}, {2, 53}});
    FollowOptions o;
    o.wait = [](std::chrono::milliseconds) { ADD_FAILURE() << "waited after output closed"; };
    int rows = 0;
    EXPECT_EQ(follow(
                  *fx.reader, Filter{}, [&](const PacketView&) { return ++rows < 1; }, o),
              FollowEnd::refused);
    EXPECT_EQ(rows, 1);
    o.caught_up = [] { return false; };
    EXPECT_EQ(follow(
                  *fx.reader, Filter{}, [](const PacketView&) { return true; }, o),
              FollowEnd::refused);
}

}  // namespace
}  // namespace capdb
