// The component schemas as one JSON text, parsed once: easier to read (and to compare with docs/api.md)
// than the same schemas built value by value. The handlers that produce each shape are named beside it.
// Shapes that extend another (a leased job is a job plus its lease) are derived in code, so that the
// closed base shape cannot drift from its extension.
#include "api/openapi_schemas.hpp"

#include <stdexcept>
#include <string>

#include <boost/json/array.hpp>
#include <boost/json/parse.hpp>

namespace rampart::api {
namespace {

namespace json = boost::json;

// Times are RFC 3339 in UTC (core/rfc3339.hpp); fields a handler may leave empty are `null`, never absent.
constexpr std::string_view kSchemas = R"json({
  "Problem": {
    "description": "An error (RFC 9457), from http::writeProblem: the only error body the server sends.",
    "type": "object", "additionalProperties": false,
    "required": ["type", "title", "status", "instance"],
    "properties": {
      "type": {"type": "string", "pattern": "^urn:rampart:problem:[a-z0-9._-]+$",
               "description": "urn:rampart:problem:<slug>, e.g. urn:rampart:problem:invalid-args"},
      "title": {"type": "string"},
      "status": {"type": "integer", "minimum": 400, "maximum": 599},
      "detail": {"type": "string", "description": "For people; never holds a submitted value"},
      "instance": {"type": "string", "pattern": "^urn:rampart:request:",
                   "description": "urn:rampart:request:<X-Request-ID>, to quote when reporting"},
      "errors": {
        "type": "array", "description": "Each field at fault, by JSON Pointer into the request body (/args/url, /jobs/3/queue, /queues/1)",
        "items": {"type": "object", "additionalProperties": false, "required": ["pointer", "detail"],
                  "properties": {"pointer": {"type": "string", "description": "RFC 6901; empty for the whole"},
                                 "detail": {"type": "string"}}}
      }
    }
  },
  "Time": {"type": "string", "format": "date-time", "description": "RFC 3339, UTC"},
  "NullableTime": {"anyOf": [{"$ref": "#/components/schemas/Time"}, {"type": "null"}],
                   "description": "RFC 3339, UTC; null when it has not happened"},
  "Health": {"type": "object", "additionalProperties": false, "required": ["status"],
             "properties": {"status": {"type": "string", "enum": ["ok"]}}},
  "Readiness": {
    "type": "object", "additionalProperties": false, "required": ["status", "checks"],
    "properties": {
      "status": {"type": "string", "enum": ["ready"]},
      "checks": {"type": "object", "additionalProperties": false, "required": ["store"],
                 "properties": {"store": {"type": "string", "enum": ["ok"]},
                                "redis": {"type": "string", "enum": ["ok", "unreachable"]}}},
      "note": {"type": "string"}
    }
  },
  "MetricsText": {"type": "string", "description": "Prometheus text exposition format 0.0.4"},
  "OpenApiDocument": {"type": "object", "description": "This document"},
  "Jwks": {
    "type": "object", "additionalProperties": false, "required": ["keys"],
    "properties": {"keys": {"type": "array", "items": {
      "type": "object", "additionalProperties": false, "required": ["kty", "kid", "alg", "use"],
      "properties": {"kty": {"type": "string", "enum": ["OKP", "EC", "RSA"]},
                     "crv": {"type": "string", "enum": ["Ed25519", "P-256"]},
                     "x": {"type": "string"}, "y": {"type": "string"}, "n": {"type": "string"}, "e": {"type": "string"},
                     "kid": {"type": "string"}, "alg": {"type": "string", "enum": ["EdDSA", "ES256", "RS256"]},
                     "use": {"type": "string", "enum": ["sig"]}}}}}
  },

