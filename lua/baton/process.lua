-- Child processes without a shell: baton.spawn and baton.run.
-- Child processes without a shell: baton.spawn and baton.run. Every wait here (for a
-- process, a pipe) goes through baton.coop, so inside baton.jobs it lets the other jobs run.
local core = require "baton.core"
local coop = require "baton.coop"

local now = core.now
local unpack = table.unpack or unpack
local HUGE = math.huge

local M = {}

-- Seconds between SIGTERM and SIGKILL when a process is stopped.
M.GRACE = 2

local function misuse(fname, msg, level)
  error(fname .. ": " .. msg, level + 1)
end

---------------------------------------------------------------------------------------------
-- Pipes

local Reader = {}
Reader.__index = Reader
local Writer = {}
Writer.__index = Writer

local function new_reader(fd)
  return setmetatable({ _fd = fd, _buf = "", _eof = false }, Reader)
end

local function new_writer(fd)
  return setmetatable({ _fd = fd }, Writer)
end

-- The next piece the pipe has, waiting for data: a string, false at the end (the pipe is
-- closed then), or nil, message, code.
local function next_piece(self)
  while true do
    local s, msg, code = self._fd:read()
    if s == "" then
      self._eof = true
      self._fd:close()
      return false
    elseif s then
      return s
    elseif code == "EAGAIN" then
      coop.poll({ self._fd:fileno() }, nil, -1)
    elseif code ~= "EINTR" then
      return nil, msg, code
    end
  end
end

-- Read what the pipe has into the buffer, waiting for data. true, false at the end, or nil,
-- message, code.
local function fill(self)
  local s, msg, code = next_piece(self)
  if not s then return s, msg, code end
  self._buf = self._buf .. s
  return true
end

local function take(self, n)
  local s = self._buf:sub(1, n)
  self._buf = self._buf:sub(n + 1)
  return s
end

