-- The `baton lock` and `baton status` commands, run by the baton executable:
-- cli.main("lock" | "status", { args... }) -> exit status.
--
-- `baton lock` follows flock(1): the same options where they overlap, the same lock (flock(2)
-- on the same file) and the same exit statuses (sysexits.h): 1 (or -E's code) when -n or -w
-- gives up, 64 for a bad command line, 66 when the file cannot be opened, 69 when the command
-- cannot be run, 71 when resources ran out (memory, descriptors, processes), 65/73 for the
-- other failures flock(1) maps, else the command's status (128 + n when a signal n ended it).
local baton = require "baton"
local core = require "baton.core"

local unpack = table.unpack or unpack

local M = {}

local EX_USAGE, EX_DATAERR, EX_NOINPUT, EX_UNAVAILABLE, EX_OSERR, EX_CANTCREAT =
  64, 65, 66, 69, 71, 73
-- An etcd lock's lease was lost while the command ran (EX_TEMPFAIL: try again later).
local EX_LOCK_LOST = 75
local LOST_CHECK = 0.2 -- seconds between looks at a lock that can be lost

-- A command-line mistake: raised as this table, turned into a message and status 64.
local Usage = {}

local function usage(fmt, ...)
  error(setmetatable({ msg = string.format(fmt, ...) }, Usage), 0)
end

local function warn(cmd, fmt, ...)
  io.stderr:write("baton ", cmd, ": ", string.format(fmt, ...), "\n")
end

---------------------------------------------------------------------------------------------
-- Who holds a lock

-- baton.holder(path), when this build has it (it records pid, host, since, note, kind).
local function holder_function()
  if type(baton.holder) == "function" then return baton.holder end
  local ok, mod = pcall(require, "baton.holder")
  if ok then
    if type(mod) == "function" then return mod end
    if type(mod) == "table" and type(mod.holder) == "function" then return mod.holder end
  end
end

local function command_of(pid)
  local f = io.open("/proc/" .. tostring(pid) .. "/cmdline", "rb")
  if not f then return nil end
  local s = f:read("*a") or ""
  f:close()
  s = s:gsub("%z$", ""):gsub("%z", " ")
  if s == "" then return nil end
  return s
end

local function format_since(since)
  if type(since) == "number" then
    if since > 1e9 then return os.date("%Y-%m-%d %H:%M:%S", math.floor(since)) end
    return tostring(since)
  end
  return since and tostring(since) or nil
end

-- An etcd lock: what its holder's key says (host, pid, note, since, token).
local function inspect_etcd(r)
  local ok, info, msg = pcall(baton.holder, r.path)
  if not ok or (info == nil and msg) then
    r.error = tostring(ok and msg or info)
    return r
  end
  r.held = info ~= nil
  if info then
    r.kind, r.since, r.note, r.host, r.shared = "etcd", info.since, info.note, info.host, info.shared
    r.token = info.token
    if info.pid then
      r.pids[1] = info.pid
      r.commands[1] = "?"
    end
  end
  return r
end

-- Everything known about the lock at `path`: { path, exists, held, kind, shared, pids,
-- commands, since, note, host, error }. `probe` allows a try-lock when nothing else tells.
local function inspect(path, probe)
  local r = { path = path, pids = {}, commands = {}, exists = true }
  if path:match("^etcds?://") then return inspect_etcd(r) end
  -- Opened for reading and writing only to learn whether it exists (nothing is written): a
  -- FIFO opened for reading alone would wait for a writer.
  local f, _, errno = io.open(path, "r+b")
  if f then
    f:close()
  elseif errno == 2 then -- ENOENT: nothing to hold, and nothing is created to find out
    r.exists, r.held = false, false
    return r
  end
  local list, msg, code = core.flock_holders(path)
  if not list then
    if code ~= "ENOSYS" then
      r.error = msg
      return r
    end
    list = {}
  end
  for _, h in ipairs(list) do
    if h.pid > 0 then
      r.pids[#r.pids + 1] = h.pid
      r.commands[#r.commands + 1] = command_of(h.pid) or "?"
    end
    r.shared = h.shared
  end
  r.held = #list > 0
  local fn = holder_function()
  if fn then
    local ok, info = pcall(fn, path)
    if ok and type(info) == "table" then
      r.held = true
      r.kind, r.since, r.note, r.host = info.kind, info.since, info.note, info.host
      if info.shared ~= nil then r.shared = info.shared end
      local pids = type(info.pids) == "table" and info.pids or { info.pid }
      for _, pid in ipairs(pids) do
        local known = false
        for _, p in ipairs(r.pids) do known = known or p == pid end
        if not known and type(pid) == "number" then
          r.pids[#r.pids + 1] = pid
          r.commands[#r.commands + 1] = info.command or info.cmd or command_of(pid) or "?"
        end
      end
    end
  end
  if not r.held and probe then
    -- The kernel's table did not show it (e.g. not available here): one attempt tells.
    local l, msg, why = baton.try_lock(path, { timeout = 0, mkdir = false })
    if l then
      l:release()
    elseif why == "busy" then
      r.held = true
    else
      r.error = msg
    end
  end
  if r.held then r.kind = r.kind or "flock" end
  return r
end

-- "pid 123 (sleep 30), since 2024-01-01 12:00:00, note: nightly"
local function describe(r)
  local parts = {}
  for i, pid in ipairs(r.pids) do
    parts[#parts + 1] = "pid " .. pid .. " (" .. (r.commands[i] or "?") .. ")"
  end
  local s = #parts > 0 and table.concat(parts, ", ") or "another process"
  if r.host then s = s .. " on " .. r.host end
  if r.since then s = s .. ", since " .. format_since(r.since) end
  if r.note then s = s .. ", note: " .. r.note end
  return s
end

---------------------------------------------------------------------------------------------
-- Option parsing (getopt style: clustered short options, --long[=value], stops at the first
-- argument that is not an option)

local function parse(args, short, long, takes_value)
  local o, i = {}, 1
  while i <= #args do
    local a = args[i]
    if a == "--" then
      i = i + 1
      break
    elseif a:sub(1, 2) == "--" then
      local name, value = a:match("^%-%-([^=]+)=(.*)$")
      name = name or a:sub(3)
      local key = long[name]
      if not key then usage("unrecognized option '%s'", a) end
      if takes_value[key] then
        if value == nil then
          i = i + 1
          value = args[i]
          if value == nil then usage("option '--%s' requires an argument", name) end
        end
        o[key] = value
      else
        if value ~= nil then usage("option '--%s' doesn't allow an argument", name) end
        o[key] = true
        o["_last_" .. key] = i
      end
    elseif a:sub(1, 1) == "-" and #a > 1 then
      local j = 2
      while j <= #a do
        local ch = a:sub(j, j)
        local key = short[ch]
        if not key then usage("invalid option -- '%s'", ch) end
        if takes_value[key] then
          local value = a:sub(j + 1)
          if value == "" then
            i = i + 1
            value = args[i]
            if value == nil then usage("option requires an argument -- '%s'", ch) end
          end
          o[key] = value
          break
        end
        o[key] = true
        o["_last_" .. key] = i + j / 1000
        j = j + 1
      end
    else
      break
    end
    i = i + 1
  end
  return o, i
end

---------------------------------------------------------------------------------------------
-- baton lock

local LOCK_HELP = [[
usage: baton lock [options] FILE [--] COMMAND [ARGS...]
       baton lock [options] FILE -c 'shell command'

Run COMMAND holding a lock on FILE (created if missing; never truncated or removed): the same
lock as flock(1)'s on the same file.

Options:
  -x, -e, --exclusive     an exclusive lock (the default)
  -s, --shared            a shared lock
  -n, --nonblock          give up at once when the lock is held
  -w, --timeout SECONDS   give up after SECONDS (decimals allowed; 0 is -n)
  -E, --conflict-exit-code CODE
                          exit with CODE (0-255) when giving up (default 1)
      --soft              a soft lock: a marker file holding pid, host and start time
      --note TEXT         a note for `baton status` and for waiters to read
      --ttl SECONDS       etcd:// locks: the lease's length (default 10); COMMAND sees the
                          fencing token as BATON_TOKEN and is stopped if the lease is lost
      --inherit           leave without unlocking when COMMAND exits: the lock then lasts
                          while anything COMMAND left running holds its descriptor
  -o, --close             do not hand the lock's descriptor to COMMAND (see below)
  -v, --verbose           say who holds the lock while waiting, and how long it took
  -c, --command CMD       (after FILE) run CMD with $SHELL -c (/bin/sh when unset)
  -h, --help              show this help
  -V, --version           show the version

Exit status: COMMAND's (128 + n when killed by signal n); 1 or -E's CODE when -n or -w gave
up; 64 bad command line; 65 the lock failed; 66 FILE cannot be opened; 69 COMMAND cannot be
run; 71 out of resources; 73 FILE cannot be created (read-only or full file system);
75 an etcd lock's lease was lost while COMMAND ran (COMMAND was stopped); 128 + n when baton
itself was stopped by signal n (130 SIGINT, 143 SIGTERM, 129 SIGHUP, 131 SIGQUIT, ...):
COMMAND is stopped first.

COMMAND never runs without the lock. It gets a flock lock's descriptor (its number in
BATON_LOCK_FD), so the lock lasts while COMMAND and what it started run, even if baton is
killed (SIGKILL); when COMMAND exits, baton releases the lock, for them too. COMMAND is
killed if baton dies, and stopped (SIGTERM, then SIGKILL) with what it started if baton is
stopped by any signal that would end it. With -o, and for soft and etcd locks, which no
child can hold, a guard process (COMMAND's parent) kills what COMMAND started as well if
baton dies.
]]

local LOCK_SHORT = {
  s = "shared", x = "exclusive", e = "exclusive", n = "nonblock", w = "timeout",
  E = "conflict", o = "close", v = "verbose", h = "help", V = "version",
  u = "unlock", F = "nofork",
}
local LOCK_LONG = {
  shared = "shared", exclusive = "exclusive", nonblock = "nonblock", nonblocking = "nonblock",
  nb = "nonblock", timeout = "timeout", wait = "timeout", ["conflict-exit-code"] = "conflict",
  close = "close", verbose = "verbose", help = "help", version = "version", soft = "soft",
  note = "note", inherit = "inherit", unlock = "unlock", ["no-fork"] = "nofork",
  fcntl = "fcntl", ttl = "ttl",
}
local LOCK_VALUES = { timeout = true, conflict = true, note = true, ttl = true }

-- The command line, checked: options, the lock file, the command's argv.
local function lock_command_line(args)
  local o, i = parse(args, LOCK_SHORT, LOCK_LONG, LOCK_VALUES)
  if o.help or o.version then return o end
  for _, k in ipairs({ "unlock", "nofork", "fcntl" }) do
    if o[k] then
      usage("--%s is not supported by baton lock (use flock(1) for it)",
        k == "nofork" and "no-fork" or k)
    end
  end
  if o.timeout then
    local t = tonumber(o.timeout)
    if not t or t ~= t or t < 0 or t == math.huge then usage("invalid timeout value '%s'", o.timeout) end
    o.timeout = t
  end
  if o.ttl then
    local t = tonumber(o.ttl)
    if not t or not (t > 0) or t == math.huge then usage("invalid ttl value '%s'", o.ttl) end
    o.ttl = t
  end
  if o.conflict then
    local c = tonumber(o.conflict)
    if not c or c ~= math.floor(c) then usage("invalid exit code '%s'", o.conflict) end
    if c < 0 or c > 255 then usage("exit code out of range (expected 0 to 255)") end
    o.conflict = c
  end
  -- -s and -x: the last one given wins, as with flock(1)
  o.shared = o.shared and (not o.exclusive or o._last_shared > o._last_exclusive) or false
  if o.soft and o.inherit then usage("--inherit needs a flock lock; a soft lock has no descriptor") end
  if o.close and o.inherit then usage("--inherit and -o (--close) exclude each other") end
  local file = args[i]
  if file == nil then usage("requires a lock file and a command") end
  if file == "" then usage("the lock file name is empty") end
  local rest = { unpack(args, i + 1) }
  if rest[1] == "--" then table.remove(rest, 1) end
  local argv
  if rest[1] == "-c" or rest[1] == "--command" then
    if #rest ~= 2 then usage("%s requires exactly one command argument", rest[1]) end
    local shell = os.getenv("SHELL")
    if not shell or shell == "" then shell = "/bin/sh" end
    argv = { shell, "-c", rest[2] }
  else
    argv = rest
  end
  if #argv == 0 then
    usage("'%s' needs a command to run (flock(1)'s file-descriptor form is not supported)", file)
  end
  return o, file, argv
end

-- flock(1)'s mapping of a failure to take the lock.
local function lock_failure_status(msg, code)
  if code == "ENOMEM" or code == "EMFILE" or code == "ENFILE" or code == "ENOLCK" then
    return EX_OSERR
  end
  if msg:find("cannot lock lock file", 1, true) then return EX_DATAERR end
  if code == "EROFS" or code == "ENOSPC" then return EX_CANTCREAT end
  return EX_NOINPUT
end

local function version()
  print(baton._VERSION .. " (" .. _VERSION .. ")")
  return 0
end

-- Wait for the command; a lock that can be lost (an etcd lease) is watched meanwhile, and
-- losing it stops the command (TERM, then KILL) and ends with EX_LOCK_LOST.
local function wait_holding(p, l, file)
  if not l:lostfd() then return p:wait() end
  while true do
    local status, err, why = p:wait(LOST_CHECK)
    if status or why ~= "timeout" then return status, err end
    if not l:is_locked() then
      warn("lock", "lost the lock on '%s'; stopping %s", file, p.argv[1])
      p:terminate()
      return EX_LOCK_LOST
    end
  end
end

-- Failures to start the command that are a want of resources (EX_OSERR), not a command that
-- cannot be run.
local OSERR_CODES = { ENOMEM = true, EAGAIN = true, EMFILE = true, ENFILE = true }

-- Start the command and wait for it. Its status; nil, message, code when it could not be
-- started; false, message when waiting failed.
local function run_holding(spec, l, file)
  -- What the command starts becomes ours if the command dies first: a stop then reaches it
  -- too (bt_children_stop), before the lock is let go.
  core.adopt_orphans()
  local p, why, ecode = baton.spawn(spec)
  if not p then return nil, why, ecode end
  local status, err = wait_holding(p, l, file)
  if not status then return false, err end
  return status
end

-- Exit without unlocking: the kernel closes our descriptor, and the lock stays with the
-- processes that still hold a copy of it. With `status`, or for an interruption (`err`,
-- the error raised), 128 + the signal's number after saying so, as the host does.
local function leave_locked(status, err)
  if not status then
    local sig, name = core.interrupted()
    io.stderr:write("baton: interrupted by ", tostring(name or err), "\n")
    status = 128 + sig
  end
  io.stdout:flush()
  io.stderr:flush()
  os.exit(status)
end

local function lock(args)
  local o, file, argv = lock_command_line(args)
  if o.help then
    io.stdout:write(LOCK_HELP)
    return 0
  end
  if o.version then return version() end
  if o.soft and not pcall(require, "baton.kind.soft") then
    warn("lock", "--soft needs soft locks (baton.kind.soft), which this build of baton lacks")
    return EX_USAGE
  end
  local conflict = o.conflict or 1
  -- mkdir = false: as flock(1), a lock file in a missing folder is an error (66)
  local opts = { shared = o.shared, note = o.note, kind = o.soft and "soft" or nil, mkdir = false }
  if file:match("^etcds?://") then
    opts.mkdir, opts.ttl = nil, o.ttl
  elseif o.ttl then
    usage("--ttl is for etcd:// locks")
  end
  if o.nonblock or o.timeout == 0 then
    opts.timeout = 0
  else
    opts.timeout = o.timeout or -1
  end
  if o.verbose then
    opts.warn_after = 0
    opts.on_wait = function()
      warn("lock", "waiting for '%s', held by %s", file, describe(inspect(file, false)))
    end
  end
  local start = baton.now()
  local ok, l, msg, code = pcall(baton.try_lock, file, opts)
  if not ok then
    if core.interrupted() then error(l, 0) end
    usage("%s", tostring(l))
  end
  if not l then
    if code == "busy" or code == "timeout" then
      if o.verbose then
        warn("lock", code == "busy" and "failed to get the lock on '%s'" or
          "timed out waiting for the lock on '%s'", file)
      end
      return conflict
    end
    io.stderr:write(msg, "\n")
    return lock_failure_status(msg, code)
  end
  if o.verbose then
    warn("lock", "got the lock on '%s' after %.6f s; running %s", file, baton.now() - start, argv[1])
  end
  -- The command never runs without the lock, whatever ends baton. A flock lock's descriptor
  -- is handed to it (unless -o), so that the lock lasts as long as the command and what it
  -- started, and the command is killed should baton die, even of SIGKILL. A lock no child
  -- can hold (-o, soft, etcd) needs more: a guard kills what the command started too.
  local spec = { unpack(argv) }
  if l.token then spec.env = { BATON_TOKEN = tostring(l.token) } end -- etcd's fencing token
  local fd = l._h.fileno and l._h:fileno()
  if o.inherit and not fd then
    l:release()
    usage("--inherit needs a flock lock; this lock has no descriptor")
  end
  local shared_fd = fd and not o.close
  spec.die_with_parent = shared_fd and true or "tree"
  if shared_fd then
    spec.keep_fds = { fd }
    spec.env = spec.env or {}
    spec.env.BATON_LOCK_FD = fd
  end
  local ok, status, err, ecode = pcall(run_holding, spec, l, file)
  if not ok then
    -- Interrupted: the command has been stopped; processes it started may still hold the
    -- descriptor, and keep the lock until they end.
    if shared_fd and core.interrupted() then leave_locked(nil, status) end
    error(status, 0)
  end
  if status == nil then
    l:release()
    io.stderr:write((err:gsub("^baton%.spawn", "baton lock")), "\n")
    return OSERR_CODES[ecode] and EX_OSERR or EX_UNAVAILABLE
  end
  if status == false then
    io.stderr:write(tostring(err), "\n")
    status = EX_OSERR
  end
  -- --inherit: leave without unlocking: the lock lives on in whatever still holds the
  -- descriptor, as with flock(1). Otherwise the lock is released (for every holder of the
  -- descriptor) now that the command has ended.
  if o.inherit then leave_locked(status) end
  l:release()
  return status
end

---------------------------------------------------------------------------------------------
-- baton status

local STATUS_HELP = [[
usage: baton status [--json] FILE...

Say who holds each lock: kind, mode, pids and their commands, since when and the note (the
last two where the holder recorded them). Exit status: 0 when every lock is free, 1 when any
is held, 66 when one could not be inspected (and none is held), 64 for a bad command line.
]]

local function json_string(s)
  return '"' .. s:gsub('[%c"\\]', function(c)
    local named = { ['"'] = '\\"', ["\\"] = "\\\\", ["\n"] = "\\n", ["\r"] = "\\r", ["\t"] = "\\t" }
    return named[c] or string.format("\\u%04x", c:byte())
  end) .. '"'
end

local function json(v)
  local t = type(v)
  if v == nil then return "null" end
  if t == "boolean" then return tostring(v) end
  if t == "number" then
    if v ~= v or v == math.huge or v == -math.huge then return "null" end
    if v == math.floor(v) and math.abs(v) < 2^53 then return string.format("%d", v) end
    return string.format("%.17g", v)
  end
  if t == "string" then return json_string(v) end
  local parts = {}
  for i, x in ipairs(v) do parts[i] = json(x) end
  return "[" .. table.concat(parts, ",") .. "]"
end

local FIELDS = { "path", "held", "kind", "shared", "pids", "commands", "since", "note", "host",
  "error" }

local function json_object(r)
  local parts = {}
  for _, k in ipairs(FIELDS) do
    local v = r[k]
    if k == "shared" and not r.held then v = nil end
    parts[#parts + 1] = json_string(k) .. ":" .. json(v)
  end
  return "{" .. table.concat(parts, ",") .. "}"
end

local function table_rows(results)
  local rows = { { "LOCK", "STATE", "KIND", "MODE", "PID", "SINCE", "NOTE", "COMMAND" } }
  for _, r in ipairs(results) do
    local state = r.error and "error" or (r.held and "held" or "free")
    local pids = {}
    for i, p in ipairs(r.pids) do pids[i] = tostring(p) end
    if r.held then
      rows[#rows + 1] = { r.path, state, r.kind or "-", r.shared and "shared" or "exclusive",
        #pids > 0 and table.concat(pids, ",") or "?", format_since(r.since) or "-", r.note or "-",
        #r.commands > 0 and table.concat(r.commands, "; ") or "-" }
    else
      rows[#rows + 1] = { r.path, state, r.error or (r.exists and "" or "(no lock file)") }
    end
  end
  local width = {}
  for _, row in ipairs(rows) do
    for c = 1, #row - 1 do width[c] = math.max(width[c] or 0, #row[c]) end
  end
  for _, row in ipairs(rows) do
    local out = {}
    for c, cell in ipairs(row) do
      out[c] = c < #row and (cell .. string.rep(" ", width[c] - #cell)) or cell
    end
    io.stdout:write((table.concat(out, "  "):gsub("%s+$", "")), "\n")
  end
end

local function status(args)
  local o, i = parse(args, { h = "help", j = "json" }, { help = "help", json = "json" }, {})
  if o.help then
    io.stdout:write(STATUS_HELP)
    return 0
  end
  local files = { unpack(args, i) }
  if #files == 0 then usage("status needs at least one lock file") end
  local results, held, failed = {}, false, false
  for n, path in ipairs(files) do
    local r = inspect(path, true)
    results[n] = r
    held = held or r.held
    failed = failed or r.error ~= nil
  end
  if o.json then
    local objs = {}
    for n, r in ipairs(results) do objs[n] = json_object(r) end
    io.stdout:write("[", table.concat(objs, ",\n "), "]\n")
  else
    table_rows(results)
  end
  if held then return 1 end
  return failed and EX_NOINPUT or 0
end

---------------------------------------------------------------------------------------------

local commands = { lock = lock, status = status }

function M.main(name, args)
  local run = commands[name]
  if not run then
    warn(name, "unknown command")
    return EX_USAGE
  end
  local ok, result = pcall(run, args)
  if ok then return result end
  if getmetatable(result) == Usage then
    warn(name, "%s", result.msg)
    io.stderr:write("Try 'baton ", name, " --help' for more information.\n")
    return EX_USAGE
  end
  error(result, 0)
end

M.inspect = inspect

return M