  "LoginRequest": {
    "type": "object", "additionalProperties": false, "required": ["username", "password"],
    "properties": {
      "username": {"type": "string", "maxLength": 150},
      "password": {"type": "string", "maxLength": 1025, "writeOnly": true, "description": "Longer than 1,024 bytes never logs in"},
      "totp": {"type": "string", "maxLength": 16, "description": "The current code, when the account has TOTP on"},
      "session": {"type": "boolean", "default": false, "description": "true: a session cookie and a CSRF token instead of a token pair"}
    }
  },
  "TokenPair": {
    "type": "object", "additionalProperties": false, "required": ["access_token", "refresh_token", "token_type", "expires_in"],
    "properties": {
      "access_token": {"type": "string", "description": "A JWT, for Authorization: Bearer"},
      "refresh_token": {"type": "string", "description": "For POST /api/v1/auth/refresh, once"},
      "token_type": {"type": "string", "enum": ["Bearer"]},
      "expires_in": {"type": "integer", "minimum": 1, "description": "Seconds the access token lives"}
    }
  },
  "SessionLogin": {
    "type": "object", "additionalProperties": false, "required": ["csrf_token", "expires_in"],
    "properties": {
      "csrf_token": {"type": "string", "description": "Send as X-CSRF-Token on every state-changing request of the session"},
      "expires_in": {"type": "integer", "minimum": 1, "description": "Seconds the session lives"}
    }
  },
  "LoginAnswer": {"oneOf": [{"$ref": "#/components/schemas/TokenPair"}, {"$ref": "#/components/schemas/SessionLogin"}]},
  "RefreshRequest": {
    "type": "object", "additionalProperties": false, "required": ["refresh_token"],
    "properties": {"refresh_token": {"type": "string", "maxLength": 8192}}
  },
  "TotpEnrolment": {
    "type": "object", "additionalProperties": false, "required": ["secret", "otpauth_uri"],
    "properties": {"secret": {"type": "string", "description": "Base32, shown once"},
                   "otpauth_uri": {"type": "string", "description": "otpauth://totp/... for authenticator apps"}}
  },
  "TotpEnrolRequest": {
    "description": "The caller's current password: a stolen session or token alone cannot enrol a second factor",
    "type": "object", "additionalProperties": false, "required": ["password"],
    "properties": {"password": {"type": "string", "maxLength": 1025, "writeOnly": true}}
  },
  "TotpConfirmRequest": {
    "type": "object", "additionalProperties": false, "required": ["code"],
    "properties": {"code": {"type": "string", "maxLength": 16}}
  },
  "TotpDisableRequest": {
    "type": "object", "additionalProperties": false, "required": ["password", "code"],
    "properties": {"password": {"type": "string", "maxLength": 1025, "writeOnly": true},
                   "code": {"type": "string", "maxLength": 16}}
  },

  "Role": {"type": "string", "enum": ["admin", "user", "auditor", "worker"]},
  "User": {
    "description": "A user account (userJson in api/identity_routes.cpp)",
    "type": "object", "additionalProperties": false,
    "required": ["id", "username", "email", "role", "active", "totp_enabled", "created", "last_login", "locked_until"],
    "properties": {
      "id": {"type": "string"},
      "username": {"type": "string", "minLength": 1, "maxLength": 150},
      "email": {"type": ["string", "null"], "maxLength": 254},
      "role": {"$ref": "#/components/schemas/Role"},
      "active": {"type": "boolean"},
      "totp_enabled": {"type": "boolean"},
      "created": {"$ref": "#/components/schemas/Time"},
      "last_login": {"$ref": "#/components/schemas/NullableTime"},
      "locked_until": {"$ref": "#/components/schemas/NullableTime"}
    }
  },
  "UserList": {
    "type": "object", "additionalProperties": false, "required": ["items", "next_cursor"],
    "properties": {"items": {"type": "array", "items": {"$ref": "#/components/schemas/User"}},
                   "next_cursor": {"type": ["string", "null"], "description": "The `after` of the next page; null on the last"}}
  },
  "UserCreateRequest": {
    "type": "object", "additionalProperties": false, "required": ["username", "password"],
    "properties": {
      "username": {"type": "string", "maxLength": 150, "description": "1 to 150 letters, digits and @.+-_, unique regardless of case"},
      "email": {"type": ["string", "null"], "maxLength": 254},
      "role": {"$ref": "#/components/schemas/Role"},
      "password": {"type": "string", "maxLength": 1025, "writeOnly": true, "description": "Must pass the password policy"}
    }
  },
  "UserChangeRequest": {
    "type": "object", "additionalProperties": false,
    "properties": {
      "email": {"type": ["string", "null"], "maxLength": 254},
      "role": {"$ref": "#/components/schemas/Role"},
      "active": {"type": "boolean", "description": "false revokes every credential of the user"},
      "password": {"type": "string", "maxLength": 1025, "writeOnly": true,
                   "description": "revokes every session, refresh family and API token of the user, except the caller's own credential when the user is the caller"}
    }
  },

