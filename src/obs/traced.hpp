// Awaiting a call inside a span of its own: the span covers exactly the call (an asio awaitable starts
// only when awaited), and marks an error when the call throws. For call sites that await a store or a
// hash in the middle of a longer function, where a span held to the end of the scope would cover more.
#pragma once

#include <string_view>
#include <type_traits>
#include <utility>

#include <boost/asio/awaitable.hpp>

#include "obs/tracer.hpp"

namespace rampart::obs {

template <class T>
boost::asio::awaitable<T> traced(Span span, boost::asio::awaitable<T> call) {
    try {
        if constexpr (std::is_void_v<T>) {
            co_await std::move(call);
        } else {
            co_return co_await std::move(call);
        }
    } catch (...) {
        span.setStatus(SpanStatus::error);
        throw;
    }
}

// `call` in a span `name` of `kind` under `parent`; `call` itself (no coroutine frame more) when the parent
// records nothing.
template <class T>
boost::asio::awaitable<T> tracedChild(const Span& parent, SpanName name, SpanKind kind,
                                      boost::asio::awaitable<T> call) {
    if (!parent.recording()) return call;
    return traced(parent.child(std::move(name), kind), std::move(call));
}

// The same for a call to one of the stores (anything with databaseSystem()): a dbSpan.
template <class Store, class T>
boost::asio::awaitable<T> tracedStore(const Span& parent, const Store& store, std::string_view operation,
                                      boost::asio::awaitable<T> call) {
    if (!parent.recording()) return call;
    return traced(dbSpan(parent, store.databaseSystem(), operation), std::move(call));
}

}  // namespace rampart::obs
