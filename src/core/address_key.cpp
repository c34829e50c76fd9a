// Client addresses as counting keys.
#include "core/address_key.hpp"

#include <algorithm>

namespace rampart {

AddressKey::AddressKey(const boost::asio::ip::address& raw) {
    auto address = raw;
    if (address.is_v6() && address.to_v6().is_v4_mapped())
        address = boost::asio::ip::make_address_v4(boost::asio::ip::v4_mapped, address.to_v6());
    auto put = [this](std::string_view tag, const unsigned char* data, std::size_t count) {
        std::copy(tag.begin(), tag.end(), bytes_.begin());
        std::copy(data, data + count, bytes_.begin() + static_cast<std::ptrdiff_t>(tag.size()));
        size_ = tag.size() + count;
    };
    if (address.is_v4()) {
        const auto bytes = address.to_v4().to_bytes();
        put("a4:", bytes.data(), bytes.size());
        return;
    }
    const auto bytes = address.to_v6().to_bytes();
    put("a6:", bytes.data(), 8);
}

}  // namespace rampart