  "ApiToken": {
    "description": "A personal API token, never the token itself (tokenJson in api/identity_routes.cpp)",
    "type": "object", "additionalProperties": false,
    "required": ["id", "name", "prefix", "scopes", "created", "last_used", "expires"],
    "properties": {
      "id": {"type": "string"},
      "name": {"type": "string", "maxLength": 100},
      "prefix": {"type": "string", "pattern": "^rmp_", "description": "The token's first characters, to recognise it"},
      "scopes": {"type": "array", "items": {"type": "string"}},
      "created": {"$ref": "#/components/schemas/Time"},
      "last_used": {"$ref": "#/components/schemas/NullableTime"},
      "expires": {"$ref": "#/components/schemas/NullableTime"}
    }
  },
  "ApiTokenList": {
    "type": "object", "additionalProperties": false, "required": ["items"],
    "properties": {"items": {"type": "array", "items": {"$ref": "#/components/schemas/ApiToken"}}}
  },
  "ApiTokenRequest": {
    "type": "object", "additionalProperties": false, "required": ["name", "scopes"],
    "properties": {
      "name": {"type": "string", "maxLength": 100},
      "scopes": {"type": "array", "maxItems": 32, "items": {"type": "string", "maxLength": 64},
                 "description": "jobs:read, jobs:write, schedules:read, schedules:write, worker, tokens, users:read, users:write, audit:read, queue:NAME, task:NAME; only what the caller's role and credential hold"},
      "expires_in": {"type": "integer", "minimum": 1, "maximum": 315360000,
                     "description": "Seconds; default 90 days, at most auth.api_token_max_ttl_s"}
    }
  },

  "AuditEvent": {
    "type": "object", "additionalProperties": false,
    "required": ["id", "time", "action", "actor", "client", "request_id", "target", "outcome", "details"],
    "properties": {
      "id": {"type": "integer", "minimum": 1},
      "time": {"type": "string", "description": "RFC 3339 with six fractional digits"},
      "action": {"type": "string"}, "actor": {"type": "string"}, "client": {"type": "string"},
      "request_id": {"type": "string"}, "target": {"type": "string"}, "outcome": {"type": "string"},
      "details": {"type": "object"}
    }
  },
  "AuditList": {
    "type": "object", "additionalProperties": false, "required": ["items", "next_cursor"],
    "properties": {"items": {"type": "array", "items": {"$ref": "#/components/schemas/AuditEvent"}},
                   "next_cursor": {"type": ["string", "null"], "description": "The `after` of the next page"}}
  },

