-- The baton executable's commands: `baton lock` (a better flock(1)) and `baton status`.
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
local kinds = require "baton.kind"

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

-- A library's message as the commands say it, after their own "baton lock: ": without the
-- library's prefix ("baton: ", "baton.try_lock: ", "baton.spawn: ").
local function plain(msg)
  return (tostring(msg):gsub("^baton[%w_%.]*: ", "", 1))
end

---------------------------------------------------------------------------------------------
-- Who holds a lock

-- Text from others (paths, notes, command lines, host names) as valid UTF-8 or single bytes:
-- calls emit(text, codepoint) for each well-formed character, emit(byte, nil) for each byte
-- that is not part of one.
local function each_char(s, emit)
  local i, n = 1, #s
  while i <= n do
    local c = s:byte(i)
    local len, cp, min
    if c < 0x80 then
      len, cp, min = 1, c, 0
    elseif c >= 0xc2 and c <= 0xdf then
      len, cp, min = 2, c - 0xc0, 0x80
    elseif c >= 0xe0 and c <= 0xef then
      len, cp, min = 3, c - 0xe0, 0x800
    elseif c >= 0xf0 and c <= 0xf4 then
      len, cp, min = 4, c - 0xf0, 0x10000
    end
    local ok = len ~= nil and i + len - 1 <= n
    if ok then
      for j = i + 1, i + len - 1 do
        local b = s:byte(j)
        if b < 0x80 or b > 0xbf then
          ok = false
          break
        end
        cp = cp * 64 + (b - 0x80)
      end
      ok = ok and cp >= min and cp <= 0x10ffff and not (cp >= 0xd800 and cp <= 0xdfff)
    end
    if ok then
      emit(s:sub(i, i + len - 1), cp)
      i = i + len
    else
      emit(s:sub(i, i), nil)
      i = i + 1
    end
  end
end

-- Characters that would act on a terminal or change how a line reads: C0 and C1 controls,
-- DEL, and the bidirectional overrides and isolates.
local function control(cp)
  return cp < 0x20 or (cp >= 0x7f and cp <= 0x9f) or (cp >= 0x202a and cp <= 0x202e)
    or (cp >= 0x2066 and cp <= 0x2069) or cp == 0x2028 or cp == 0x2029
end

local SHOWN = { [0x5c] = "\\\\", [0x0a] = "\\n", [0x0d] = "\\r", [0x09] = "\\t" }

