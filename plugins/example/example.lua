-- Lua front end of the example plugin: ds.plugin("example").
--   local x1, v1 = ex.step(x, v, dt [, accel [, forces]])
-- accel: a number or a 0-dim tensor (may require grad); forces: a list of
-- tensors shaped like x (per-mass accelerations, may require grad).
local ds = require("diffsim")

local M = {}
local step = ds.kernel("example.step")

-- One semi-implicit Euler step; returns the new position and velocity.
function M.step(x, v, dt, accel, forces)
  local xo, vo = ds.empty_like(x), ds.empty_like(v)
  step:launch({x = x, v = v, accel = accel or 0, x_out = xo, v_out = vo, forces = forces},
              {dt = dt})
  return xo, vo
end

return M
