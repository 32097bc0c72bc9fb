-- etcd locks against a real etcd started on loopback by the spec (and a real 3-member
-- cluster), with real peer processes: exclusion, fencing tokens, leases that expire under
-- killed and stopped holders, leader failure, and the errors users meet.
local baton = require "baton"
local H = require "helpers"
local E = require "helpers.etcd"

local missing = E.missing()

-- A child that takes the lock (options from the command line), reports to a file, and then
-- does what `then_do` says. Lines: "held TOKEN", "lost MESSAGE", "locked BOOL", "release ...".
local HOLDER = [[
local baton = require "baton"
local url, report, ttl, hold, mode = arg[1], arg[2], tonumber(arg[3]), tonumber(arg[4]), arg[5]
local function say(s)
  local f = assert(io.open(report, "a")); f:write(s, "\n"); f:close()
end
local l = baton.lock(url, { ttl = ttl, shared = mode == "shared", note = "spec holder",
  on_lost = function(info) say("lost " .. info.token .. " " .. info.message) end })
say("held " .. l.token)
if mode == "watch" then
  -- hold until the lock is lost (or `hold` runs out), looking twice a second
  local deadline = baton.now() + hold
  while l:is_locked() and baton.now() < deadline do baton.sleep(0.5) end
  say("locked " .. tostring(l:is_locked()))
else
  baton.sleep(hold) -- in C, no Lua call meanwhile: only the lease thread keeps the lock
  say("locked " .. tostring(l:is_locked()))
end
local ok, msg, code = l:release()
say("release " .. tostring(ok) .. " " .. tostring(code) .. " " .. tostring(msg))
]]