  "TaskType": {
    "type": "object", "additionalProperties": false,
    "required": ["name", "description", "args_schema", "default_queue", "priority", "runs_on", "timeout_seconds", "max_attempts"],
    "properties": {
      "name": {"type": "string", "minLength": 1, "maxLength": 128},
      "description": {"type": "string"},
      "args_schema": {"type": "object", "description": "The JSON Schema (draft 7) a job's args must match"},
      "default_queue": {"type": "string"},
      "priority": {"type": "integer", "minimum": -100, "maximum": 100},
      "runs_on": {"type": "string", "enum": ["in-process", "external"]},
      "timeout_seconds": {"type": "number", "exclusiveMinimum": 0},
      "max_attempts": {"type": "integer", "minimum": 1},
      "result_schema": {"type": "object", "description": "External types only: the JSON Schema a reported result must match"}
    }
  },
  "TaskTypeList": {
    "type": "object", "additionalProperties": false, "required": ["items"],
    "properties": {"items": {"type": "array", "items": {"$ref": "#/components/schemas/TaskType"}}}
  },
  "TaskArgs": {"description": "A job's arguments: any JSON the task type's args_schema accepts (GET /api/v1/tasks)"},

  "JobState": {"type": "string", "enum": ["scheduled", "queued", "running", "failed", "succeeded", "dead", "canceled"]},
  "Job": {
    "description": "A job (jobJson in api/job_json.cpp)",
    "type": "object", "additionalProperties": false,
    "required": ["id", "task", "args", "queue", "priority", "state", "attempts", "max_attempts", "run_at", "timeout_seconds",
                 "owner", "idempotency_key", "progress", "progress_message", "result", "error", "cancel_requested",
                 "created", "updated", "finished"],
    "properties": {
      "id": {"type": "string", "description": "30 characters of base64url that sort by submit time"},
      "task": {"type": "string"},
      "args": {"description": "As submitted"},
      "queue": {"type": "string"},
      "priority": {"type": "integer", "minimum": -100, "maximum": 100},
      "state": {"$ref": "#/components/schemas/JobState"},
      "attempts": {"type": "integer", "minimum": 0},
      "max_attempts": {"type": "integer", "minimum": 1},
      "run_at": {"$ref": "#/components/schemas/Time"},
      "timeout_seconds": {"type": "number", "exclusiveMinimum": 0},
      "owner": {"type": "string", "description": "The submitting user's id"},
      "idempotency_key": {"type": ["string", "null"]},
      "progress": {"type": "integer", "minimum": 0, "maximum": 100},
      "progress_message": {"type": "string"},
      "result": {"description": "The task's result (any JSON); null until it succeeded"},
      "error": {"type": ["string", "null"]},
      "cancel_requested": {"type": "boolean"},
      "created": {"$ref": "#/components/schemas/Time"},
      "updated": {"$ref": "#/components/schemas/Time"},
      "finished": {"$ref": "#/components/schemas/NullableTime"}
    }
  },
  "JobList": {
    "type": "object", "additionalProperties": false, "required": ["items", "next_cursor"],
    "properties": {"items": {"type": "array", "items": {"$ref": "#/components/schemas/Job"}},
                   "next_cursor": {"type": ["string", "null"], "description": "The `cursor` of the next page; null on the last"}}
  },
  "JobBatch": {
    "type": "object", "additionalProperties": false, "required": ["items"],
    "properties": {"items": {"type": "array", "items": {"$ref": "#/components/schemas/Job"}, "description": "In the order submitted"}}
  },
  "JobSubmission": {
    "type": "object", "additionalProperties": false, "required": ["task"],
    "description": "Only task is required; the rest default to the task type's settings. Fields a client may not set (owner, state, result, ...) are refused with 400.",
    "properties": {
      "task": {"type": "string", "minLength": 1, "maxLength": 128},
      "args": {"$ref": "#/components/schemas/TaskArgs"},
      "queue": {"type": "string", "maxLength": 64},
      "priority": {"type": "integer", "minimum": -100, "maximum": 100},
      "run_at": {"type": "string", "format": "date-time", "maxLength": 40, "description": "RFC 3339 in UTC; later than now: the job waits (scheduled)"},
      "max_attempts": {"type": "integer", "minimum": 1, "maximum": 100},
      "timeout_seconds": {"type": "integer", "minimum": 1, "maximum": 86400},
      "idempotency_key": {"type": "string", "maxLength": 200, "description": "The same key and request again: 200 with the first job; another request: 409"}
    }
  },
  "JobBatchRequest": {
    "type": "object", "additionalProperties": false, "required": ["jobs"],
    "properties": {"jobs": {"type": "array", "minItems": 1, "items": {"$ref": "#/components/schemas/JobSubmission"},
                            "description": "1 to jobs.max_batch submissions, stored in one transaction: all or none"}}
  },
  "JobEvent": {
    "type": "object", "additionalProperties": false, "required": ["time", "from", "to", "detail"],
    "properties": {
      "time": {"$ref": "#/components/schemas/Time"},
      "from": {"anyOf": [{"$ref": "#/components/schemas/JobState"}, {"type": "null"}], "description": "null for the submission"},
      "to": {"$ref": "#/components/schemas/JobState"},
      "detail": {"type": "string"}
    }
  },
  "JobEventList": {
    "type": "object", "additionalProperties": false, "required": ["items"],
    "properties": {"items": {"type": "array", "items": {"$ref": "#/components/schemas/JobEvent"}}}
  },
  "Queue": {
    "type": "object", "additionalProperties": false, "required": ["name", "configured", "paused", "counts", "total"],
    "properties": {
      "name": {"type": "string"},
      "configured": {"type": "boolean", "description": "false: jobs of a queue the configuration no longer names"},
      "paused": {"type": "boolean"},
      "counts": {"type": "object", "additionalProperties": false,
                 "required": ["scheduled", "queued", "running", "failed", "succeeded", "dead", "canceled"],
                 "properties": {"scheduled": {"type": "integer", "minimum": 0}, "queued": {"type": "integer", "minimum": 0},
                                "running": {"type": "integer", "minimum": 0}, "failed": {"type": "integer", "minimum": 0},
                                "succeeded": {"type": "integer", "minimum": 0}, "dead": {"type": "integer", "minimum": 0},
                                "canceled": {"type": "integer", "minimum": 0}}},
      "total": {"type": "integer", "minimum": 0}
    }
  },
  "QueueList": {
    "type": "object", "additionalProperties": false, "required": ["items"],
    "properties": {"items": {"type": "array", "items": {"$ref": "#/components/schemas/Queue"}}}
  },
  "QueuePaused": {
    "type": "object", "additionalProperties": false, "required": ["name", "paused"],
    "properties": {"name": {"type": "string"}, "paused": {"type": "boolean"}}
  },

