// A string as a JSON string literal, for the log lines written by hand (the access log, the application
// log): control characters and every byte outside printable ASCII escaped, so a line stays one line
// and nothing a client sent can forge a field.
#pragma once

#include <iterator>
#include <string_view>

#include <fmt/format.h>

namespace rampart::obs {

template <class Buffer>
void appendJsonString(Buffer& out, std::string_view text) {
    out.push_back('"');
    for (unsigned char c : text) {
        switch (c) {
            case '"':
                out.append(std::string_view("\\\""));
                break;
            case '\\':
                out.append(std::string_view("\\\\"));
                break;
            default:
                if (c < 0x20 || c >= 0x7f)
                    fmt::format_to(std::back_inserter(out), "\\u{:04x}", c);
                else
                    out.push_back(static_cast<char>(c));
        }
    }
    out.push_back('"');
}

}  // namespace rampart::obs
