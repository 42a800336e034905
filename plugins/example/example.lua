-- Lua front end of the example plugin: ds.plugin("example").step(x, v, dt, a)
local ds = require("diffsim")

local M = {}
local step = ds.kernel("example.step")

-- One semi-implicit Euler step; returns the new position and velocity.
function M.step(x, v, dt, accel)
  local xo, vo = ds.empty_like(x), ds.empty_like(v)
  step:launch({x, v, xo, vo}, {dt, accel or 0})
  return xo, vo
end

return M
