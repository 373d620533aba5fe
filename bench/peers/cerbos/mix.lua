-- mix.lua: wrk script for the Cerbos side-by-side run: replays the request
-- bodies in BODIES (one JSON body a line, the benchmark mix in a fixed
-- shuffled order) and prints one key=value line like countersign-bench.
-- SPDX-License-Identifier: MIT
local bodies = {}
local n = 0
local i = 0

local f = assert(io.open(os.getenv("BODIES"), "r"))
for line in f:lines() do
	n = n + 1
	bodies[n] = line
end
f:close()

wrk.method = "POST"
wrk.path = "/api/check/resources"
wrk.headers["Content-Type"] = "application/json"

function setup(thread)
	thread:set("offset", math.random(0, n - 1))
end

function init(args)
	i = offset or 0
end

function request()
	i = i % n + 1
	return wrk.format(nil, nil, nil, bodies[i])
end

function done(summary, latency, requests)
	local secs = summary.duration / 1e6
	local errors = summary.errors.connect + summary.errors.read +
	    summary.errors.write + summary.errors.timeout
	io.write(string.format("decisions_per_s=%.0f p50_us=%.1f p99_us=%.1f " ..
	    "p999_us=%.1f max_us=%.1f errors=%d non_2xx=%d calls=%d " ..
	    "seconds=%.2f\n", summary.requests / secs,
	    latency:percentile(50), latency:percentile(99),
	    latency:percentile(99.9), latency.max, errors,
	    summary.errors.status, summary.requests, secs))
end