  "MisfirePolicy": {"type": "string", "enum": ["skip", "run_once", "catch_up"]},
  "Schedule": {
    "description": "A schedule (scheduleJson in api/schedule_routes.cpp)",
    "type": "object", "additionalProperties": false,
    "required": ["id", "name", "task", "args", "queue", "priority", "cron", "every_seconds", "time_zone", "enabled", "owner",
                 "misfire_policy", "catch_up_max", "skip_if_running", "last_tick", "last_job_id", "next_fire_times",
                 "next_fire_times_local", "created", "updated"],
    "properties": {
      "id": {"type": "string"},
      "name": {"type": "string"},
      "task": {"type": "string"},
      "args": {"description": "As given"},
      "queue": {"type": "string"},
      "priority": {"type": "integer", "minimum": -100, "maximum": 100},
      "cron": {"type": ["string", "null"]},
      "every_seconds": {"type": ["integer", "null"], "minimum": 1},
      "time_zone": {"type": "string"},
      "enabled": {"type": "boolean"},
      "owner": {"type": "string"},
      "misfire_policy": {"$ref": "#/components/schemas/MisfirePolicy"},
      "catch_up_max": {"type": ["integer", "null"], "minimum": 1, "description": "Set only with catch_up"},
      "skip_if_running": {"type": "boolean"},
      "last_tick": {"$ref": "#/components/schemas/NullableTime"},
      "last_job_id": {"type": ["string", "null"]},
      "next_fire_times": {"type": "array", "maxItems": 5, "items": {"$ref": "#/components/schemas/Time"}},
      "next_fire_times_local": {"type": "array", "maxItems": 5, "items": {"type": "string", "format": "date-time"},
                                "description": "The same instants in the schedule's time zone"},
      "created": {"$ref": "#/components/schemas/Time"},
      "updated": {"$ref": "#/components/schemas/Time"}
    }
  },
  "ScheduleChangeRequest": {
    "type": "object", "additionalProperties": false,
    "description": "Any of a schedule's fields; the result is checked whole again. A new cron, every_seconds or time_zone counts from now.",
    "properties": {
      "name": {"type": "string", "maxLength": 200},
      "task": {"type": "string", "maxLength": 128},
      "args": {"$ref": "#/components/schemas/TaskArgs"},
      "queue": {"type": "string", "maxLength": 64},
      "priority": {"type": "integer", "minimum": -100, "maximum": 100},
      "cron": {"type": "string", "maxLength": 1024, "description": "Five fields (or six, with seconds first) or a macro such as @daily"},
      "every_seconds": {"type": "integer", "minimum": 1, "maximum": 31622400},
      "time_zone": {"type": "string", "maxLength": 64, "description": "An IANA name; default UTC"},
      "enabled": {"type": "boolean"},
      "misfire_policy": {"$ref": "#/components/schemas/MisfirePolicy"},
      "catch_up_max": {"type": "integer", "minimum": 1, "maximum": 1000},
      "skip_if_running": {"type": "boolean"}
    }
  },
  "ScheduleList": {
    "type": "object", "additionalProperties": false, "required": ["items", "next_cursor"],
    "properties": {"items": {"type": "array", "items": {"$ref": "#/components/schemas/Schedule"}},
                   "next_cursor": {"type": ["string", "null"]}}
  },
  "ScheduleTick": {
    "type": "object", "additionalProperties": false, "required": ["fire_time", "job_id", "skipped", "skip_reason", "recorded"],
    "properties": {
      "fire_time": {"$ref": "#/components/schemas/Time"},
      "job_id": {"type": ["string", "null"]},
      "skipped": {"type": "boolean"},
      "skip_reason": {"type": "string"},
      "recorded": {"$ref": "#/components/schemas/Time"}
    }
  },
  "ScheduleTickList": {
    "type": "object", "additionalProperties": false, "required": ["items"],
    "properties": {"items": {"type": "array", "items": {"$ref": "#/components/schemas/ScheduleTick"}}}
  },

