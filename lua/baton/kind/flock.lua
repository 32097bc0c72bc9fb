-- The flock kind: flock(2) locks, exclusive or shared; the default kind. With api = "fcntl"
-- (or start/length), open file description byte-range locks (F_OFD_SETLK) instead: the same
-- lock as `flock --fcntl` and SQLite's.
-- The same lock as flock(1)'s and Python filelock's FileLock on the same file; the default
-- kind of a path no other kind claims. The handle is the C core's userdata.
local core = require "baton.core"
local options = require "baton.options"
local holders = require "baton.holder"

local flock = core.flock

local function api(v)
  if v ~= "flock" and v ~= "fcntl" then
    return "must be \"flock\" or \"fcntl\", got " .. (type(v) == "string" and string.format("%q", v) or type(v))
  end
end

local function offset(v)
  if type(v) ~= "number" or v ~= v or v < 0 or v ~= math.floor(v) or v >= 2^63 then
    return "must be a whole number of bytes, 0 or more, got " .. tostring(v)
  end
end

local windows = (core.platform or {}).name == "windows"

-- An open file description lock of the range the options give (length 0 or none: to the end).
-- Windows has none: raised, naming the option, at the caller of baton.lock / lock_file.
local function fcntl_lock(name, fd, o)
  if windows then
    local opt = o.start ~= nil and "start" or o.length ~= nil and "length" or "api = \"fcntl\""
    error(string.format("baton: option '%s' is not available on Windows yet (lock '%s')", opt, name), 5)
  end
  return core.fd_lock(name, fd, true, o.shared or false, o.start or 0, o.length or 0,
    options.mode(o, 438), o.mkdir ~= false)
end

return {
  name = "flock",
  noun = "flock locks",
  -- beyond the wait's options (lua/baton/options.lua)
  options = { shared = true, mode = true, mkdir = true, api = api, start = offset, length = offset },
  open = function(path, o)
    if o.api == "fcntl" or o.start ~= nil or o.length ~= nil then
      if o.api == "flock" then
        error(string.format("baton: options 'start' and 'length' need api = \"fcntl\" (lock '%s')", path), 4)
      end
      return fcntl_lock(path, nil, o)
    end
    return flock(path, o.shared or false, options.mode(o, 438), o.mkdir ~= false)
  end,
  -- A lock on a descriptor the program opened (baton.lock_file), a number or an io handle
  -- (kept open by the lock's handle): flock(2), or OFD ranges.
  open_fd = function(name, fd, o)
    if o.api == "fcntl" or o.start ~= nil or o.length ~= nil then return fcntl_lock(name, fd, o) end
    return core.fd_lock(name, fd, false, o.shared or false)
  end,
  -- The kernel's table names the holders of flock(2) locks; nil when it lists none, nil,
  -- message, code when /proc/locks cannot be read.
  probe = 10,
  -- Open file description locks (api = "fcntl", flock --fcntl) are the kind's too, with
  -- their range; POSIX record locks are SQLite's (the rw kind's) or other programs'.
  holder = function(path)
    local flocks, posix, code = core.lock_holders(path)
    if not flocks then return nil, posix, code end
    local openers
    for _, h in ipairs(posix) do
      if h.ofd and h.pid == nil then
        -- the kernel names no pid for these: the other processes that have the file open
        -- share it (a holder and the command it runs with the descriptor), as lslocks says
        openers = openers or core.openers(path)
        for _, pid in ipairs(openers) do
          flocks[#flocks + 1] = { pid = pid, shared = h.shared, ofd = true, start = h.start,
            ["end"] = h["end"] }
        end
        if #openers == 0 then flocks[#flocks + 1] = h end
      elseif h.ofd then
        flocks[#flocks + 1] = h
      end
    end
    if #flocks == 0 then return nil end
    return holders.summary("flock", holders.kernel_entries(path, flocks))
  end,
}
