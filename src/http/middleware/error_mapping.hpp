// The error stage: the one place where failures become responses. An ApiError, a domain error the
// translator knows (a refused job, a refused login...), a database outage or an unexpected exception
// below it becomes a problem+json response; no handler builds an error body.
#pragma once

#include <exception>
#include <functional>
#include <optional>

#include "http/middleware.hpp"
#include "http/problem.hpp"

namespace rampart::http {

// Turns a domain error of the layers above http (jobs::JobError, identity::AuthError) into the
// ApiError it is answered with; nullopt for anything it does not know. api::translateDomainError in the
// server.
using ErrorTranslator = std::function<std::optional<ApiError>(const std::exception_ptr&)>;

class ErrorMappingStage : public Middleware {
  public:
    // verbose: add the exception's message to 500 details (development only; never in production).
    ErrorMappingStage(bool verbose, ErrorTranslator translate)
        : verbose_(verbose), translate_(std::move(translate)) {}
    boost::asio::awaitable<void> handle(Exchange& ex, Next next) override;

  private:
    bool verbose_;
    ErrorTranslator translate_;
};

}  // namespace rampart::http