  "LeaseId": {"type": "string", "maxLength": 64, "description": "The lease id the job was leased under (base64url)"},
  "LeaseRequest": {
    "type": "object", "additionalProperties": false, "required": ["queues"],
    "properties": {
      "queues": {"type": "array", "minItems": 1, "maxItems": 32, "items": {"type": "string", "maxLength": 64}},
      "max": {"type": "integer", "minimum": 1, "maximum": 100, "default": 1},
      "lease_seconds": {"type": "integer", "minimum": 5, "maximum": 3600, "default": 30},
      "tasks": {"type": "array", "maxItems": 64, "items": {"type": "string", "maxLength": 128},
                "description": "Only jobs of these task types"},
      "wait_seconds": {"type": "integer", "minimum": 0, "maximum": 30, "default": 0,
                       "description": "When nothing is queued, wait up to this long for a job before answering an empty list"}
    }
  },
  "LeaseAnswer": {
    "type": "object", "additionalProperties": false, "required": ["jobs"],
    "properties": {"jobs": {"type": "array", "items": {"$ref": "#/components/schemas/LeasedJob"}, "description": "May be empty"}}
  },
  "HeartbeatRequest": {
    "type": "object", "additionalProperties": false, "required": ["lease_id"],
    "properties": {"lease_id": {"$ref": "#/components/schemas/LeaseId"},
                   "lease_seconds": {"type": "integer", "minimum": 5, "maximum": 3600, "default": 30}}
  },
  "HeartbeatAnswer": {
    "type": "object", "additionalProperties": false, "required": ["lease_expires", "cancel_requested"],
    "properties": {"lease_expires": {"$ref": "#/components/schemas/Time"},
                   "cancel_requested": {"type": "boolean", "description": "true: stop and report fail"}}
  },
  "ProgressRequest": {
    "type": "object", "additionalProperties": false, "required": ["lease_id", "percent"],
    "properties": {"lease_id": {"$ref": "#/components/schemas/LeaseId"},
                   "percent": {"type": "integer", "minimum": 0, "maximum": 100},
                   "message": {"type": "string", "maxLength": 200}}
  },
  "CompleteRequest": {
    "type": "object", "additionalProperties": false, "required": ["lease_id"],
    "properties": {"lease_id": {"$ref": "#/components/schemas/LeaseId"},
                   "result": {"description": "Any JSON (the task type's result_schema, when it has one); absent: null"}}
  },
  "FailRequest": {
    "type": "object", "additionalProperties": false, "required": ["lease_id", "error"],
    "properties": {"lease_id": {"$ref": "#/components/schemas/LeaseId"},
                   "error": {"type": "string", "maxLength": 2000},
                   "retry": {"type": "boolean", "default": true, "description": "false: dead now, whatever attempts remain"}}
  },
  "ReportAnswer": {
    "type": "object", "additionalProperties": false, "required": ["id", "state"],
    "properties": {"id": {"type": "string"},
                   "state": {"$ref": "#/components/schemas/JobState"},
                   "retry_at": {"$ref": "#/components/schemas/Time"}}
  },
  "ReportItem": {
    "description": "One attempt's end: outcome succeeded (with its result) or failed (with error and retry)",
    "type": "object", "additionalProperties": false, "required": ["id", "lease_id", "outcome"],
    "properties": {"id": {"type": "string", "maxLength": 64},
                   "lease_id": {"$ref": "#/components/schemas/LeaseId"},
                   "outcome": {"type": "string", "enum": ["succeeded", "failed"]},
                   "result": {"description": "With succeeded: any JSON (the task type's result_schema, when it has one)"},
                   "error": {"type": "string", "maxLength": 2000, "description": "Required with failed"},
                   "retry": {"type": "boolean", "default": true, "description": "With failed; false: dead now"}}
  },
  "ReportsRequest": {
    "type": "object", "additionalProperties": false, "required": ["reports"],
    "properties": {"reports": {"type": "array", "minItems": 1, "maxItems": 100,
                               "items": {"$ref": "#/components/schemas/ReportItem"}}}
  },
  "RefusedReport": {
    "type": "object", "additionalProperties": false, "required": ["id", "problem"],
    "properties": {"id": {"type": "string"},
                   "problem": {"$ref": "#/components/schemas/Problem"}}
  },
  "ReportsAnswer": {
    "type": "object", "additionalProperties": false, "required": ["reports"],
    "properties": {"reports": {"type": "array", "description": "One per report, in the request's order",
                               "items": {"anyOf": [{"$ref": "#/components/schemas/ReportAnswer"},
                                                   {"$ref": "#/components/schemas/RefusedReport"}]}}}
  }
})json";

