-- baton inside a real Neovim (LuaJIT): a plugin-style wait through vim.loop must not freeze
-- the editor, and must take the lock as soon as the holder lets go.
local H = require "helpers"

local ROOT = os.getenv("BATON_ROOT") or "."
local CORE = ROOT .. "/build/luajit/?.so"

local function have(cmd) return (H.run("command -v " .. cmd)) == 0 end

local function baton_free(path)
  local l = require("baton").try_lock(path)
  if l then l:release() end
  return l ~= nil
end

local PLUGIN = [[
local root, cpath, path, stamp, out = ...
package.path = root .. "/lua/?.lua;" .. root .. "/lua/?/init.lua;" .. package.path
package.cpath = cpath .. ";" .. package.cpath
local uv = vim.uv or vim.loop
local baton = require "baton"
local ticks = 0
local ticker = uv.new_timer()
ticker:start(10, 10, function() ticks = ticks + 1 end)
local function finish(text)
  local f = io.open(out, "w"); f:write(text); f:close()
  vim.schedule(function() vim.cmd("qa!") end)
end
require("baton.uv").lock(uv, path, { timeout = 10 }, function(lock, err)
  local got = baton.now()
  ticker:stop(); ticker:close()
  if not lock then return finish("error " .. tostring(err)) end
  -- the holder wrote when it released; read it once it is there
  local t
  for _ = 1, 200 do
    local f = io.open(stamp); if f then t = tonumber(f:read("*a")); f:close() end
    if t then break end
    uv.sleep(5)
  end
  lock:release()
  finish(string.format("ok %d %.6f", ticks, got - t))
end)
]]

-- The Neovim snippet of doc/waiting.md, exactly as printed there.
local function documented_snippet()
  local doc = assert(H.read(ROOT .. "/doc/waiting.md"))
  local section = assert(doc:match("\n## Neovim.-\n```lua\n(.-)```"), "no Neovim snippet in doc/waiting.md")
  return section
end

-- Runs the snippet in Neovim with `path` set (from a loop callback when `from_loop`), waits
-- until its callback has run (the lock is free again and a message was shown) and writes
-- every message Neovim showed to `out`.
local RUN_SNIPPET = [[
local root, cpath, snippet, path, out, from_loop = ...
package.path = root .. "/lua/?.lua;" .. root .. "/lua/?/init.lua;" .. package.path
package.cpath = cpath .. ";" .. package.cpath
local uv = vim.uv or vim.loop
local run = assert(loadstring("local path = ...\n" .. snippet))
if from_loop == "loop" then
  local t = uv.new_timer()
  t:start(0, 0, function() t:close(); run(path) end)
else
  run(path)
end
local shown = function()
  local m = vim.api.nvim_exec("messages", true)
  return m:find("got the lock on", 1, true) or m:find("timed out", 1, true) or m:find("E5560", 1, true)
end
vim.wait(15000, shown, 20)
vim.wait(200) -- and anything that comes after
local f = io.open(out, "w")
f:write(vim.api.nvim_exec("messages", true), "\n", vim.v.errmsg)
f:close()
vim.cmd("qa!")
]]

