-- etcd locks: acquire+release latency (wall milliseconds) beside `etcdctl lock` doing the
-- same on the same server, and the hand-off to a waiting process; then the same over TLS with
-- client certificates (an etcd of its own, certificates made by openssl). Starts its own etcd
-- on loopback (a temporary data folder, a free port) unless BATON_ETCD=HOST:PORT names one.
-- usage: make bench-etcd   (or with the module paths set: lua5.4 bench/etcd_cycle.lua [N])
local baton = require "baton"
local H = require "helpers"
local E = require "helpers.etcd"

local n = tonumber(arg[1]) or 200
local procs = math.max(10, math.floor(n / 10))
local missing = E.missing()
if missing then
  print("etcd bench skipped: " .. missing)
  return
end

local endpoint, own = os.getenv("BATON_ETCD"), nil
if not endpoint then
  own = E.start()
  endpoint = own.endpoint
end
local url = "etcd://" .. endpoint .. "/bench/lock"

local function stats(name, times)
  table.sort(times)
  local sum = 0
  for _, t in ipairs(times) do sum = sum + t end
  print(string.format("%-46s n=%-4d mean %7.2f  p50 %7.2f  p90 %7.2f  max %7.2f", name, #times,
    sum / #times * 1e3, times[math.ceil(#times * 0.5)] * 1e3, times[math.ceil(#times * 0.9)] * 1e3,
    times[#times] * 1e3))
end

local function measure(name, k, fn)
  fn() -- warm up
  local times = {}
  for i = 1, k do
    local t0 = baton.now()
    fn()
    times[i] = baton.now() - t0
  end
  stats(name, times)
end

local function run(cmd)
  local code, out = H.run(cmd)
  if code ~= 0 then error(cmd .. " failed: " .. out) end
end

print(string.format("== acquire+release on etcd at %s (wall ms)", endpoint))
measure("baton, reused object", n, (function()
  local l = baton.new(url, { ttl = 10 })
  return function() l:acquire(); l:release() end
end)())
measure("baton.lock():release(), new object", n, function()
  baton.lock(url, { ttl = 10 }):release()
end)
measure("baton.try_lock on a held lock (busy)", n, (function()
  local held
  return function()
    held = held or baton.lock(url .. "-held", { ttl = 10 })
    assert(not baton.try_lock(url .. "-held", { ttl = 10 }))
  end
end)())

print("== one process per cycle (wall ms, process start-up included)")
local lua = H.LUA
measure("lua: require baton (start-up only)", procs, function()
  run(lua .. " -e " .. H.quote("require 'baton'"))
end)
measure("lua: baton.lock(url):release()", procs, function()
  run(lua .. " -e " .. H.quote("require('baton').lock(" .. string.format("%q", url) .. "):release()"))
end)
measure("etcdctl version (start-up only)", procs, function()
  run(E.ETCDCTL .. " version")
end)
measure("etcdctl lock NAME -- true", procs, function()
  run("ETCDCTL_API=3 " .. E.ETCDCTL .. " --endpoints=" .. endpoint .. " lock bench/lock -- true")
end)

print("== hand-off: release by one process to acquisition by a waiting one (wall ms)")
local script = H.script([[
local baton = require "baton"
local l = baton.lock(arg[1], { ttl = 10 })
local t = baton.now()
local f = assert(io.open(arg[2], "w")); f:write(string.format("%.9f", t)); f:close()
l:release()
]])
local etcd = require "baton.kind.etcd"
local times = {}
for i = 1, procs do
  local l = baton.lock(url, { ttl = 10 })
  local out = H.tmpdir() .. "/t"
  H.spawn(H.lua_cmd(script, url, out))
  H.wait_for(function()
    local h = etcd.holder(url)
    return h and h.queued == 2
  end, 10, "the waiter to queue")
  baton.sleep(0.05) -- its watch is set
  local t0 = baton.now()
  l:release()
  H.wait_file(out)
  H.wait_for(function() return tonumber(H.read(out)) ~= nil end, 5, "the time")
  times[i] = tonumber(H.read(out)) - t0
end
H.cleanup()
stats("baton holder -> baton waiter", times)

local S = require "helpers.etcd_secure"
if S.missing() then
  print("TLS part skipped: " .. S.missing())
else
  local certs = S.certificates()
  local sopts = { certs = certs, client_auth = true }
  local server = S.start(sopts)
  local turl = "etcds://" .. server.endpoint .. "/bench/lock"
  local o = { ttl = 10, cacert = certs.ca, cert = certs.client_cert, key = certs.client_key }
  print(string.format("== over TLS with client certificates, etcd at %s (wall ms)", server.endpoint))
  measure("baton TLS, reused object", n, (function()
    local l = baton.new(turl, o)
    return function() l:acquire(); l:release() end
  end)())
  measure("baton TLS, baton.lock():release(), new object", n, function()
    baton.lock(turl, o):release()
  end)
  local env = "ETCDCTL_CACERT=" .. H.quote(certs.ca) .. " ETCDCTL_CERT=" .. H.quote(certs.client_cert)
    .. " ETCDCTL_KEY=" .. H.quote(certs.client_key) .. " "
  measure("lua TLS: baton.lock(url):release()", procs, function()
    run(env .. lua .. " -e " .. H.quote("require('baton').lock(" .. string.format("%q", turl) .. "):release()"))
  end)
  measure("etcdctl TLS: lock NAME -- true", procs, function()
    run("ETCDCTL_API=3 " .. E.ETCDCTL .. " " .. S.flags(server, sopts) .. " lock bench/lock -- true")
  end)
  S.stop_all()
end

if own then E.stop_all() end