// A closed object schema plus some properties (all required), under a new description.
json::object extend(const json::object& schemas, std::string_view base, std::string_view description,
                    const json::object& properties) {
    json::object out = schemas.at(base).as_object();
    out["description"] = description;
    auto& required = out["required"].as_array();
    auto& own = out["properties"].as_object();
    for (const auto& [name, schema] : properties) {
        own[name] = schema;
        required.emplace_back(name);
    }
    return out;
}

json::object buildSchemas() {
    json::object schemas = json::parse(kSchemas).as_object();
    const json::object time{{"$ref", "#/components/schemas/Time"}};
    schemas["LeasedJob"] =
        extend(schemas, "Job", "A leased job: the job as GET /api/v1/jobs/{id} shows it, and its lease",
               {{"lease_id", json::object{{"type", "string"}}}, {"lease_expires", time}});
    // Only with tracing on (docs/observability.md): the run's W3C trace context, for the worker to continue.
    schemas["LeasedJob"].as_object()["properties"].as_object()["traceparent"] = json::object{
        {"type", "string"},
        {"pattern", "^00-[0-9a-f]{32}-[0-9a-f]{16}-0[01]$"},
        {"description", "The attempt's run span: send it as the traceparent header of reports on the job"}};
    schemas["Me"] =
        extend(schemas, "User", "The caller: the account, the credential's scopes and its kind",
               {{"scopes", json::object{{"type", "array"}, {"items", json::object{{"type", "string"}}}}},
                {"credential",
                 json::object{{"type", "string"},
                              {"enum", json::array{"access_token", "api_token", "session", "external"}}}}});
    schemas["ApiTokenCreated"] =
        extend(schemas, "ApiToken", "A new personal API token: the token is in this answer only",
               {{"token", json::object{{"type", "string"}, {"pattern", "^rmp_"}, {"readOnly", true}}}});
    json::object create = schemas.at("ScheduleChangeRequest").as_object();
    create["description"] = "name, task and one of cron or every_seconds are required";
    create["required"] = json::array{"name", "task"};
    create["oneOf"] = json::array{json::object{{"required", json::array{"cron"}}},
                                  json::object{{"required", json::array{"every_seconds"}}}};
    schemas["ScheduleCreateRequest"] = std::move(create);
    return schemas;
}

}  // namespace

