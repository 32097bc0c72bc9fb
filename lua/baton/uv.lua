-- Lock waits inside a libuv event loop (Neovim, luv) that keep the loop running.
-- Waiting for a lock inside a libuv event loop (Neovim's vim.uv / vim.loop, luv) without
-- blocking it: the wait runs in a coroutine whose pauses yield to the loop, and resume when
-- the pause ends or the lock file reports a release, whichever comes first.
--
--   local uv = vim.uv or vim.loop
--   require("baton.uv").lock(uv, path, { timeout = 30 }, function(lock, err)
--     if not lock then return vim.notify(err) end
--     ...            -- work under the lock
--     lock:release()
--   end)
--
-- Inside Neovim the callback always runs through vim.schedule, in the editor's main loop,
-- where the whole API (vim.notify, vim.api.*, vim.fn.*) may be called: a lock that came
-- after a wait arrives in a libuv callback, where Neovim refuses most of it (E5560). It
-- runs in the coroutine that took the lock, as it does elsewhere.
local baton = require "baton"

local M = {}

local function close(handle)
  if handle and not handle:is_closing() then
    handle:stop()
    handle:close()
  end
end

-- A `poll` option for locks taken inside a coroutine that runs on `uv`'s loop: pause for
-- `seconds`, or until `fd` (when there is one) becomes readable.
function M.poller(uv)
  return function(fd, seconds)
    local co, main = coroutine.running()
    if not co or main then
      error("baton.uv: the wait must run inside a coroutine (use baton.uv.lock)", 0)
    end
    local timer, poll = uv.new_timer(), fd and uv.new_poll(fd) or nil
    local resumed = false
    local function wake()
      if resumed then return end
      resumed = true
      close(timer)
      close(poll)
      local ok, err = coroutine.resume(co)
      if not ok then error(err, 0) end
    end
    timer:start(math.max(1, math.ceil(seconds * 1000)), 0, wake)
    if poll then poll:start("r", wake) end
    coroutine.yield()
  end
end

-- Take the lock at `path` without blocking the loop, then call `callback(lock)`, or
-- `callback(nil, message, code)` when it cannot be had. `opts` are baton.new's options
-- (give a `timeout`, else it waits forever; `poll` is supplied here); misuse raises at once.
-- Returns the coroutine doing the wait.
function M.lock(uv, path, opts, callback)
  local o = {}
  if opts ~= nil and type(opts) ~= "table" then
    error(string.format("baton.uv.lock: options must be a table, got %s (lock '%s')", type(opts),
      tostring(path)), 2)
  end
  for k, v in pairs(opts or {}) do o[k] = v end
  o.poll = M.poller(uv)
  if o.timeout == nil then o.timeout = -1 end
  if type(callback) ~= "function" then
    error(string.format("baton.uv.lock: the callback must be a function, got %s (lock '%s')",
      type(callback), tostring(path)), 2)
  end
  -- Misuse raises here, at the caller's line, not later inside the loop.
  local made, l = pcall(baton.new, path, o)
  if not made then error((tostring(l):gsub("^baton%.new: ", "baton.uv.lock: ", 1)), 2) end
  local vim = rawget(_G, "vim")
  local schedule = type(vim) == "table" and type(vim.schedule) == "function" and vim.schedule
  local co
  co = coroutine.create(function()
    local got, msg, code = l:try_acquire()
    if schedule then
      -- go on in the editor's main loop, still in this coroutine (the lock's taker)
      schedule(function()
        local ok, err = coroutine.resume(co)
        if not ok then error(err, 0) end
      end)
      coroutine.yield()
    end
    callback(got, msg, code)
  end)
  local ok, err = coroutine.resume(co)
  if not ok then error(err, 0) end
  return co
end

return M
