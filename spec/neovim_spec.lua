-- baton inside a real Neovim (LuaJIT): a plugin-style wait through vim.loop must not freeze
-- the editor, and must take the lock as soon as the holder lets go.
local H = require "helpers"

local ROOT = os.getenv("BATON_ROOT") or "."
local CORE = ROOT .. "/build/luajit/?.so"

local function have(cmd) return (H.run("command -v " .. cmd)) == 0 end

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
end)
