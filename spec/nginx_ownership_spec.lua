-- One lock object made once at module level inside nginx with the lua module, shared by the
-- concurrent requests of one worker (each request its own light thread): one request at a
-- time is inside, and a peer process incrementing the same counter under the same lock
-- never meets one.
local H = require "helpers"

local N = require "helpers.nginx"

-- the module every request shares: the lock object and a count of requests inside
local SHARED = [[
local baton = require "baton"
return {
  lock = baton.new(%q, { timeout = 30, sleep = ngx.sleep }),
  inside = 0,
  most = 0,
}
]]

-- the server's locations; the counter is filled in
local LOCATIONS = [[
    location = /inc {
      content_by_lua_block {
        local s = require "shared_lock"
        s.lock:acquire()
        s.inside = s.inside + 1
        if s.inside > s.most then s.most = s.inside end
        local f = assert(io.open("%s", "r+"))
        local v = tonumber(f:read("*a"))
        ngx.sleep(0.002) -- other requests run meanwhile
        f:seek("set")
        f:write(tostring(v + 1))
        f:close()
        s.inside = s.inside - 1
        s.lock:release()
        ngx.say("inc")
      }
    }
    location = /most {
      content_by_lua_block { ngx.say("most ", require("shared_lock").most) }
    }
    location = /ping {
      content_by_lua_block { ngx.say("pong") }
    }
]]

local PEER = [[
local baton = require "baton"
local bump = require("helpers.counter").bump
local lockp, counter, n = arg[1], arg[2], tonumber(arg[3])
for _ = 1, n do
  local l = baton.lock(lockp)
  bump(counter)
  l:release()
  baton.sleep(0.001)
end
]]

describe("a module-level lock object inside nginx #hosts", function()
  local dir, pid

  before_each(function() dir = H.tmpdir() end)

  after_each(function()
    N.stop(pid)
    pid = nil
    H.cleanup()
  end)

  it("lets one request of a worker in at a time, and excludes a peer process", function()
    if not N.available() then return pending(N.MISSING) end
    local port = N.free_port()
    local lockp, counter = dir .. "/counter.lock", dir .. "/counter"
    H.write(counter, "0")
    H.write(dir .. "/shared_lock.lua", string.format(SHARED, lockp))
    pid = N.start(dir, N.conf(dir, 1, port, string.format(LOCATIONS, counter), dir .. "/?.lua;"), port)

    local peer = H.spawn(H.lua_cmd(H.script(PEER), lockp, counter, 100))
    local code, out = H.run(string.format(
      "curl -s --parallel --parallel-max 20 --max-time 60 'http://127.0.0.1:%d/inc?[1-100]'", port))
    assert.equal(0, code, out)
    local n = 0
    for _ in out:gmatch("inc") do n = n + 1 end
    assert.equal(100, n, out .. (H.read(dir .. "/error.log") or ""))
    H.wait_for(function() return not H.alive(peer) end, 30, "the peer to finish")
    local _, most = H.run("curl -s http://127.0.0.1:" .. port .. "/most")
    assert.equal("most 1", (most:gsub("%s+$", "")), "requests were inside at once")
    assert.equal("200", H.read(counter))
    local errors = H.read(dir .. "/error.log") or ""
    assert.is_falsy(errors:find("[error]", 1, true), errors)
  end)
end)
