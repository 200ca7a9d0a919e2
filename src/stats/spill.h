// Bounded-memory aggregation for stats and flows: a hash map that spills
// sorted runs to an unlinked temporary file when it reaches its entry limit,
// and an external sort of fixed-size records. Records are trivially
// copyable and written to the file as they are in memory (the file lives
// only as long as the process that wrote it).
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <queue>
#include <string>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <vector>

namespace capdb::stats {

// A temporary file, unlinked as soon as it is made (in $TMPDIR, else /tmp),
// closed on destruction. Throws InputError naming the directory when it
// cannot be made, written or read.
class SpillFile {
public:
    SpillFile() = default;
    ~SpillFile();
    SpillFile(const SpillFile&) = delete;
    SpillFile& operator=(const SpillFile&) = delete;

    // Appends bytes; returns the offset they were written at.
    std::uint64_t append(const void* data, std::size_t bytes);
    void read_at(std::uint64_t offset, void* data, std::size_t bytes) const;
    [[nodiscard]] std::uint64_t size() const noexcept { return size_; }

private:
    void open();
    int fd_ = -1;
    std::uint64_t size_ = 0;
    std::string dir_;
};

namespace detail {

// One sorted run of records in a SpillFile.
struct Run {
    std::uint64_t offset = 0;
    std::uint64_t count = 0;
};

// Reads a run through a buffer of kBuffer records.
template <class T>
class RunReader {
public:
    static constexpr std::size_t kBuffer = 4096;
    RunReader(const SpillFile& file, Run run) : file_(&file), run_(run) { refill(); }
    [[nodiscard]] bool done() const noexcept { return pos_ == buf_.size(); }
    [[nodiscard]] const T& head() const noexcept { return buf_[pos_]; }
    void next() {
        if (++pos_ == buf_.size()) refill();
    }

private:
    void refill() {
        const std::uint64_t n = std::min<std::uint64_t>(kBuffer, run_.count - read_);
        buf_.resize(static_cast<std::size_t>(n));
        pos_ = 0;
        if (n == 0) return;
        file_->read_at(run_.offset + read_ * sizeof(T), buf_.data(), buf_.size() * sizeof(T));
        read_ += n;
    }
    const SpillFile* file_;
    Run run_;
    std::uint64_t read_ = 0;
    std::vector<T> buf_;
    std::size_t pos_ = 0;
};

// Calls each(record) for the records of all runs in less order; stops when
// each returns false.
template <class T, class Less, class Each>
void merge_runs(const SpillFile& file, const std::vector<Run>& runs, Less less, Each&& each) {
    std::vector<RunReader<T>> readers;
    readers.reserve(runs.size());
    for (const Run& r : runs) readers.emplace_back(file, r);
    auto later = [&](std::size_t a, std::size_t b) { return less(readers[b].head(), readers[a].head()); };
    std::priority_queue<std::size_t, std::vector<std::size_t>, decltype(later)> heap(later);
    for (std::size_t i = 0; i < readers.size(); ++i)
        if (!readers[i].done()) heap.push(i);
    while (!heap.empty()) {
        const std::size_t i = heap.top();
        heap.pop();
        if (!each(readers[i].head())) return;
        readers[i].next();
        if (!readers[i].done()) heap.push(i);
    }
}

template <class T>
std::uint64_t write_run(SpillFile& file, const std::vector<T>& records) {
    return file.append(records.data(), records.size() * sizeof(T));
}

}  // namespace detail

// Sums values by key in at most max_entries map entries. When a new key
// finds the map full, the map is written as one sorted run and cleared.
// drain() hands over each key once, with its values merged (V::merge), in
// key order when something was spilled and in map order otherwise.
// Memory: max_entries map entries, plus at drain 4096 records per run.
template <class K, class V, class Hash>
class SpillingAggregator {
public:
    struct Entry {
        K key;
        V value;
    };
    static_assert(std::is_trivially_copyable_v<Entry>);

    explicit SpillingAggregator(std::size_t max_entries) : max_(std::max<std::size_t>(max_entries, 1)) {}

    // The value of key (default-constructed when new), to update in place;
    // valid until the next call.
    V& at(const K& key) {
        // Rows come out of pages grouped by host: the same key often comes
        // again at once.
        if (last_ != kNone && slots_[last_].key == key) return slots_[last_].value;
        if (slots_.empty()) resize(kFirstSlots);
        std::size_t i = slot_of(key);
        while (used_[i]) {
            if (slots_[i].key == key) return slots_[last_ = i].value;
            i = (i + 1) & mask_;
        }
        if (size_ >= max_) {
            spill();
            i = slot_of(key);  // the table is empty now
        } else if ((size_ + 1) * 4 > slots_.size() * 3) {
            resize(slots_.size() * 2);
            i = slot_of(key);
            while (used_[i]) i = (i + 1) & mask_;
        }
        used_[i] = 1;
        slots_[i] = Entry{key, V{}};
        ++size_;
        return slots_[last_ = i].value;
    }

    // Number of runs spilled so far.
    [[nodiscard]] std::size_t runs() const noexcept { return runs_.size(); }

