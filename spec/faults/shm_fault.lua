-- Holder records where /dev/shm is small, full or missing (a Docker container's /dev/shm is
-- 64 MB and often full). Each baton process publishes its records in a table file under
-- /dev/shm/baton-UID (or /tmp/baton-UID) that it maps into memory; a table whose blocks
-- were never reserved kills the process with SIGBUS on the first store into a page that the
-- file system has no room for. Here, in a private mount namespace (unshare -m), a tiny
-- tmpfs is mounted on /dev/shm (and on /tmp/baton-UID) and filled up; workers then take and
-- release many locks at once with notes (more than one page of the table), counting under
-- the lock. They must all exit 0, the count must be exact (exclusion held), and notes are
-- seen exactly where a table could be had.
--
-- BATON_FAULT_SHM_ROUNDS (default 200) rounds per worker, 3 workers, 40 locks per round.
local baton = require "baton"
local H = require "helpers"
local F = require "faults.helpers"

local ROUNDS = F.count("SHM_ROUNDS", 200)
local WORKERS, LOCKS = 3, 40

-- arg: dir, id, rounds, locks. Holds `locks` locks at once (with notes), counts under the
-- first, checks baton.holder on the last, and says how many rounds saw the note.
local WORKER = [[
local baton = require "baton"
local dir, id, rounds, n = arg[1], arg[2], tonumber(arg[3]), tonumber(arg[4])
local seen = 0
for round = 1, rounds do
  local held = {}
  for i = 1, n do
    held[i] = assert(baton.lock(dir .. "/l" .. i, { note = id .. " round " .. round .. " lock " .. i }))
  end
  local f = assert(io.open(dir .. "/counter", "rb"))
  local count = tonumber(f:read("*a")) or 0
  f:close()
  if round % 7 == 0 then baton.sleep(0.001) end
  f = assert(io.open(dir .. "/counter", "wb"))
  f:write(tostring(count + 1))
  f:close()
  local info = baton.holder(dir .. "/l" .. n)
  if info and info.note == id .. " round " .. round .. " lock " .. n then seen = seen + 1 end
  for i = n, 1, -1 do held[i]:release() end
end
io.write("done ", id, " ", seen, "\n")
]]

-- Shell lines that set up the namespace's /dev/shm and /tmp/baton-UID.
local UID = tonumber((select(2, H.run("id -u")):match("%d+")))
local RECORDS = "/tmp/baton-" .. tostring(UID)
local SETUPS = {
  { name = "/dev/shm with one page free", notes = true,
    sh = "mount -t tmpfs -o size=8k tmpfs /dev/shm && "
      .. "(dd if=/dev/zero of=/dev/shm/fill bs=4k count=1 2>/dev/null; true)" },
  { name = "/dev/shm and " .. RECORDS .. " full", notes = false,
    sh = "mount -t tmpfs -o size=8k tmpfs /dev/shm && "
      .. "(dd if=/dev/zero of=/dev/shm/fill bs=4k count=4 2>/dev/null; true) && "
      .. "mkdir -p " .. RECORDS .. " && mount -t tmpfs -o size=4k,mode=0755 tmpfs " .. RECORDS .. " && "
      .. "(dd if=/dev/zero of=" .. RECORDS .. "/fill bs=4k count=4 2>/dev/null; true)" },
  { name = "/dev/shm and " .. RECORDS .. " read-only", notes = false,
    sh = "mount -t tmpfs -o size=8k,ro tmpfs /dev/shm && "
      .. "mkdir -p " .. RECORDS .. " && mount -t tmpfs -o size=64k,mode=0755,ro tmpfs " .. RECORDS },
}

local function usable()
  if UID ~= 0 then return false, "needs root (mount in a private mount namespace)" end
  local code, out = H.run("unshare -m sh -c 'mount -t tmpfs -o size=8k tmpfs /dev/shm'")
  if code ~= 0 then return false, "unshare -m does not work here: " .. out end
  return true
end

describe("holder records with a full or missing /dev/shm", function()
  after_each(H.cleanup)

  it("never kill a process: locks with notes over several pages of the table, exclusion exact", function()
    local ok, why = usable()
    if not ok then return pending(why) end
    local worker = H.script(WORKER)
    for _, setup in ipairs(SETUPS) do
      local dir = H.tmpdir()
      H.write(dir .. "/counter", "0")
      -- the workers: the tested interpreter, and the baton executable
      local lines = {}
      for w = 1, WORKERS do
        local bin = w == WORKERS and H.quote(F.BIN) or H.LUA
        lines[#lines + 1] = string.format("%s %s %s w%d %d %d > %s/out.w%d 2>&1 & pids=\"$pids $!\"",
          bin, H.quote(worker), H.quote(dir), w, ROUNDS, LOCKS, H.quote(dir), w)
      end
      local script = setup.sh .. " || exit 90\npids=\n" .. table.concat(lines, "\n") .. "\n"
        .. "for p in $pids; do wait $p; echo \"status $?\"; done\n"
      local t0 = baton.now()
      local okr, status, out = baton.run{ "unshare", "-m", "sh", "-c", script, stderr = "stdout",
        timeout = 300 }
      assert.is_true(okr, setup.name .. ": " .. tostring(status) .. " " .. tostring(out))
      local statuses = {}
      for s in out:gmatch("status (%d+)") do statuses[#statuses + 1] = tonumber(s) end
      local outs = {}
      for w = 1, WORKERS do outs[w] = H.read(dir .. "/out.w" .. w) or "" end
      local detail = setup.name .. ":\n" .. out .. table.concat(outs, "")
      -- 135 is 128 + SIGBUS
      assert.same({ 0, 0, 0 }, statuses, detail)
      assert.equal(tostring(WORKERS * ROUNDS), H.read(dir .. "/counter"), detail)
      for w = 1, WORKERS do
        local seen = tonumber(outs[w]:match("^done w%d+ (%d+)"))
        assert.truthy(seen, detail)
        if setup.notes then
          assert.equal(ROUNDS, seen, detail)
        else
          assert.equal(0, seen, detail)
        end
      end
      assert.equal("free", F.probe("flock", dir .. "/l1"))
      F.report("records, %s: %d workers x %d rounds x %d locks with notes in %.1f s, all exited 0, "
        .. "count exact, notes %s", setup.name, WORKERS, ROUNDS, LOCKS, baton.now() - t0,
        setup.notes and "seen in every round" or "absent (no table)")
    end
  end)
end)
