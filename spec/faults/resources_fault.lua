-- Exhausted and denied resources: the descriptor limit (RLIMIT_NOFILE) reached part of the
-- way through an attempt, inotify instances used up (waiting must fall back to timed
-- attempts and still get the lock), a full file system (no space, no inodes), a read-only
-- one, and folders and files an unprivileged user may not use. Every kind of lock must give
-- a clear error (the errno's name as code, a message naming the path), leak no descriptor,
-- and leave no lock held. The attempts run in another process (spec/faults/attempt.lua),
-- under `ulimit -n` or as user 65534 (setpriv).
local baton = require "baton"
local H = require "helpers"
local F = require "faults.helpers"

local ATTEMPT = F.HERE .. "/attempt.lua"
local NOBODY = { "setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--" }

local function serialize(cases)
  local out = { "return {" }
  for _, c in ipairs(cases) do
    local fields = {}
    for k, v in pairs(c) do
      fields[#fields + 1] = string.format("%s = %s", k, type(v) == "string" and string.format("%q", v)
        or tostring(v))
    end
    out[#out + 1] = "  { " .. table.concat(fields, ", ") .. " },"
  end
  out[#out + 1] = "}"
  return table.concat(out, "\n")
end

-- Run the cases in another process: with `limit` descriptors, as user 65534 with `nobody`.
-- Returns runs[name] = { { result, code, msg, before, after, seconds } x2 }, probes[name].
local function sweep(work, cases, opts)
  opts = opts or {}
  local file, out = work .. "/cases.lua", work .. "/out"
  H.write(file, serialize(cases))
  os.remove(out)
  local probe = H.LUA .. " " .. H.quote(F.PROBE)
  local cmd = string.format("ulimit -n %d && exec %s %s %s %s %s", opts.limit or 64, H.LUA,
    H.quote(ATTEMPT), H.quote(file), H.quote(out), H.quote(probe))
  local spec = { "sh", "-c", cmd, stderr = "pipe", timeout = 120 }
  if opts.nobody then
    for i = #NOBODY, 1, -1 do table.insert(spec, 1, NOBODY[i]) end
  end
  local ok, status, _, err = baton.run(spec)
  assert(ok ~= nil and status == 0, "attempt.lua: " .. tostring(status) .. " " .. tostring(err))
  local runs, probes = {}, {}
  for line in H.read(out):gmatch("[^\n]+") do
    local f = {}
    for field in (line .. "\t"):gmatch("([^\t]*)\t") do f[#f + 1] = field end
    if f[1] == "probe" then
      probes[f[2]] = f[3]
    else
      runs[f[1]] = runs[f[1]] or {}
      runs[f[1]][tonumber(f[2])] = { result = f[3], code = f[4], msg = f[5], before = tonumber(f[6]),
        after = tonumber(f[7]), seconds = tonumber(f[8]) }
    end
  end
  return runs, probes
end

-- Check a case's two runs: each gives one of `want` ("ok", "raise" or a code), a failure's
-- message names the path, no descriptor leaks, and (when probed) nothing is left held.
local function check(runs, probes, c, want)
  local ok_codes = {}
  for _, w in ipairs(type(want) == "table" and want or { want }) do ok_codes[w] = true end
  local r = runs[c.name]
  assert(r and r[1] and r[2], "no result for " .. c.name)
  for run = 1, 2 do
    local x = r[run]
    local got = (x.result == "fail" or c.kind == "holder") and x.code or x.result
    assert(ok_codes[got], string.format("%s (run %d): got %s %s %s", c.name, run, x.result, x.code, x.msg))
    if x.result ~= "ok" and c.kind ~= "holder" then
      assert(x.msg:find(c.path, 1, true), c.name .. ": the message does not name the path: " .. x.msg)
    end
  end
  -- the first run may keep one descriptor for good (baton's pool of inotify instances)
  assert(r[1].after >= r[1].before - 1, string.format("%s: %d descriptors free before, %d after",
    c.name, r[1].before, r[1].after))
  assert(r[2].after == r[2].before, string.format("%s: a descriptor leaked (%d free before, %d after)",
    c.name, r[2].before, r[2].after))
  local p = probes[c.name]
  if p then assert(p ~= "busy", c.name .. ": the lock is still held after the attempt") end
  return r
end

local function chmod(mode, path) assert(os.execute("chmod " .. mode .. " " .. H.quote(path))) end

-- A small tmpfs at `dir`; false when this system does not let us mount one.
local mounted = {}
local function mount(dir, options)
  os.execute("mkdir -p " .. H.quote(dir))
  local code = H.run("mount -t tmpfs -o " .. options .. " tmpfs " .. H.quote(dir))
  if code ~= 0 then return false end
  mounted[#mounted + 1] = dir
  return true
end

local function unmount_all()
  for i = #mounted, 1, -1 do os.execute("umount -l " .. H.quote(mounted[i]) .. " 2>/dev/null") end
  mounted = {}
end

local KINDS = { "flock", "flock-shared", "soft", "rw-read", "rw-write", "sem", "lock", "holder" }
local PROBE_KIND = { flock = "flock", ["flock-shared"] = "flock", lock = "flock", soft = "soft",
  ["rw-read"] = "rw-write", ["rw-write"] = "rw-write", sem = "sem" }

describe("exhausted resources", function()
  after_each(function()
    unmount_all()
    H.cleanup()
  end)

  it("the descriptor limit reached at every step: EMFILE, no leak, nothing held", function()
    local dir = H.tmpdir()
    -- held locks, to meet the limit while waiting
    local holders = {}
    for _, k in ipairs({ "flock", "soft", "rw-write", "sem" }) do
      holders[#holders + 1] = F.hold(k, dir .. "/held-" .. k, 120)
    end
    local cases, MAX = {}, 5
    for _, kind in ipairs(KINDS) do
      for free = 0, MAX do
        cases[#cases + 1] = { name = kind .. "/free/" .. free, kind = kind, free = free,
          path = dir .. "/" .. kind .. "-" .. free .. ".lock", timeout = 0.2 }
        local hk = ({ ["flock-shared"] = "flock", ["rw-read"] = "rw-write", lock = "flock",
          holder = "soft" })[kind] or kind
        local held = { name = kind .. "/held/" .. free, kind = kind, free = free, probe = false,
          path = dir .. "/held-" .. hk, timeout = 0.2 }
        if kind ~= "flock-shared" and kind ~= "lock" then cases[#cases + 1] = held end
      end
    end
    local runs, probes = sweep(dir, cases, { limit = 48 })
    local needs = {}
    for _, c in ipairs(cases) do
      local free = c.name:match("/free/")
      local want
      if c.kind == "holder" then
        want = free and { "nobody" } or { "held", "EMFILE" }
      elseif c.kind == "lock" then
        want = free and { "ok", "raise" } or { "raise" }
      elseif free then
        want = { "ok", "EMFILE" }
      else
        want = { "timeout", "EMFILE" }
      end
      local r = check(runs, probes, c, want)
      if r[1].result == "raise" then
        assert.matches("Too many open files", r[1].msg, 1, true)
      end
      if free and c.kind ~= "holder" then
        if r[1].result == "ok" then
          needs[c.kind] = math.min(needs[c.kind] or MAX + 1, c.free)
        else
          assert.is_true(needs[c.kind] == nil, c.name .. " failed after a smaller limit worked")
        end
      end
    end
    for _, p in ipairs(holders) do p:kill("KILL") end

    -- With no descriptor left for an inotify instance, a wait still gets the lock when the
    -- holder lets go: by timed attempts.
    local waits = {}
    for _, k in ipairs({ "flock", "soft", "rw-write", "sem" }) do
      local path = dir .. "/release-" .. k
      waits[#waits + 1] = { name = "wait/" .. k, kind = k, path = path, timeout = 10,
        free = needs[k == "rw-write" and "rw-write" or k] }
      F.hold(k, path, 0.5)
    end
    runs, probes = sweep(dir, waits, { limit = 48 })
    for _, c in ipairs(waits) do check(runs, probes, c, "ok") end
    F.report("descriptor limit: %d attempts (%d ways to lock and baton.holder, free and held, 0-%d "
      .. "descriptors left, each twice): EMFILE or success, no descriptor leaked, no lock left "
      .. "held; descriptors an uncontended attempt needs: flock %d, soft %d, rw %d/%d, semaphore %d; "
      .. "waits with none to spare for inotify got their lock by timed attempts", #cases * 2,
      #KINDS - 1, MAX, needs.flock, needs.soft, needs["rw-read"], needs["rw-write"], needs.sem)
  end)

  it("inotify instances used up: waits fall back to timed attempts and still get the lock", function()
    local dir = H.tmpdir()
    chmod("0777", dir)
    -- another process of the same (unprivileged) user takes every instance it may have
    local report = dir .. "/instances"
    local hog = assert(baton.spawn{ "setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--",
      H.PYTHON, "-c", string.format([[
import ctypes, os, time
libc = ctypes.CDLL(None, use_errno=True)
fds = []
while True:
    fd = libc.inotify_init1(0)
    if fd < 0:
        break
    fds.append(fd)
open(%q, "w").write("%%d %%s\n" %% (len(fds), os.strerror(ctypes.get_errno())))
time.sleep(120)
]], report), stdout = "null" })
    local ok, err = pcall(function()
      H.wait_file(report)
      local count, why = H.read(report):match("^(%d+) (.-)%s*$")
      assert(tonumber(count) > 0, "no inotify instance was taken")
      -- the user now has none left
      local _, _, out = baton.run{ "setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--",
        H.PYTHON, "-c", "import ctypes; print(ctypes.CDLL(None).inotify_init1(0))" }
      assert.equal("-1", (out:gsub("%s+$", "")))
      local cases = {}
      for _, k in ipairs({ "flock", "soft", "rw-write", "sem" }) do
        local path = dir .. "/" .. k
        cases[#cases + 1] = { name = k, kind = k, path = path, timeout = 10 }
        F.hold(k, path, 0.4, nil, nil, NOBODY)
      end
      local runs, probes = sweep(dir, cases, { nobody = true })
      local slowest = 0
      for _, c in ipairs(cases) do
        local r = check(runs, probes, c, "ok")
        slowest = math.max(slowest, r[1].seconds)
      end
      F.report("inotify exhausted: user 65534's %s instances taken (then: %s); waits on flock, soft, "
        .. "read/write and semaphore locks released 0.4 s later all got them by timed attempts "
        .. "(slowest %.2f s from the start of its wait)", count, why, slowest)
    end)
    hog:kill("KILL")
    hog:wait(10)
    assert(ok, err)
  end)

  it("a full file system: no space, no inodes", function()
    local dir = H.tmpdir()
    local mnt = dir .. "/full"
    if not mount(mnt, "size=64k") then
      return pending("mounting a tmpfs is not permitted here")
    end
    -- files made before it filled up
    for _, name in ipairs({ "old.lock", "old.rw", "old.sem.1" }) do H.write(mnt .. "/" .. name, "") end
    os.execute("dd if=/dev/zero of=" .. H.quote(mnt .. "/fill") .. " bs=4k 2>/dev/null")
    local cases = {
      { name = "flock old", kind = "flock", path = mnt .. "/old.lock", want = "ok" },
      { name = "flock new", kind = "flock", path = mnt .. "/new.lock", want = "ok" }, -- no data needed
      { name = "soft", kind = "soft", path = mnt .. "/soft.lock", want = "ENOSPC" },
      { name = "rw-read old", kind = "rw-read", path = mnt .. "/old.rw", want = "ok" },
      { name = "rw-write old", kind = "rw-write", path = mnt .. "/old.rw", want = "ok" },
      { name = "sem old", kind = "sem", path = mnt .. "/old.sem", want = "ok" },
    }
    local runs, probes = sweep(dir, cases)
    for _, c in ipairs(cases) do check(runs, probes, c, c.want) end
    assert.is_nil(H.read(mnt .. "/soft.lock"), "a marker that could not be written was left")
    assert.matches("No space left on device", runs.soft[1].msg, 1, true)

    local inodes = dir .. "/noinodes"
    assert.is_true(mount(inodes, "size=1m,nr_inodes=16"))
    for _, name in ipairs({ "old.lock", "old.rw", "old.sem.1" }) do H.write(inodes .. "/" .. name, "") end
    for i = 1, 64 do
      local f = io.open(inodes .. "/filler" .. i, "w")
      if not f then break end
      f:close()
    end
    cases = {
      { name = "flock old", kind = "flock", path = inodes .. "/old.lock", want = "ok" },
      { name = "flock new", kind = "flock", path = inodes .. "/new.lock", want = "ENOSPC" },
      { name = "soft", kind = "soft", path = inodes .. "/soft.lock", want = "ENOSPC" },
      { name = "rw old", kind = "rw-write", path = inodes .. "/old.rw", want = "ok" },
      { name = "rw new", kind = "rw-read", path = inodes .. "/new.rw", want = "ENOSPC" },
      { name = "sem old", kind = "sem", path = inodes .. "/old.sem", want = "ok" },
      { name = "sem new", kind = "sem", path = inodes .. "/new.sem", want = "ENOSPC", probe = false },
      { name = "lock new", kind = "lock", path = inodes .. "/new2.lock", want = "raise" },
    }
    runs, probes = sweep(dir, cases)
    for _, c in ipairs(cases) do check(runs, probes, c, c.want) end
    assert.matches("No space left on device", runs["lock new"][1].msg, 1, true)
    F.report("full file system (tmpfs of 64 KiB, and one of 16 inodes): existing lock files still lock; "
      .. "a soft marker that cannot be written fails with ENOSPC and is removed; files that cannot be "
      .. "created fail with ENOSPC; no descriptor leaked, no lock left held")
  end)

  it("a read-only file system: existing files lock, nothing is created, EROFS", function()
    local dir = H.tmpdir()
    local mnt = dir .. "/ro"
    if not mount(mnt, "size=64k") then
      return pending("mounting a tmpfs is not permitted here")
    end
    for _, name in ipairs({ "old.lock", "old.rw", "old.sem.1" }) do H.write(mnt .. "/" .. name, "") end
    assert.equal(0, (H.run("mount -o remount,ro " .. H.quote(mnt))))
    local cases = {
      { name = "flock old", kind = "flock", path = mnt .. "/old.lock", want = "ok" },
      { name = "flock-shared old", kind = "flock-shared", path = mnt .. "/old.lock", want = "ok" },
      { name = "flock new", kind = "flock", path = mnt .. "/new.lock", want = "EROFS" },
      { name = "flock new folder", kind = "flock", path = mnt .. "/a/b/new.lock", want = "EROFS" },
      { name = "soft", kind = "soft", path = mnt .. "/soft.lock", want = "EROFS" },
      { name = "rw-read old", kind = "rw-read", path = mnt .. "/old.rw", want = "ok" },
      { name = "rw-write old", kind = "rw-write", path = mnt .. "/old.rw", want = "EACCES" },
      { name = "sem old", kind = "sem", path = mnt .. "/old.sem", want = "ok" },
      { name = "sem new", kind = "sem", path = mnt .. "/new.sem", want = "EROFS", probe = false },
    }
    local runs, probes = sweep(dir, cases)
    for _, c in ipairs(cases) do check(runs, probes, c, c.want) end
    assert.matches("write access", runs["rw-write old"][1].msg, 1, true)
    F.report("read-only file system: existing flock, read/write (reading) and semaphore files lock; "
      .. "creating fails with EROFS, writing a read/write lock with EACCES; no descriptor leaked, "
      .. "no lock left held")
  end)

  it("folders and files an unprivileged user may not use: EACCES, or busy for an unreadable marker", function()
    local dir = H.tmpdir()
    chmod("0777", dir)
    local closed, shut = dir .. "/closed", dir .. "/readonly"
    os.execute("mkdir " .. H.quote(closed) .. " " .. H.quote(shut))
    for _, name in ipairs({ "old.lock", "old.rw", "old.sem.1", "secret.lock" }) do
      H.write(closed .. "/" .. name, "")
      H.write(shut .. "/" .. name, "")
    end
    H.write(shut .. "/marker.lock", "1\nsomewhere-else\n") -- a soft lock held on another host
    chmod("0600", shut .. "/secret.lock")
    chmod("0600", shut .. "/marker.lock")
    chmod("0700", closed)
    chmod("0755", shut)
    local cases = {}
    for _, k in ipairs({ "flock", "soft", "rw-read", "rw-write", "sem", "lock", "holder" }) do
      cases[#cases + 1] = { name = "closed " .. k, kind = k, timeout = 0.2,
        path = closed .. "/" .. (k:match("^rw") and "old.rw" or k == "sem" and "old.sem" or "old.lock"),
        want = (k == "lock" and "raise") or "EACCES" }
    end
    local more = {
      { name = "closed mkdir", kind = "flock", path = closed .. "/a/b.lock", want = "EACCES" },
      { name = "shut flock old", kind = "flock", path = shut .. "/old.lock", want = "ok" },
      { name = "shut flock new", kind = "flock", path = shut .. "/new.lock", want = "EACCES" },
      { name = "shut flock secret", kind = "flock", path = shut .. "/secret.lock", want = "EACCES" },
      { name = "shut soft new", kind = "soft", path = shut .. "/soft.lock", want = "EACCES" },
      { name = "shut soft unreadable", kind = "soft", path = shut .. "/marker.lock", timeout = 0.2,
        want = "timeout", probe = false },
      { name = "shut rw-read old", kind = "rw-read", path = shut .. "/old.rw", want = "ok" },
      { name = "shut rw-write old", kind = "rw-write", path = shut .. "/old.rw", want = "EACCES" },
      { name = "shut sem old", kind = "sem", path = shut .. "/old.sem", want = "ok" },
      { name = "shut sem new", kind = "sem", path = shut .. "/new.sem", want = "EACCES", probe = false },
      { name = "shut holder unreadable", kind = "holder", path = shut .. "/marker.lock", want = "EACCES" },
    }
    for _, c in ipairs(more) do cases[#cases + 1] = c end
    for _, c in ipairs(cases) do if c.path:find("closed", 1, true) then c.probe = false end end
    local runs, probes = sweep(dir, cases, { nobody = true })
    for _, c in ipairs(cases) do check(runs, probes, c, c.want) end
    for _, c in ipairs(cases) do
      local kind = PROBE_KIND[c.kind]
      if kind and c.want ~= "EACCES" and c.probe ~= false then
        assert.equal("free", F.probe(kind, c.path, c.n), c.name) -- and as root
      end
    end
    assert.matches("Permission denied", runs["closed flock"][1].msg, 1, true)
    F.report("permission denied (user 65534): a folder it may not enter gives EACCES for every kind; "
      .. "in a folder it may only read, existing flock, read/write (reading) and semaphore files lock, "
      .. "creating fails with EACCES, a marker it may not read counts as held; no descriptor leaked, "
      .. "no lock left held")
  end)
end)