-- reader:read([fmt]): "a" everything up to the end, "l" a line without its newline (the
-- default), "L" a line with it, or a number of bytes at most. nil at the end (except "a").
function Reader:read(fmt)
  fmt = fmt or "l"
  if type(fmt) == "string" then fmt = fmt:gsub("^%*", ""):sub(1, 1) end
  if self._closed then error("baton: reading from a closed pipe", 2) end
  if fmt == "a" then
    local parts = { self._buf }
    self._buf = ""
    while not self._eof do
      local s, msg, code = next_piece(self)
      if s then
        parts[#parts + 1] = s
      elseif s == nil then
        return nil, msg, code
      end
    end
    return table.concat(parts)
  elseif fmt == "l" or fmt == "L" then
    local from = 1
    while true do
      local nl = self._buf:find("\n", from, true)
      if nl then
        local line = take(self, nl)
        return fmt == "l" and line:sub(1, -2) or line
      end
      from = #self._buf + 1
      if self._eof then break end
      local ok, msg, code = fill(self)
      if ok == nil then return nil, msg, code end
    end
    if self._buf == "" then return nil end
    return take(self, #self._buf)
  elseif type(fmt) == "number" and fmt >= 0 then
    -- whatever is there, up to fmt bytes, waiting only while there is nothing
    if self._buf == "" and not self._eof and fmt > 0 then
      local ok, msg, code = fill(self)
      if ok == nil then return nil, msg, code end
    end
    if self._buf == "" and (fmt > 0 or self._eof) then return nil end
    return take(self, fmt)
  end
  error("baton: bad read format " .. tostring(fmt) .. " (use \"a\", \"l\", \"L\" or a number)", 2)
end

function Reader:lines(fmt)
  return function() return self:read(fmt) end
end

-- close(), fileno() and tostring, alike for both ends of a pipe (`name`).
local function pipe_end(class, name)
  function class:close()
    self._closed = true
    self._fd:close()
  end
  function class:fileno() return self._fd:fileno() end
  class.__tostring = function(self) return "baton.pipe(" .. name .. ", " .. tostring(self._fd) .. ")" end
end
pipe_end(Reader, "reader")

-- writer:write(...): write every string (or number), waiting while the pipe is full.
-- Returns the writer, or nil, message, code (EPIPE once the reader has gone).
function Writer:write(...)
  if self._closed then error("baton: writing to a closed pipe", 2) end
  for i = 1, select("#", ...) do
    local s = select(i, ...)
    if type(s) == "number" then s = tostring(s) end
    if type(s) ~= "string" then
      error("baton: writer:write expects strings, got " .. type(s) .. " (argument " .. i .. ")", 2)
    end
    local pos = 1
    while pos <= #s do
      local n, msg, code = self._fd:write(s, pos)
      if n then
        pos = pos + n
      elseif code == "EAGAIN" then
        coop.poll(nil, { self._fd:fileno() }, -1)
      elseif code ~= "EINTR" then
        return nil, msg, code
      end
    end
  end
  return self
end

pipe_end(Writer, "writer")

---------------------------------------------------------------------------------------------
-- Processes

local Process = {}
Process.__index = Process
M.Process = Process

local function finished(self, code, sig)
  self.code, self.signal = code, sig
  self._h:release()
  return code, sig
end

-- nil while it runs; code, signal once it ended; nil, message, code on a system error.
local function poll(self)
  if self.code then return self.code, self.signal end
  local code, sig, err = self._h:poll()
  if code then return finished(self, code, sig) end
  if sig then return nil, sig, err end
end

function Process:running()
  local code, err = poll(self)
  return code == nil and err == nil
end

-- p:wait([timeout]) -> exit status (128 + n when killed by signal n), signal number or nil;
-- nil, message, "timeout" when it still runs after `timeout` seconds.
function Process:wait(timeout)
  if timeout ~= nil and (type(timeout) ~= "number" or timeout ~= timeout) then
    error("process:wait: timeout must be a number of seconds, got "
      .. (timeout ~= timeout and "NaN" or type(timeout)), 2)
  end
  local deadline = (timeout and timeout >= 0) and now() + timeout or HUGE
  local pause = 0.001
  while true do
    local code, sig, err = poll(self)
    if code then return code, sig end
    if sig then return nil, sig, err end
    local t = now()
    if t >= deadline then
      return nil, string.format("baton: process %d (%s) still runs after %.3g s", self.pid,
        self.argv[1], timeout), "timeout"
    end
    local fd = self._h:pollfd()
    if fd then
      coop.poll({ fd }, nil, deadline == HUGE and -1 or deadline - t)
    else -- no pidfd on this system: look again, backing off to 50 ms
      coop.sleep(math.min(pause, deadline - t))
      pause = math.min(pause * 2, 0.05)
    end
  end
end

local function signal_number(sig, fname)
  if sig == nil then return 15 end
  if type(sig) == "number" and sig == math.floor(sig) and sig >= 0 and sig < 65 then return sig end
  if type(sig) == "string" then
    local n = core.signal_number(sig:upper())
    if n then return n end
  end
  error(string.format("%s: unknown signal %s", fname, tostring(sig)), 3)
end

-- p:kill([signal]) -> true, or nil, message, "ESRCH" once the process has ended. The signal is
-- a number or a name ("TERM", "SIGKILL"); SIGTERM by default. A process started with
-- group = true gets it in every process of its group.
function Process:kill(sig)
  local n = signal_number(sig, "process:kill")
  if self.code then
    return nil, string.format("baton: process %d has ended", self.pid), "ESRCH"
  end
  return self._h:signal(n)
end

-- Stop it: SIGTERM, then SIGKILL after `grace` seconds. Returns what wait returns.
function Process:terminate(grace)
  grace = grace or M.GRACE
  if poll(self) == nil and not self.code then
    self:kill("TERM")
    local code, sig = self:wait(grace)
    if code then return code, sig end
    self:kill("KILL")
  end
  return self:wait()
end

-- Close the pipes and stop the process if it still runs: what leaving a `<close>` scope does.
function Process:close()
  for _, k in ipairs({ "stdin", "stdout", "stderr" }) do
    if self[k] and not self[k]._closed then self[k]:close() end
  end
  if not self.code and self._h then self:terminate() end
end

Process.__close = Process.close

function Process:__tostring()
  local state = self.code and ("ended " .. self.code) or "running"
  return string.format("baton.process(%d %s, %s)", self.pid, self.argv[1], state)
end

-- Read every pipe to its end while feeding `input` to stdin, all at once so that no side
-- fills up and stalls the other. true, stdout, stderr, or nil, message, code.
local function collect(self, input, deadline)
  local readers, parts = {}, {}
  for _, k in ipairs({ "stdout", "stderr" }) do
    local r = self[k]
    if r and not r._closed then
      readers[#readers + 1] = r
      parts[r] = { r._buf }
      r._buf = ""
      if r._eof then readers[#readers] = nil end
    end
  end
  local w, pos = nil, 1
  if self.stdin and not self.stdin._closed then
    if input and #input > 0 then w = self.stdin else self.stdin:close() end
  end
  while #readers > 0 or w do
    local rfds, wfds = {}, {}
    for i, r in ipairs(readers) do rfds[i] = r._fd:fileno() end
    if w then wfds[1] = w._fd:fileno() end
    local t = now()
    if t >= deadline then return nil, "timeout", "timeout" end
    local ready = coop.poll(rfds, wfds, deadline == HUGE and -1 or deadline - t)
    if ready then
      for i = #readers, 1, -1 do
        local r = readers[i]
        if ready[rfds[i]] then
          local s, msg, code = r._fd:read()
          if s == "" then
            r._eof = true
            r._fd:close()
            table.remove(readers, i)
          elseif s then
            local p = parts[r]
            p[#p + 1] = s
          elseif code ~= "EAGAIN" and code ~= "EINTR" then
            return nil, msg, code
          end
        end
      end
      if w and ready[wfds[1]] then
        local n, msg, code = w._fd:write(input, pos)
        if n then
          pos = pos + n
          if pos > #input then w:close(); w = nil end
        elseif code == "EPIPE" then -- the child reads no more: the rest is not wanted
          w:close()
          w = nil
        elseif code ~= "EAGAIN" and code ~= "EINTR" then
          return nil, msg, code
        end
      end
    end
  end
  return true, self.stdout and table.concat(parts[self.stdout] or {}),
    self.stderr and table.concat(parts[self.stderr] or {})
end

-- p:communicate([input]) -> stdout, stderr (nil for streams that are not pipes), after
-- writing `input` to stdin, reading both to their end and waiting for the process.
function Process:communicate(input)
  if input ~= nil and type(input) ~= "string" then
    error("process:communicate: input must be a string, got " .. type(input), 2)
  end
  if input and not self.stdin then
    error("process:communicate: input given but stdin is not a pipe", 2)
  end
  local ok, out, err = collect(self, input, HUGE)
  if not ok then return nil, out, err end
  local code, msg, ecode = self:wait()
  if not code then return nil, msg, ecode end
  return out, err
end

---------------------------------------------------------------------------------------------
-- Starting

local SPAWN_OPTIONS = {
  env = true, cwd = true, stdin = true, stdout = true, stderr = true, shell = true,
  group = true, detach = true, keep_fds = true, die_with_parent = true,
}
local RUN_OPTIONS = { input = true, timeout = true }

local function check_string(fname, what, v, level)
  if type(v) ~= "string" then misuse(fname, what .. " must be a string, got " .. type(v), level + 1) end
  if v:find("\0", 1, true) then misuse(fname, what .. " contains a NUL byte", level + 1) end
end

local function check_command(spec, fname, level, extra)
  if type(spec) ~= "table" then
    misuse(fname, "expected a table such as { \"cmd\", \"arg\" }, got " .. type(spec), level + 1)
  end
  local n, count = 0, 0
  for k, v in pairs(spec) do
    if type(k) == "number" then
      if k < 1 or k ~= math.floor(k) then
        misuse(fname, "the command has a stray index " .. tostring(k), level + 1)
      end
      if type(v) ~= "string" and type(v) ~= "number" then
        misuse(fname, "argument " .. k .. " must be a string, got " .. type(v), level + 1)
      end
      n, count = math.max(n, k), count + 1
    elseif not (SPAWN_OPTIONS[k] or (extra and extra[k])) then
      misuse(fname, "unknown option '" .. tostring(k) .. "'", level + 1)
    end
  end
  if n == 0 then misuse(fname, "the command is empty", level + 1) end
  if count ~= n then misuse(fname, "the command has a gap (a nil argument)", level + 1) end
  local argv = {}
  for i = 1, n do
    argv[i] = tostring(spec[i])
    check_string(fname, "argument " .. i, argv[i], level + 1)
  end
  for _, k in ipairs({ "shell", "group", "detach" }) do
    if spec[k] ~= nil and type(spec[k]) ~= "boolean" then
      misuse(fname, "option '" .. k .. "' must be a boolean, got " .. type(spec[k]), level + 1)
    end
  end
  local die = spec.die_with_parent
  if die ~= nil and type(die) ~= "boolean" and die ~= "tree" then
    misuse(fname, "option 'die_with_parent' must be true, false or \"tree\", got " .. tostring(die), level + 1)
  end
  if spec.detach and die then
    misuse(fname, "options 'detach' and 'die_with_parent' exclude each other", level + 1)
  end
  if spec.shell then -- Windows: cmd.exe /d /s /c LINE (core.shell_command)
    argv = core.shell_command and core.shell_command(argv) or { "/bin/sh", "-c", argv[1], "sh", unpack(argv, 2) }
  end
  if spec.cwd ~= nil then check_string(fname, "option 'cwd'", spec.cwd, level + 1) end
  return argv
end

local function env_changes(env, fname, level)
  if env == nil then return nil end
  if type(env) ~= "table" then misuse(fname, "option 'env' must be a table, got " .. type(env), level + 1) end
  local changes = {}
  for k, v in pairs(env) do
    if type(k) ~= "string" or k == "" or k:find("[=%z]") then
      misuse(fname, "option 'env': bad variable name " .. string.format("%q", tostring(k)), level + 1)
    end
    if v == false then
      changes[#changes + 1] = k
    elseif type(v) == "string" or type(v) == "number" then
      v = tostring(v)
      if v:find("\0", 1, true) then misuse(fname, "option 'env': " .. k .. " contains a NUL byte", level + 1) end
      changes[#changes + 1] = k .. "=" .. v
    else
      misuse(fname, "option 'env': " .. k .. " must be a string, a number or false, got " .. type(v), level + 1)
    end
  end
  table.sort(changes)
  return changes
end

local function check_stream(fname, name, v, level)
  if v == nil or v == "inherit" or v == "pipe" or v == "null" then return end
  if name == "stderr" and v == "stdout" then return end
  if type(v) == "string" then
    if v == "" then misuse(fname, "option '" .. name .. "': the file name is empty", level + 1) end
    return check_string(fname, "option '" .. name .. "'", v, level + 1)
  end
  if type(v) == "table" and name ~= "stdin" and type(v.path) == "string" then
    for k in pairs(v) do
      if k ~= "path" and k ~= "append" then
        misuse(fname, "option '" .. name .. "': unknown field '" .. tostring(k) .. "'", level + 1)
      end
    end
    return
  end
  misuse(fname, "option '" .. name .. "' must be \"inherit\", \"pipe\", \"null\"" ..
    (name == "stderr" and ", \"stdout\"" or "") .. " or a file name, got " .. tostring(v), level + 1)
end

-- The descriptor the child gets for one stream, and the parent's end of a pipe.
local function open_stream(name, v)
  if v == nil or v == "inherit" then return nil end
  if name == "stderr" and v == "stdout" then return "stdout" end
  if v == "null" then return core.open_stream(core.null_device or "/dev/null", name == "stdin" and "r" or "w") end
  if v == "pipe" then
    local r, w, code = core.pipe()
    if not r then return nil, w, code end
    if name == "stdin" then
      w:nonblock()
      return r, new_writer(w)
    end
    r:nonblock()
    return w, new_reader(r)
  end
  if type(v) == "table" then return core.open_stream(v.path, v.append and "a" or "w") end
  return core.open_stream(v, name == "stdin" and "r" or "w")
end

local STREAMS = { "stdin", "stdout", "stderr" }

local function start(spec, fname, level, extra)
  local argv = check_command(spec, fname, level + 1, extra)
  local env = env_changes(spec.env, fname, level + 1)
  for _, name in ipairs(STREAMS) do check_stream(fname, name, spec[name], level + 1) end
  local keep = spec.keep_fds
  if keep ~= nil then
    if type(keep) ~= "table" then misuse(fname, "option 'keep_fds' must be a table of descriptors", level + 1) end
    for i, fd in ipairs(keep) do
      if type(fd) ~= "number" or fd < 0 or fd ~= math.floor(fd) then
        misuse(fname, "option 'keep_fds': entry " .. i .. " is not a descriptor number", level + 1)
      end
    end
  end
  local child, parent = {}, {}
  for i, name in ipairs(STREAMS) do
    local c, p, code = open_stream(name, spec[name])
    if c == nil and p ~= nil then
      for j = 1, i - 1 do
        if type(child[j]) == "userdata" then child[j]:close() end
        if parent[j] then parent[j]:close() end
      end
      return nil, (p:gsub("^baton%.spawn", fname)), code
    end
    child[i], parent[i] = c, p
  end
  local h, msg, code = core.spawn(argv, env, spec.cwd, child[1], child[2], child[3], keep,
    spec.group, spec.detach, spec.die_with_parent)
  for i = 1, 3 do
    if type(child[i]) == "userdata" then child[i]:close() end
  end
  if not h then
    for i = 1, 3 do if parent[i] then parent[i]:close() end end
    return nil, (msg:gsub("^baton%.spawn", fname)), code
  end
  return setmetatable({ pid = h:pid(), argv = argv, stdin = parent[1], stdout = parent[2],
    stderr = parent[3], _h = h }, Process)
end

-- baton.spawn{ "cmd", "arg", ..., env =, cwd =, stdin =, stdout =, stderr =, shell =,
-- group =, detach =, keep_fds =, die_with_parent = } -> process, or nil, message, code when
-- it cannot start.
function M.spawn(spec)
  local p, msg, code = start(spec, "baton.spawn", 2)
  return p, msg, code
end

-- baton.run{ ... , input =, timeout = } -> ok, exit status, stdout, stderr; or nil, message,
-- code when the command could not start or did not finish within `timeout` ("timeout").
-- stdout is captured unless given; stdin is a pipe fed with `input` when that is given.
function M.run(spec)
  local fname = "baton.run"
  if type(spec) ~= "table" then
    misuse(fname, "expected a table such as { \"cmd\", \"arg\" }, got " .. type(spec), 2)
  end
  local input, timeout = spec.input, spec.timeout
  if input ~= nil then
    if type(input) == "number" then input = tostring(input) end
    if type(input) ~= "string" then misuse(fname, "option 'input' must be a string, got " .. type(input), 2) end
    if spec.stdin ~= nil and spec.stdin ~= "pipe" then
      misuse(fname, "option 'input' needs stdin to be a pipe, not " .. tostring(spec.stdin), 2)
    end
  end
  if timeout ~= nil and (type(timeout) ~= "number" or timeout ~= timeout) then
    misuse(fname, "option 'timeout' must be a number of seconds, got "
      .. (timeout ~= timeout and "NaN" or type(timeout)), 2)
  end
  local s = {}
  for k, v in pairs(spec) do
    if not RUN_OPTIONS[k] then s[k] = v end
  end
  if s.stdout == nil then s.stdout = "pipe" end
  if input and s.stdin == nil then s.stdin = "pipe" end
  local p, msg, code = start(s, fname, 2, RUN_OPTIONS)
  if not p then return nil, msg, code end
  local deadline = (timeout and timeout >= 0) and now() + timeout or HUGE
  local ok, out, err = collect(p, input, deadline)
  local status
  if ok then
    local t = now()
    status = p:wait(deadline == HUGE and -1 or math.max(0, deadline - t))
  end
  if not status then
    local why = ok and "timeout" or err
    p:close()
    if why == "timeout" then
      return nil, string.format("baton.run: '%s' did not finish within %.3g s", p.argv[1], timeout),
        "timeout"
    end
    return nil, out, err
  end
  return status == 0, status, out, err
end

return M