const json::object& openApiSchemas() {
    static const json::object schemas = buildSchemas();
    return schemas;
}

const json::object& openApiHeaders() {
    static const json::object headers = [] {
        auto header = [](std::string_view description, std::string_view type) {
            return json::object{{"description", description}, {"schema", json::object{{"type", type}}}};
        };
        return json::object{
            {"Location", header("The new resource's path", "string")},
            {"Set-Cookie",
             header("The session cookie (login with \"session\": true), or its removal (logout)", "string")},
            {"Retry-After", header("Whole seconds; waiting that long is enough", "integer")},
            {"RateLimit",
             header("Per policy counted: requests left and seconds until the quota is whole again "
                    "(draft-ietf-httpapi-ratelimit-headers-10)",
                    "string")},
            {"RateLimit-Policy", header("Per policy counted: quota and window", "string")}};
    }();
    return headers;
}

json::object openApiSecuritySchemes(std::string_view sessionCookie) {
    return json::object{
        {"accessToken",
         json::object{
             {"type", "http"},
             {"scheme", "bearer"},
             {"bearerFormat", "JWT"},
             {"description",
              "An access token from POST /api/v1/auth/login or /api/v1/auth/refresh (5 to 15 minutes), or "
              "a JWT of a configured OIDC issuer"}}},
        {"apiToken",
         json::object{
             {"type", "http"},
             {"scheme", "bearer"},
             {"bearerFormat", "rmp_ API token"},
             {"description",
              "A personal API token (rmp_ and 43 characters) from POST /api/v1/tokens, as "
              "`Authorization: Bearer rmp_...` (or `Authorization: Token rmp_...`). It may call only "
              "what its scopes (listed in each requirement) allow"}}},
        {"sessionCookie",
         json::object{{"type", "apiKey"},
                      {"in", "cookie"},
                      {"name", sessionCookie},
                      {"description",
                       "The session cookie set by POST /api/v1/auth/login with \"session\": true (named "
                       "__Host-rampart_session with secure_cookies, rampart_session without). State-changing "
                       "requests also need csrfToken and a same-origin (or allowed) Origin or Referer"}}},
        {"csrfToken",
         json::object{{"type", "apiKey"},
                      {"in", "header"},
                      {"name", "X-CSRF-Token"},
                      {"description",
                       "The csrf_token of the session's login answer; required with sessionCookie on POST, "
                       "PATCH and DELETE, together with an Origin (or Referer) of this server or of "
                       "cors.allowed_origins"}}}};
}

}  // namespace rampart::api