describe("inside Neovim #hosts", function()
  after_each(H.cleanup)

  it("waits through vim.loop while timers keep firing, and gets the lock at the release", function()
    if not have("nvim") then return pending("needs neovim") end
    if not H.read(ROOT .. "/build/luajit/baton/core.so") then
      return pending("needs the LuaJIT build (make LUA=luajit)")
    end
    local dir = H.tmpdir()
    local path, ready, stamp, out = dir .. "/plugin.lock", dir .. "/ready", dir .. "/stamp", dir .. "/out"
    -- an outside process holds the lock for a second, noting when it lets go
    H.spawn(H.lua_cmd(H.script([[
      local baton = require "baton"
      local path, ready, stamp = ...
      local l = baton.lock(path)
      io.open(ready, "w"):close()
      baton.sleep(1)
      local t = baton.now()
      l:release()
      local f = io.open(stamp .. ".tmp", "w"); f:write(string.format("%.9f", t)); f:close()
      os.rename(stamp .. ".tmp", stamp)
    ]]), path, ready, stamp))
    H.wait_file(ready)
    local plugin = H.script(PLUGIN)
    local code, log = H.run(string.format(
      "timeout 30 nvim --headless -u NONE -i NONE -c %s",
      H.quote(string.format("lua assert(loadfile(%q))(%q, %q, %q, %q, %q)", plugin, ROOT, CORE, path,
        stamp, out))))
    assert.equal(0, code, log)
    local result = assert(H.read(out), "neovim wrote no result: " .. log)
    local ticks, lag = result:match("^ok (%d+) (%S+)")
    assert.is_truthy(ticks, result)
    -- about 100 ticks of 10 ms fit in the 1 s wait; a frozen loop would give ~0
    assert.is_true(tonumber(ticks) >= 50, "the editor's timers fired only " .. ticks .. " times")
    assert.is_true(tonumber(lag) < 0.05, "took the lock " .. lag .. " s after the release")
  end)
  local function run_snippet(dir, path, snippet, from_loop)
    local out = dir .. "/messages"
    local code, log = H.run(string.format("timeout 30 nvim --headless -u NONE -i NONE -c %s",
      H.quote(string.format("lua assert(loadfile(%q))(%q, %q, %q, %q, %q, %q)", H.script(RUN_SNIPPET),
        ROOT, CORE, snippet, path, out, from_loop or ""))))
    assert.equal(0, code, log)
    local messages = assert(H.read(out), "neovim wrote no messages: " .. log)
    assert.not_matches("E5560", messages .. log, 1, true)
    assert.not_matches("Error", messages .. log, 1, true)
    return messages
  end

  local function can_run()
    if not have("nvim") then return false, "needs neovim" end
    if not H.read(ROOT .. "/build/luajit/baton/core.so") then
      return false, "needs the LuaJIT build (make LUA=luajit)"
    end
    return true
  end

  it("runs doc/waiting.md's snippet on a free lock, from a command and from a loop callback", function()
    local ok, why = can_run()
    if not ok then return pending(why) end
    local dir = H.tmpdir()
    local path = dir .. "/free.lock"
    for _, from in ipairs({ "command", "loop" }) do
      local messages = run_snippet(dir, path, documented_snippet(), from)
      assert.matches("got the lock on " .. path, messages, 1, true)
      assert.is_true(baton_free(path), "the snippet left the lock held")
    end
  end)

  it("runs doc/waiting.md's snippet when the lock comes after a wait on another process", function()
    local ok, why = can_run()
    if not ok then return pending(why) end
    local dir = H.tmpdir()
    local path = dir .. "/held.lock"
    H.flock_holder(path, 0.8)
    local t0 = require("baton").now()
    local messages = run_snippet(dir, path, documented_snippet())
    assert.matches("got the lock on " .. path, messages, 1, true)
    local waited = require("baton").now() - t0
    assert.is_true(waited > 0.6, "took the lock after " .. waited .. " s, while it was held")
  end)

  it("runs doc/waiting.md's snippet when the wait times out", function()
    local ok, why = can_run()
    if not ok then return pending(why) end
    local dir = H.tmpdir()
    local path = dir .. "/held.lock"
    H.flock_holder(path, 10)
    local snippet = documented_snippet():gsub("timeout = 30", "timeout = 0.3")
    local messages = run_snippet(dir, path, snippet)
    assert.matches("timed out after 0.3 s waiting for lock '" .. path .. "'", messages, 1, true)
  end)
  it("runs examples/neovim: :CacheRefresh waits for the lock, rebuilds and says so", function()
    local ok, why = can_run()
    if not ok then return pending(why) end
    local dir = H.tmpdir()
    local cache, out = dir .. "/cache.txt", dir .. "/messages"
    H.flock_holder(cache .. ".lock", 0.5) -- another editor is refreshing
    local script = H.script([[
      local root, cpath, cache, out = ...
      package.path = root .. "/lua/?.lua;" .. root .. "/lua/?/init.lua;" .. package.path
      package.cpath = cpath .. ";" .. package.cpath
      vim.opt.rtp:append(root .. "/examples/neovim")
      vim.cmd("runtime plugin/cache_lock.lua")
      require("cache_lock").setup({ cache = cache, command = { "sh", "-c", "echo built" } })
      vim.cmd("CacheRefresh")
      vim.wait(10000, function()
        local m = vim.api.nvim_exec("messages", true)
        return m:find("refreshed", 1, true) or m:find("failed", 1, true)
      end, 20)
      local f = io.open(out, "w")
      f:write(vim.api.nvim_exec("messages", true))
      f:close()
      vim.cmd("qa!")
    ]])
    local t0 = require("baton").now()
    local code, log = H.run(string.format("timeout 30 nvim --headless -u NONE -i NONE -c %s",
      H.quote(string.format("lua assert(loadfile(%q))(%q, %q, %q, %q)", script, ROOT, CORE, cache, out))))
    assert.equal(0, code, log)
    local waited = require("baton").now() - t0
    assert.equal("cache_lock: waiting for the cache lock\ncache_lock: cache refreshed", H.read(out))
    assert.not_matches("Error", log, 1, true)
    assert.equal("built\n", H.read(cache))
    assert.is_true(waited > 0.4, "refreshed after " .. waited .. " s, while another held the lock")
  end)
end)
