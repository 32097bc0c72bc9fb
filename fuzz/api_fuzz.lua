-- The Lua API fuzzer: calls every public function and method of baton (and of baton.core,
-- which any Lua code may load) with random arguments and option tables, in rounds. After
-- each round it releases everything it holds and checks that no lock of this process is
-- left in /proc/locks, no soft marker names it, no holder record is left published and no
-- descriptor was leaked. Every failure of a call must be a Lua error whose value is a
-- string, unless a callback or metamethod the fuzzer passed raised something else; a crash
-- or a sanitizer report ends the run. See fuzz/README.md.
--
--   cd SCRATCH_DIR && lua5.4 api_fuzz.lua --dir SCRATCH_DIR [--seed N] [--seconds S]
--       [--iterations N] [--round N] [--trace FILE]
--
-- Files are created only under --dir (an empty folder of its own, also the working folder,
-- so that relative paths land there too). Paths elsewhere are given only to functions that
-- read or inspect; programs run are a fixed set of harmless commands.
local baton = require "baton"
local core = require "baton.core"
local core_test = require "baton.core_test" -- the parsers, built beside baton.core for tests
local cli = require "baton.cli"
local has_uv, uv = pcall(require, "luv")
local baton_uv = has_uv and require "baton.uv" or nil

local IS54 = _VERSION == "Lua 5.4"
local unpack = table.unpack or unpack
local pack = table.pack or function(...) return { n = select("#", ...), ... } end
local out = io.stderr

---------------------------------------------------------------------------------------------
-- Command line

local args = { seed = nil, seconds = 60, iterations = math.huge, round = 150 }
do
  local i = 1
  while i <= #arg do
    local k, v = arg[i], arg[i + 1]
    if k == "--dir" then args.dir = v
    elseif k == "--seed" then args.seed = tonumber(v)
    elseif k == "--seconds" then args.seconds = tonumber(v)
    elseif k == "--iterations" then args.iterations = tonumber(v)
    elseif k == "--round" then args.round = tonumber(v)
    elseif k == "--trace" then args.trace = v
    else error("api_fuzz: unknown argument " .. tostring(k)) end
    i = i + 2
  end
end
local DIR = args.dir
assert(type(DIR) == "string" and DIR:match("^/tmp/[%w%._%-]+$"),
  "api_fuzz: --dir must be a folder of its own directly under /tmp")
local SEED = args.seed or (os.time() % 1000000)
math.randomseed(SEED)
local R = math.random

local trace = args.trace and assert(io.open(args.trace, "w"))
if trace then trace:setvbuf("line") end

-- The default on_wait and `baton lock` / `baton status` write to io.stderr and io.stdout:
-- not to the terminal.
io.stderr = assert(io.open("/dev/null", "w"))
io.stdout = io.stderr
io.output(io.stderr)

