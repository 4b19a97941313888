#pragma once
// boost::uuids::uuid ↔ PostgreSQL uuid: 16 raw bytes in RFC 4122 order (uuid_send), the
// same order boost::uuids::uuid stores them in.

#include <pgcoro/types/basic.hpp>
#include <pgcoro/types/traits.hpp>

#include <boost/uuid/uuid.hpp>

#include <algorithm>
#include <string>
#include <string_view>

namespace pgcoro {

/// boost::uuids::uuid ↔ uuid.
template <> struct type_traits<boost::uuids::uuid> {
    static constexpr oid_t type_oid = oids::uuid;
    static constexpr oid_t array_oid = oids::uuid_array;

    /// True for uuid columns.
    static bool accepts(oid_t type) noexcept { return type == oids::uuid; }

    /// Appends the 16 bytes. Never throws (beyond std::bad_alloc).
    static void encode(const boost::uuids::uuid& value, std::string& out)
    {
        out.append(reinterpret_cast<const char*>(value.begin()), value.size());
    }

    /// Throws client_errc::malformed_value unless `bytes` is exactly 16 bytes long.
    static boost::uuids::uuid decode(std::string_view bytes, oid_t)
    {
        boost::uuids::uuid value{};
        detail::expect_size(bytes, value.size(), oids::uuid);
        std::copy(bytes.begin(), bytes.end(), value.begin());
        return value;
    }
};

} // namespace pgcoro
