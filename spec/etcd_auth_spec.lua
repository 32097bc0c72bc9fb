-- etcd locks on a real etcd with user authentication on (started on loopback by the spec,
-- with simple auth tokens that expire after 2 s): the right and wrong passwords, a user etcd
-- does not know, no user at all, credentials from ETCDCTL_USER / ETCDCTL_PASSWORD, and tokens
-- that expire while a lock object is idle, held, or waiting.
local baton = require "baton"
local H = require "helpers"
local E = require "helpers.etcd"
local S = require "helpers.etcd_secure"

local missing = S.missing()
if missing then return describe("etcd locks with authentication", function() pending(missing) end) end

local TOKEN_TTL = 2

describe("etcd locks with authentication", function()
  local server, url
  local BIN = os.getenv("BATON_BIN")
  local ALICE = { user = "alice", password = "s3cret", ttl = 2 }

  setup(function()
    server = S.start({ token_ttl = TOKEN_TTL })
    S.enable_auth(server, nil, "alice", "s3cret")
  end)
  teardown(S.stop_all)
  before_each(function() url = "etcd://" .. server.endpoint .. "/" .. E.name("spec/auth") end)
  after_each(H.cleanup)

  local function with(extra)
    local o = {}
    for k, v in pairs(ALICE) do o[k] = v end
    for k, v in pairs(extra or {}) do o[k] = v end
    return o
  end

  it("locks with the right password, and excludes etcdctl's user", function()
    local l = baton.lock(url, ALICE)
    assert.is_true(l.token > 0)
    local name = url:match("/(spec/auth%d+)$")
    local marker = H.tmpdir() .. "/ctl"
    H.spawn("ETCDCTL_API=3 " .. E.ETCDCTL .. " " .. S.flags(server, nil, "alice:s3cret")
      .. " lock " .. name .. " -- touch " .. H.quote(marker))
    H.wait_for(function()
      local h = require("baton.kind.etcd").holder(url, ALICE)
      return h and h.queued == 2
    end, 10, "etcdctl to queue")
    assert.is_nil(H.read(marker), "etcdctl ran while baton held the lock")
    local h = require("baton.kind.etcd").holder(url, ALICE)
    assert.equal(l.token, h.token)
    l:release()
    H.wait_file(marker, 10)
  end)

  it("says authentication failed for a wrong password, an unknown user, or none", function()
    for _, o in ipairs({ with({ password = "wrong" }), with({ user = "mallory" }), { ttl = 2 } }) do
      local t0 = baton.now()
      local ok, msg = pcall(baton.lock, url, o)
      assert.is_false(ok)
      assert.matches("authentication failed", msg)
      assert.is_true(baton.now() - t0 < 3, "it took " .. (baton.now() - t0) .. " s")
      local l, m, code = baton.try_lock(url, o)
      assert.is_nil(l)
      assert.matches("authentication failed", m)
      assert.equal("EACCES", code)
    end
  end)

  it("takes the credentials from ETCDCTL_USER and ETCDCTL_PASSWORD", function()
    if not BIN then return pending("needs the baton executable") end
    local function bt(env)
      return H.run(env .. " " .. H.quote(BIN) .. " lock -n " .. H.quote(url) .. " true")
    end
    assert.equal(0, (bt("ETCDCTL_USER=alice:s3cret")))
    assert.equal(0, (bt("ETCDCTL_USER=alice ETCDCTL_PASSWORD=s3cret")))
    local code, out = bt("ETCDCTL_USER=alice:nope")
    assert.equal(66, code, out)
    assert.matches("authentication failed", out)
    code, out = bt("ETCDCTL_USER=alice")
    assert.equal(64, code, out)
    assert.matches("password", out)
  end)

  it("authenticates again when etcd expires the token of an idle lock object", function()
    local l = baton.new(url, ALICE)
    l:acquire()
    l:release()
    baton.sleep(TOKEN_TTL + 1.5) -- the connection's token expires meanwhile
    l:acquire()
    assert.is_true(l:is_locked())
    assert.is_true(l:release())
  end)

  it("keeps a lock and a wait across token expiries", function()
    local holder = baton.lock(url, ALICE)
    local got = H.tmpdir() .. "/got"
    local script = H.script([[
local baton = require "baton"
local l = baton.lock(arg[1], { user = "alice", password = "s3cret", ttl = 2, timeout = 30 })
local f = assert(io.open(arg[2], "w")); f:write(tostring(l.token)); f:close()
l:release()
]])
    H.spawn(H.lua_cmd(script, url, got))
    H.wait_for(function()
      local h = require("baton.kind.etcd").holder(url, ALICE)
      return h and h.queued == 2
    end, 10, "the waiter to queue")
    baton.sleep(TOKEN_TTL * 2) -- both tokens expire while the lock is held and waited for
    assert.is_true(holder:is_locked())
    assert.is_nil(H.read(got))
    assert.is_true(holder:release()) -- the release itself needs a fresh token
    H.wait_file(got, 10)
    assert.is_true(tonumber(H.read(got)) > 0)
  end)
end)
