-- A cron job that must never overlap with itself: if the previous run still holds the lock,
-- this one says who and leaves quietly (exit 0, so cron sends no mail). Run it with
--
--   baton examples/cron-guard.lua [LOCKFILE] [WORKDIR]
--
-- The one-line form for a crontab, with no script at all, is
--
--   */5 * * * *  baton lock -n -E 0 --note "sync" /var/lock/sync.lock /usr/local/bin/sync
--
-- A signal (cron's shutdown, a reboot, ^C) unwinds the script: the steps still running are
-- stopped first, then the lock is released.
local baton = require "baton"

local lockfile = arg[1] or "/tmp/baton-example-cron.lock"
local workdir = arg[2] or os.getenv("TMPDIR") or "/tmp"

local l, msg, code = baton.try_lock(lockfile, { note = "cron guard example" })
if not l then
  if code == "busy" then
    -- who: the kernel knows the pid (and so the command); a baton holder adds note and time
    local h = baton.holder(lockfile)
    local who = ""
    if h and h.pid then
      who = " (pid " .. h.pid
      if h.cmdline then who = who .. ", " .. h.cmdline end
      if h.note then who = who .. ", \"" .. h.note .. "\"" end
      if h.since then who = who .. ", since " .. os.date("%H:%M:%S", math.floor(h.since)) end
      who = who .. ")"
    end
    print("previous run still going" .. who .. "; skipping this one")
    os.exit(0)
  end
  io.stderr:write(msg, "\n")
  os.exit(1)
end

-- The steps of the job, each a command without a shell; stop at the first failure.
local steps = {
  { "mkdir", "-p", workdir .. "/cron-example" },
  { "sh", "-c", "date > \"$0/last-run\"", workdir .. "/cron-example" },
  { "sleep", "0.2" }, -- stands in for the real work
}
for _, step in ipairs(steps) do
  local ok, status = baton.run(step)
  if not ok then
    io.stderr:write(string.format("step '%s' failed (%s)\n", table.concat(step, " "), tostring(status)))
    l:release()
    os.exit(1)
  end
end
print("done")
l:release()
