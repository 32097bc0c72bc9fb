-- A Neovim plugin that refreshes a cache shared by every running Neovim, one instance at a
-- time, without ever freezing the editor: the lock is awaited through vim.uv/vim.loop.
--
--   require("cache_lock").setup({ cache = "~/.cache/mytags", command = { "ctags", "-R", "-f", "-" } })
--   :CacheRefresh
local M = {}

local uv = vim.uv or vim.loop
local baton_uv = require "baton.uv"

local config = {
  cache = vim.fn.stdpath("cache") .. "/cache_lock.txt",
  command = { "sh", "-c", "date; sleep 2" }, -- stands in for the slow job that builds the cache
  timeout = 60,
}

local function notify(msg, level)
  vim.schedule(function() vim.notify("cache_lock: " .. msg, level or vim.log.levels.INFO) end)
end

-- Run the command, writing its output to a temporary file renamed over the cache when it
-- succeeds: readers never see a half-written cache.
local function rebuild(done)
  local tmp = config.cache .. ".tmp" .. uv.os_getpid()
  local out = assert(io.open(tmp, "w"))
  local stdout = uv.new_pipe(false)
  local handle
  handle = uv.spawn(config.command[1], {
    args = vim.list_slice(config.command, 2),
    stdio = { nil, stdout, nil },
  }, function(code)
    handle:close()
    stdout:close()
    out:close()
    if code == 0 then
      os.rename(tmp, config.cache)
    else
      os.remove(tmp)
    end
    done(code == 0)
  end)
  stdout:read_start(function(_, data) if data then out:write(data) end end)
end

function M.refresh()
  local path = config.cache .. ".lock"
  notify("waiting for the cache lock")
  baton_uv.lock(uv, path, { timeout = config.timeout, note = "neovim " .. uv.os_getpid() },
    function(lock, err)
      if not lock then return notify(err, vim.log.levels.WARN) end
      rebuild(function(ok)
        lock:release()
        if ok then notify("cache refreshed") else notify("refresh failed", vim.log.levels.ERROR) end
      end)
    end)
end

function M.setup(opts)
  config = vim.tbl_extend("force", config, opts or {})
  config.cache = vim.fn.expand(config.cache)
end

return M
