-- Checking option tables: every name known, every value of the right type, so that a typo
-- such as `timout = 5` is an error instead of a lock that waits forever.
local M = {}

local function is_nan(x) return x ~= x end

local function number(name, v)
  if type(v) ~= "number" then return "must be a number, got " .. type(v) end
  if is_nan(v) then return "must be a number, got NaN" end
  if (name == "warn_after" or name == "stale_after") and v < 0 then return "must not be negative" end
  if name == "ttl" and not (v > 0) then return "must be a positive number of seconds" end
end

local function of_type(t)
  return function(_, v)
    if type(v) ~= t then return "must be a " .. t .. ", got " .. type(v) end
  end
end

-- Permission bits: a number (420, or tonumber("644", 8)) or an octal string ("0644").
local function mode(_, v)
  if type(v) == "string" then
    if not v:match("^[0-7]+$") or #v > 5 then
      return "must be octal digits such as \"0644\", got \"" .. v .. "\""
    end
    v = tonumber(v, 8)
  end
  if type(v) ~= "number" or v ~= v or v < 0 or v > 4095 or v % 1 ~= 0 then
    return "must be permission bits from 0 to 0777 (octal) or 07777 with special bits, got "
      .. tostring(v)
  end
end

local function kind(_, v)
  if type(v) ~= "string" then return "must be a string, got " .. type(v) end
end

-- Options a lock object is made with, and those each acquisition may override.
local checks = {
  timeout = number, shared = of_type("boolean"), mode = mode, note = of_type("string"),
  warn_after = number, on_wait = of_type("function"), sleep = of_type("function"),
  poll = of_type("function"),
  cancel = of_type("function"), ttl = number, mkdir = of_type("boolean"), kind = kind,
  stale_after = number,
  on_lost = of_type("function"),
}
local per_acquire = {
  timeout = true, note = true, warn_after = true, on_wait = true, sleep = true, poll = true,
  cancel = true,
}

local EMPTY = setmetatable({}, { __newindex = function() error("baton: internal: shared defaults") end })
M.EMPTY = EMPTY

-- Raise `fname: msg (lock 'path')` at `level` (counted from the caller of check).
local function misuse(level, fname, path, msg)
  error(string.format("%s: %s (lock '%s')", fname, msg, tostring(path)), level + 1)
end
M.misuse = misuse

-- Check a lock path: a non-empty string without NUL bytes; raises at `level` otherwise.
function M.check_path(path, fname, level)
  if type(path) ~= "string" then
    error(string.format("%s: the lock path must be a string, got %s", fname, type(path)), level + 1)
  end
  if path == "" then error(fname .. ": the lock path is empty", level + 1) end
  if path:find("\0", 1, true) then
    error(string.format("%s: the lock path %q contains a NUL byte", fname, path), level + 1)
  end
end

-- Raise for options in `o` that mean nothing to this kind of lock (`names`: name -> why).
function M.refuse(o, names, fname, path, level)
  for name, why in pairs(names) do
    if o[name] ~= nil then misuse(level + 1, fname, path, "option '" .. name .. "' " .. why) end
  end
end

-- Check a lock's options. Returns the table (or a shared empty one for nil).
function M.check(opts, fname, path, level, acquiring)
  if opts == nil then return EMPTY end
  if type(opts) ~= "table" then
    misuse(level + 1, fname, path, "options must be a table, got " .. type(opts))
  end
  for name, v in pairs(opts) do
    local check = checks[name]
    if type(name) ~= "string" or not check then
      misuse(level + 1, fname, path, "unknown option '" .. tostring(name) .. "'")
    end
    if acquiring and not per_acquire[name] then
      misuse(level + 1, fname, path, "option '" .. name .. "' is set when the lock is made, not per acquisition")
    end
    local problem = check(name, v)
    if problem then misuse(level + 1, fname, path, "option '" .. name .. "' " .. problem) end
  end
  if not acquiring then
    -- Options that only make sense for one kind of lock.
    local soft = opts.kind == "soft"
    if soft and opts.shared then
      misuse(level + 1, fname, path, "soft locks are exclusive: option 'shared' cannot be used")
    end
    if opts.stale_after ~= nil and not soft then
      misuse(level + 1, fname, path, "option 'stale_after' is for soft locks (kind = \"soft\")")
    end
  end
  return opts
end

-- Permission bits as a number.
function M.mode(o)
  local v = o.mode
  if v == nil then return 438 end -- 0666, masked by the umask
  if type(v) == "string" then return tonumber(v, 8) end
  return v
end

-- The lock's own options with one acquisition's overrides on top.
function M.merge(base, over)
  if over == EMPTY then return base end
  local t = {}
  for k, v in pairs(base) do t[k] = v end
  for k, v in pairs(over) do t[k] = v end
  return t
end

return M
