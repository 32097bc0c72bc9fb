-- The baton executable, run from specs: B.BIN, and B.run(args [, opts]) -> exit status,
-- stdout, stderr (opts: env, input, cwd, timeout in seconds, 30 by default).
local baton = require "baton"

local unpack = table.unpack or unpack

local B = {}

B.BIN = os.getenv("BATON_BIN") or "build/5.4/bin/baton"

function B.run(args, opts)
  opts = opts or {}
  local spec = { B.BIN, unpack(args) }
  spec.stderr, spec.env, spec.input, spec.cwd = "pipe", opts.env, opts.input, opts.cwd
  spec.timeout = opts.timeout or 30
  local ok, code, out, err = baton.run(spec)
  assert(ok ~= nil, code)
  return code, out, err
end

return B