    // Calls each(key, value) for every key, once; the aggregator is empty after.
    template <class Each>
    void drain(Each&& each) {
        if (runs_.empty()) {
            for (std::size_t i = 0; i < slots_.size(); ++i)
                if (used_[i]) each(slots_[i].key, slots_[i].value);
            clear();
            return;
        }
        spill();
        bool have = false;
        Entry cur{};
        detail::merge_runs<Entry>(
            file_, runs_, [](const Entry& a, const Entry& b) { return a.key < b.key; },
            [&](const Entry& e) {
                if (have && e.key == cur.key) {
                    cur.value.merge(e.value);
                } else {
                    if (have) each(cur.key, cur.value);
                    cur = e;
                    have = true;
                }
                return true;
            });
        if (have) each(cur.key, cur.value);
        runs_.clear();
    }

private:
    static constexpr std::size_t kNone = static_cast<std::size_t>(-1);
    static constexpr std::size_t kFirstSlots = 1024;

    // Open addressing with linear probing over a power-of-two table, the
    // hash spread by a Fibonacci multiplication (its top bits).
    [[nodiscard]] std::size_t slot_of(const K& key) const noexcept {
        return static_cast<std::size_t>((static_cast<std::uint64_t>(Hash{}(key)) * 0x9e3779b97f4a7c15ull) >> shift_);
    }

    void resize(std::size_t slots) {
        std::vector<Entry> old = std::move(slots_);
        std::vector<std::uint8_t> old_used = std::move(used_);
        slots_.assign(slots, Entry{});
        used_.assign(slots, 0);
        mask_ = slots - 1;
        shift_ = 64;
        for (std::size_t n = slots; n > 1; n >>= 1) --shift_;
        last_ = kNone;
        for (std::size_t j = 0; j < old.size(); ++j) {
            if (!old_used[j]) continue;
            std::size_t i = slot_of(old[j].key);
            while (used_[i]) i = (i + 1) & mask_;
            used_[i] = 1;
            slots_[i] = old[j];
        }
    }

    void clear() {
        std::fill(used_.begin(), used_.end(), std::uint8_t{0});
        size_ = 0;
        last_ = kNone;
    }

    // Writes the entries as one sorted run: moved to the front of the
    // table, sorted there (no second copy), then the table is emptied.
    void spill() {
        last_ = kNone;
        if (size_ == 0) return;
        std::size_t n = 0;
        for (std::size_t i = 0; i < slots_.size(); ++i)
            if (used_[i]) slots_[n++] = slots_[i];
        std::sort(slots_.begin(), slots_.begin() + static_cast<std::ptrdiff_t>(n),
                  [](const Entry& a, const Entry& b) { return a.key < b.key; });
        runs_.push_back({file_.append(slots_.data(), n * sizeof(Entry)), n});
        clear();
    }

    std::size_t max_;
    std::vector<Entry> slots_;
    std::vector<std::uint8_t> used_;
    std::size_t size_ = 0, mask_ = 0;
    unsigned shift_ = 64;
    std::size_t last_ = kNone;  // the slot at() returned last
    SpillFile file_;
    std::vector<detail::Run> runs_;
};

// Sorts records in at most max_records in memory, spilling sorted runs.
template <class T, class Less>
class ExternalSorter {
public:
    static_assert(std::is_trivially_copyable_v<T>);
    ExternalSorter(std::size_t max_records, Less less) : max_(std::max<std::size_t>(max_records, 1)), less_(less) {}

    void push(const T& record) {
        if (buf_.size() >= max_) spill();
        buf_.push_back(record);
    }
    [[nodiscard]] std::size_t runs() const noexcept { return runs_.size(); }

    // Calls each(record) in less order until it returns false.
    template <class Each>
    void drain(Each&& each) {
        if (runs_.empty()) {
            std::stable_sort(buf_.begin(), buf_.end(), less_);
            for (const T& r : buf_)
                if (!each(r)) break;
            buf_.clear();
            return;
        }
        spill();
        detail::merge_runs<T>(file_, runs_, less_, each);
        runs_.clear();
    }

private:
    void spill() {
        if (buf_.empty()) return;
        std::stable_sort(buf_.begin(), buf_.end(), less_);
        runs_.push_back({detail::write_run(file_, buf_), buf_.size()});
        buf_.clear();
    }

    std::size_t max_;
    Less less_;
    std::vector<T> buf_;
    SpillFile file_;
    std::vector<detail::Run> runs_;
};

// The n largest records by less, kept in a heap of n.
template <class T, class Less>
class TopN {
public:
    TopN(std::size_t n, Less less) : n_(n), less_(less) {}
    void offer(const T& r) {
        if (n_ == 0) return;
        if (heap_.size() < n_) {
            heap_.push_back(r);
            std::push_heap(heap_.begin(), heap_.end(), greater());
        } else if (less_(heap_.front(), r)) {
            std::pop_heap(heap_.begin(), heap_.end(), greater());
            heap_.back() = r;
            std::push_heap(heap_.begin(), heap_.end(), greater());
        }
    }
    // Largest first.
    [[nodiscard]] std::vector<T> take() {
        std::vector<T> out = std::move(heap_);
        std::sort(out.begin(), out.end(), [&](const T& a, const T& b) { return less_(b, a); });
        return out;
    }

private:
    auto greater() const {
        return [this](const T& a, const T& b) { return less_(b, a); };
    }
    std::size_t n_;
    Less less_;
    std::vector<T> heap_;  // min-heap by less: the smallest kept at the front
};

}  // namespace capdb::stats