local function lines(path)
  local t = {}
  for line in (H.read(path) or ""):gmatch("[^\n]+") do t[#t + 1] = line end
  return t
end

local function find_line(path, prefix)
  for _, line in ipairs(lines(path)) do
    if line:sub(1, #prefix) == prefix then return line end
  end
end

local function wait_line(path, prefix, timeout)
  H.wait_for(function() return find_line(path, prefix) ~= nil end, timeout or 10,
    "'" .. prefix .. "' in " .. path)
  return find_line(path, prefix)
end

-- Start a holder child; returns its pid and report path once it holds the lock.
local function holder(url, opts)
  opts = opts or {}
  local report = H.tmpdir() .. "/report"
  local pid = H.spawn(H.lua_cmd(H.script(HOLDER), url, report, opts.ttl or 2, opts.hold or 30,
    opts.mode or ""))
  local line = wait_line(report, "held ", opts.timeout or 10)
  return pid, report, tonumber(line:match("held (%d+)"))
end

local function gone(pid)
  H.wait_for(function() return not H.alive(pid) end, 10, "pid " .. pid .. " to end")
end

if missing then
  describe("etcd locks", function()
    pending(missing)
  end)
  return
end

describe("etcd locks", function()
  local server
  local url -- a fresh lock name for every test

  setup(function() server = E.start() end)
  teardown(E.stop_all)
  before_each(function() url = server.url .. "/" .. E.name("spec/lock") end)
  after_each(H.cleanup)

  describe("exclusion", function()
    it("excludes another process, and is taken as soon as that process releases", function()
      local pid = holder(url, { hold = 1 })
      local l, msg, code = baton.try_lock(url, { ttl = 2 })
      assert.is_nil(l)
      assert.equal("busy", code)
      assert.matches(url, msg, 1, true)
      local got = baton.lock(url, { ttl = 2, timeout = 10 })
      assert.is_true(got:is_locked())
      assert.is_number(got.token)
      got:release()
      gone(pid)
    end)

    it("makes two lock objects in one process exclude each other", function()
      local a = baton.lock(url, { ttl = 2 })
      local b = baton.new(url, { ttl = 2 })
      assert.equal("busy", select(3, b:try_acquire()))
      a:release()
      assert.equal(b, b:try_acquire())
      assert.is_true(b.token > 0)
      b:release()
      assert.is_nil(b.token)
    end)

    it("is the same lock as `etcdctl lock NAME`, in both directions", function()
      local name = url:match("^etcd://[^/]+/(.*)$")
      local ctl = E.ETCDCTL .. " --endpoints=" .. server.endpoint
        .. " lock --ttl=2 " .. H.quote(name) .. " -- "
      local l = baton.lock(url, { ttl = 2 })
      -- baton holding: etcdctl waits (and is stopped by timeout(1) after a second)
      assert.equal(124, (H.run("ETCDCTL_API=3 timeout 1 " .. ctl .. "echo got")))
      l:release()
      local code, out = H.run("ETCDCTL_API=3 timeout 10 " .. ctl .. "echo got")
      assert.equal(0, code)
      assert.matches("got", out)
      -- etcdctl holding: baton waits
      local ready = H.tmpdir() .. "/ready"
      local pid = H.spawn("ETCDCTL_API=3 exec " .. ctl .. "sh -c "
        .. H.quote("echo $ETCD_LOCK_REV $$ > " .. ready .. "; exec sleep 30"))
      H.wait_file(ready)
      local rev, cmd = H.read(ready):match("(%d+) (%d+)")
      assert.equal("busy", select(3, baton.try_lock(url, { ttl = 2 })))
      H.kill(cmd) -- its command ends: etcdctl gives the lock back
      gone(pid)
      local got = baton.lock(url, { ttl = 2, timeout = 15 })
      assert.is_true(got.token > tonumber(rev))
      got:release()
    end)

    it("counts exactly with 4 processes × 25 acquisitions, and the tokens strictly rise", function()
      local dir = H.tmpdir()
      local script = H.script([[
local baton = require "baton"
local url, dir, times = arg[1], arg[2], tonumber(arg[3])
for _ = 1, times do
  local l = baton.lock(url, { ttl = 2, timeout = 60 })
  local f = io.open(dir .. "/count", "r")
  local c = f and tonumber(f:read("*a")) or 0
  if f then f:close() end
  f = assert(io.open(dir .. "/count", "w")); f:write(tostring(c + 1)); f:close()
  f = assert(io.open(dir .. "/tokens", "a")); f:write(l.token, "\n"); f:close()
  l:release()
end
local f = assert(io.open(dir .. "/done" .. tostring(arg[4]), "w")); f:close()
]])
      for i = 1, 4 do H.spawn(H.lua_cmd(script, url, dir, 25, i)) end
      for i = 1, 4 do H.wait_file(dir .. "/done" .. i, 120) end
      assert.equal("100", H.read(dir .. "/count"))
      local tokens = lines(dir .. "/tokens")
      assert.equal(100, #tokens)
      for i = 2, #tokens do
        assert.is_true(tonumber(tokens[i]) > tonumber(tokens[i - 1]),
          "token " .. tokens[i] .. " after " .. tokens[i - 1])
      end
    end)
  end)

  describe("shared holders (ZooKeeper's read/write order)", function()
    it("share with readers, exclude writers, and queue readers behind a waiting writer", function()
      local rpid, rreport = holder(url, { mode = "shared", hold = 30 })
      local r2 = baton.lock(url, { shared = true, ttl = 2, timeout = 5 })
      assert.equal("busy", select(3, baton.try_lock(url, { ttl = 2 })))
      r2:release()
      -- a writer queues behind the reader...
      local wreport = H.tmpdir() .. "/report"
      local wpid = H.spawn(H.lua_cmd(H.script(HOLDER), url, wreport, 2, 1, ""))
      H.wait_for(function()
        local h = require("baton.kind.etcd").holder(url)
        return h and h.queued == 2
      end, 10, "the writer to queue")
      -- ...and a new reader waits behind the writer instead of joining the first reader
      assert.equal("busy", select(3, baton.try_lock(url, { shared = true, ttl = 2 })))
      H.kill(rpid)
      wait_line(wreport, "held ", 10) -- the writer gets it once the first reader's lease ends
      local r3 = baton.lock(url, { shared = true, ttl = 2, timeout = 10 })
      wait_line(wreport, "release ", 10) -- the writer notes its release once it has let go
      r3:release()
      gone(wpid)
      assert.truthy(find_line(rreport, "held "))
    end)
  end)

  describe("waiting", function()
    it("try_lock makes one attempt and timeouts end the wait with a clear error", function()
      local pid = holder(url, { hold = 30 })
      local l, _, code = baton.try_lock(url, { ttl = 2 })
      assert.is_nil(l)
      assert.equal("busy", code)
      local t0 = baton.now()
      local msg
      l, msg, code = baton.try_lock(url, { ttl = 2, timeout = 0.5 })
      assert.is_nil(l)
      assert.equal("timeout", code)
      assert.matches(url, msg, 1, true)
      assert.is_true(baton.now() - t0 < 5)
      local ok, err = pcall(baton.lock, url, { ttl = 2, timeout = 0.3 })
      assert.is_false(ok)
      assert.matches("timed out", err)
      -- the waiter's place in the queue went with it: the holder is still alone
      assert.equal(1, require("baton.kind.etcd").holder(url).queued)
      H.kill(pid)
      gone(pid)
    end)

    it("waits through a cooperative sleep function and wakes on the release", function()
      local pid = holder(url, { hold = 1.5 })
      local pauses, longest = 0, 0
      local l = baton.lock(url, { ttl = 2, timeout = 10, sleep = function(s)
        pauses = pauses + 1
        longest = math.max(longest, s)
        baton.sleep(s)
      end })
      assert.is_true(l:is_locked())
      assert.is_true(pauses > 0)
      l:release()
      gone(pid)
    end)

    it("does not poll etcd while it waits: it watches the key ahead", function()
      local pid = holder(url, { hold = 30 })
      local before = E.requests(server)
      local l, _, code = baton.try_lock(url, { ttl = 2, timeout = 3 })
      assert.is_nil(l)
      assert.equal("timeout", code)
      local after = E.requests(server)
      local asked = (after.Txn or 0) - (before.Txn or 0) + (after.Range or 0) - (before.Range or 0)
      -- one transaction to queue, maybe one more look; a poll every pause would be hundreds
      assert.is_true(asked <= 4, asked .. " requests in a 3 s wait")
      H.kill(pid)
      gone(pid)
    end)

    it("keeps the lease alive from its own thread while Lua is busy in C", function()
      local pid, report = holder(url, { ttl = 2, hold = 5 })
      baton.sleep(3.5) -- well past the ttl: only the keep-alive thread can have kept it
      assert.equal("busy", select(3, baton.try_lock(url, { ttl = 2 })))
      wait_line(report, "release ", 10)
      assert.truthy(find_line(report, "locked true"))
      assert.truthy(find_line(report, "release true"))
      assert.is_nil(find_line(report, "lost "))
      gone(pid)
    end)
  end)

  describe("holders that die or stall", function()
    it("passes a SIGKILLed holder's lock to a waiter within ttl + 1 s", function()
      local pid, _, token = holder(url, { ttl = 2, hold = 60 })
      local l = baton.new(url, { ttl = 2 })
      assert.equal("busy", select(3, l:try_acquire()))
      H.kill(pid, "KILL")
      local t0 = baton.now()
      l:acquire({ timeout = 10 })
      local waited = baton.now() - t0
      assert.is_true(waited < 3, string.format("took %.2f s", waited))
      assert.is_true(l.token > token)
      l:release()
    end)

    it("a holder stopped past its ttl loses the lock, and learns it when it runs again", function()
      local pid, report, token = holder(url, { ttl = 2, hold = 60, mode = "watch" })
      H.kill(pid, "STOP")
      local l = baton.lock(url, { ttl = 2, timeout = 10 })
      assert.is_true(l.token > token)
      H.kill(pid, "CONT")
      local lost = wait_line(report, "lost ", 10)
      assert.matches("lease", lost)
      assert.matches(url, lost, 1, true)
      wait_line(report, "release ", 10)
      assert.truthy(find_line(report, "locked false"))
      assert.truthy(find_line(report, "release nil lost"))
      gone(pid)
      -- its release did not touch the new holder's lock
      assert.is_true(l:is_locked())
      assert.equal("busy", select(3, baton.try_lock(url, { ttl = 2 })))
      assert.is_true(l:release())
    end)

    it("leaves no descriptor to commands started while it holds or waits", function()
      local function inherited() -- sockets and eventfds a command started now would get
        local _, out = H.run("ls -l /proc/self/fd")
        local count = 0
        for _ in out:gmatch("socket:") do count = count + 1 end
        for _ in out:gmatch("anon_inode:") do count = count + 1 end
        return count
      end
      local before = inherited()
      local l = baton.lock(url, { ttl = 2 })
      assert.equal(before, inherited())
      local during
      local other = baton.new(url, { ttl = 2 })
      assert.is_nil(other:try_acquire({ timeout = 0.5, sleep = function(s)
        during = during or inherited() -- while a watch is open
        baton.sleep(s)
      end }))
      assert.equal(before, during)
      l:release()
    end)

    it("reports who holds the lock", function()
      assert.is_nil((require("baton.kind.etcd").holder(url)))
      local pid, _, token = holder(url, { hold = 30 })
      local h = require("baton.kind.etcd").holder(url)
      assert.equal("etcd", h.kind)
      assert.equal(pid, h.pid)
      assert.equal("spec holder", h.note)
      assert.equal(token, h.token)
      assert.is_string(h.host)
      assert.is_true(math.abs(h.since - os.time()) < 60)
      H.kill(pid)
      gone(pid)
    end)
  end)

  describe("errors", function()
    it("names the endpoint and the lock when etcd cannot be reached", function()
      local port = E.free_ports(1)[1]
      local bad = "etcd://127.0.0.1:" .. port .. "/x"
      local l, msg, code = baton.try_lock(bad)
      assert.is_nil(l)
      assert.equal("ECONNREFUSED", code)
      assert.matches("127.0.0.1:" .. port, msg, 1, true)
      assert.matches(bad, msg, 1, true)
      local ok, err = pcall(baton.lock, bad, { timeout = 5 })
      assert.is_false(ok)
      assert.matches("unreachable", err)
    end)

    it("raises for bad paths and options, naming the path", function()
      for _, p in ipairs({ "etcd://127.0.0.1:2379", "etcd://127.0.0.1:2379/", "etcd:///x",
        "etcd://127.0.0.1:0/x", "etcd://127.0.0.1:x/x", "etcd://a b/x" }) do
        local ok, err = pcall(baton.new, p)
        assert.is_false(ok, p)
        assert.matches(p, err, 1, true)
      end
      local ok, err = pcall(baton.new, "https://127.0.0.1:2379/x", { kind = "etcd" })
      assert.is_false(ok)
      assert.matches("etcds://", err) -- TLS paths: spec/etcd_tls_spec.lua
      ok, err = pcall(baton.new, url, { ttl = 0 })
      assert.is_false(ok)
      assert.matches("ttl", err)
      ok, err = pcall(baton.new, url, { on_lost = "yes" })
      assert.is_false(ok)
      assert.matches("on_lost", err)
    end)
  end)

  describe("etcd restarts", function()
    local own -- a server of this block's own, to restart
    before_each(function() own = E.start() end)
    after_each(function() E.stop(own) end)

    it("keeps a lock across a quick restart on the same data", function()
      local l = baton.lock(own.url .. "/r", { ttl = 5 })
      E.kill(own, "TERM")
      E.restart(own)
      E.wait_ready({ own })
      assert.is_true(l:is_locked())
      assert.equal("busy", select(3, baton.try_lock(own.url .. "/r", { ttl = 2 })))
      assert.is_true(l:release())
    end)

    it("loses the lock when etcd comes back without its data", function()
      local lost
      local l = baton.lock(own.url .. "/r", { ttl = 2, on_lost = function(info) lost = info end })
      local token = l.token
      local fd = l:lostfd()
      local function signalled() -- the eventfd's counter, as the kernel reports it
        return tonumber((H.read("/proc/self/fdinfo/" .. fd) or ""):match("eventfd%-count:%s*(%x+)"))
      end
      assert.equal(0, signalled())
      E.kill(own, "KILL")
      E.restart(own, true)
      E.wait_ready({ own })
      H.wait_for(function() return signalled() == 1 end, 10, "the lost descriptor to be readable")
      assert.is_false(l:is_locked())
      assert.is_table(lost)
      assert.equal(token, lost.token)
      assert.matches(own.endpoint, lost.message, 1, true)
      local ok, msg, code = l:release()
      assert.is_nil(ok)
      assert.equal("lost", code)
      assert.matches(own.url .. "/r", msg, 1, true)
      assert.equal(0, signalled())
    end)
  end)
end)

describe("baton lock with an etcd:// lock", function()
  local server
  local url
  local BIN = os.getenv("BATON_BIN")

  setup(function() server = E.start() end)
  teardown(E.stop_all)
  before_each(function() url = server.url .. "/" .. E.name("spec/cli") end)
  after_each(H.cleanup)

  local function bt(args)
    return H.run(H.quote(BIN) .. " lock " .. args)
  end

  it("gives the command the fencing token, and keeps flock(1)'s exit codes", function()
    if not BIN then return pending("needs the baton executable") end
    local code, out = bt("--ttl 2 " .. H.quote(url) .. " sh -c 'echo token=$BATON_TOKEN'")
    assert.equal(0, code, out)
    local token = tonumber(out:match("token=(%d+)"))
    assert.is_true(token and token > 0, out)
    local l = baton.lock(url, { ttl = 2 })
    assert.is_true(l.token > token)
    assert.equal(1, (bt("-n " .. H.quote(url) .. " true")))
    assert.equal(7, (bt("-n -E 7 " .. H.quote(url) .. " true")))
    local t0 = baton.now()
    assert.equal(1, (bt("-w 0.5 " .. H.quote(url) .. " true")))
    assert.is_true(baton.now() - t0 >= 0.5)
    l:release()
    assert.equal(0, (bt("-n " .. H.quote(url) .. " true")))
    assert.equal(64, (bt("--ttl 2 " .. H.quote(H.tmpdir() .. "/file.lock") .. " true")))
  end)

  it("stops the command and exits 75 when the lease is lost", function()
    if not BIN then return pending("needs the baton executable") end
    local dir = H.tmpdir()
    local pids, codefile = dir .. "/pids", dir .. "/code"
    -- the command notes its parent (baton's guard) and its own pid, then runs on
    local outer = H.spawn("sh -c " .. H.quote(H.quote(BIN) .. " lock --ttl 2 " .. H.quote(url)
      .. " sh -c 'echo $PPID $$ > " .. pids .. "; exec sleep 60'; echo $? > " .. codefile))
    H.wait_for(function() return (H.read(pids) or ""):match("%d+ %d+") end, 10, "the command")
    local child = H.read(pids):match("%d+ (%d+)")
    -- baton is the outer shell's child
    local guard = H.read("/proc/" .. outer .. "/task/" .. outer .. "/children"):match("%d+")
    H.kill(guard, "STOP") -- no renewals: the lease runs out
    local l = baton.lock(url, { ttl = 2, timeout = 10 })
    H.kill(guard, "CONT")
    H.wait_file(codefile, 10)
    H.wait_for(function() return H.read(codefile):match("%d") end, 5)
    assert.equal("75", H.read(codefile):match("%d+"))
    assert.is_false(H.alive(tonumber(child)))
    assert.is_true(l:is_locked())
    l:release()
  end)
end)

describe("etcd locks on a 3-member cluster", function()
  local cluster
  setup(function() cluster = E.start_cluster(3) end)
  teardown(E.stop_all)
  after_each(H.cleanup)

  it("never has two holders when the leader is killed, and waiting resumes", function()
    local url = cluster.url .. "/spec/cluster"
    local dir = H.tmpdir()
    -- each child takes the lock once, marks the shared file as its own while it holds it,
    -- and checks nobody else marked it meanwhile
    local script = H.script([[
local baton = require "baton"
local url, dir, id, hold = arg[1], arg[2], arg[3], tonumber(arg[4])
local function put(name, s) local f = assert(io.open(dir .. "/" .. name, "w")); f:write(s); f:close() end
local function get(name) local f = io.open(dir .. "/" .. name); if not f then return "" end
  local s = f:read("*a"); f:close(); return s end
local l = baton.lock(url, { ttl = 5, timeout = 60 })
if get("owner") ~= "" then put("overlap" .. id, get("owner")) end
put("owner", id)
put("held" .. id, tostring(l.token))
local deadline = baton.now() + hold
while baton.now() < deadline do
  baton.sleep(0.05)
  if get("owner") ~= id then put("overlap" .. id, get("owner")) end
end
put("owner", "")
put("locked" .. id, tostring(l:is_locked()))
l:release()
put("done" .. id, "")
]])
    H.spawn(H.lua_cmd(script, url, dir, "a", 4))
    H.wait_file(dir .. "/helda")
    H.spawn(H.lua_cmd(script, url, dir, "b", 0.5))
    H.spawn(H.lua_cmd(script, url, dir, "c", 0.5))
    H.wait_for(function()
      local h = require("baton.kind.etcd").holder(url)
      return h and h.queued == 3
    end, 10, "both waiters to queue")
    local leader = E.leader(cluster)
    assert.is_table(leader)
    E.kill(leader, "KILL")
    for _, id in ipairs({ "a", "b", "c" }) do H.wait_file(dir .. "/done" .. id, 60) end
    for _, id in ipairs({ "a", "b", "c" }) do
      assert.is_nil(H.read(dir .. "/overlap" .. id), "two holders at once")
    end
    assert.equal("true", H.read(dir .. "/lockeda"))
    local ta, tb, tc = tonumber(H.read(dir .. "/helda")), tonumber(H.read(dir .. "/heldb")),
      tonumber(H.read(dir .. "/heldc"))
    assert.is_true(tb > ta and tc > ta)
    -- the killed member comes back and catches up
    E.restart(leader)
    E.wait_ready(cluster.members)
  end)

  it("waits while the cluster has lost its quorum, and resumes when it recovers", function()
    local url = cluster.url .. "/spec/quorum"
    local l = baton.lock(url, { ttl = 2 })
    local token = l.token
    local got = H.tmpdir() .. "/got"
    local script = H.script([[
local baton = require "baton"
local l = baton.lock(arg[1], { ttl = 2, timeout = 60 })
local f = assert(io.open(arg[2], "w")); f:write(tostring(l.token)); f:close()
l:release()
]])
    local pid = H.spawn(H.lua_cmd(script, url, got))
    H.wait_for(function()
      local h = require("baton.kind.etcd").holder(url)
      return h and h.queued == 2
    end, 10, "the waiter to queue")
    -- two members of three gone: no quorum, so nothing can be handed over
    local m1, m2 = cluster.members[1], cluster.members[2]
    E.kill(m1, "KILL")
    E.kill(m2, "KILL")
    l:release() -- cannot reach a leader: the lease is left to expire
    baton.sleep(3) -- longer than the waiter's ttl: its lease cannot be renewed either
    assert.is_nil(H.read(got))
    assert.is_true(H.alive(pid))
    E.restart(m1)
    E.restart(m2)
    H.wait_file(got, 40)
    assert.is_true(tonumber(H.read(got)) > token)
    gone(pid)
  end)
end)
