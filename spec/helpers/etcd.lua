-- Real etcd servers for the specs: single members and 3-member clusters, on loopback only,
-- each in a temporary data folder on free ports, stopped (and their folders removed) by
-- E.stop / E.stop_all.
local baton = require "baton"
local H = require "helpers"

local E = {}

E.ETCD = "/usr/bin/etcd"
E.ETCDCTL = "/usr/bin/etcdctl"

local function executable(path)
  return H.run("test -x " .. H.quote(path)) == 0
end

-- Why etcd locks cannot be tested here, or nil when they can.
function E.missing()
  if not executable(E.ETCD) or not executable(E.ETCDCTL) then
    return "etcd is not installed (apt-get install etcd-server etcd-client)"
  end
  if not pcall(require, "baton.etcd_core") then
    return "baton.etcd_core was not built (libcurl or jansson missing)"
  end
end

-- `n` TCP ports that are free on 127.0.0.1 right now.
function E.free_ports(n)
  local code, out = H.run(H.PYTHON .. " -c " .. H.quote(string.format([[
import socket
ss = [socket.socket() for _ in range(%d)]
for s in ss: s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in ss))
for s in ss: s.close()
]], n)))
  assert(code == 0, out)
  local ports = {}
  for p in out:gmatch("%d+") do ports[#ports + 1] = tonumber(p) end
  return ports
end

local running = {}
local folders = {}
local launched = {} -- every etcd started, so that none outlives the specs

-- A folder of its own, /tmp/PREFIX.XXXXXX, noted in `list` to be removed when the servers
-- stop: the specs' H.cleanup() runs after each test, a server may outlive one.
function E.folder(prefix, list)
  local f = assert(io.popen("mktemp -d /tmp/" .. prefix .. ".XXXXXX"))
  local dir = f:read("*l")
  f:close()
  list[#list + 1] = dir
  return dir
end

local function folder()
  return E.folder("baton-etcd", folders)
end

-- Start (or restart) one member. Fast elections keep leader changes short in the specs.
local function launch(m)
  local cmd = table.concat({
    E.ETCD, "--name", m.name, "--data-dir", H.quote(m.dir .. "/data"),
    "--listen-client-urls", "http://" .. m.endpoint, "--advertise-client-urls", "http://" .. m.endpoint,
    "--listen-peer-urls", "http://" .. m.peer, "--initial-advertise-peer-urls", "http://" .. m.peer,
    "--initial-cluster", m.cluster, "--initial-cluster-state", "new",
    "--initial-cluster-token", H.quote(m.token),
    "--heartbeat-interval", "50", "--election-timeout", "500",
  }, " ")
  local f = assert(io.popen(cmd .. " >>" .. H.quote(m.dir .. "/log") .. " 2>&1 </dev/null & echo $!"))
  m.pid = tonumber(f:read("*l"))
  f:close()
  running[m] = true
  launched[#launched + 1] = { pid = m.pid, dir = m.dir }
end

-- True while `pid` is an etcd started on `dir` (not some process that got its pid later).
local function ours(pid, dir)
  local cmdline = H.read("/proc/" .. pid .. "/cmdline") or ""
  return H.alive(pid) and cmdline:find(dir, 1, true) ~= nil
end

-- True when the member answers requests (it has a leader).
function E.answers(m)
  local core = require "baton.etcd_core"
  local got, msg = core.holder("etcd://" .. m.endpoint .. "/baton-spec-probe")
  return got ~= nil or msg == nil
end

function E.wait_ready(members, timeout)
  H.wait_for(function()
    for _, m in ipairs(members) do
      if not E.answers(m) then return false end
    end
    return true
  end, timeout or 20, "etcd to answer")
end

local function make_members(n)
  local ports = E.free_ports(2 * n)
  local token = "baton-spec-" .. tostring(os.time()) .. "-" .. ports[1]
  local members, peers, endpoints = {}, {}, {}
  for i = 1, n do
    local m = { name = "m" .. i, dir = folder(), token = token,
      endpoint = "127.0.0.1:" .. ports[2 * i - 1], peer = "127.0.0.1:" .. ports[2 * i] }
    members[i] = m
    peers[i] = m.name .. "=http://" .. m.peer
    endpoints[i] = m.endpoint
  end
  for _, m in ipairs(members) do m.cluster = table.concat(peers, ",") end
  return members, table.concat(endpoints, ",")
end

-- One etcd member: { endpoint = "127.0.0.1:PORT", url = "etcd://127.0.0.1:PORT", pid, dir }.
-- A key name no test used before in this run: `base` and a number.
local named = 0
function E.name(base)
  named = named + 1
  return base .. named
end

function E.start()
  local members, endpoints = make_members(1)
  local m = members[1]
  m.url = "etcd://" .. endpoints
  launch(m)
  E.wait_ready({ m })
  return m
end

-- A cluster of `n` members: { members = {...}, url = "etcd://EP1,EP2,EP3" }.
function E.start_cluster(n)
  local members, endpoints = make_members(n)
  for _, m in ipairs(members) do launch(m) end
  E.wait_ready(members)
  return { members = members, url = "etcd://" .. endpoints, endpoints = endpoints }
end

-- Stop a member with `sig` (KILL by default) and wait until it is gone.
function E.kill(m, sig)
  H.kill(m.pid, sig or "KILL")
  H.wait_for(function() return not H.alive(m.pid) end, 10, "etcd to stop")
  running[m] = nil
end

-- Start a stopped member again on its data (an etcd restart), or on an empty data folder
-- (`wiped`: a new cluster at the same address).
function E.restart(m, wiped)
  if wiped then
    os.execute("rm -rf " .. H.quote(m.dir .. "/data"))
    m.token = m.token .. "-again"
  end
  launch(m)
end

-- The cluster member that is the raft leader now, or nil when there is none.
function E.leader(cluster)
  for _, m in ipairs(cluster.members) do
    if running[m] then
      local code, out = H.run(E.ETCDCTL .. " --endpoints=" .. m.endpoint
        .. " --command-timeout=1s endpoint status -w json")
      local id, leader = out:match('"member_id":(%d+)'), out:match('"leader":(%d+)')
      if code == 0 and id and id == leader then return m end
    end
  end
end

-- How many requests of each kind a member has handled: { Txn = n, Range = n, ... }.
function E.requests(m)
  local code, out = H.run(H.PYTHON .. " -c " .. H.quote(
    "import urllib.request; print(urllib.request.urlopen('http://" .. m.endpoint
    .. "/metrics', timeout=5).read().decode())"))
  assert(code == 0, out)
  local counts = {}
  for method, n in out:gmatch('grpc_server_started_total{grpc_method="(%w+)"[^}]*} (%d+)') do
    counts[method] = (counts[method] or 0) + tonumber(n)
  end
  return counts
end

function E.stop(m)
  if running[m] then E.kill(m) end
end

function E.stop_all()
  for _, p in ipairs(launched) do
    if ours(p.pid, p.dir) then
      H.kill(p.pid, "KILL")
      H.wait_for(function() return not H.alive(p.pid) end, 10, "etcd to stop")
    end
  end
  running, launched = {}, {}
  for _, dir in ipairs(folders) do os.execute("rm -rf " .. H.quote(dir)) end
  folders = {}
end

-- `etcdctl` against `endpoints` with the given arguments (a string), run to completion.
function E.ctl(endpoints, args)
  return H.run("ETCDCTL_API=3 " .. E.ETCDCTL .. " --endpoints=" .. endpoints .. " " .. args)
end

E.now = baton.now
return E
