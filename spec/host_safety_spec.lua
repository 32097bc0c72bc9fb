-- `baton lock` must never let its command run without the lock, however baton itself ends:
-- a signal it catches (any whose default action would end it), or SIGKILL (the OOM killer,
-- `timeout -s KILL`). Real processes throughout: the command's process tree is watched in
-- /proc while flock(1) and `baton lock -n` try to take the lock beside it. Also: the
-- status when descriptors run out, and baton.spawn's die_with_parent.
local baton = require "baton"
local H = require "helpers"

local unpack = table.unpack or unpack
local B = require "helpers.bin"
local BIN, bt = B.BIN, B.run

-- Signals this process may have inherited as ignored are put back to their defaults.
local DEFAULTS = "--default-signal=INT,TERM,HUP,QUIT,USR1,USR2,ALRM,PIPE"


local function flock(args)
  local ok, code = baton.run{ "flock", stderr = "null", unpack(args) }
  assert(ok ~= nil, code)
  return code
end

local function start(args)
  local spec = { "env", DEFAULTS, BIN, unpack(args) }
  spec.stderr = "pipe"
  return assert(baton.spawn(spec))
end

local function children(pid)
  local out = {}
  local f = io.popen("cat /proc/" .. pid .. "/task/*/children 2>/dev/null")
  for c in f:read("*a"):gmatch("%d+") do out[#out + 1] = tonumber(c) end
  f:close()
  return out
end

-- Every process below pid.
local function tree(pid)
  local all, todo = {}, { pid }
  while #todo > 0 do
    for _, c in ipairs(children(table.remove(todo))) do
      all[#all + 1] = c
      todo[#todo + 1] = c
    end
  end
  return all
end

local function comm(pid) return (H.read("/proc/" .. pid .. "/comm") or ""):gsub("%s+$", "") end

-- The command's processes once its `sleep` runs.
local function command_tree(p)
  local found
  H.wait_for(function()
    found = tree(p.pid)
    for _, pid in ipairs(found) do if comm(pid) == "sleep" then return true end end
  end, 10, "the command's sleep")
  return found
end

local function running(pids)
  local out = {}
  for _, pid in ipairs(pids) do if H.alive(pid) then out[#out + 1] = pid end end
  return out
end

-- Does a peer get the lock now? flock(1) and baton lock -n for a flock lock, baton lock -n
-- --soft for a soft one.
local function peer_gets(path, soft)
  if soft then return (bt({ "lock", "-n", "--soft", path, "true" })) == 0 end
  return flock({ "-n", path, "true" }) == 0 or (bt({ "lock", "-n", path, "true" })) == 0
end

-- After `sig` reached baton: a peer must never get the lock while a process of the command
-- still runs (one that is being killed gets a moment to be gone). Returns baton's status and
-- what of the command still runs (holding the lock) when baton has ended.
local function watch(p, cmd, path, soft, sig)
  p:kill(sig)
  local deadline = baton.now() + 10
  local status
  while baton.now() < deadline do
    if peer_gets(path, soft) then
      local ok = pcall(H.wait_for, function() return #running(cmd) == 0 end, 1)
      assert.is_true(ok, string.format("after SIG%s a peer got the lock while the command "
        .. "ran (pids %s)", sig, table.concat(running(cmd), " ")))
    end
    status = status or p:wait(0)
    if status then
      -- one more look once baton has ended, after a moment for the kernel to finish
      baton.sleep(0.05)
      if peer_gets(path, soft) then
        assert.same({}, running(cmd), "a peer got the lock while the command ran")
      end
      return status, running(cmd)
    end
    baton.sleep(0.01)
  end
  error("baton lock did not end after SIG" .. sig)
end

describe("baton lock", function()
  local dir
  before_each(function() dir = H.tmpdir() end)
  after_each(H.cleanup)

  local CAUGHT = { QUIT = 3, USR1 = 10, ALRM = 14, PIPE = 13 }
  for _, sig in ipairs({ "QUIT", "USR1", "ALRM", "PIPE" }) do
    for _, soft in ipairs({ false, true }) do
      local what = soft and "--soft" or "flock"
      -- A flock command's children come to baton (a child subreaper) when the command is
      -- stopped: Linux only; elsewhere they keep the inherited descriptor, and the lock, until
      -- they end. The soft lock's guard stops the command's whole process group everywhere.
      it(what .. ", SIG" .. sig .. " to baton: the command and its children are stopped before "
        .. "the lock is let go; status 128 + n" .. (soft and "" or " #linux"), function()
        if soft and not pcall(require, "baton.kind.soft") then return pending("no soft locks") end
        local path = dir .. "/the.lock"
        local args = { "lock", path, "sh", "-c", "sleep 30" }
        if soft then table.insert(args, 2, "--soft") end
        local p = start(args)
        local cmd = command_tree(p)
        assert.is_false(peer_gets(path, soft))
        local status, left = watch(p, cmd, path, soft, sig)
        assert.equal(128 + CAUGHT[sig], status)
        assert.matches("interrupted by SIG" .. sig, p.stderr:read("a"), 1, true)
        assert.same({}, left)
        assert.is_true(peer_gets(path, soft))
      end)
    end
  end

  it("flock, SIGKILL to baton: the kernel kills the command; what it started keeps the lock "
    .. "until it ends", function()
    local path = dir .. "/the.lock"
    local p = start({ "lock", path, "sh", "-c", "sleep 30; true" })
    local cmd = command_tree(p)
    assert.equal(2, #cmd) -- sh and its sleep
    local status = watch(p, cmd, path, false, "KILL")
    assert.equal(128 + 9, status)
    -- sh is killed (die_with_parent); its sleep holds the inherited descriptor
    H.wait_for(function() return not H.alive(cmd[1]) end, 5, "the command to be killed")
    assert.same({ cmd[2] }, running(cmd))
    for _ = 1, 5 do
      assert.is_false(peer_gets(path, false))
      baton.sleep(0.05)
    end
    H.kill(cmd[2], "KILL")
    H.wait_for(function() return not H.alive(cmd[2]) end, 5, "sleep to end")
    assert.is_true(peer_gets(path, false))
  end)

  for _, opt in ipairs({ "--soft", "-o" }) do
    it(opt .. ", SIGKILL to baton: the command and what it started are killed before a peer "
      .. "can take the lock", function()
      local soft = opt == "--soft"
      if soft and not pcall(require, "baton.kind.soft") then return pending("no soft locks") end
      local path = dir .. "/kill.lock"
      local p = start({ "lock", opt, path, "sh", "-c", "sleep 30; true" })
      local cmd = command_tree(p)
      assert.equal(3, #cmd) -- the guard, sh and its sleep
      assert.is_false(peer_gets(path, soft))
      local status = watch(p, cmd, path, soft, "KILL")
      assert.equal(128 + 9, status)
      H.wait_for(function() return #running(cmd) == 0 end, 5, "the command's processes to end")
      assert.is_true(peer_gets(path, soft))
    end)
  end

  it("hands a flock lock's descriptor to the command, except with -o; releases it when the "
    .. "command ends, for what it left running too", function()
    local path = dir .. "/fd.lock"
    local code, out = bt({ "lock", path, "sh", "-c", 'echo "fd=$BATON_LOCK_FD"; ls -l /proc/self/fd/' })
    assert.equal(0, code)
    local fd = out:match("fd=(%d+)")
    assert.truthy(fd, out)
    assert.truthy(out:find(fd .. " -> " .. path, 1, true), out)
    code, out = bt({ "lock", "-o", path, "sh", "-c", 'echo "fd=$BATON_LOCK_FD"; ls -l /proc/self/fd/' })
    assert.equal(0, code)
    assert.equal("fd=", out:match("fd=%d*"))
    assert.is_falsy(out:find(path, 1, true))
    code, out = bt({ "lock", path, "sh", "-c", "sleep 30 >/dev/null 2>&1 & echo $!" })
    assert.equal(0, code)
    local left = tonumber(out)
    assert.is_true(H.alive(left))
    assert.equal(0, flock({ "-n", path, "true" }))
    H.kill(left, "KILL")
    code = bt({ "lock", "-o", "--inherit", path, "true" })
    assert.equal(64, code)
  end)

  it("exits 71 (EX_OSERR) when descriptors run out", function()
    local path = dir .. "/fds.lock"
    local seen = {}
    for n = 4, 8 do
      local ok, code, _, err = baton.run{ "prlimit", "--nofile=" .. n, BIN, "lock", path, "true",
        stderr = "pipe", timeout = 30 }
      assert(ok ~= nil, code)
      assert.is_true(code == 0 or code == 71, n .. " descriptors: status " .. code .. ": " .. err)
      if code == 71 then
        assert.matches("Too many open files", err, 1, true)
        seen[#seen + 1] = n
      end
    end
    assert.is_true(#seen > 0, "no limit made baton lock run out of descriptors")
  end)
end)

describe("baton.spawn{ die_with_parent = true | \"tree\" }", function()
  after_each(H.cleanup)

  it("has the kernel kill the child when its parent dies, even of SIGKILL", function()
    local script = H.script([[
      local baton = require "baton"
      local tied = assert(baton.spawn{ "sleep", "30", die_with_parent = true })
      local free = assert(baton.spawn{ "sleep", "30" })
      io.write(tied.pid, " ", free.pid, "\n")
      io.stdout:flush()
      baton.sleep(30)
    ]])
    local parent = assert(baton.spawn{ H.LUA, script, stdout = "pipe" })
    local tied, free = parent.stdout:read("l"):match("(%d+) (%d+)")
    tied, free = tonumber(tied), tonumber(free)
    parent:kill("KILL")
    parent:wait(10)
    H.wait_for(function() return not H.alive(tied) end, 5, "the tied child to be killed")
    baton.sleep(0.1)
    assert.is_true(H.alive(free))
    H.kill(free, "KILL")
  end)

  it("\"tree\": kills what the child started too", function()
    local script = H.script([[
      local baton = require "baton"
      local tied = assert(baton.spawn{ "sh", "-c", "sleep 30; true", die_with_parent = "tree" })
      local free = assert(baton.spawn{ "sh", "-c", "sleep 30; true" })
      io.write(tied.pid, " ", free.pid, "\n")
      io.stdout:flush()
      baton.sleep(30)
    ]])
    local parent = assert(baton.spawn{ H.LUA, script, stdout = "pipe" })
    local tied, free = parent.stdout:read("l"):match("(%d+) (%d+)")
    local function below(pid, n)
      local found
      H.wait_for(function() found = tree(tonumber(pid)); return #found >= n end, 5, "sleep")
      found[#found + 1] = tonumber(pid)
      return found
    end
    local tied_tree = below(tied, 2) -- the guard, sh, sleep
    local free_tree = below(free, 1) -- sh, sleep
    parent:kill("KILL")
    parent:wait(10)
    H.wait_for(function() return #running(tied_tree) == 0 end, 5, "the tied tree to be killed")
    baton.sleep(0.1)
    assert.equal(#free_tree, #running(free_tree))
    for _, pid in ipairs(free_tree) do H.kill(pid, "KILL") end
  end)

  it("\"tree\" is transparent: the command's status, its output, signals sent to it", function()
    local ok, code, out, err = baton.run{ "sh", "-c", "echo out; echo err >&2; exit 3",
      stderr = "pipe", die_with_parent = "tree" }
    assert.is_false(ok)
    assert.equal(3, code)
    assert.equal("out\n", out)
    assert.equal("err\n", err)
    local p = assert(baton.spawn{ "sh", "-c", "kill -USR1 $$", die_with_parent = "tree" })
    local status, sig = p:wait(10)
    assert.equal(128 + 10, status)
    assert.equal(10, sig)
    p = assert(baton.spawn{ "sleep", "30", die_with_parent = "tree" })
    local below = H.wait_for(function() return #tree(p.pid) > 0 end, 5, "the command")
    assert.truthy(below)
    local cmd = tree(p.pid)
    assert.is_true(p:kill("TERM"))
    status, sig = p:wait(10)
    assert.equal(128 + 15, status)
    assert.equal(15, sig)
    assert.same({}, running(cmd))
    local missing, msg = baton.spawn{ "no-such-command-here", die_with_parent = "tree" }
    assert.is_nil(missing)
    assert.matches("cannot run 'no-such-command-here'", msg, 1, true)
  end)

  it("refuses detach with it", function()
    H.raises("'detach' and 'die_with_parent' exclude each other", baton.spawn,
      { "true", detach = true, die_with_parent = true })
    H.raises("option 'die_with_parent' must be true, false or \"tree\", got 1", baton.spawn,
      { "true", die_with_parent = 1 })
  end)
end)
