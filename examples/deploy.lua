-- Update several hosts in parallel, two at a time, each under its own lock so that two
-- deploys never touch one host at once (a second deploy waits for the host, up to a minute).
-- Hosts are stand-ins here: folders under ROOT, "updated" with local commands.
--
--   baton examples/deploy.lua [ROOT] [HOST...]
--
-- A host whose folder cannot be written fails; the others still finish, and the script
-- reports which failed and exits 1.
local baton = require "baton"

local root = arg[1] or ((os.getenv("TMPDIR") or "/tmp") .. "/baton-example-deploy")
local hosts = { table.unpack(arg, 2) }
if #hosts == 0 then hosts = { "web1", "web2", "web3", "db1" } end

local release = "release-" .. os.date("!%Y%m%dT%H%M%S")

local function must(spec)
  local ok, status, out = baton.run(spec)
  if not ok then
    error(string.format("'%s' failed: %s", table.concat(spec, " "), tostring(status)), 0)
  end
  return out
end

local function deploy(host)
  local dir = root .. "/" .. host
  -- Held while this job runs; baton.jobs lets the other jobs go on while this one waits.
  local l <close> = baton.lock(root .. "/locks/" .. host .. ".lock",
    { timeout = 60, note = "deploy " .. release })
  must{ "mkdir", "-p", dir }
  must{ "sh", "-c", 'echo "$1" > "$0/version.new" && mv "$0/version.new" "$0/version"', dir, release }
  must{ "sleep", "0.3" } -- stands in for restarting the service
  local version = must{ "cat", dir .. "/version" }
  return version:gsub("%s+$", "")
end

local jobs = baton.jobs{ max = 2 }
for _, host in ipairs(hosts) do
  jobs:add(host, deploy, host)
end
local ok, failed = jobs:wait()
for _, job in ipairs(jobs.list) do
  if job.status == "done" then print(job.name .. ": " .. job.results[1]) end
end
for _, job in ipairs(failed) do
  io.stderr:write(job.name .. " FAILED: " .. tostring(job.error) .. "\n")
end
os.exit(ok and 0 or 1)
