-- wrk script for bench/soak.sh: one traffic class per wrk process.
--   SOAK_REQUESTS  file of requests, one a line: path<TAB>Header: value<TAB>...
--                  (a field `body=N` attaches N bytes); `@random-login` in the
--                  path field asks for a login as a fresh random username
--   SOAK_OUT       where done() writes `status count` lines, then socket
--                  errors, timeouts and latency (p50/p99/max ms) lines
-- Statuses are counted per thread and summed in done().

counts = {} -- global: done() reads it with thread:get
local requests = {}
local random_login = false
local index = 0
local threads = {}

local b64chars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
local function base64(data)
  return ((data:gsub(".", function(x)
    local r, b = "", x:byte()
    for i = 8, 1, -1 do r = r .. (b % 2 ^ i - b % 2 ^ (i - 1) > 0 and "1" or "0") end
    return r
  end) .. "0000"):gsub("%d%d%d?%d?%d?%d?", function(x)
    if #x < 6 then return "" end
    local c = 0
    for i = 1, 6 do c = c + (x:sub(i, i) == "1" and 2 ^ (6 - i) or 0) end
    return b64chars:sub(c + 1, c + 1)
  end) .. ({ "", "==", "=" })[#data % 3 + 1])
end

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  math.randomseed(os.time() + (tonumber(tostring({}):match("0x(%x+)"), 16) or 0) % 100000)
  for line in io.lines(os.getenv("SOAK_REQUESTS")) do
    local fields = {}
    for field in line:gmatch("[^\t]+") do table.insert(fields, field) end
    local path = table.remove(fields, 1)
    if path == "@random-login" then
      random_login = true
    else
      local headers, body = {}, nil
      for _, field in ipairs(fields) do
        local n = field:match("^body=(%d+)$")
        if n then
          body = string.rep("a", tonumber(n))
        else
          local name, value = field:match("^([^:]+):%s*(.*)$")
          headers[name] = value
        end
      end
      table.insert(requests, wrk.format("GET", path, headers, body))
    end
  end
end

function request()
  if random_login then
    local user = string.format("soak-%08x%08x", math.random(0, 0x7fffffff), math.random(0, 0x7fffffff))
    return wrk.format("GET", "/login", {
      ["Authorization"] = "Basic " .. base64(user .. ":guess"),
      ["Accept"] = "application/json",
    })
  end
  index = index % #requests + 1
  return requests[index]
end

function response(status, headers, body)
  counts[status] = (counts[status] or 0) + 1
end

function done(summary, latency, requests_done)
  local totals = {}
  for _, thread in ipairs(threads) do
    local thread_counts = thread:get("counts")
    for status, count in pairs(thread_counts) do
      totals[status] = (totals[status] or 0) + count
    end
  end
  local out = assert(io.open(os.getenv("SOAK_OUT"), "w"))
  for status, count in pairs(totals) do
    out:write(string.format("%d %d\n", status, count))
  end
  local errors = summary.errors
  out:write(string.format("socket_errors %d\n",
    errors.connect + errors.read + errors.write + errors.timeout))
  out:write(string.format("timeouts %d\n", errors.timeout))
  -- Latency of the answered requests (timeouts are counted above).
  out:write(string.format("p50_ms %.1f\n", latency:percentile(50) / 1000))
  out:write(string.format("p99_ms %.1f\n", latency:percentile(99) / 1000))
  out:write(string.format("max_ms %.1f\n", latency.max / 1000))
  out:close()
end