-- `s` for a table row on a terminal: controls as visible escapes (\n, \t, \x1b, \u202e),
-- bytes that are not UTF-8 as \xff, a backslash doubled.
local function visible(s)
  s = tostring(s)
  if not s:find("[%c\\\128-\255]") then return s end
  local out = {}
  each_char(s, function(ch, cp)
    if cp == nil then
      out[#out + 1] = string.format("\\x%02x", ch:byte())
    elseif SHOWN[cp] then
      out[#out + 1] = SHOWN[cp]
    elseif cp < 0x80 and control(cp) then
      out[#out + 1] = string.format("\\x%02x", cp)
    elseif control(cp) then
      out[#out + 1] = string.format("\\u%04x", cp)
    else
      out[#out + 1] = ch
    end
  end)
  return table.concat(out)
end

local function format_since(since)
  if type(since) == "number" then
    if since > 1e9 then return os.date("%Y-%m-%d %H:%M:%S", math.floor(since)) end
    return tostring(since)
  end
  return since and tostring(since) or nil
end

-- What baton.holder said, into the result `r`. A command line is shown only for a holder on
-- this host: a pid from another host's marker names no process here.
local function add_holders(r, info)
  r.held = true
  r.kind, r.since, r.note, r.host = info.kind, info.since, info.note, info.host
  r.shared = info.shared and true or false
  r.mode = info.mode or (r.shared and "shared" or "exclusive")
  local here = core.hostname()
  for _, h in ipairs(type(info.holders) == "table" and info.holders or {}) do
    local command = (h.host == nil or h.host == here) and h.cmdline or nil
    r.holders[#r.holders + 1] = { pid = h.pid, host = h.host, command = command,
      mode = h.mode or (h.shared and "shared" or "exclusive"), sqlite = h.sqlite,
      start = h.start, ["end"] = h["end"], api = h.api,
      since = h.since, note = h.note }
    if h.pid then
      r.pids[#r.pids + 1] = h.pid
      r.commands[#r.commands + 1] = command or "?"
    end
  end
end

-- Everything known about the lock at `path`: { path, exists, type, held, kind, shared, mode,
-- pids, commands, holders, since, note, host, unknown, error }. `held` is true or false when
-- it can be told, else nil with `unknown` (or `error`) saying why. Nothing is locked, opened
-- for writing, or followed: the path is looked at with lstat, the holders in the kernel's
-- table (/proc/locks), and only a regular file is read (for a soft lock's marker).
local function inspect(path)
  local r = { path = path, pids = {}, commands = {}, holders = {}, exists = true }
  local fileless = kinds.fileless(path) -- a lock on a server, not in a file: only ask
  local st, msg
  if not fileless then
    st, msg = core.lstat(path)
    if not st then
      if msg then
        r.error = plain(msg)
      else -- nothing to hold, and nothing is created to find out
        r.exists, r.held = false, false
      end
      return r
    end
    r.type = st.type
    if st.type == "link" then
      -- baton never locks through a link; peers that follow it lock whatever it names
      r.unknown = "a symbolic link" .. (st.target and (" to " .. st.target) or "")
        .. ", not followed"
      return r
    end
  end
  local ok, info, why = pcall(baton.holder, path)
  if not ok then
    r.error = plain(info)
  elseif info then
    add_holders(r, info)
    r.strict, r.lease, r.expires = info.strict, info.lease, info.expires -- soft kinds
  elseif why and fileless then
    r.error = plain(why) -- the server could not be asked
  elseif why then
    r.unknown = why -- the kernel's table could not be read: no guess instead
  elseif st and st.type ~= "file" and st.type ~= "directory" then
    r.error = string.format("'%s' is a %s, not a lock file (not opened)", path, st.type)
  else
    r.held = false
  end
  return r
end

-- A counting semaphore at `path` (baton.semaphore: the files path.1 .. path.N, no file at
-- `path` itself): its slots' holders as one lock; nil when there is no slot file.
local MAX_SLOTS = 4096

local function inspect_slots(path)
  if path:find("://", 1, true) or not core.lstat(path .. ".1") then return nil end
  local r = { path = path, pids = {}, commands = {}, holders = {}, exists = true,
    kind = "semaphore", type = "semaphore", held = false, slots = 0 }
  for n = 1, MAX_SLOTS do
    local slot = path .. "." .. n
    if not core.lstat(slot) then break end
    r.slots = n
    local s = inspect(slot)
    if s.held then
      r.held = true
      r.since, r.note = r.since or s.since, r.note or s.note
      for _, h in ipairs(s.holders) do
        h.mode = "slot " .. n
        r.holders[#r.holders + 1] = h
      end
      for i, pid in ipairs(s.pids) do
        r.pids[#r.pids + 1] = pid
        r.commands[#r.commands + 1] = s.commands[i]
      end
    elseif s.held == nil and not r.error then
      r.error = s.error or s.unknown
    end
  end
  return r
end

-- "pid 123 (sleep 30), since 2024-01-01 12:00:00, note: nightly"
local function describe(r)
  local parts = {}
  for i, pid in ipairs(r.pids) do
    parts[#parts + 1] = "pid " .. pid .. " (" .. visible(r.commands[i] or "?") .. ")"
  end
  local s = #parts > 0 and table.concat(parts, ", ") or "another process"
  if r.host then s = s .. " on " .. visible(r.host) end
  if r.since then s = s .. ", since " .. format_since(r.since) end
  if r.note then s = s .. ", note: " .. visible(r.note) end
  return s
end

---------------------------------------------------------------------------------------------
-- Option parsing (getopt style: clustered short options, --long[=value], stops at the first
-- argument that is not an option)

-- The argument after args[i], the value of the option that ends there; `missing` (a usage
-- message about `name`) when there is none. Returns it and its index.
local function next_value(args, i, missing, name)
  local value = args[i + 1]
  if value == nil then usage(missing, name) end
  return value, i + 1
end

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
          value, i = next_value(args, i, "option '--%s' requires an argument", name)
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
            value, i = next_value(args, i, "option requires an argument -- '%s'", ch)
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
usage: baton lock [options] FILE|DIRECTORY [--] COMMAND [ARGS...]
       baton lock [options] FILE|DIRECTORY -c 'shell command'
       baton lock [options] NUMBER
       baton lock [options] --fd NUMBER [--] COMMAND [ARGS...] (or -c 'shell command')

Run COMMAND holding a lock on FILE (created if missing; never truncated or removed), or on a
folder (opened read-only): the same lock as flock(1)'s on the same file. With a descriptor
NUMBER alone, lock that descriptor of the calling shell (`exec 9>f; baton lock -n 9`): the
lock stays on the shell's descriptor after baton exits, until `baton lock -u 9` or its close.

Options:
  -x, -e, --exclusive     an exclusive lock (the default)
  -s, --shared            a shared lock
  -u, --unlock            remove the lock from descriptor NUMBER
  -n, --nb, --nonblock, --nonblocking
                          give up at once when the lock is held
  -w, --wait, --timeout SECONDS
                          give up after SECONDS (decimals allowed; 0 is -n)
  -E, --conflict-exit-code CODE
                          exit with CODE (0-255) when giving up (default 1)
  -o, --close             do not hand the lock's descriptor to COMMAND (see below)
  -F, --no-fork           run COMMAND in baton's place, holding the lock (not with -o)
  -c, --command CMD       (after FILE) run CMD with $SHELL -c (/bin/sh when unset)
      --fd NUMBER         lock the caller's descriptor NUMBER, then run COMMAND
      --fcntl             an open file description lock (F_OFD_SETLK) instead of flock(2)
      --start OFFSET      the byte range's start (implies --fcntl; default 0)
      --length N          the byte range's length (implies --fcntl; default 0: to the end)
      --slots N           take one of N slots of a counting semaphore (FILE.1 .. FILE.N,
                          baton.semaphore)
      --rw                the read (-s) or write (-x) side of a read/write lock on the
                          SQLite file FILE (Python filelock's ReadWriteLock, baton.rwlock)
                          or, with --soft, filelock's SoftReadWriteLock
      --heartbeat SECONDS (with --rw --soft) refresh the marker every SECONDS (default 30;
                          every peer must agree); COMMAND is stopped if the lock is lost
      --soft              a soft lock: a marker file holding pid, host and start time
      --lease SECONDS     (with --soft) a lease, as Python filelock's SoftFileLease: kept
                          fresh while held, taken by others once SECONDS stale; COMMAND is
                          stopped if the lease is lost
      --strict            (with --soft) a strict claim, as filelock's StrictSoftFileLock
      --note TEXT         a note for `baton status` and for waiters to read
      --ttl SECONDS       etcd:// locks: the lease's length (default 10); COMMAND sees the
                          fencing token as BATON_TOKEN and is stopped if the lease is lost
      --inherit           leave without unlocking when COMMAND exits: the lock then lasts
                          while anything COMMAND left running holds its descriptor
  -v, --verbose           say who holds the lock while waiting, and how long it took
  -h, --help              show this help
  -V, --version           show the version

Exit status: COMMAND's (128 + n when killed by signal n); 1 or -E's CODE when -n or -w gave
up; 64 bad command line; 65 the lock failed, or NUMBER is not an open descriptor; 66 FILE
cannot be opened; 69 COMMAND cannot be run; 71 out of resources; 73 FILE cannot be created
(read-only or full file system); 75 an etcd lock's lease, a soft lease or a soft read/write
lock was lost while COMMAND ran (COMMAND was stopped); 128 + n when baton itself was stopped
by signal n (130 SIGINT, 143 SIGTERM, 129 SIGHUP, 131 SIGQUIT, ...): COMMAND is stopped first.

COMMAND never runs without the lock. It gets a flock lock's descriptor (its number in
BATON_LOCK_FD), so the lock lasts while COMMAND and what it started run, even if baton is
killed (SIGKILL); when COMMAND exits, baton releases the lock, for them too. COMMAND is
killed if baton dies, and stopped (SIGTERM, then SIGKILL) with what it started if baton is
stopped by any signal that would end it. With -o, and for soft, etcd, --slots and --rw
locks, which no child can hold, a guard process (COMMAND's parent) kills what COMMAND
started as well if baton dies. With --fd, the lock is the caller's and stays after COMMAND.
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
  fcntl = "fcntl", ttl = "ttl", fd = "fd", start = "start", length = "length",
  slots = "slots", rw = "rw", command = "command", lease = "lease", strict = "strict",
  heartbeat = "heartbeat",
}
local LOCK_VALUES = { timeout = true, conflict = true, note = true, ttl = true, fd = true,
  start = true, length = true, slots = true, lease = true, heartbeat = true }

-- A descriptor number as flock(1) takes one: decimal digits only.
local function descriptor(s, what)
  local n = s:match("^%d+$") and tonumber(s)
  if not n or n > 0x7fffffff then usage("bad file descriptor: '%s'%s", s, what or "") end
  return n
end

local function byte_count(s, name)
  local n = s:match("^%d+$") and tonumber(s)
  if not n or n >= 2^63 then usage("invalid %s value: '%s'", name, s) end
  return n
end

-- The command line, checked: options, the lock file, the command's argv.
local function lock_command_line(args)
  local o, i = parse(args, LOCK_SHORT, LOCK_LONG, LOCK_VALUES)
  if o.help or o.version then return o end
  if o.nofork and o.close then usage("the --no-fork and --close options are incompatible") end
  if o.command then usage("-c (--command) comes after the lock file: FILE -c 'command'") end
  if o.slots then
    local n = o.slots:match("^%d+$") and tonumber(o.slots)
    if not n or n < 1 or n > 4096 then usage("invalid number of slots: '%s'", o.slots) end
    o.slots = n
  end
  local special = (o.slots and "--slots") or (o.rw and "--rw")
  if special then
    for _, k in ipairs({ "soft", "fcntl", "fd", "start", "length", "inherit", "nofork", "unlock" }) do
      -- --rw --soft is filelock's SoftReadWriteLock
      if o[k] and not (k == "soft" and o.rw) then
        usage("%s and --%s exclude each other", special, k == "nofork" and "no-fork" or k)
      end
    end
    if o.slots and o.rw then usage("--slots and --rw exclude each other") end
  end
  if o.start then o.start, o.fcntl = byte_count(o.start, "start"), true end
  if o.length then o.length, o.fcntl = byte_count(o.length, "length"), true end
  if o.timeout then
    local t = tonumber(o.timeout)
    if not t or t ~= t or t < 0 or t == math.huge then usage("invalid timeout value '%s'", o.timeout) end
    o.timeout = t
  end
  if o.heartbeat then
    if not (o.rw and o.soft) then usage("--heartbeat needs --rw --soft") end
    local t = tonumber(o.heartbeat)
    if not t or t ~= t or t <= 0 or t == math.huge then usage("invalid heartbeat value '%s'", o.heartbeat) end
    o.heartbeat = t
  end
  if o.ttl then
    local t = tonumber(o.ttl)
    if not t or t ~= t or t <= 0 or t == math.huge then usage("invalid ttl value '%s'", o.ttl) end
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
  if o.fd then
    -- --fd N COMMAND: lock the caller's descriptor N, then run COMMAND
    o.fd = descriptor(o.fd)
    i = i - 1
  else
    local file = args[i]
    if file == nil then usage("not enough arguments") end
    if args[i + 1] == nil then -- flock(1)'s form for a descriptor of the calling shell
      o.fd = descriptor(file)
      if o.nofork or o.close then usage("-F and -o need a command to run") end
      return o, nil, nil
    end
    if file == "" then usage("the lock file name is empty") end
  end
  local file = o.fd and ("fd " .. o.fd) or args[i]
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
  if #argv == 0 then usage("'%s' needs a command to run", file) end
  return o, file, argv
end

-- flock(1)'s mapping of a failure to take the lock.
local function lock_failure_status(msg, code)
  if code == "ENOMEM" or code == "EMFILE" or code == "ENFILE" or code == "ENOLCK" then
    return EX_OSERR
  end
  if msg:find("^baton: cannot lock '") and not msg:find("^baton: cannot lock 'etcds?://") then
    return EX_DATAERR
  end
  if code == "EROFS" or code == "ENOSPC" then return EX_CANTCREAT end
  return EX_NOINPUT
end

local function version()
  print(baton._VERSION .. " (" .. _VERSION .. ")")
  return 0
end

-- Wait for the command; a lock that can be lost (an etcd lease) is watched meanwhile, and
-- losing it stops the command (TERM, then KILL) and ends with EX_LOCK_LOST.
local function wait_holding(p, l, file, cmd)
  if not l:lostfd() then return p:wait() end
  while true do
    local status, err, why = p:wait(LOST_CHECK)
    if status or why ~= "timeout" then return status, err end
    if not l:is_locked() then
      warn(cmd or "lock", cmd and "lost leadership of '%s'; stopping %s" or
        "lost the lock on '%s'; stopping %s", file, p.argv[1])
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

-- --slots N (a slot of baton.semaphore) or --rw (a side of baton.rwlock): a guard, wrapped
-- as the lock object the rest of `baton lock` drives (no descriptor to hand on: a guard
-- process looks after the command, as for soft locks).
local function take_shared_kind(o, file, opts)
  local per = { timeout = opts.timeout, note = opts.note, warn_after = opts.warn_after,
    on_wait = opts.on_wait }
  local g, msg, code, h
  if o.slots then
    g, msg, code = baton.semaphore(file, o.slots, { mkdir = false }):try_acquire(per)
  else
    local rw = baton.rwlock(file, { mkdir = false, soft = o.soft or nil, heartbeat = o.heartbeat })
    if o.shared then g, msg, code = rw:try_read(per) else g, msg, code = rw:try_write(per) end
    h = rw._h
  end
  if not g then return nil, msg, code end
  -- a soft read/write lock can be lost (its marker evicted): then the command is stopped
  local lostfd = h and h.lostfd
  return { _h = {}, kind = o.slots and "semaphore" or "rw",
    lostfd = function() return lostfd and lostfd(h) end,
    is_locked = function() return g:is_held() end,
    release = function() if g:is_held() then g:release() end end }
end

-- -F: become the command, holding the lock through the descriptor it keeps.
local function exec_holding(l, argv)
  local fd = l._h.fileno and l._h:fileno()
  if not fd then
    l:release()
    usage("-F (--no-fork) needs a lock with a descriptor, not a %s lock", l.kind)
  end
  local _, msg, code = core.exec_holding(fd, argv)
  l:release()
  warn("lock", "%s", plain(msg))
  return code == "ENOMEM" and EX_OSERR or EX_UNAVAILABLE
end

-- -u: remove the lock from the caller's descriptor; with a file, nothing of ours holds it,
-- and the command runs (as flock(1), whose -u on a descriptor it just opened unlocks nothing).
local function unlock(o, file, argv)
  if not o.fd then -- opened (created if missing) as flock(1) opens it, and closed again
    local f, why = io.open(file, "a")
    if not f then f = io.open(file, "r") end
    if not f then
      warn("lock", "cannot open lock file '%s': %s", file, (why:gsub("^[^:]*: ", "")))
      return EX_NOINPUT
    end
    f:close()
  else
    local h, msg, code = core.fd_lock(file, o.fd, o.fcntl, o.shared, o.start, o.length)
    if h then h, msg, code = h:unlock() end
    if not h then
      warn("lock", "%s", code == "EBADF" and (o.fd .. ": Bad file descriptor") or plain(msg))
      return code == "EBADF" and EX_DATAERR or EX_NOINPUT
    end
  end
  if not argv then return 0 end
  local p, why, ecode = baton.spawn({ unpack(argv) })
  if not p then
    warn("lock", "%s", plain(why))
    return OSERR_CODES[ecode] and EX_OSERR or EX_UNAVAILABLE
  end
  return (p:wait())
end

local function lock(args)
  local o, file, argv = lock_command_line(args)
  if o.help then
    io.stdout:write(LOCK_HELP)
    return 0
  end
  if o.version then return version() end
  if (core.platform or {}).name == "windows" then -- its forms are taken in C (fastlock_windows.c)
    usage("this form of baton lock is not available on Windows yet; there it takes FILE "
      .. "[--] COMMAND [ARGS...] or FILE -c 'command', with -s, -x, -n, -w and -E")
  end
  if o.soft and not pcall(require, "baton.kind.soft") then
    warn("lock", "--soft needs soft locks (baton.kind.soft), which this build of baton lacks")
    return EX_USAGE
  end
  local conflict = o.conflict or 1
  if o.fd and not file then file = "fd " .. o.fd end
  local dir = not o.fd and not file:find("://", 1, true) and core.lstat(file)
  dir = dir and dir.type == "directory"
  if (o.fd or dir) and (o.soft or o.inherit) then
    usage("--%s needs a lock file", o.soft and "soft" or "inherit")
  end
  if o.fcntl and o.soft then usage("--fcntl locks are flock(2)'s kin; a soft lock has none") end
  -- mkdir = false: as flock(1), a lock file in a missing folder is an error (66)
  local opts = { shared = o.shared or nil, note = o.note, kind = o.soft and "soft" or nil, mkdir = false }
  if o.fcntl then opts.api, opts.start, opts.length = "fcntl", o.start, o.length end
  if (o.lease or o.strict) and not o.soft then usage("--%s needs --soft", o.lease and "lease" or "strict") end
  if o.lease then
    local t = tonumber(o.lease)
    if not t or t ~= t or t <= 0 or t == math.huge then usage("invalid lease value '%s'", o.lease) end
    opts.lease = t
  end
  opts.strict = o.strict or nil
  if file:match("^etcds?://") then
    if o.fcntl then usage("--fcntl is for lock files") end
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
  if o.unlock then return unlock(o, file, argv) end
  local start = baton.now()
  local ok, l, msg, code
  if o.fd or dir then
    -- a descriptor of the caller's, or a folder (opened read-only, as flock(1) opens one)
    opts.kind, opts.mkdir = nil, nil
    local target = o.fd
    if dir then
      local why
      target, why = io.open(file, "r")
      if not target then
        warn("lock", "cannot open lock file %s: %s", file, (why:gsub("^[^:]*: ", "")))
        return EX_NOINPUT
      end
    end
    ok, l, msg, code = pcall(baton.try_lock_file, target, opts)
    if ok and not l and code == "EBADF" then
      if o.fd then
        warn("lock", "%d: Bad file descriptor", o.fd)
      else -- a folder opens read-only, and an exclusive fcntl lock needs write access
        warn("lock", "cannot lock '%s': Bad file descriptor (a folder is opened read-only; "
          .. "an exclusive --fcntl lock needs it open for writing)", file)
      end
      return EX_DATAERR
    end
  elseif o.slots or o.rw then
    opts.kind = nil
    ok, l, msg, code = pcall(take_shared_kind, o, file, opts)
  else
    ok, l, msg, code = pcall(baton.try_lock, file, opts)
  end
  if not ok then
    if core.interrupted() then error(l, 0) end
    usage("%s", plain(l))
  end
  if not l then
    if code == "busy" or code == "timeout" then
      if o.verbose then
        warn("lock", code == "busy" and "failed to get the lock on '%s'" or
          "timed out waiting for the lock on '%s'", file)
      end
      return conflict
    end
    warn("lock", "%s", plain(msg))
    return lock_failure_status(msg, code)
  end
  if o.verbose then
    warn("lock", "got the lock on '%s' after %.6f s%s", file, baton.now() - start,
      argv and ("; running " .. argv[1]) or "")
  end
  if o.fd then l._h:keep() end -- the lock stays on the caller's open file description
  if not argv then return 0 end
  if o.nofork then return exec_holding(l, argv) end
  -- The command never runs without the lock, whatever ends baton. A flock lock's descriptor
  -- is handed to it (unless -o), so that the lock lasts as long as the command and what it
  -- started, and the command is killed should baton die, even of SIGKILL. A lock no child
  -- can hold (-o, soft, etcd) needs more: a guard kills what the command started too.
  local spec = { unpack(argv) }
  if l.token then spec.env = { BATON_TOKEN = tostring(l.token) } end -- etcd's fencing token
  if l._h.held_as then -- and what `etcdctl lock` exports: its key, the revision it was won at
    local key, rev = l._h:held_as()
    spec.env.ETCD_LOCK_KEY, spec.env.ETCD_LOCK_REV = key, rev and tostring(rev)
  end
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
  local ran, status, err, ecode = pcall(run_holding, spec, l, file)
  if not ran then
    -- Interrupted: the command has been stopped; processes it started may still hold the
    -- descriptor, and keep the lock until they end.
    if shared_fd and core.interrupted() then leave_locked(nil, status) end
    error(status, 0)
  end
  if status == nil then
    l:release()
    warn("lock", "%s", plain(err))
    return OSERR_CODES[ecode] and EX_OSERR or EX_UNAVAILABLE
  end
  if status == false then
    warn("lock", "%s", plain(err))
    status = EX_OSERR
  end
  -- --inherit: leave without unlocking: the lock lives on in whatever still holds the
  -- descriptor, as with flock(1). Otherwise the lock is released (for every holder of the
  -- descriptor) now that the command has ended.
  if o.inherit then leave_locked(status) end
  if not o.fd then l:release() end
  return status
end

---------------------------------------------------------------------------------------------
-- baton status

local STATUS_HELP = [[
usage: baton status [--json] FILE...

Say who holds each lock: kind, mode, pids and their commands, since when and the note (the
last two where the holder recorded them). Nothing is locked, created, followed or written.
A state is "free", "held", "unknown" (it cannot be told, e.g. a symbolic link or no
/proc/locks) or "error". Exit status: 0 when every lock is free, 1 when any is held, 66 when
one is unknown or could not be inspected (and none is held), 64 for a bad command line.
]]

-- `s` as a JSON string: valid JSON whatever the bytes. Controls (C0, DEL, C1) and the line
-- and paragraph separators are escaped; a byte that is not part of well-formed UTF-8 becomes
-- the code point of its value (\u00ff for the byte 0xff).
local JSON_NAMED = { [0x22] = '\\"', [0x5c] = "\\\\", [0x0a] = "\\n", [0x0d] = "\\r",
  [0x09] = "\\t", [0x08] = "\\b", [0x0c] = "\\f" }

local function json_string(s)
  local out = { '"' }
  each_char(s, function(ch, cp)
    if cp == nil then
      out[#out + 1] = string.format("\\u%04x", ch:byte())
    elseif JSON_NAMED[cp] then
      out[#out + 1] = JSON_NAMED[cp]
    elseif cp < 0x20 or (cp >= 0x7f and cp <= 0x9f) or cp == 0x2028 or cp == 0x2029 then
      out[#out + 1] = string.format("\\u%04x", cp)
    else
      out[#out + 1] = ch
    end
  end)
  out[#out + 1] = '"'
  return table.concat(out)
end

local json

-- An object with its keys in the order given (absent values as null).
local function json_fields(t, keys)
  local parts = {}
  for i, k in ipairs(keys) do parts[i] = json_string(k) .. ":" .. json(t[k]) end
  return "{" .. table.concat(parts, ",") .. "}"
end

local HOLDER_FIELDS = { "pid", "host", "mode", "sqlite", "command", "since", "note", "api",
  "start", "end" }

json = function(v)
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
  for i, x in ipairs(v) do
    parts[i] = type(x) == "table" and json_fields(x, HOLDER_FIELDS) or json(x)
  end
  return "[" .. table.concat(parts, ",") .. "]"
end

local FIELDS = { "path", "held", "kind", "shared", "pids", "commands", "since", "note", "host",
  "error", "state", "mode", "holders", "type", "strict", "lease", "expires" }

local function state_of(r)
  if r.held then return "held" end
  if r.held == false then return "free" end
  return r.error and "error" or "unknown"
end

local function json_object(r)
  local o = {}
  for _, k in ipairs(FIELDS) do o[k] = r[k] end
  o.state = state_of(r)
  o.error = r.error or r.unknown
  if not r.held then o.shared, o.mode = nil, nil end
  return json_fields(o, FIELDS)
end

-- MODE of a held lock: flock's "shared"/"exclusive"; a read/write lock's "read" or "write"
-- ("read+write" with readers beside a writer that waits for them or reserved the lock).
local function mode_column(r)
  if r.strict or r.lease then return r.strict and "strict" or string.format("lease %gs", r.lease) end
  if r.kind == "semaphore" then -- the slots held: "slot 1", "slots 1,3"
    local held = {}
    for i, h in ipairs(r.holders) do held[i] = h.mode:match("%d+") end
    return (#held == 1 and "slot " or "slots ") .. table.concat(held, ",")
  end
  if r.kind ~= "rw" then
    -- open file description locks with their ranges, as lslocks shows them: "exclusive 3-6"
    local ranges, seen = {}, {}
    for _, h in ipairs(r.holders) do
      local range = h.api == "fcntl" and string.format("%d-%s", h.start or 0,
        h["end"] and string.format("%d", h["end"]) or "EOF")
      if range and not seen[range] then
        seen[range] = true
        ranges[#ranges + 1] = range
      end
    end
    local mode = r.shared and "shared" or "exclusive"
    return #ranges > 0 and (mode .. " " .. table.concat(ranges, ",")) or mode
  end
  local reads, writes = false, false
  for _, h in ipairs(r.holders) do
    if h.mode == "write" then writes = true else reads = true end
  end
  if reads and writes then return "read+write" end
  return writes and "write" or "read"
end

local function table_rows(results)
  local rows = { { "LOCK", "STATE", "KIND", "MODE", "PID", "SINCE", "NOTE", "COMMAND" } }
  for _, r in ipairs(results) do
    local state = state_of(r)
    local pids, commands = {}, {}
    for i, p in ipairs(r.pids) do pids[i] = tostring(p) end
    for i, c in ipairs(r.commands) do commands[i] = visible(c) end
    local path = visible(r.path)
    if r.held then
      local who = #pids > 0 and table.concat(pids, ",") or "?"
      if r.host and r.host ~= core.hostname() then who = who .. "@" .. visible(r.host) end
      rows[#rows + 1] = { path, state, visible(r.kind or "-"), mode_column(r), who,
        format_since(r.since) or "-", r.note and visible(r.note) or "-",
        #commands > 0 and table.concat(commands, "; ") or "-" }
    elseif r.held == false then
      local what = not r.exists and "(no lock file)" or r.type == "directory" and "(directory)"
        or ""
      rows[#rows + 1] = { path, state, what }
    else
      rows[#rows + 1] = { path, state, visible(r.error or r.unknown or "") }
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
  if #files == 0 then usage("needs at least one lock file") end
  for _, path in ipairs(files) do
    if path == "" then usage("the lock file name is empty") end
    if path:find("\0", 1, true) then
      usage("the lock file name '%s' contains a NUL byte", visible(path))
    end
  end
  local results, held, unsure = {}, false, false
  for n, path in ipairs(files) do
    local r = inspect(path)
    if r.exists == false then r = inspect_slots(path) or r end
    results[n] = r
    held = held or r.held == true
    unsure = unsure or r.held == nil
  end
  if o.json then
    local objs = {}
    for n, r in ipairs(results) do objs[n] = json_object(r) end
    io.stdout:write("[", table.concat(objs, ",\n "), "]\n")
  else
    table_rows(results)
  end
  if held then return 1 end
  return unsure and EX_NOINPUT or 0
end

---------------------------------------------------------------------------------------------
-- baton elect

local ELECT_HELP = [[
usage: baton elect [options] NAME VALUE [--] COMMAND [ARGS...]

Campaign in the etcd election NAME (etcd://HOST:PORT/NAME, etcds://... for TLS, or a bare
NAME on the endpoints of ETCDCTL_ENDPOINTS) with VALUE, the same election as `etcdctl elect
NAME VALUE`, and run COMMAND while leader. COMMAND sees BATON_TOKEN (the leader's fencing
token) and ETCD_ELECT_KEY (its key); it is stopped (TERM, then KILL) if leadership is lost.
Leaving resigns. Certificates and credentials come from the ETCDCTL_ variables.

Options:
  -n, --nonblock          give up at once when another candidate leads
  -w, --timeout SECONDS   give up after SECONDS
  -E, --conflict-exit-code CODE
                          exit with CODE (0-255) when giving up (default 1)
      --ttl SECONDS       the lease's length (default 10)
  -v, --verbose           say when leadership was won
  -h, --help              show this help

Exit status: COMMAND's (128 + n when killed by signal n); 1 or -E's CODE when -n or -w gave
up; 64 bad command line; 66 etcd cannot be reached or refused; 69 COMMAND cannot be run;
75 leadership was lost while COMMAND ran (COMMAND was stopped).
]]

local function elect_command_line(args)
  local o, i = parse(args, { n = "nonblock", w = "timeout", E = "conflict", v = "verbose",
    h = "help" }, { nonblock = "nonblock", timeout = "timeout", ["conflict-exit-code"] = "conflict",
    ttl = "ttl", verbose = "verbose", help = "help" }, { timeout = true, conflict = true, ttl = true })
  if o.help then return o end
  for _, k in ipairs({ "timeout", "ttl" }) do
    if o[k] then
      local t = tonumber(o[k])
      if not t or t ~= t or t < 0 or t == math.huge or (k == "ttl" and t == 0) then
        usage("invalid %s value '%s'", k, o[k])
      end
      o[k] = t
    end
  end
  if o.conflict then
    local c = tonumber(o.conflict)
    if not c or c ~= math.floor(c) or c < 0 or c > 255 then usage("invalid exit code '%s'", o.conflict) end
    o.conflict = c
  end
  local name, value = args[i], args[i + 1]
  if name == nil or value == nil then usage("requires an election NAME, a VALUE and a command") end
  if name == "" then usage("the election name is empty") end
  local argv = { unpack(args, i + 2) }
  if argv[1] == "--" then table.remove(argv, 1) end
  if #argv == 0 then usage("needs a command to run while leader") end
  if not name:match("^etcds?://") then name = "etcd:///" .. name end
  return o, name, value, argv
end

local function elect(args)
  local o, name, value, argv = elect_command_line(args)
  if o.help then
    io.stdout:write(ELECT_HELP)
    return 0
  end
  local opts = { ttl = o.ttl, timeout = (o.nonblock or o.timeout == 0) and 0 or o.timeout or -1 }
  local ok, ld, msg, code = pcall(require("baton.elect").campaign, name, value, opts, "baton.elect")
  if not ok then
    if core.interrupted() then error(ld, 0) end
    usage("%s", plain(ld))
  end
  if not ld then
    if code == "busy" or code == "timeout" then return o.conflict or 1 end
    warn("elect", "%s", plain(msg))
    return code == "ENOMEM" and EX_OSERR or EX_NOINPUT
  end
  if o.verbose then warn("elect", "leader of '%s' (token %d); running %s", name, ld.token, argv[1]) end
  local spec = { unpack(argv) }
  spec.env = { BATON_TOKEN = tostring(ld.token), ETCD_ELECT_KEY = ld.key }
  local p, why, ecode = baton.spawn(spec)
  if not p then
    ld:resign()
    warn("elect", "%s", plain(why))
    return OSERR_CODES[ecode] and EX_OSERR or EX_UNAVAILABLE
  end
  local exit, err = wait_holding(p, ld._l, name, "elect")
  if not exit then
    warn("elect", "%s", plain(err))
    exit = EX_OSERR
  end
  ld:resign()
  return exit
end

---------------------------------------------------------------------------------------------

-- baton break FILE: an operator's break of a soft lock (filelock's force_break), saying whose
-- it was. 0 when broken, 1 when there was nothing to break or it was refused.
local function break_command(args)
  local o, i = parse(args, { h = "help" }, { help = "help" }, {})
  if o.help then
    io.stdout:write("usage: baton break FILE\n\nRemove the soft lock's marker (or a strict "
      .. "lock's claims) at FILE whoever holds it, saying\nwhose it was. Its holder is not told "
      .. "and may still be at work. flock locks are refused.\n")
    return 0
  end
  local file = args[i]
  if file == nil or args[i + 1] ~= nil then usage("needs exactly one lock file") end
  local info, msg = baton.break_lock(file)
  if not info then
    warn("break", "%s", plain(msg))
    return 1
  end
  io.stdout:write(string.format("broke %s '%s', held by pid %s on %s since %s\n",
    info.strict and "the strict soft lock" or info.lease and "the soft lease" or "the soft lock",
    visible(file), tostring(info.pid or info.claimed_pid or "?"), visible(info.host or "?"),
    format_since(info.since) or "?"))
  return 0
end

local commands = { lock = lock, status = status, elect = elect, ["break"] = break_command }

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
  local missing = type(result) == "string" and result:match("([^:]* is not available on Windows yet)")
  if missing then -- a part of baton not built for this platform: said plainly
    warn(name, "%s", missing:gsub("^%s+", ""))
    return EX_UNAVAILABLE
  end
  error(result, 0)
end

M.inspect = inspect

return M
