-- Fault load for bench/faults.sh: one wrk thread per fault route, so every
-- response can be put down to the fault that caused it (wrk's Lua API does
-- not say which connection or request a response belongs to, but a thread
-- only ever sends its own route).
--
--   wrk -t N -c N*K -s faults.lua http://HOST:PORT -- spin hog ...   (N names)
--
-- Each thread checks every response against what its fault must produce:
-- the status and the exact body. done() prints one line per fault:
--
--   fault NAME sent S expected E shed D late L unexpected U unfinished F [STATUS=COUNT ...]
--
-- sent: requests written; expected: responses with the right status and
-- body; shed: 503 from the app's admission control (its concurrency and
-- queue are full: by design, when more connections drive a fault than its
-- caps admit); late: 504 at the app's deadline from a fault that would have
-- ended otherwise (a faulting app is served on the slow lane, at low
-- priority, so under load it may not reach its fault in time: contained
-- all the same); unexpected: any other response (the statuses that came,
-- listed); unfinished: sent minus responses, requests cut or still running
-- when wrk stopped (at most the connections per fault, per run).
--
-- The stream fault is not run here: wrk buffers a whole body for response(),
-- and its body never ends (bench/faults.sh drives it with a plain wrk).

local internal_error = "500 Internal Server Error\n"

-- What each fault must answer (verified by hand with curl, and by the
-- end-to-end tests in tests/e2e/fixtures.rs).
local expect = {
  spin = { status = 504, body = "504 Gateway Timeout\n" },
  hog = { status = 500, body = internal_error },
  recurse = { status = 500, body = internal_error },
  trap = { status = 500, body = internal_error },
  no_start_response = { status = 500, body = internal_error },
  restart = { status = 200, body = "sent\nalready-started\nheaders-sent\n" },
  bad_header = {
    status = 200,
    body = "invalid-header\nhop-by-hop-header\ninvalid-status\ninvalid-header\n",
  },
  big_header = { status = 200, body = "invalid-header" },
  -- Opens a socket, which it is not granted: the trapping stub fails it.
  sandbox = { status = 500, body = internal_error },
  random_hog = { status = 504, body = "504 Gateway Timeout\n" },
  hostile_text = { status = 200, body = "accepted" },
}

-- Routes that need a query to show their fault.
local paths = {
  sandbox = "/sandbox?do=connect",
  -- 1 MiB of randomness per call, until the deadline.
  random_hog = "/random_hog?mib=1",
  -- 300 refused start_response calls, each with a 60 KiB header name.
  hostile_text = "/hostile_text?refusals=300&name=61440",
}

local threads = {}

-- Runs in the main Lua state, once per thread before it starts: tells the
-- thread its index (its route is the index-th script argument).
function setup(thread)
  table.insert(threads, thread)
  thread:set("index", #threads)
end

function init(args)
  name = args[index]
  if name == nil or expect[name] == nil then
    error(("thread %d: no known fault for argument %q (need one name per thread: %s)")
      :format(index, tostring(name), "spin hog recurse trap no_start_response restart bad_header big_header sandbox random_hog hostile_text"))
  end
  want = expect[name]
  req = wrk.format("GET", paths[name] or ("/" .. name))
  sent, expected, shed, late, unexpected = 0, 0, 0, 0, 0
  -- status (as a string key, so the table copies to the main state) -> count
  other = {}
end

function request()
  sent = sent + 1
  return req
end

function response(status, headers, body)
  if status == want.status and body == want.body then
    expected = expected + 1
  elseif status == 503 and body == "503 Service Unavailable\n" then
    shed = shed + 1
  elseif status == 504 and body == "504 Gateway Timeout\n" then
    late = late + 1
  else
    unexpected = unexpected + 1
    local key = tostring(status)
    other[key] = (other[key] or 0) + 1
  end
end

function done(summary, latency, requests)
  for _, thread in ipairs(threads) do
    local s, e = thread:get("sent"), thread:get("expected")
    local d, l, u = thread:get("shed"), thread:get("late"), thread:get("unexpected")
    local line = ("fault %s sent %d expected %d shed %d late %d unexpected %d unfinished %d")
      :format(thread:get("name"), s, e, d, l, u, s - e - d - l - u)
    for status, count in pairs(thread:get("other")) do
      line = line .. (" %s=%d"):format(status, count)
    end
    print(line)
  end
end
