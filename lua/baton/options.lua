-- Option checks: names, value types, and which options each kind of lock takes.
-- Checking option tables: every name known, every value of the right type, and every option
-- one that applies to the kind of lock at hand, so that a typo such as `timout = 5`, or an
-- option another kind of lock would honour (`ttl` on a file lock), is an error instead of a
-- lock that silently does something else.
--
-- The options every lock takes (the wait's) are declared here. Each kind of lock declares
-- the others it takes: a table { noun = "flock locks", options = { shared = true, ... },
-- why = { name = ", which ..." } } (see lua/baton/kind/*.lua), passed to M.check.
local EXACT = require("baton.core").MODE_EXACT

local M = {}

local function is_nan(x) return x ~= x end

local function number(v)
  if type(v) ~= "number" then return "must be a number, got " .. type(v) end
  if is_nan(v) then return "must be a number, got NaN" end
end

local function not_negative(v)
  local problem = number(v)
  if problem then return problem end
  if v < 0 then return "must not be negative" end
end

local function positive(v)
  local problem = number(v)
  if problem then return problem end
  if v <= 0 then return "must be a positive number of seconds" end -- NaN: refused above
end

local function of_type(t)
  return function(v)
    if type(v) ~= t then return "must be a " .. t .. ", got " .. type(v) end
  end
end

local function octal(n)
  return string.format("0%o", n)
end

-- Permission bits: a number up to 0777 (420, or tonumber("644", 8)), or an octal string
-- ("0644", "01777" with special bits). A number with bits above 0777 is almost always a
-- mode written in decimal (644 is 01204), so it is refused with a hint.
local function mode(v)
  if type(v) == "string" then
    if not v:match("^[0-7]+$") or tonumber(v, 8) > 4095 then
      return "must be octal digits from \"0\" to \"07777\" such as \"0644\", got \"" .. v .. "\""
    end
    return
  end
  if type(v) ~= "number" then
    return "must be permission bits, a number or an octal string such as \"0644\", got " .. type(v)
  end
  if v ~= v or v < 0 or v > 4095 or v % 1 ~= 0 then
    return "must be permission bits from 0 to 0777, got " .. tostring(v)
  end
  if v > 511 then
    local digits = string.format("%d", v)
    if digits:match("^[0-7]+$") then
      return string.format("is %s in decimal, %s in octal: write mode = \"0%s\" or "
        .. "mode = tonumber(\"%s\", 8)", digits, octal(v), digits, digits)
    end
    return string.format("is %s, %s in octal, with bits above 0777: write special bits as "
      .. "an octal string such as \"01777\"", digits, octal(v))
  end
end

-- Every option name a lock can take, with the check of its value.
local checks = {
  timeout = number, note = of_type("string"), warn_after = not_negative,
  on_wait = of_type("function"), sleep = of_type("function"), poll = of_type("function"),
  cancel = of_type("function"), kind = of_type("string"),
  shared = of_type("boolean"), mode = mode, mkdir = of_type("boolean"),
  stale_after = not_negative, ttl = positive, on_lost = of_type("function"),
}
-- The options every lock takes, also for a single acquisition.
local per_acquire = {
  timeout = true, note = true, warn_after = true, on_wait = true, sleep = true, poll = true,
  cancel = true,
}

local EMPTY = setmetatable({}, { __newindex = function() error("baton: internal: shared defaults") end })
M.EMPTY = EMPTY

-- Raise `fname: msg (lock 'path')` at `level` (counted from the caller of misuse).
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

-- The `kind` option of a lock object's options `opts` (nil when not given), checked: raises
-- at `level` when `opts` is not a table or `kind` not a string.
function M.kind_of(opts, fname, path, level)
  if opts == nil then return nil end
  if type(opts) ~= "table" then
    misuse(level + 1, fname, path, "options must be a table, got " .. type(opts))
  end
  local k = opts.kind
  if k ~= nil and type(k) ~= "string" then
    misuse(level + 1, fname, path, "option 'kind' must be a string, got " .. type(k))
  end
  return k
end

-- Check a lock's options against the declaration `kind` of the kind of lock (see above);
-- `selectable`: the `kind` option is taken too (lock objects of every kind). With
-- `acquiring`, check the options of one acquisition instead (`kind` unused). Returns the
-- table (or a shared empty one for nil); raises at `level` for every misuse.
function M.check(opts, fname, path, level, acquiring, kind, selectable)
  if opts == nil then return EMPTY end
  if type(opts) ~= "table" then
    misuse(level + 1, fname, path, "options must be a table, got " .. type(opts))
  end
  local own = kind and kind.options or EMPTY
  for name, v in pairs(opts) do
    -- a kind may declare an option of its own with the check of its value (a function)
    local check = type(name) == "string" and (checks[name] or type(own[name]) == "function" and own[name])
    if not check then
      misuse(level + 1, fname, path, "unknown option '" .. tostring(name) .. "'")
    end
    if acquiring then
      if not per_acquire[name] then
        misuse(level + 1, fname, path, "option '" .. name
          .. "' is set when the lock is made, not per acquisition")
      end
    elseif not (per_acquire[name] or own[name] or (selectable and name == "kind")) then
      misuse(level + 1, fname, path, string.format("option '%s' does not apply to %s%s", name,
        kind and kind.noun or "this lock", kind and kind.why and kind.why[name] or ""))
    end
    local problem = check(v)
    if problem then misuse(level + 1, fname, path, "option '" .. name .. "' " .. problem) end
  end
  return opts
end

-- Permission bits for a file baton creates: `default` (masked by the umask) without a `mode`
-- option; with one, exactly its bits whatever the umask (or'ed with the C core's MODE_EXACT,
-- which has them applied with fchmod to a file baton creates).
function M.mode(o, default)
  local v = o.mode
  if v == nil then return default end
  if type(v) == "string" then v = tonumber(v, 8) end
  return v + EXACT
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
