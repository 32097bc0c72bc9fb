-- Leader elections on a real etcd started on loopback by the spec, against `etcdctl elect`
-- (etcd's own election recipe) in both directions: who leads, what observers see, handing
-- leadership over on resignation, and `baton elect` running a command while leader.
local baton = require "baton"
local H = require "helpers"
local E = require "helpers.etcd"

local missing = E.missing()
if missing then return describe("etcd elections", function() pending(missing) end) end

describe("etcd elections", function()
  local server
  local name, url
  local BIN = os.getenv("BATON_BIN")

  setup(function() server = E.start() end)
  teardown(E.stop_all)
  before_each(function()
    name = E.name("spec/elect")
    url = server.url .. "/" .. name
  end)
  after_each(H.cleanup)

  local function ctl(args)
    return "ETCDCTL_API=3 " .. E.ETCDCTL .. " --endpoints=" .. server.endpoint .. " " .. args
  end
  -- etcdctl in the background, as the process H.spawn returns (to signal it)
  local function bg(args, out)
    return H.spawn("exec env " .. ctl(args) .. " > " .. H.quote(out))
  end

  -- Lines an etcdctl elect or observer wrote to `path`.
  local function lines(path)
    local t = {}
    for line in (H.read(path) or ""):gmatch("[^\n]+") do t[#t + 1] = line end
    return t
  end

  it("sees etcdctl's leader, waits for it, and leads once it resigns", function()
    local out = H.tmpdir() .. "/ctl"
    local pid = bg("elect " .. name .. " alice", out)
    H.wait_for(function() return #lines(out) >= 2 end, 10, "etcdctl to lead")
    local leader = baton.leader(url)
    assert.equal("alice", leader.value)
    assert.equal(lines(out)[1], leader.key)
    assert.matches("^" .. name:gsub("%p", "%%%0") .. "/%x+$", leader.key)
    assert.is_true(leader.rev > 0)
    local ok, msg = pcall(baton.elect, url, "bob", { ttl = 2, timeout = 0.3 })
    assert.is_false(ok)
    assert.matches("timed out", msg)
    local t0 = baton.now()
    ok, msg = pcall(baton.elect, url, "bob", { ttl = 2, sleep = baton.sleep,
      cancel = function() return baton.now() - t0 > 0.3 end })
    assert.is_false(ok)
    assert.matches("cancelled", msg)
    -- the candidates that gave up left no key behind: etcdctl's is the only one
    assert.equal(1, require("baton.kind.etcd").holder(url).queued)
    H.kill(pid, "INT") -- etcdctl resigns and revokes its lease on SIGINT
    local ld = baton.elect(url, "bob", { ttl = 2, timeout = 10 })
    assert.is_true(ld.token > leader.rev)
    assert.equal("bob", baton.leader(url).value)
    assert.is_true(ld:resign())
    assert.is_nil(baton.leader(url))
  end)

  it("leads where etcdctl observes and campaigns, and hands over on resign", function()
    local ld = baton.elect(url, "v1", { ttl = 2 })
    assert.is_true(ld:is_leader())
    local seen = H.tmpdir() .. "/observe"
    bg("elect -l " .. name, seen)
    H.wait_for(function() return lines(seen)[2] == "v1" end, 10, "etcdctl to observe v1")
    assert.equal(ld.key, lines(seen)[1])
    assert.is_true(ld:proclaim("v2"))
    H.wait_for(function() return lines(seen)[4] == "v2" end, 10, "etcdctl to observe v2")
    local out = H.tmpdir() .. "/ctl"
    bg("elect " .. name .. " carol", out)
    H.wait_for(function()
      local h = require("baton.kind.etcd").holder(url)
      return h and h.queued == 2
    end, 10, "etcdctl to campaign")
    baton.sleep(0.3)
    assert.same({}, lines(out))
    assert.is_true(ld:resign())
    assert.is_false(ld:is_leader())
    H.wait_for(function() return lines(out)[2] == "carol" end, 10, "etcdctl to lead")
    local ok, msg, code = ld:proclaim("v3")
    assert.is_nil(ok)
    assert.matches("not the leader", msg)
    assert.equal("lost", code)
  end)

  it("tells the leader when its key is taken away", function()
    local told
    local ld = baton.elect(url, "x", { ttl = 2, on_lost = function(info) told = info end })
    local code, out = H.run(ctl("lease revoke " .. ld.lease))
    assert.equal(0, code, out)
    H.wait_for(function() return not ld:is_leader() end, 5, "the loss to show")
    assert.is_table(told)
    local ok, _, why = ld:resign()
    assert.is_nil(ok)
    assert.equal("lost", why)
  end)

  it("runs `baton elect`'s command while leader, and stops it with 75 on a loss", function()
    if not BIN then return pending("needs the baton executable") end
    local code, out = H.run(H.quote(BIN) .. " elect --ttl 2 " .. H.quote(url) .. " me sh -c "
      .. H.quote("echo token=$BATON_TOKEN key=$ETCD_ELECT_KEY; " .. ctl("get --print-value-only $ETCD_ELECT_KEY")))
    assert.equal(0, code, out)
    assert.matches("token=%d+ key=" .. name:gsub("%p", "%%%0") .. "/%x+", out)
    assert.matches("\nme\n", out)
    local ld = baton.elect(url, "other", { ttl = 2 })
    assert.equal(1, (H.run(H.quote(BIN) .. " elect -n " .. H.quote(url) .. " me true")))
    ld:resign()
    local dir = H.tmpdir()
    H.spawn("sh -c " .. H.quote(H.quote(BIN) .. " elect --ttl 2 " .. H.quote(url)
      .. " me sh -c 'echo $ETCD_ELECT_KEY > " .. dir .. "/key; exec sleep 60'; echo $? > "
      .. dir .. "/code"))
    H.wait_for(function() return (H.read(dir .. "/key") or ""):match("/%x+") end, 10, "the leader")
    local lease = H.read(dir .. "/key"):match("/(%x+)%s*$")
    assert.equal(0, (H.run(ctl("lease revoke " .. lease))))
    H.wait_for(function() return (H.read(dir .. "/code") or ""):match("%d") end, 10, "baton elect to end")
    assert.equal("75", H.read(dir .. "/code"):match("%d+"))
  end)

  it("checks its arguments", function()
    H.raises("etcd://", baton.elect, "/tmp/x.lock", "v")
    H.raises("value must be a string", baton.elect, url, 5)
    H.raises("no shared candidates", baton.elect, url, "v", { shared = true })
    H.raises("unknown option", baton.elect, url, "v", { tiemout = 1 })
  end)
end)