local function read_file(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local s = f:read("*a")
  f:close()
  return s
end

local MY_PID = tonumber(read_file("/proc/self/stat"):match("^(%d+)"))

---------------------------------------------------------------------------------------------
-- What a call was given, for judging its outcome

-- ctx.invalid: some argument was drawn outside its valid range; ctx.raising: a callback or
-- metamethod given may raise (anything, also non-strings); ctx.yields: one may yield.
local ctx

local function chance(p) return R() < p end
local function pick(t) if #t == 0 then return nil end return t[R(#t)] end

local SENTINEL = setmetatable({}, { __tostring = function() return "fuzz sentinel" end })

---------------------------------------------------------------------------------------------
-- Values

local LONG = string.rep("x", 100000)
local NUMBERS = { 0, -0.0, 1, -1, 0.5, -0.5, 1e-9, 5e-324, 1e300, -1e300, math.huge,
  -math.huge, 0 / 0, -(0 / 0), 2 ^ 31 - 1, 2 ^ 31, 2 ^ 32, 2 ^ 53, 2 ^ 63, -2 ^ 63, 4095, 4096,
  511, 438, 420, 1024, 1025, 64, 65, 3.7, 1e15, 7, 15, 19 }
if math.maxinteger then
  NUMBERS[#NUMBERS + 1] = math.maxinteger
  NUMBERS[#NUMBERS + 1] = math.mininteger
  NUMBERS[#NUMBERS + 1] = -1 - math.maxinteger + 1
end
local STRINGS = { "", "\0", "a\0b", "\255\254", "\195\40", "\237\160\128", "%s%n%d%%", "'\"\\",
  "\n", "\r\n", " ", "-", "--", "0644", "0999", "07777", "-1", "nan", "inf", "1e309", " 5 ",
  "0x10", "TERM", "SIGKILL", "KILL", "9", "SIGFOO", "flock", "soft", "rw", "etcd", "semaphore",
  "read", "write", "r", "w", "a", "*a", "l", "L", "pipe", "null", "inherit", "stdout",
  "stderr", "/proc/self/stat", "/dev/null", "../../..", ".", "..", "~",
  "etcd://127.0.0.1:1/x", "é", string.rep("é", 300), LONG, string.rep("\0", 1000), "baton",
  "lock", "status", "-w", "--json", "filelock/2\npid=1\nhost=h\nmode=x\n", "1\nh\n2\n",
  "4242 (x) S 1 2 3", "1: FLOCK  ADVISORY  WRITE 1 fe:00:1 0 EOF\n",
  "ad92ebdd-136f-4c4c-b34d-5d603d91d39b", string.rep("f", 33), "18446744073709551616" }

local function random_string()
  local n = R(0, 40)
  local t = {}
  for i = 1, n do t[i] = string.char(R(0, 255)) end
  return table.concat(t)
end

local function a_string()
  if chance(0.7) then return pick(STRINGS) end
  return random_string()
end

local function a_number()
  if chance(0.6) then return pick(NUMBERS) end
  if chance(0.5) then return R(-100, 5000) end
  return (R() - 0.5) * 10 ^ R(-10, 20)
end

local any -- forward

-- A function to pass where baton calls back: what it does is fixed when it is made.
local pool -- forward: the objects of this round
local callback_kinds = { "noop", "true", "false", "error_string", "error_table", "error_nil",
  "yield", "gc", "sleep", "release", "nested", "odd_return", "callable" }
local function a_callback(kind)
  kind = kind or pick(callback_kinds)
  if kind == "noop" then return function() end end
  if kind == "true" then return function() return true end end
  if kind == "false" then return function() return false end end
  if kind == "error_string" then
    ctx.raising = true
    return function() error("fuzz callback error") end
  end
  if kind == "error_table" then
    ctx.raising = true
    return function() error(SENTINEL) end
  end
  if kind == "error_nil" then
    ctx.raising = true
    return function() error(nil) end
  end
  if kind == "yield" then
    ctx.yields = true
    ctx.raising = true -- outside a coroutine the yield itself raises
    return function(...) return coroutine.yield(...) end
  end
  if kind == "gc" then return function() collectgarbage() end end
  if kind == "sleep" then return function() baton.sleep(0.0002) end end
  if kind == "release" then
    -- Let go of one of this round's objects from inside the call (reentrancy).
    local e = pool[R(math.max(1, #pool))]
    ctx.raising = true
    return function()
      if e and e.obj then
        local f = e.obj.release or e.obj.close
        if type(f) == "function" then pcall(f, e.obj) end
      end
    end
  end
  if kind == "nested" then
    return function()
      local l = baton.try_lock(DIR .. "/l" .. R(6), { timeout = 0 })
      if l then l:release() end
    end
  end
  if kind == "odd_return" then
    local v = any(1)
    return function() return v, v end
  end
  ctx.invalid = true -- a callable table is not a function where options want one
  return setmetatable({}, { __call = function() return true end })
end

-- Tables, some with metatables that misbehave.
local function a_table(depth)
  local r = R(12)
  if r == 1 then return {} end
  if r == 2 then
    local t = {}
    for i = 1, R(0, 5) do t[i] = any(depth + 1) end
    return t
  end
  if r == 3 then
    local t = {}
    local cur = t
    for _ = 1, R(1, 200) do cur.next = {}; cur = cur.next end
    return t
  end
  if r == 4 then
    local t = {}
    t.self = t
    t[1] = t
    return t
  end
  if r == 5 then
    ctx.raising = true
    return setmetatable({}, { __index = function() error(SENTINEL) end })
  end
  if r == 6 then
    ctx.raising = true
    return setmetatable({}, { __newindex = function() error("fuzz __newindex") end,
      __len = function() error(SENTINEL) end })
  end
  if r == 7 then
    ctx.raising = true
    return setmetatable({ a = 1 }, { __pairs = function() error(SENTINEL) end })
  end
  if r == 8 then
    ctx.raising = true
    return setmetatable({}, { __tostring = function() return {} end })
  end
  if r == 9 then return setmetatable({}, { __metatable = "locked", __call = function() end }) end
  if r == 10 then
    local t = {}
    for _ = 1, R(1, 5) do
      local k = any(depth + 1)
      if k == nil or k ~= k then k = "k" end
      t[k] = any(depth + 1)
    end
    return t
  end
  if r == 11 then
    ctx.raising = true
    return setmetatable({}, { __index = function(_, k) return pick({ 1, "x", true, {} }) end,
      __name = pick({ "baton.flock", "baton.fd", 42 }) })
  end
  return { timeout = any(depth + 1), [1] = any(depth + 1), [2.5] = any(depth + 1) }
end

function any(depth)
  depth = depth or 0
  local r = R(20)
  if r <= 2 then return nil end
  if r == 3 then return chance(0.5) end
  if r <= 7 then return a_number() end
  if r <= 12 then return a_string() end
  if r <= 15 and depth < 3 then return a_table(depth) end
  if r == 16 then return a_callback() end
  if r == 17 then return io.open("/dev/null") end -- a file: it has __close and __gc
  if r == 18 then return coroutine.create(function() end) end
  if r == 19 and pool and #pool > 0 then return pool[R(#pool)].obj end
  return a_string()
end

-- A value for an argument: usually `valid()`, otherwise anything (and the call is misuse).
local function arg_or_any(valid, p)
  if chance(p or 0.8) then return valid() end
  ctx.invalid = true
  return any()
end

---------------------------------------------------------------------------------------------
-- Paths

-- A path component made from an odd string: never a folder separator, never "." or "..".
local function component(s)
  s = s:gsub("/", "_")
  if s == "" then s = "e" end
  if s == "." or s == ".." then s = "x" .. s end
  return s
end

-- A path where a file may be created: always under DIR (relative paths land there too, as
-- it is the working folder), or a non-string (misuse), or one with a NUL byte (misuse).
local BASE = DIR:match("([^/]+)$")
local HAS_ETCD = pcall(require, "baton.etcd_core")
local lock_path_of
local function lock_path()
  local p = lock_path_of(R(100))
  if type(p) == "string" and p:find("\0", 1, true) then ctx.invalid = true end
  return p
end
function lock_path_of(r)
  if r <= 55 then return DIR .. "/l" .. R(6) end
  if r <= 62 then return DIR .. "/sub" .. R(3) .. "/deeper/l" .. R(2) end
  if r <= 65 then return "rel" .. R(3) end
  if r <= 71 then return DIR .. "/" .. component(a_string():sub(1, 300)) end
  if r <= 73 then return DIR .. "/" .. string.rep("n", R(254, 256)) end
  if r <= 74 then return DIR .. "/" .. string.rep("d/", 3000) .. "x" end
  if r <= 75 then return DIR .. "/dir" end
  if r <= 76 then return DIR .. "/link" end
  if r <= 77 then return DIR .. "/dangling" end
  if r <= 78 then return DIR .. "/fifo" end
  if r <= 79 then return DIR .. "/data" end
  if r <= 80 then return DIR .. "/l1/x" end
  if r <= 81 then return DIR end
  if r <= 82 then return DIR .. "/./l1" end
  if r <= 83 then return DIR .. "/../" .. BASE .. "/l2" end
  if r <= 84 then return DIR .. "/marker" end
  if r <= 85 then return DIR .. "/nul\0byte" end
  if r <= 86 then -- another kind of lock, chosen by the path (misuse where it is missing)
    if not HAS_ETCD then ctx.invalid = true end
    return "etcd://127.0.0.1:1/fuzz"
  end
  ctx.invalid = true
  local v
  repeat v = any() until type(v) ~= "string"
  return v
end

-- Paths elsewhere, for functions that only read or inspect.
local OUTSIDE = { "/", "/proc/self/stat", "/proc/self/status", "/proc/self/environ",
  "/proc/self/mem", "/proc/locks", "/proc/self/fd/0", "/proc/self/fd", "/proc/1/stat",
  "/proc/self/cwd", "/dev/null", "/dev/zero", "/dev/urandom", "/etc/passwd", "/etc/hostname",
  "/nonexistent/x", "/proc/self/task", "/dev/shm", "/sys/kernel/mm/transparent_hugepage/enabled" }
local function inspect_path()
  local r = R(10)
  if r <= 5 then return lock_path() end
  if r <= 8 then return pick(OUTSIDE) end
  ctx.invalid = true
  return any()
end

-- Files read as a child's standard input (never a FIFO, never endless).
local STDIN_FILES = { "/etc/hostname", "/proc/self/stat", "/dev/null" }

---------------------------------------------------------------------------------------------
-- Options

local TIMEOUTS_BOUNDED = { 0, 0.001, 0.003, -0.0, 1e-12, 0.01 }
local TIMEOUTS_UNBOUNDED = { -1, math.huge, -math.huge, -1e-9 }

local valid_option = {
  timeout = function()
    if chance(0.15) then return pick(TIMEOUTS_UNBOUNDED) end
    return pick(TIMEOUTS_BOUNDED)
  end,
  shared = function() return chance(0.5) end,
  mode = function() return pick({ 420, 438, 384, "0644", "0600", "600", 0, "07777", "7777", 511 }) end,
  note = function() return pick({ "", "n", "nightly backup", LONG, "\0x", "é", random_string() }) end,
  warn_after = function() return pick({ 0, 0.001, 1e9 }) end,
  on_wait = function() return a_callback(pick({ "noop", "gc", "nested", "release", "error_string" })) end,
  sleep = function() return a_callback(pick({ "noop", "sleep", "gc", "release", "yield", "error_table" })) end,
  poll = function() return a_callback(pick({ "noop", "sleep", "release", "yield", "error_nil" })) end,
  cancel = function() return a_callback(pick({ "false", "true", "noop", "odd_return", "release", "error_string" })) end,
  ttl = function() return pick({ 1, 0.5 }) end,
  mkdir = function() return chance(0.7) end,
  kind = function() return pick({ "flock", "flock", "soft", "rw" }) end,
  stale_after = function() return pick({ 0, 1, 1e9 }) end,
}
local OPTION_NAMES = {}
for k in pairs(valid_option) do OPTION_NAMES[#OPTION_NAMES + 1] = k end
table.sort(OPTION_NAMES)
local PER_ACQUIRE = { "timeout", "note", "warn_after", "on_wait", "sleep", "poll", "cancel" }

-- An option table from `names`; sometimes not a table, an unknown name, a value of the
-- wrong type, or nil.
local function options(names, p_nil)
  if chance(p_nil or 0.2) then return nil end
  if chance(0.05) then
    ctx.invalid = true
    local v
    repeat v = any() until v ~= nil and type(v) ~= "table"
    return v
  end
  local o = {}
  for _ = 1, R(0, 4) do
    local name = pick(names)
    if chance(0.9) then
      o[name] = valid_option[name]()
    else
      ctx.invalid = true
      o[name] = any()
    end
  end
  if chance(0.04) then
    ctx.invalid = true
    local k = any()
    if k ~= nil and k == k then o[k] = any() end
  end
  return o
end

-- Options that are each valid but not for this kind of lock: mark the call as misuse. Every
-- lock takes the wait's options; each kind declares the others (lua/baton/kind/*.lua).
local WAIT_OPTIONS = { timeout = true, note = true, warn_after = true, on_wait = true,
  sleep = true, poll = true, cancel = true }
local FILE_OBJECT_OPTIONS = { mode = true, mkdir = true } -- baton.rwlock, baton.semaphore
local function kind_options(name)
  local ok, kind = pcall(require, "baton.kind." .. name)
  return ok and kind.options or nil
end

local function check_combination(o, fname, path)
  if type(o) ~= "table" then return end
  local ok, kind = pcall(rawget, o, "kind")
  if not ok then return end
  if kind == nil and type(path) == "string" and path:match("^etcds?://") then kind = "etcd" end
  local allowed
  if fname == "baton.rwlock" or fname == "baton.semaphore" then
    allowed = FILE_OBJECT_OPTIONS
  elseif fname == "baton.soft_lock" then
    if kind ~= nil and kind ~= "soft" then ctx.invalid = true return end
    allowed = kind_options("soft")
  else
    allowed = kind_options(type(kind) == "string" and kind or "flock")
  end
  if not allowed then ctx.invalid = true return end
  for name in pairs(o) do
    local lock_only = name == "kind" and fname ~= "baton.rwlock" and fname ~= "baton.semaphore"
    if not (WAIT_OPTIONS[name] or allowed[name] or lock_only) then ctx.invalid = true end
  end
end

---------------------------------------------------------------------------------------------
-- This round's objects, and keeping waits bounded
--
-- A wait with no deadline for a lock this process holds itself would never end. So while
-- anything of this process is held, a call that may wait gets a bounded timeout.

local registry = setmetatable({}, { __mode = "k" }) -- every lock-like object made, weakly

local function register(kind, obj, extra)
  if obj == nil then return end
  -- callbacks in the options an object keeps may raise or yield whenever it waits
  local e = { kind = kind, obj = obj, raising = ctx.raising or ctx.yields }
  for k, v in pairs(extra or {}) do e[k] = v end
  pool[#pool + 1] = e
  if type(obj) == "table" or type(obj) == "userdata" then registry[obj] = kind end
  return e
end

local function is_held(obj, kind)
  local ok, held = pcall(function()
    if kind == "lock" or kind == "rw" then return obj:is_locked() end
    if kind == "guard" then return obj:is_held() end
    if kind == "core" then return obj:held() end
    return false
  end)
  return ok and held and true or false
end

local my_locks -- below: this process's lines in /proc/locks

-- Whether this process holds anything: an object the fuzzer saw, or any flock or record
-- lock the kernel lists for it (objects made inside jobs, callbacks and coroutines).
local function anything_held()
  for obj, kind in pairs(registry) do
    if is_held(obj, kind) then return true end
  end
  return #my_locks() > 0
end

-- Whether a timeout could make a wait last (more than a moment).
local function unbounded(t)
  return t == nil or type(t) ~= "number" or t ~= t or t < 0 or t > 0.05
end

local function unbounded_opts(o)
  return type(o) ~= "table" or unbounded(rawget(o, "timeout"))
end

-- A soft marker of another host's that never goes stale (made at the start).
local MARKER = DIR .. "/marker"

-- Make a call's own options wait a bounded time when that is needed.
-- Soft locks wait out a foreign (or empty) file's 2 s before taking it over: mostly bounded
-- too, so that the time goes to other calls.
local function bound(o, path, soft)
  if path ~= MARKER and not (soft and chance(0.95)) and not anything_held() then return o end
  if o == nil then return { timeout = pick(TIMEOUTS_BOUNDED) } end
  if type(o) == "table" and unbounded(rawget(o, "timeout")) then
    rawset(o, "timeout", pick(TIMEOUTS_BOUNDED))
  end
  return o
end

-- Options for a method that may wait: without a timeout of their own, the object's applies
-- (also to try_*), so an object made without a bound gets one per call when needed.
local function method_opts(e, o, path)
  if o ~= nil and type(o) ~= "table" then return o end
  local soft = type(e.obj) == "table" and rawget(e.obj, "kind") == "soft"
  if o ~= nil and rawget(o, "timeout") ~= nil then return bound(o, path, soft) end
  if not e.unbounded or (path ~= MARKER and not (soft and chance(0.95)) and not anything_held()) then
    return o
  end
  o = o or {}
  rawset(o, "timeout", pick(TIMEOUTS_BOUNDED))
  return o
end

---------------------------------------------------------------------------------------------
-- Running one call

local failures = 0
local recent = {} -- the last calls, for the report
local calls, errors_seen = 0, 0

-- A short text for a value, without running any of its metamethods.
local function tostring_raw(v)
  local t = type(v)
  if t == "string" then
    if #v > 20 then return string.format("%q..", v:sub(1, 20)) end
    return string.format("%q", v)
  end
  if t == "number" then return string.format("%.17g", v) end
  if t == "boolean" or t == "nil" then return tostring(v) end
  return t
end

local function describe(v)
  local t = type(v)
  if t == "string" then
    if #v > 40 then return string.format("%q..(%d bytes)", v:sub(1, 40), #v) end
    return string.format("%q", v)
  end
  if t == "number" then return string.format("%.17g", v) end
  if t == "table" then
    local ok, mt = pcall(getmetatable, v)
    local parts, k, n = {}, nil, 0
    repeat
      local fine, key, val = pcall(next, v, k)
      if not fine or key == nil then break end
      k = key
      n = n + 1
      if n <= 6 then parts[n] = tostring_raw(key) .. "=" .. tostring_raw(val) end
    until false
    if n > 6 then parts[#parts + 1] = "..." end
    return ((ok and mt) and "table+mt{" or "{") .. table.concat(parts, ", ") .. "}"
  end
  return t
end

local function note_call(name, ...)
  local parts = {}
  for i = 1, select("#", ...) do parts[i] = describe((select(i, ...))) end
  local line = name .. "(" .. table.concat(parts, ", ") .. ")"
  recent[#recent + 1] = line
  if #recent > 30 then table.remove(recent, 1) end
  if trace then trace:write(line, "\n") end
end

local round_no = 0

local function fail(what)
  failures = failures + 1
  out:write(string.format("\nFAILURE (seed %d, round %d, call %d): %s\nlast calls:\n  %s\n",
    SEED, round_no, calls, what, table.concat(recent, "\n  ")))
end

-- Call fn(...) protected. Judge an error: a string always passes; anything else only when
-- something the fuzzer gave may have raised it.
local stats = {} -- name -> { calls, raised }

local function call(name, fn, ...)
  calls = calls + 1
  note_call(name, ...)
  local r = pack(pcall(fn, ...))
  local st = stats[name]
  if not st then st = { 0, 0 } stats[name] = st end
  st[1] = st[1] + 1
  if not r[1] then
    st[2] = st[2] + 1
    errors_seen = errors_seen + 1
    local err = r[2]
    if type(err) ~= "string" and not ctx.raising then
      fail(name .. " raised a " .. type(err) .. " (" .. describe(err) .. "), not a string")
    end
  end
  return r
end

-- try_* with valid arguments and quiet callbacks never raise: they return the object, or
-- nil, message, code.
local function check_try(name, r)
  if ctx.invalid or ctx.raising or ctx.yields or ctx.closed then return end
  if not r[1] then
    fail(name .. " raised for valid arguments: " .. (type(r[2]) == "string" and r[2] or describe(r[2])))
  elseif r[2] == nil and (type(r[3]) ~= "string" or type(r[4]) ~= "string") then
    fail(name .. " failed without a message and a code: " .. describe(r[3]) .. ", " .. describe(r[4]))
  end
end

-- A call that waits and raises names the path in its message.
local function check_names_path(name, r, path)
  if ctx.invalid or ctx.raising or ctx.yields or ctx.closed or r[1] or type(path) ~= "string" then
    return
  end
  if type(r[2]) == "string" and not r[2]:find(path, 1, true) then
    fail(name .. " raised without naming the path '" .. path .. "': " .. r[2])
  end
end

---------------------------------------------------------------------------------------------
-- Actions: each makes one call with drawn arguments

local A = {}

-- Lock constructors and baton.lock / try_lock / soft_lock
A[#A + 1] = function()
  local path = lock_path()
  local o = options(OPTION_NAMES)
  o = bound(o, path, type(o) == "table" and rawget(o, "kind") == "soft")
  check_combination(o, "baton.lock", path)
  local r = call("baton.lock", baton.lock, path, o)
  if r[1] then register("lock", r[2], { unbounded = unbounded_opts(o) }) end
  check_names_path("baton.lock", r, path)
end
A[#A + 1] = function()
  local path = lock_path()
  local o = options(OPTION_NAMES)
  -- without a timeout try_lock makes one attempt; with one it waits
  if type(o) == "table" and rawget(o, "timeout") ~= nil then o = bound(o, path) end
  check_combination(o, "baton.try_lock", path)
  local r = call("baton.try_lock", baton.try_lock, path, o)
  if r[1] and r[2] then register("lock", r[2], { unbounded = unbounded_opts(o) }) end
  check_try("baton.try_lock", r)
end
A[#A + 1] = function()
  local path = lock_path()
  local o = options(OPTION_NAMES)
  local r = call("baton.new", baton.new, path, o)
  if r[1] then
    register("lock", r[2], { unbounded = unbounded_opts(o) })
  end
end
A[#A + 1] = function()
  local path = lock_path()
  local o = bound(options({ "timeout", "mode", "note", "warn_after", "on_wait", "sleep", "poll",
    "cancel", "mkdir", "stale_after", "kind" }), path, true)
  check_combination(o, "baton.soft_lock", path)
  local r = call("baton.soft_lock", baton.soft_lock, path, o)
  if r[1] then register("lock", r[2], { unbounded = unbounded_opts(o) }) end
  check_names_path("baton.soft_lock", r, path)
end
A[#A + 1] = function()
  local path = lock_path()
  local o = options(OPTION_NAMES)
  check_combination(o, "baton.rwlock", path)
  local r = call("baton.rwlock", baton.rwlock, path, o)
  if r[1] then
    register("rw", r[2], { unbounded = unbounded_opts(o) })
  end
end
A[#A + 1] = function()
  local path = lock_path()
  local n = arg_or_any(function() return pick({ 1, 1, 2, 3, 1024 }) end)
  local o = options(OPTION_NAMES)
  check_combination(o, "baton.semaphore", path)
  local r = call("baton.semaphore", baton.semaphore, path, n, o)
  if r[1] then
    register("sem", r[2], { unbounded = unbounded_opts(o) })
  end
end

-- baton.holder and the read-only core functions
A[#A + 1] = function()
  local path = inspect_path()
  local o = chance(0.7) and nil or arg_or_any(function() return { kind = pick({ "flock", "soft" }) } end)
  local r = call("baton.holder", baton.holder, path, o)
  if r[1] and r[2] ~= nil and type(r[2]) ~= "table" then fail("baton.holder returned a " .. type(r[2])) end
end
A[#A + 1] = function()
  local fns = {
    function() return "core_test.parse_marker", core_test.parse_marker, arg_or_any(a_string) end,
    function() return "core_test.parse_stat", core_test.parse_stat, arg_or_any(a_string) end,
    function() return "core_test.parse_btime", core_test.parse_btime, arg_or_any(a_string) end,
    function()
      return "core_test.parse_locks", core_test.parse_locks, arg_or_any(a_string), any(), any(),
        arg_or_any(function() return pick({ "1", "10952820", "18446744073709551615", "0" }) end)
    end,
    function() return "core_test.start_token", core_test.start_token, any(), any() end,
    function() return "core.token", core.token, arg_or_any(function() return pick({ MY_PID, 1, 2 ^ 31 - 1 }) end) end,
    function() return "core.process", core.process, arg_or_any(function() return pick({ MY_PID, 1, 999999 }) end) end,
    function() return "core.record", core.record, any(), inspect_path() end,
    function() return "core.openers", core.openers, inspect_path() end,
    function() return "core.marker", core.marker, inspect_path(), any() end,
    function() return "core_test.flock_holders", core_test.flock_holders, inspect_path() end,
    function() return "core.hostname", core.hostname end,
    function() return "core.signal_number", core.signal_number, any() end,
    function() return "core.signal_name", core.signal_name, any() end,
    function() return "core.interrupted", core.interrupted end,
    function() return "core.now", core.now, any() end,
  }
  local spec = { pick(fns)() }
  call(spec[1], unpack(spec, 2, 6))
end

-- Sleeping and polling, with finite pauses (a long one is a hang, not a finding)
local function short_seconds()
  if chance(0.7) then return pick({ 0, -0.0, 0.0001, 0.001, -1, -math.huge, 1e-300 }) end
  ctx.invalid = true
  local v
  -- (strings count: the C functions read "1e309" as a number)
  repeat v = any() until not ((tonumber(v) or 0) > 0.002)
  return v
end
A[#A + 1] = function() call("baton.sleep", baton.sleep, short_seconds()) end
A[#A + 1] = function() call("core.sleep", core.sleep, short_seconds()) end
A[#A + 1] = function()
  local function fds()
    if chance(0.2) then return any() end
    local t = {}
    for i = 1, R(0, 3) do t[i] = pick({ 0, 1, 2, -1, 1000000, 2 ^ 40, R(0, 30) }) end
    return t
  end
  local seconds = short_seconds()
  if (tonumber(seconds) or 0) < 0 then seconds = 0 end -- negative: no limit
  call("core.poll", core.poll, fds(), fds(), seconds)
end

-- Methods of lock objects
local function lock_entry(kinds)
  local list = {}
  for _, e in ipairs(pool) do
    if kinds[e.kind] then list[#list + 1] = e end
  end
  local e = list[R(math.max(1, #list))]
  -- using a closed object is misuse, which raises
  if e and type(e.obj) == "table" and rawget(e.obj, "_closed") then ctx.closed = true end
  if e and e.tainted then ctx.invalid = true end
  if e and e.raising then ctx.raising = true end
  return e
end

A[#A + 1] = function()
  local e = lock_entry({ lock = true })
  if not e then return end
  local l = e.obj
  local m = R(11)
  if m <= 3 then
    local o = method_opts(e, options(PER_ACQUIRE, 0.4), l.path)
    local r = call("lock:acquire", l.acquire, l, o)
    check_names_path("lock:acquire", r, l.path)
    if r[1] and r[2] ~= l then fail("lock:acquire did not return the lock") end
  elseif m == 4 then
    local o = method_opts(e, options(PER_ACQUIRE, 0.4), l.path)
    local r = call("lock:try_acquire", l.try_acquire, l, o)
    check_try("lock:try_acquire", r)
  elseif m == 5 then
    local o = chance(0.6) and nil or arg_or_any(function() return { force = chance(0.5) } end)
    call("lock:release", l.release, l, o)
  elseif m == 6 then
    local r = call("lock:is_locked", l.is_locked, l)
    if r[1] and type(r[2]) ~= "boolean" then fail("lock:is_locked returned a " .. type(r[2])) end
  elseif m == 7 then
    call("lock:count", l.count, l)
  elseif m == 8 then
    if e.unbounded and (l.path == MARKER or anything_held()) and not is_held(l, "lock") then return end
    local fn = arg_or_any(function() return a_callback(pick({ "noop", "true", "error_table",
      "error_string", "release", "nested", "gc", "callable" })) end)
    call("lock:with", l.with, l, fn, any(), any())
  elseif m == 9 then
    call("lock:close", l.close, l)
  elseif m == 10 then
    call("tostring(lock)", tostring, l)
  else
    call("lock:pollfd", l.pollfd, l)
  end
end

-- Methods of read/write locks and their guards
A[#A + 1] = function()
  local e = lock_entry({ rw = true })
  if not e then return end
  local rw = e.obj
  local m = R(10)
  if m <= 4 then
    local which = pick({ "read", "write", "try_read", "try_write" })
    local try = which:sub(1, 3) == "try"
    local o = method_opts(e, options(PER_ACQUIRE, 0.4), rw.path)
    local r = call("rwlock:" .. which, rw[which], rw, o)
    if r[1] and r[2] then register("guard", r[2]) end
    if try then
      -- upgrading or downgrading is misuse even for try_*
      if not (not r[1] and type(r[2]) == "string" and r[2]:find("is not allowed", 1, true)) then
        check_try("rwlock:" .. which, r)
      end
    else
      check_names_path("rwlock:" .. which, r, rw.path)
    end
  elseif m == 5 then call("rwlock:mode", rw.mode, rw)
  elseif m == 6 then call("rwlock:is_locked", rw.is_locked, rw)
  elseif m == 7 then call("rwlock:count", rw.count, rw)
  elseif m == 8 then call("rwlock:close", rw.close, rw)
  else call("tostring(rwlock)", tostring, rw) end
end

-- Methods of semaphores
A[#A + 1] = function()
  local e = lock_entry({ sem = true })
  if not e then return end
  local s = e.obj
  local m = R(5)
  if m <= 2 then
    local o = method_opts(e, options(PER_ACQUIRE, 0.4), s.path)
    local r = call("semaphore:acquire", s.acquire, s, o)
    if r[1] then register("guard", r[2]) end
    check_names_path("semaphore:acquire", r, s.path)
  elseif m == 3 then
    local o = method_opts(e, options(PER_ACQUIRE, 0.4), s.path)
    local r = call("semaphore:try_acquire", s.try_acquire, s, o)
    if r[1] and r[2] then register("guard", r[2]) end
    check_try("semaphore:try_acquire", r)
  elseif m == 4 then
    if e.unbounded and anything_held() then return end
    call("semaphore:with", s.with, s, arg_or_any(function() return a_callback(pick({ "noop",
      "error_table", "release", "nested" })) end))
  else
    call("tostring(semaphore)", tostring, s)
  end
end

A[#A + 1] = function()
  local e = lock_entry({ guard = true })
  if not e then return end
  local g = e.obj
  local m = R(4)
  if m == 1 then call("guard:release", g.release, g)
  elseif m == 2 then call("guard:is_held", g.is_held, g)
  elseif m == 3 then
    call("guard:with", g.with, g, arg_or_any(function() return a_callback(pick({ "noop",
      "error_string", "release", "gc" })) end), any())
  else call("tostring(guard)", tostring, g) end
end

-- Methods called on the wrong object (or on nothing)
local METHODS = {}
do
  local lockmod = require "baton.lock"
  local rwmod = require "baton.rwlock"
  local semmod = require "baton.semaphore"
  for _, class in ipairs({ lockmod.Lock, rwmod.RWLock, rwmod.Guard, semmod.Semaphore, semmod.Guard }) do
    for name, f in pairs(class) do
      if type(f) == "function" and name ~= "__gc" then METHODS[#METHODS + 1] = { name, f } end
    end
  end
  table.sort(METHODS, function(a, b) return a[1] < b[1] end)
end
A[#A + 1] = function()
  local m = pick(METHODS)
  local e = #pool > 0 and chance(0.8) and pool[R(#pool)] or nil
  local self = e and e.obj or any()
  -- a method of another class may leave the object in a state of its own making: later
  -- calls on it are misuse
  if e then e.tainted = true end
  if m[1] == "with" or m[1] == "acquire" or m[1] == "read" or m[1] == "write" then
    if anything_held() then return end -- may wait with the object's own options
  end
  ctx.invalid = true
  ctx.raising = true -- a method on a foreign object may run the fuzzer's callbacks
  call("confused " .. m[1], m[2], self, bound(chance(0.5) and { timeout = 0 } or nil))
end

-- The C handles themselves (baton.core), with odd arguments
A[#A + 1] = function()
  local path = lock_path()
  local which = R(4)
  local r
  if which == 1 then
    r = call("core.flock", core.flock, path, any(), arg_or_any(function() return 420 end), any())
  elseif which == 2 then
    r = call("core.soft", core.soft, path, arg_or_any(function() return 420 end), any(), any())
  elseif which == 3 then
    r = call("core.rwlock", core.rwlock, path, arg_or_any(function() return 420 end), any())
  else
    r = call("core.semaphore", core.semaphore, path, arg_or_any(function() return R(1, 3) end),
      arg_or_any(function() return 420 end), any())
  end
  if r[1] and r[2] then register("core", r[2], { which = which }) end
end
A[#A + 1] = function()
  local e = lock_entry({ core = true })
  if not e then return end
  local h = e.obj
  local names = { "try", "wait", "held", "release", "pollfd", "fileno", "record", "slot",
    "abandon", "close", "block" }
  local name = pick(names)
  local f = h[name]
  if f == nil then
    call("core handle ." .. name .. " missing", function() return h[name](h) end)
    return
  end
  local a1
  if name == "wait" then a1 = short_seconds()
  elseif name == "record" then a1 = any()
  elseif name == "try" then a1 = any()
  elseif name == "block" then
    if anything_held() then return end
  end
  call("core handle:" .. name, f, h, a1)
end

---------------------------------------------------------------------------------------------
-- Processes and pipes

local SCRIPTS = { "exit 3", "echo hi", "true", "echo out; echo err >&2", "exit 0" }
local function a_command()
  local r = R(12)
  if r == 1 then return { "true" } end
  if r == 2 then return { "false" } end
  if r == 3 then
    local c = { "echo" }
    for i = 2, R(1, 4) do c[i] = chance(0.9) and a_string() or any() end
    return c
  end
  if r == 4 then return { "sh", "-c", pick(SCRIPTS) } end
  if r == 5 then return { "sleep", "0.02" } end
  if r == 6 then return { "cat" }, "cat" end
  if r == 7 then return { DIR .. "/no-such-program" } end
  if r == 8 then return { "no-such-program-" .. R(1000) } end
  if r == 9 then return { "/dev/null" } end
  if r == 10 then return { DIR } end
  if r == 11 then return { "printf", "%s", pick({ LONG, "a\0b", "" }) } end
  ctx.invalid = true
  return any(), "any"
end

local function a_stream(name, is_cat)
  local r = R(10)
  if r <= 2 then return nil end
  if r == 3 then return "null" end
  if r <= 5 then
    if name == "stdin" and is_cat then return "null" end
    return "pipe"
  end
  if r == 6 then return name == "stderr" and "stdout" or "inherit" end
  if name == "stdin" then
    if r <= 8 then return pick(STDIN_FILES) end
    if is_cat then return "null" end
  else
    if r == 7 then return DIR .. "/out" .. R(3) end
    if r == 8 then return { path = DIR .. "/out" .. R(3), append = chance(0.5) } end
  end
  if is_cat then return "null" end
  ctx.invalid = true
  local v = any()
  if type(v) == "string" then return "inherit" end -- a file name could be anywhere
  if type(v) == "table" then
    local k = any()
    if k == nil or k ~= k then k = 1 end
    return { path = DIR .. "/odd", append = any(), [k] = any() }
  end
  return v
end

local function a_spec(extra)
  local argv, special = a_command()
  if special == "any" then return argv end -- anything at all, used as it is
  local spec = {}
  for i, v in ipairs(argv) do spec[i] = v end
  local is_cat = special == "cat"
  if chance(0.2) then
    spec.env = arg_or_any(function()
      return { BATON_FUZZ = pick({ "1", "", "é" }), PATH = chance(0.1) and false or nil,
        [pick({ "A", "B_C" })] = pick({ "x", 5, false }) }
    end, 0.7)
  end
  if chance(0.1) then spec.cwd = arg_or_any(function() return pick({ "/", DIR, DIR .. "/nope" }) end) end
  if chance(0.6) then spec.stdin = a_stream("stdin", is_cat) end
  if is_cat and (spec.stdin == nil or spec.stdin == "inherit") then
    spec.stdin = pick({ "null", pick(STDIN_FILES) }) -- never this process's own input
  end
  if chance(0.6) then spec.stdout = a_stream("stdout", is_cat) end
  if chance(0.4) then spec.stderr = a_stream("stderr", is_cat) end
  if (spec.stderr == nil or spec.stderr == "inherit") and chance(0.9) then
    spec.stderr = "null" -- inherited, a child's complaints would fill the report
  end
  if chance(0.1) then spec.group = arg_or_any(function() return chance(0.5) end) end
  if chance(0.1) then spec.detach = arg_or_any(function() return chance(0.5) end) end
  if chance(0.1) then
    spec.keep_fds = arg_or_any(function() return { pick({ 0, 1, 2, 3, 500 }) } end)
  end
  if chance(0.05) then
    -- the shell runs the first element: only known scripts
    spec = { pick(SCRIPTS), shell = true, stdout = pick({ "null", "pipe" }) }
  end
  if chance(0.03) then
    ctx.invalid = true
    spec[pick({ "bogus", 0, 1.5 })] = any()
  end
  if extra then extra(spec) end
  return spec, is_cat
end

local function spawn_action()
  local spec, is_cat = a_spec()
  local r = call("baton.spawn", baton.spawn, spec)
  if r[1] and r[2] then register("proc", r[2], { cat = is_cat }) end
end
A[#A + 1] = spawn_action
A[#A + 1] = function()
  local spec = a_spec(function(s)
    if chance(0.3) then
      s.input = arg_or_any(function() return pick({ "", "abc\n", LONG, 42 }) end)
      if s.input ~= nil and s.stdin ~= nil and s.stdin ~= "pipe" then s.stdin = "pipe" end
    end
    if chance(0.3) then
      s.timeout = arg_or_any(function() return pick({ 0, 0.001, 1, -1 }) end)
    end
  end)
  call("baton.run", baton.run, spec)
end

A[#A + 1] = function()
  local e = lock_entry({ proc = true })
  if not e then return end
  local p = e.obj
  local m = R(10)
  if m == 1 then
    call("process:wait", p.wait, p, arg_or_any(function() return pick({ 0, 0.001, nil, 1 }) end))
  elseif m == 2 then
    call("process:running", p.running, p)
  elseif m == 3 then
    local sig = arg_or_any(function() return pick({ "TERM", "KILL", "SIGINT", "HUP", 0, 9, 15, 19, "STOP", 64 }) end)
    call("process:kill", p.kill, p, sig)
    pcall(p.kill, p, "CONT") -- a stopped child would never end
  elseif m == 4 then
    call("process:terminate", p.terminate, p, arg_or_any(function() return pick({ 0, 0.01, nil }) end))
  elseif m == 5 then
    call("process:communicate", p.communicate, p, arg_or_any(function() return pick({ nil, "", "data\n", LONG }) end))
  elseif m == 6 then
    local s = p.stdout or p.stderr
    if not s then return end
    if e.cat and p.stdin and not p.stdin._closed then pcall(p.stdin.close, p.stdin) end
    call("reader:read", s.read, s, arg_or_any(function() return pick({ "a", "l", "L", "*a", 0, 1, 100, nil }) end))
  elseif m == 7 then
    local w = p.stdin
    if not w then return end
    call("writer:write", w.write, w, arg_or_any(function() return pick({ "x", "", LONG, 5 }) end), any())
  elseif m == 8 then
    local s = pick({ p.stdin, p.stdout, p.stderr })
    if s then call("pipe:close", s.close, s) end
  elseif m == 9 then
    call("process:close", p.close, p)
  else
    call("tostring(process)", tostring, p)
    local s = pick({ p.stdin, p.stdout, p.stderr })
    if s then call("pipe:fileno", s.fileno, s) call("tostring(pipe)", tostring, s) end
  end
end

-- core.pipe / core.open_stream descriptors, non-blocking so reads and writes never hang
A[#A + 1] = function()
  if chance(0.5) then
    local r = call("core.pipe", core.pipe)
    if r[1] and r[2] then
      pcall(r[2].nonblock, r[2])
      pcall(r[3].nonblock, r[3])
      register("fd", r[2])
      register("fd", r[3])
    end
  else
    local how = arg_or_any(function() return pick({ "r", "w", "a" }) end)
    local path
    if how == "r" and chance(0.5) then path = pick(STDIN_FILES) else path = lock_path() end
    if path == DIR .. "/fifo" then path = DIR .. "/out1" end
    local r = call("core.open_stream", core.open_stream, path, how)
    if r[1] and r[2] then register("fd", r[2]) end
  end
end
A[#A + 1] = function()
  local e = lock_entry({ fd = true })
  if not e then return end
  local fd = e.obj
  local m = R(6)
  if m == 1 then call("fd:read", fd.read, fd, any())
  elseif m == 2 then call("fd:write", fd.write, fd, a_string(), any())
  elseif m == 3 then call("fd:nonblock", fd.nonblock, fd)
  elseif m == 4 then call("fd:fileno", fd.fileno, fd)
  elseif m == 5 then call("fd:close", fd.close, fd)
  else call("tostring(fd)", tostring, fd) end
end

---------------------------------------------------------------------------------------------
-- baton.jobs

local function a_job()
  local r = R(9)
  if r == 1 then return function() baton.sleep(0.001) end end
  if r == 2 then
    local path = lock_path()
    return function()
      local l = baton.lock(path, { timeout = pick(TIMEOUTS_BOUNDED) })
      baton.sleep(0.001)
      l:release()
    end
  end
  if r == 3 then ctx.raising = true return function() error(SENTINEL) end end
  if r == 4 then return function() coroutine.yield() return 1, 2 end end
  if r == 5 then return function() local ok, _, out = baton.run({ "true" }) return ok, out end end
  if r == 6 then return function(...) return ... end end
  if r == 7 then ctx.raising = true return function() baton.sleep(0 / 0) end end
  if r == 8 then
    return function()
      local l = baton.try_lock(DIR .. "/l" .. R(6), { timeout = 0.002 })
      if l then baton.sleep(0.001) l:close() end
    end
  end
  ctx.invalid = true
  return any()
end
A[#A + 1] = function()
  if anything_held() then return end -- a job's lock wait could meet ours
  local o = chance(0.6) and nil or arg_or_any(function() return { max = pick({ 1, 2, math.huge }) } end)
  local r = call("baton.jobs", baton.jobs, o)
  if not r[1] then return end
  local js = r[2]
  for _ = 1, R(0, 5) do
    if chance(0.5) then
      call("jobs:add", js.add, js, arg_or_any(a_string), a_job(), any())
    else
      call("jobs:add", js.add, js, a_job(), any())
    end
  end
  if chance(0.1) then call("jobs:add nested wait", js.add, js, function() return js:wait() end) end
  local w = call("jobs:wait", js.wait, js)
  if w[1] then
    for _, job in ipairs(js.list) do
      if job.status == "failed" and type(job.error) ~= "string" and not ctx.raising then
        fail("a job failed with a " .. type(job.error))
      end
    end
  end
  call("tostring(jobs)", tostring, js)
end

---------------------------------------------------------------------------------------------
-- baton.uv (luv's loop exits the process on an error in a callback, so callbacks here never
-- raise), baton lock / baton status (baton.cli), to-be-closed variables

if has_uv then
  A[#A + 1] = function()
    if anything_held() and chance(0.5) then return end
    local path = lock_path()
    local o = {}
    if chance(0.5) then o.timeout = pick(TIMEOUTS_BOUNDED) end
    if chance(0.2) then o.note = "uv" end
    if chance(0.2) then o.cancel = function() return false end end
    o = bound(o, path)
    local done = false
    local r = call("baton.uv.lock", baton_uv.lock, uv, path, o, function(l)
      done = true
      if l then pcall(l.release, l) end
    end)
    if r[1] then
      local deadline = core.now() + 2
      while not done and core.now() < deadline do uv.run("once") end
      uv.run("nowait") -- let closed handles finish closing
      if not done then fail("baton.uv.lock did not call back within 2 s") end
    end
  end
end

local function cli_lock_args()
  local a = {}
  local units = {
    { "-s" }, { "-x" }, { "-e" }, { "-n" }, { "-v" }, { "-o" }, { "--shared" }, { "--nb" },
    { "-w", pick({ "0", "0.001", "0.01", "nan", "-1", "inf", "x", "1e-9" }) },
    { "-E", pick({ "0", "3", "255", "256", "-1", "1.5", "x" }) },
    { "--timeout=" .. pick({ "0", "0.002", "bad" }) }, { "--conflict-exit-code", "7" },
    { "--note", a_string() }, { "--note=" .. a_string() }, { "--soft" }, { "-sn" }, { "-nw0" },
    { "-u" }, { "--fcntl" }, { "--bogus" }, { "-Q" }, { "--verbose" },
  }
  for _ = 1, R(0, 4) do
    for _, v in ipairs(pick(units)) do a[#a + 1] = v end
  end
  if anything_held() then a[#a + 1] = "-w" a[#a + 1] = "0.002" end
  if chance(0.05) then a[#a + 1] = pick({ "-h", "-V" }) end
  if chance(0.05) then a[#a + 1] = "-w" return a end -- missing value at the end
  local file = lock_path()
  if type(file) ~= "string" or file:find("\0", 1, true) or file == MARKER then file = DIR .. "/cli.lock" end
  if chance(0.03) then file = "" end
  a[#a + 1] = file
  if chance(0.3) then a[#a + 1] = "--" end
  local r = R(5)
  if r == 1 then a[#a + 1] = "-c" a[#a + 1] = pick(SCRIPTS)
  elseif r == 2 then a[#a + 1] = "true"
  elseif r == 3 then a[#a + 1] = "sh" a[#a + 1] = "-c" a[#a + 1] = "exit 4"
  elseif r == 4 then a[#a + 1] = "no-such-program-xyz"
  end -- r == 5: no command
  return a
end

A[#A + 1] = function()
  if chance(0.5) then
    call("cli lock", cli.main, "lock", cli_lock_args())
  else
    local a = {}
    for _ = 1, R(0, 2) do a[#a + 1] = pick({ "--json", "-j", "-h", "--bogus", "-x", "--" }) end
    for _ = 1, R(0, 3) do
      local p = inspect_path()
      a[#a + 1] = type(p) == "string" and p or (DIR .. "/l1")
    end
    call("cli status", cli.main, pick({ "status", "status", "bogus", "" }), a)
  end
end

if IS54 then
  local scoped = load([[
    local obj, how = ...
    do
      local x <close> = obj
      if how == 1 then error("fuzz scoped error") end
      if how == 2 then error(setmetatable({}, {})) end
      if how == 3 then return "returned" end
    end
    return "left"
  ]])
  A[#A + 1] = function()
    local e = #pool > 0 and pool[R(#pool)] or nil
    local obj = e and e.obj or any()
    if chance(0.4) and e and e.kind == "lock" then
      if anything_held() and not is_held(obj, "lock") then return end
      local ok, l = pcall(obj.acquire, obj, { timeout = 0.001 })
      if ok then obj = l end
    end
    ctx.raising = true -- error value 2 is a table on purpose; __close of a foreign value raises
    call("<close>", scoped, obj, R(4))
  end
end

-- Calls inside coroutines whose callbacks yield: resumed a few times, then dropped or closed.
local suspended = {}
A[#A + 1] = function()
  local path = lock_path()
  local yielder = function() coroutine.yield("paused") end
  local which = R(4)
  local timeout = pick({ 0.005, 0.02 })
  local Y = { raising = true } -- their options yield
  local co = coroutine.create(function()
    if which == 1 then
      local l = register("lock", baton.lock(path, { timeout = timeout, sleep = yielder }), Y).obj
      coroutine.yield("holding")
      l:release()
    elseif which == 2 then
      local l = baton.try_lock(path, { timeout = timeout, poll = yielder })
      register("lock", l, Y)
    elseif which == 3 then
      local rw = register("rw", baton.rwlock(path, { timeout = timeout, sleep = yielder }), Y).obj
      local g = register("guard", rw:write(), Y).obj
      coroutine.yield("holding")
      g:release()
    else
      local s = baton.semaphore(path, 1, { timeout = timeout, sleep = yielder })
      register("guard", s:acquire(), Y)
    end
  end)
  calls = calls + 1
  note_call("coroutine " .. which, path)
  for _ = 1, R(0, 6) do
    local ok, err = coroutine.resume(co)
    if not ok then
      if type(err) ~= "string" then fail("a coroutine raised a " .. type(err)) end
      break
    end
    if coroutine.status(co) == "dead" then break end
  end
  if coroutine.status(co) == "suspended" then suspended[#suspended + 1] = co end
end

---------------------------------------------------------------------------------------------
-- The end of a round: let go of everything, then check nothing is left

-- This process's descriptors other than inotify instances, and how many of those. The pipe
-- the listing comes through is left out: until popen closes its copy of the child's end, it
-- is there twice.
local function fd_list()
  local f = io.popen("ls -l /proc/" .. MY_PID .. "/fd 2>/dev/null; echo \"own $(readlink /proc/$$/fd/1)\"")
  local lines, own = {}, nil
  for line in f:lines() do
    own = line:match("^own (.*)$") or own
    lines[#lines + 1] = line
  end
  f:close()
  local t, inotify = {}, 0
  for _, line in ipairs(lines) do
    local n, target = line:match("(%d+) %-> (.*)$")
    if n and target == "anon_inode:inotify" then
      inotify = inotify + 1
    elseif n and target ~= own then
      t[#t + 1] = n .. " -> " .. target
    end
  end
  return t, inotify
end

function my_locks()
  local found = {}
  for line in (read_file("/proc/locks") or ""):gmatch("[^\n]+") do
    local kind, pid = line:match("^%d+:%s+(%S+)%s+%S+%s+%S+%s+(%-?%d+)")
    if kind and tonumber(pid) == MY_PID and not line:find("->", 1, true) then
      found[#found + 1] = line
    end
  end
  return found
end

-- Holder records this process still publishes (5.4: string.unpack reads the table file).
local function my_records()
  if not string.unpack then return 0 end
  local token = core.token(MY_PID)
  local uid = tonumber(read_file("/proc/self/status"):match("\nUid:%s+%d+%s+(%d+)"))
  local n = 0
  for _, base in ipairs({ "/dev/shm", "/tmp" }) do
    local t = read_file(base .. "/baton-" .. uid .. "/" .. MY_PID .. "-" .. tostring(token))
    if t and #t == 256 * 128 then
      for i = 1, 127 do
        local _, used, kind = string.unpack("<I4I4I4", t, 256 * i + 1)
        if used ~= 0 or kind ~= 0 then n = n + 1 end
      end
    end
  end
  return n
end

local KNOWN_PATHS = {}
for i = 1, 6 do KNOWN_PATHS[#KNOWN_PATHS + 1] = DIR .. "/l" .. i end
for i = 1, 3 do
  for j = 1, 2 do KNOWN_PATHS[#KNOWN_PATHS + 1] = DIR .. "/sub" .. i .. "/deeper/l" .. j end
  KNOWN_PATHS[#KNOWN_PATHS + 1] = DIR .. "/rel" .. i
end

local baseline_fds

local function release_all()
  for _, co in ipairs(suspended) do
    if coroutine.close then coroutine.close(co) end
  end
  suspended = {}
  for i = #pool, 1, -1 do
    local e = pool[i]
    local o = e.obj
    if e.kind == "lock" or e.kind == "rw" then pcall(o.close, o)
    elseif e.kind == "guard" then pcall(function() if o._l ~= nil then o:release() end end) -- still live
    elseif e.kind == "proc" then pcall(o.close, o)
    elseif e.kind == "fd" then pcall(o.close, o)
    elseif e.kind == "core" then
      pcall(o.release, o)
      if o.close then pcall(o.close, o) end
    end
  end
  pool = {}
  collectgarbage("collect")
  collectgarbage("collect")
  -- Children let go of while running are reaped by the next spawn: make one, once they end.
  baton.sleep(0.03)
  local ok, p = pcall(baton.spawn, { "true" })
  if ok and p then p:wait() p:close() end
  collectgarbage("collect")
end

local function check_round()
  local held = my_locks()
  if #held > 0 then fail("locks left held after release:\n    " .. table.concat(held, "\n    ")) end
  for _, path in ipairs(KNOWN_PATHS) do
    local m = core.marker(path)
    if type(m) == "table" and m.pid == MY_PID then fail("soft marker left naming this process: " .. path) end
  end
  local rec = my_records()
  if rec > 0 then fail(rec .. " holder records left published after release") end
  -- inotify instances are kept in a pool of up to 4 for the next waiters (src/core/os/linux.c)
  local fds, inotify = fd_list()
  if baseline_fds and (#fds ~= #baseline_fds or inotify > 4) then
    fail(string.format("%d descriptors open (and %d inotify instances), %d at the start:\n    %s\n"
      .. "  at the start:\n    %s", #fds, inotify, #baseline_fds, table.concat(fds, "\n    "),
      table.concat(baseline_fds, "\n    ")))
    baseline_fds = fds -- report each leak once
  end
end

---------------------------------------------------------------------------------------------
-- Set up the scratch folder, warm up the lazy parts, run

local function sh(cmd) assert(os.execute(cmd)) end
sh("mkdir -p '" .. DIR .. "/dir' && ln -sf '" .. DIR .. "/l1' '" .. DIR .. "/link' && ln -sf '" ..
  DIR .. "/nowhere' '" .. DIR .. "/dangling' && rm -f '" .. DIR .. "/fifo' && mkfifo '" .. DIR ..
  "/fifo' && head -c 10000 /dev/zero | tr '\\0' 'z' > '" .. DIR .. "/data' && printf '" ..
  MY_PID .. "\\nelsewhere\\n' > '" .. DIR .. "/marker'")

pool = {}
ctx = {}
do -- the first use of each part sets up what then lives as long as the process
  local l = baton.lock(DIR .. "/warm", { note = "warm" })
  baton.holder(DIR .. "/warm")
  l:release()
  local s = baton.soft_lock(DIR .. "/warm.soft")
  s:release()
  local rw = baton.rwlock(DIR .. "/warm.rw")
  rw:read():release()
  rw:close()
  local g = baton.semaphore(DIR .. "/warm.sem", 1):acquire()
  g:release()
  baton.run({ "true" })
  if has_uv then
    local t = uv.new_timer()
    t:start(1, 0, function() t:close() end)
    uv.run("default")
  end
  release_all()
  baseline_fds = fd_list()
end

out:write(string.format("api_fuzz: seed %d, %s, %s s at most, rounds of %d calls, folder %s\n",
  SEED, _VERSION, tostring(args.seconds), args.round, DIR))
out:flush()

local start = core.now()
local per_action = {}
for i = 1, #A do per_action[i] = 0 end
while calls < args.iterations and core.now() - start < args.seconds do
  round_no = round_no + 1
  for _ = 1, args.round do
    ctx = {}
    local i = R(#A)
    local t0 = core.now()
    A[i]()
    per_action[i] = per_action[i] + (core.now() - t0)
    if calls >= args.iterations then break end
  end
  ctx = {}
  release_all()
  check_round()
end

local elapsed = core.now() - start
local names = {}
for name in pairs(stats) do names[#names + 1] = name end
table.sort(names)
if os.getenv("API_FUZZ_STATS") then
  for _, name in ipairs(names) do
    out:write(string.format("  %-28s %7d calls %7d raised\n", name, stats[name][1], stats[name][2]))
  end
end
if os.getenv("API_FUZZ_PROFILE") then
  local order = {}
  for i = 1, #A do order[i] = i end
  table.sort(order, function(a, b) return per_action[a] > per_action[b] end)
  for k = 1, math.min(8, #order) do
    local info = debug.getinfo(A[order[k]], "S")
    out:write(string.format("  action at line %d: %.1f s\n", info.linedefined, per_action[order[k]]))
  end
end
out:write(string.format("api_fuzz: %d calls of %d functions and methods in %d rounds, %.1f s " ..
  "(%d raised a Lua error), %d failures; seed %d\n", calls, #names, round_no, elapsed, errors_seen,
  failures, SEED))
-- Closing the state runs every finalizer still due (and lets valgrind see every block freed).
os.exit(failures == 0 and 0 or 1, true)
