// Runs one exchange through a pipeline without sockets, as the transport would: route lookup (its
// refusals become the transport error), then every stage, on a private io_context, then the fixed
// header block as the transport writes it.
#pragma once

#include <memory>

#include "http/pipeline.hpp"
#include "http/problem.hpp"
#include "testing/run_to_completion.hpp"

namespace rampart::testing {

inline void runThroughPipeline(const http::Pipeline& pipeline, http::Exchange& ex) {
    if (!ex.transportError) {
        try {
            pipeline.router().match(ex);
        } catch (const http::ApiError& error) {
            ex.transportError = std::make_shared<http::ApiError>(error);
        }
    }
    runToCompletion(pipeline.run(ex));
    // The transport writes the fixed header block after the response's fields; tests look at the
    // response as it goes on the wire.
    std::string_view block = ex.fixedHeaders;
    while (!block.empty()) {
        auto end = block.find("\r\n");
        auto line = block.substr(0, end);
        auto colon = line.find(": ");
        ex.response.insert(line.substr(0, colon), line.substr(colon + 2));
        block.remove_prefix(end + 2);
    }
}

}  // namespace rampart::testing
