-- baton inside nginx with the lua module (OpenResty style, LuaJIT): two worker processes
-- increment a counter file under a lock whose waits yield through ngx.sleep.
local H = require "helpers"
local N = require "helpers.nginx"

local ROOT = N.ROOT

-- the server's locations; the lock file and the counter are filled in
local LOCATIONS = [[
    location = /inc {
      content_by_lua_block {
        local baton = require "baton"
        local l = baton.lock("%s", { timeout = 20, sleep = ngx.sleep })
        local f = assert(io.open("%s", "r+"))
        local v = tonumber(f:read("*a"))
        f:seek("set")
        f:write(tostring(v + 1))
        f:close()
        l:release()
        ngx.say("inc ", ngx.worker.pid())
      }
    }
    location = /ping {
      content_by_lua_block { ngx.say("pong ", ngx.worker.pid()) }
    }
]]

describe("inside nginx with lua #hosts", function()
  local dir, port, pid

  before_each(function()
    dir = H.tmpdir()
  end)

  after_each(function()
    N.stop(pid)
    pid = nil
    H.cleanup()
  end)

  local function start(workers)
    port = N.free_port()
    local lockp, counter = dir .. "/counter.lock", dir .. "/counter"
    H.write(counter, "0")
    pid = N.start(dir, N.conf(dir, workers, port, string.format(LOCATIONS, lockp, counter)), port)
    return lockp, counter
  end

  local have_nginx = N.available

  it("keeps an exact count under 300 concurrent requests", function()
    if not have_nginx() then return pending(N.MISSING) end
    local _, counter = start(2)
    local code, out = H.run(string.format(
      "curl -s --parallel --parallel-max 50 --max-time 60 'http://127.0.0.1:%d/inc?[1-300]'", port))
    assert.equal(0, code, out)
    local n = 0
    for _ in out:gmatch("inc (%d+)") do n = n + 1 end
    assert.equal(300, n, out)
    assert.equal("300", H.read(counter))
    local errors = H.read(dir .. "/error.log") or ""
    assert.is_falsy(errors:find("[error]", 1, true), errors)
  end)

  it("keeps answering other requests while one waits for a lock held outside", function()
    if not have_nginx() then return pending(N.MISSING) end
    -- one worker, so the waiting request and every ping share it
    local lockp, counter = start(1)
    local holder = H.flock_holder(lockp, 1.5)
    -- a request that waits ~1.5 s for the lock, in the background
    local waiting = dir .. "/waiting.out"
    H.spawn(string.format("curl -s --max-time 20 -o %s http://127.0.0.1:%d/inc", waiting, port))
    os.execute("sleep 0.2")
    -- meanwhile both workers go on answering at once
    local code, out = H.run(string.format("curl -s --parallel --max-time 5 -o /dev/null "
      .. "-w '%%{http_code} %%{time_total}\\n' 'http://127.0.0.1:%d/ping?[1-40]'", port))
    assert.equal(0, code, out)
    local slowest, answered = 0, 0
    for t in out:gmatch("200 ([%d.]+)") do
      answered = answered + 1
      slowest = math.max(slowest, tonumber(t))
    end
    assert.equal(40, answered, out)
    assert.is_true(slowest < 0.5, "a ping took " .. slowest .. " s while a request waited")
    assert.is_falsy(H.read(waiting), "the waiting request finished while the lock was still held: "
      .. tostring(H.read(waiting)) .. (H.read(dir .. "/error.log") or ""))
    H.wait_file(waiting, 10)
    H.wait_for(function() return (H.read(waiting) or ""):match("inc %d+") end, 5)
    assert.equal("1", H.read(counter))
    H.wait_for(function() return not H.alive(holder) end, 5, "the holder to exit")
  end)
  it("logs no ngx.sleep(0) warnings while requests wait", function()
    if not have_nginx() then return pending(N.MISSING) end
    local lockp, counter = start(1)
    -- held outside for a while, and released by closing: the waiters are woken, and pause
    local holder = H.flock_holder(lockp, 0.6)
    local code, out = H.run(string.format(
      "curl -s --parallel --max-time 20 'http://127.0.0.1:%d/inc?[1-5]'", port))
    assert.equal(0, code, out)
    assert.equal(5, select(2, out:gsub("inc %d+", "")), out)
    assert.equal("5", H.read(counter))
    H.wait_for(function() return not H.alive(holder) end, 5, "the holder to exit")
    local log = H.read(dir .. "/error.log") or ""
    assert.not_matches("ngx.sleep(0)", log, 1, true)
    assert.not_matches("[error]", log, 1, true)
  end)
  it("runs examples/openresty/nginx.conf as its header says", function()
    if not have_nginx() then return pending(N.MISSING) end
    -- the example with this tree's baton and a free port; its workers run as nobody
    port = N.free_port()
    local conf = assert(H.read(ROOT .. "/examples/openresty/nginx.conf"))
    local n
    conf, n = conf:gsub('lua_package_path "[^"]*"', string.format('lua_package_path "%s/lua/?.lua;%s/lua/?/init.lua;;"', ROOT, ROOT))
    assert.equal(1, n)
    conf, n = conf:gsub('lua_package_cpath "[^"]*"', string.format('lua_package_cpath "%s/build/luajit/?.so;;"', ROOT))
    assert.equal(1, n)
    conf, n = conf:gsub("listen 127.0.0.1:8080;", "listen 127.0.0.1:" .. port .. ";")
    assert.equal(1, n)
    H.write(dir .. "/nginx.conf", conf)
    os.execute("chmod 755 " .. dir)
    local header = assert(conf:match("\n#   (mkdir %-p [^\n]*)"))
    local code, out = H.run("cd " .. H.quote(dir) .. " && " .. header .. " </dev/null >start.log 2>&1")
    assert.equal(0, code, out .. (H.read(dir .. "/start.log") or ""))
    pid = N.wait_up(dir .. "/logs/nginx.pid", "http://127.0.0.1:" .. port .. "/visit")
    code, out = H.run("curl -s http://127.0.0.1:" .. port .. "/visit")
    assert.equal(0, code, out)
    assert.equal("visit 2\n", out)
    -- a program outside nginx holds the same lock: the request waits for it
    local holder = H.flock_holder(dir .. "/locks/visits.lock", 0.5)
    code, out = H.run("curl -s --max-time 10 http://127.0.0.1:" .. port .. "/visit")
    assert.equal(0, code, out)
    assert.equal("visit 3\n", out)
    assert.is_false(H.alive(holder), "the request did not wait for the lock")
    local log = H.read(dir .. "/logs/error.log") or ""
    assert.not_matches("[error]", log, 1, true)
    assert.not_matches("[warn]", log, 1, true)
    assert.is_truthy(H.read(dir .. "/logs/access.log"))
  end)
end)
