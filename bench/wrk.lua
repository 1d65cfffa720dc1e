-- Sends the requests of a file in turn, one per line: "<bearer token or empty>\t<JSON body>".
-- Each thread starts at its own place in the file (KB_THREADS: wrk's -t); every request
-- gets its own request id.
-- A response that is not 200, or whose body carries GraphQL errors, counts as an error.
-- At the end, prints one line of JSON with the figures.

local threads = {}
local count = 0

function setup(thread)
  thread:set("id", #threads + 1)
  table.insert(threads, thread)
end

local lines = {}
errors = 0 -- global: done() reads it with thread:get

function init(args)
  for line in io.lines(os.getenv("KB_REQUESTS")) do
    local tab = line:find("\t", 1, true)
    table.insert(lines, { line:sub(1, tab - 1), line:sub(tab + 1) })
  end
  -- The threads start evenly spaced, so that they send different requests until one
  -- reaches where the next began (a mutation file holds more lines than a run sends).
  -- Without KB_THREADS, each starts at a random place.
  local threads_n = tonumber(os.getenv("KB_THREADS") or "")
  if threads_n then
    count = math.floor((id - 1) * #lines / threads_n)
  else
    math.randomseed(os.time() * 97 + id)
    count = math.random(#lines)
  end
end

function request()
  count = count + 1
  local r = lines[(count % #lines) + 1]
  local headers = { ["Content-Type"] = "application/json", ["x-request-id"] = "bench-" .. id .. "-" .. count }
  if r[1] ~= "" then
    headers["Authorization"] = "Bearer " .. r[1]
  end
  return wrk.format("POST", "/graphql", headers, r[2])
end

function response(status, headers, body)
  if status ~= 200 or body:find('"errors"', 1, true) then
    errors = errors + 1
  end
end

function done(summary, latency, requests)
  local failed = 0
  for _, t in ipairs(threads) do
    failed = failed + (t:get("errors") or 0)
  end
  io.write(string.format(
    '{"requests": %d, "duration_us": %d, "failed": %d, "socket_errors": %d, "p50_us": %d, "p99_us": %d}\n',
    summary.requests, summary.duration, failed,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    latency:percentile(50), latency:percentile(99)))
end
