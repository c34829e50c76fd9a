// Parsing of redis:// and rediss:// URLs with Boost.URL (IPv6 literals, percent-decoding).
#include "redis/redis_url.hpp"

#include <charconv>

#include <boost/asio/ip/address.hpp>
#include <boost/url/parse.hpp>
#include <boost/url/url_view.hpp>

namespace rampart::redis {
namespace {

constexpr unsigned kMaxDatabase = 1'000'000;

}  // namespace

std::string RedisUrl::authority() const {
    const bool v6 = host.find(':') != std::string::npos;
    return (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

std::string RedisUrl::redacted() const {
    std::string text = tls ? "rediss://" : "redis://";
    if (!user.empty() || !password.empty()) text += user + (password.empty() ? "" : ":***") + "@";
    text += authority();
    if (database != 0) text += "/" + std::to_string(database);
    return text;
}

bool RedisUrl::isLoopback() const {
    if (host == "localhost") return true;
    boost::system::error_code ec;
    const auto address = boost::asio::ip::make_address(host, ec);
    return !ec && address.is_loopback();
}

RedisUrl parseRedisUrl(std::string_view text) {
    const auto parsed = boost::urls::parse_uri(text);
    if (!parsed) throw InvalidRedisUrl("the Redis URL is not a valid URL");
    const boost::urls::url_view& url = *parsed;
    RedisUrl result;
    if (url.scheme() == "rediss") {
        result.tls = true;
    } else if (url.scheme() != "redis") {
        throw InvalidRedisUrl("the Redis URL must start with redis:// or rediss://");
    }
    if (!url.has_authority()) throw InvalidRedisUrl("the Redis URL has no host");
    switch (url.host_type()) {
        case boost::urls::host_type::ipv4:
            result.host = url.host_ipv4_address().to_string();
            result.hostIsAddress = true;
            break;
        case boost::urls::host_type::ipv6:
            result.host = url.host_ipv6_address().to_string();
            result.hostIsAddress = true;
            break;
        case boost::urls::host_type::name:
            result.host = url.host_name();
            break;
        default:
            throw InvalidRedisUrl("the Redis URL's host must be a name or an IP address");
    }
    if (result.host.empty()) throw InvalidRedisUrl("the Redis URL has no host");
    if (url.has_port()) {
        const auto port = url.port();
        unsigned value = 0;
        const auto [end, error] = std::from_chars(port.data(), port.data() + port.size(), value);
        if (port.empty() || error != std::errc{} || end != port.data() + port.size() || value == 0 ||
            value > 65535)
            throw InvalidRedisUrl("the Redis URL's port must be a number from 1 to 65535");
        result.port = static_cast<std::uint16_t>(value);
    }
    if (url.has_userinfo()) {
        result.user = url.user();
        if (url.has_password()) result.password = SecretString(url.password());
        if (!result.user.empty() && result.password.empty())
            throw InvalidRedisUrl(
                "the Redis URL names a user but gives no password (redis://user:password@host)");
    }
    const auto path = url.encoded_path();
    if (!path.empty() && path != "/") {
        const std::string_view digits = std::string_view(path).substr(1);
        unsigned database = 0;
        const auto [end, error] = std::from_chars(digits.data(), digits.data() + digits.size(), database);
        if (digits.empty() || error != std::errc{} || end != digits.data() + digits.size() ||
            database > kMaxDatabase)
            throw InvalidRedisUrl("the Redis URL's path must be a database number (redis://host:6379/0)");
        result.database = database;
    }
    if (url.has_query() || url.has_fragment())
        throw InvalidRedisUrl("the Redis URL must not have a query string or fragment");
    return result;
}

}  // namespace rampart::redis
