#include "util/bytes.h"

#include <fmt/format.h>

#include "capdb/error.h"

namespace capdb {

void StoredReader::corrupt(const char* why) const {
    throw DatabaseError(fmt::format("corrupt {} in database ({})", what_, why));
}

}  // namespace capdb
