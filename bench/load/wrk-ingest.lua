-- wrk script for the ingest figures: POST /v/event with a fresh event id in every event, so
-- nothing is de-duplicated away, from many client addresses (the service runs with TRUST_PROXY
-- behind a balancer, and its per-address rate limit must not be what is measured).
-- Settings come from the environment: WRK_ACCOUNT, WRK_BATCH (events per request, 1 = a single
-- event object), WRK_SESSIONS, WRK_IPS, WRK_TYPE (the event type, default pageview).
local account = os.getenv('WRK_ACCOUNT') or 'bench'
local batch = tonumber(os.getenv('WRK_BATCH') or '1')
local sessions = tonumber(os.getenv('WRK_SESSIONS') or '20000')
local ips = tonumber(os.getenv('WRK_IPS') or '5000')
local etype = os.getenv('WRK_TYPE') or 'pageview'
local counter = 0
local prefix = ''

function setup(thread)
  thread:set('tid', tostring(math.random(0, 0xffffff)))
end

function init(args)
  math.randomseed(os.time() + (tonumber(tid) or 0))
  prefix = string.format('%08x-%04x-4%03x', math.random(0, 0x7fffffff), math.random(0, 0xffff), math.random(0, 0xfff))
end

local function event(n)
  local s = (n * 7919) % sessions
  local path = '/listings/' .. (s % 500) .. '-high-st'
  return '{"account":"' .. account .. '","type":"' .. etype .. '","sessionId":"s-' .. s .. '","visitorId":"v-' .. s ..
    '","path":"' .. path .. '","eventId":"' .. prefix .. string.format('-8%03x-%012x', n % 4096, n) ..
    '","url":"https://bench.example' .. path .. '?utm_medium=email","title":"12 High Street, a two-bedroom flat","referrer":"https://www.google.com/"}'
end

function request()
  counter = counter + 1
  local body
  if batch <= 1 then
    body = event(counter)
  else
    local parts = {}
    for k = 1, batch do parts[k] = event(counter * batch + k) end
    body = '{"events":[' .. table.concat(parts, ',') .. ']}'
  end
  local ip = counter % ips
  local headers = {
    ['Content-Type'] = 'text/plain',
    ['User-Agent'] = 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Safari/537.36',
    ['X-Forwarded-For'] = '10.' .. (math.floor(ip / 65536) % 256) .. '.' .. (math.floor(ip / 256) % 256) .. '.' .. (ip % 256),
  }
  return wrk.format('POST', '/v/event', headers, body)
end

function done(summary, latency, requests)
  io.write(string.format('WRK {"requests":%d,"durationUs":%d,"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},"latencyUs":{"p50":%d,"p99":%d,"max":%d}}\n',
    summary.requests, summary.duration, summary.errors.connect, summary.errors.read, summary.errors.write, summary.errors.status, summary.errors.timeout,
    latency:percentile(50), latency:percentile(99), latency.max))
end
