-- Many processes incrementing one counter under one lock: no increment is lost.
local H = require "helpers"

describe("mutual exclusion under contention", function()
  after_each(H.cleanup)

  it("8 processes x 2000 increments give an exact count", function()
    local dir = H.tmpdir()
    local lockp, counter = dir .. "/counter.lock", dir .. "/counter"
    H.write(counter, "0")
    local script = H.script([[
      local baton = require "baton"
      local bump = require("helpers.counter").bump
      local lockp, counter, n = arg[1], arg[2], tonumber(arg[3])
      local l = baton.new(lockp)
      for _ = 1, n do
        l:with(function() bump(counter) end)
      end
    ]])
    local start, join = {}, {}
    for i = 1, 8 do
      start[i] = H.lua_cmd(script, lockp, counter, 2000) .. " & p" .. i .. "=$!;"
      join[i] = "wait $p" .. i
    end
    local code, out = H.run(table.concat(start, " ") .. table.concat(join, " && "))
    assert.equal(0, code, out)
    assert.equal("16000", H.read(counter))
  end)
end)
