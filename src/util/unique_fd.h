// A file descriptor owned by a scope: closed by the destructor. For the
// descriptors capdb opens and closes in one function (hashing, resuming).
#pragma once

#include <unistd.h>

namespace capdb {

class UniqueFd {
public:
    // Owns fd; a negative fd (a failed open()) owns nothing.
    explicit UniqueFd(int fd) noexcept : fd_(fd) {}
    ~UniqueFd() {
        if (fd_ >= 0) ::close(fd_);
    }
    UniqueFd(const UniqueFd&) = delete;
    UniqueFd& operator=(const UniqueFd&) = delete;
    [[nodiscard]] int get() const noexcept { return fd_; }

private:
    int fd_;
};

}  // namespace capdb
