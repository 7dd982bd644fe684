-- speed_jobs.lua - distinct POST /v1/jobs bodies for wrk (tests/bench/speed.py).
--
--   wrk -t1 -cN -dS --latency -s speed_jobs.lua URL -- MODE PREFIX TOKEN [LIMIT]
--
-- MODE activate  {"type":"activate","args":{"token":"PREFIX<n>"}} (unknown tokens)
--      register  {"type":"register_email","args":{"email":"PREFIX<n>@example.com",
--                 "password":"correct horse battery"}}
--      resend    {"type":"resend_activation","args":{"email":"fill<n:%08d>@example.com"}}
--                for n = PREFIX, PREFIX+1, ... (the accounts build/bench-fill makes).
--                With LIMIT, after LIMIT jobs the connections ask GET /v1/health
--                instead, and the thread stops once LIMIT jobs are answered (use
--                -t1; wrk itself runs on until -d or SIGINT, which speed.py sends).
-- A 503 (the engine's admission control) makes that connection wait its
-- Retry-After before its next request, as a well-behaved front does (else a
-- closed loop measures only how fast refusals come back).
-- TOKEN is the front's bearer token.  done() prints one line for speed.py:
--   SPEED requests=.. duration_us=.. status_errors=.. socket_errors=.. p50_us=.. p99_us=..

local mode, prefix, limit = "activate", "x", 0
local n, first, answered = 0, 0, 0
local backoff = 0 -- ms the next request waits: a 503's Retry-After, as a front honours it

function init(args)
	mode = args[1] or mode
	prefix = args[2] or prefix
	wrk.headers["Authorization"] = "Bearer " .. (args[3] or "")
	wrk.headers["Content-Type"] = "application/json"
	limit = tonumber(args[4] or "0")
	if mode == "resend" then
		first = tonumber(prefix) or 0
	end
	if limit == 0 and mode ~= "register" then
		response = nil -- wrk then skips parsing replies for the script
	end
end

local function body(i)
	if mode == "register" then
		return string.format('{"type":"register_email","args":{"email":"%s%d@example.com",'
			.. '"password":"correct horse battery"}}', prefix, i)
	elseif mode == "resend" then
		return string.format('{"type":"resend_activation","args":{"email":"fill%08d@example.com"}}',
			first + i)
	end
	return string.format('{"type":"activate","args":{"token":"%s%d"}}', prefix, i)
end

-- wrk calls request() once before the run to check the request it makes
-- (script_verify_request, wrk 4.1): that first call must not use up a number.
local verified = false

function request()
	if limit > 0 and n >= limit then
		return wrk.format("GET", "/v1/health")
	end
	local r = wrk.format("POST", "/v1/jobs", nil, body(n))
	if verified then
		n = n + 1
	end
	verified = true
	return r
end

-- delay - wrk asks before each request: the connection that was just
-- refused (closed loop: it sends next) waits as it was told
function delay()
	local d = backoff
	backoff = 0
	return d
end

function response(status, headers, resp_body)
	if status == 503 then -- OVERLOADED: Retry-After seconds
		backoff = (tonumber(headers["Retry-After"]) or 1) * 1000
	end
	if limit == 0 then
		return
	end
	-- every reply but the health checks' 200 answers a job (202, or an error)
	if status ~= 200 then
		answered = answered + 1
	end
	if answered >= limit then
		wrk.thread:stop()
	end
end

function done(summary, latency, requests)
	local e = summary.errors
	io.write(string.format("SPEED requests=%d duration_us=%d status_errors=%d socket_errors=%d "
		.. "p50_us=%d p99_us=%d\n", summary.requests, summary.duration, e.status,
		e.connect + e.read + e.write + e.timeout, latency:percentile(50), latency:percentile(99)))
end
