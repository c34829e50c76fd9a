-- wrk script of the security run's load phase: sends alice's API token (env TOKEN) on every request and
-- counts the answers by class, so run.sh can assert on the number of 5xx (wrk's own summary only says
-- "Non-2xx or 3xx responses").
wrk.headers["Authorization"] = "Bearer " .. os.getenv("TOKEN")

local threads = {}

function setup(thread)
    table.insert(threads, thread)
end

function init(args)
    ok, client, server, other = 0, 0, 0, 0
end

function response(status, headers, body)
    if status >= 500 then
        server = server + 1
    elseif status >= 400 then
        client = client + 1
    elseif status >= 200 and status < 300 then
        ok = ok + 1
    else
        other = other + 1
    end
end

function done(summary, latency, requests)
    local totals = {ok = 0, client = 0, server = 0, other = 0}
    for _, thread in ipairs(threads) do
        for key, _ in pairs(totals) do
            totals[key] = totals[key] + thread:get(key)
        end
    end
    io.write(string.format("statuses: 2xx=%d 4xx=%d 5xx=%d other=%d socket_errors=%d p99_ms=%.1f\n",
        totals.ok, totals.client, totals.server, totals.other,
        summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
        latency:percentile(99) / 1000))
end
