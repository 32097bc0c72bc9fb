-- etcd locks on a real 3-member cluster started on loopback by the spec, while members fail
-- under them: the leader killed with SIGKILL while one process holds the lock and three
-- wait, and a member stopped with SIGSTOP (it keeps its connections open and answers
-- nothing) while the lease is renewed through it and a waiter watches through it.
local baton = require "baton"
local H = require "helpers"
local E = require "helpers.etcd"

local missing = E.missing()
if missing then return describe("etcd locks while cluster members fail", function() pending(missing) end) end

-- A child that takes the lock once and works under it for `hold` seconds. It counts itself
-- in a shared counter (under a file lock) while it works, and presents its fencing token to
-- a store that refuses a token not higher than the highest it has seen. Files in `dir`:
-- "got-ID" (token and time), "overlap" / "refused" / "lost-ID" when anything goes wrong.
local WORKER = [[
local baton = require "baton"
local url, dir, id, hold, ttl = arg[1], arg[2], arg[3], tonumber(arg[4]), tonumber(arg[5])
local function read(name)
  local f = io.open(dir .. "/" .. name); if not f then return nil end
  local s = f:read("*a"); f:close(); return s
end
local function write(name, s, mode)
  local f = assert(io.open(dir .. "/" .. name, mode or "w")); f:write(s); f:close()
end
local function store(fn)
  local g = baton.lock(dir .. "/store.lock")
  fn()
  g:release()
end
local l = baton.lock(url, { ttl = ttl, timeout = 60 })
local token = l.token
store(function()
  local n = tonumber(read("counter") or "0") + 1
  write("counter", tostring(n))
  if n > 1 then write("overlap", id .. " joined " .. (n - 1) .. " holder(s)\n", "a") end
  local highest = tonumber(read("highest") or "0")
  if token <= highest then
    write("refused", id .. " token " .. token .. " <= " .. highest .. "\n", "a")
  else
    write("highest", tostring(token))
  end
end)
write("got-" .. id, token .. " " .. baton.now())
local deadline = baton.now() + hold
while baton.now() < deadline do
  if not l:is_locked() then write("lost-" .. id, "lost") break end
  baton.sleep(0.05)
end
store(function() write("counter", tostring(tonumber(read("counter")) - 1)) end)
l:release()
write("done-" .. id, tostring(baton.now()))
]]

describe("etcd locks while cluster members fail", function()
  local cluster
  setup(function() cluster = E.start_cluster(3) end)
  teardown(E.stop_all)
  after_each(H.cleanup)

  local function queued(url, n)
    H.wait_for(function()
      local h = require("baton.kind.etcd").holder(url)
      return h and h.queued == n
    end, 15, n .. " keys in the queue")
  end

  it("keeps one holder at a time and rising tokens when the leader is SIGKILLed", function()
    local url = cluster.url .. "/spec/failover"
    local dir = H.tmpdir()
    local script = H.script(WORKER)
    H.spawn(H.lua_cmd(script, url, dir, "a", 3, 2))
    H.wait_file(dir .. "/got-a", 15)
    for _, id in ipairs({ "b", "c", "d" }) do H.spawn(H.lua_cmd(script, url, dir, id, 0.5, 2)) end
    queued(url, 4)
    local leader = E.leader(cluster)
    assert.is_table(leader, "no leader")
    local t0 = baton.now()
    E.kill(leader, "KILL")
    for _, id in ipairs({ "a", "b", "c", "d" }) do H.wait_file(dir .. "/done-" .. id, 30) end
    -- a's 3 s of work, b, c and d's 0.5 s each, and the election: a few lease lengths
    assert.is_true(baton.now() - t0 < 3 + 1.5 + 3 * 2, "took " .. (baton.now() - t0) .. " s")
    assert.is_nil(H.read(dir .. "/overlap"), H.read(dir .. "/overlap"))
    assert.is_nil(H.read(dir .. "/refused"), H.read(dir .. "/refused"))
    assert.is_nil(H.read(dir .. "/lost-a"), "the lease did not survive the election")
    local tokens = {}
    for _, id in ipairs({ "a", "b", "c", "d" }) do
      tokens[#tokens + 1] = tonumber(H.read(dir .. "/got-" .. id):match("^%d+"))
    end
    for i = 2, 4 do assert.is_true(tokens[i] > tokens[1]) end
    E.restart(leader)
    E.wait_ready(cluster.members)
  end)

  it("renews and watches past a member stopped with SIGSTOP", function()
    -- a follower first in the list: the lease thread and the waiter's watch start there
    local leader = E.leader(cluster)
    local stopped, others = nil, {}
    for _, m in ipairs(cluster.members) do
      if m ~= leader and not stopped then stopped = m else others[#others + 1] = m.endpoint end
    end
    local url = "etcd://" .. stopped.endpoint .. "," .. table.concat(others, ",") .. "/spec/stop"
    local l = baton.lock(url, { ttl = 3 })
    local dir = H.tmpdir()
    H.spawn(H.lua_cmd(H.script(WORKER), url, dir, "w", 0.1, 3))
    queued(url, 2)
    H.kill(stopped.pid, "STOP")
    local ok, err = pcall(function()
      baton.sleep(4.5) -- past the TTL: renewals had to go through the other members
      assert.is_true(l:is_locked(), "the lease was lost")
      assert.is_nil(H.read(dir .. "/got-w"))
      local t0 = baton.now()
      assert.is_true(l:release())
      -- the waiter's watch was on the stopped member: it must move, not wait for its 10 s look
      H.wait_file(dir .. "/got-w", 5)
      assert.is_true(baton.now() - t0 < 5)
      H.wait_file(dir .. "/done-w", 10)
    end)
    H.kill(stopped.pid, "CONT")
    assert(ok, err)
  end)
end)
