-- What the benchmark scripts share. Each finds this file beside itself, through the folder
-- of its own path (arg[0]):
--
--   package.path = arg[0]:match("^(.-)[^/]*$") .. "?.lua;" .. package.path
--   local common = require "common"
--
-- Loading it puts this checkout's lua/ and build/VERSION/ ahead of the module paths, for a
-- script run from the repository root after `make`.
local ver = _VERSION:match("%d+%.%d+")
package.path = "lua/?.lua;lua/?/init.lua;" .. package.path
package.cpath = "build/" .. (jit and "luajit" or ver) .. "/?.so;" .. package.cpath

local baton = require "baton"

local M = { baton = baton }

-- The folder for the lock files (arg[1], default /tmp) and the cycles per figure (arg[2],
-- default `n`).
function M.args(n)
  return arg[1] or "/tmp", tonumber(arg[2]) or n
end

-- CPU and wall nanoseconds per call of fn, over n calls, after up to `warm` calls to warm up.
-- CPU time is user + system (os.clock), as the Python harnesses measure it.
function M.measure(n, warm, fn)
  for _ = 1, math.min(n, warm) do fn() end
  local c0, t0 = os.clock(), baton.now()
  for _ = 1, n do fn() end
  return (os.clock() - c0) / n * 1e9, (baton.now() - t0) / n * 1e9
end

-- What a Python harness run by `command` prints, as name -> nanoseconds: the lines `pattern`
-- matches, whose captures are the name and then the figure.
function M.figures(command, pattern)
  local figures = {}
  local p = assert(io.popen(command))
  for line in p:lines() do
    local name, ns = line:match(pattern)
    if name then figures[name] = tonumber(ns) end
  end
  p:close()
  return figures
end

return M
