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

-- A 3D box at (x, y, z) of size w x h x d: int(size / dx * density) particles per
-- axis, at cell centres (solids) or uniformly at random in the box (fluid, as the
-- reference does; rand() in [0, 1) from a seeded generator).
local function rect3(sc, x, y, z, w, h, d, group, material, dx, rand)
  local density = 3
  -- the small epsilon keeps int(0.05 / dx * 3) = 9 where binary rounding would give 9.6 - 1e-15
  local nw = math.floor(w / dx * density + 1e-9)
  local nh = math.floor(h / dx * density + 1e-9)
  local nd = math.floor(d / dx * density + 1e-9)
  local rx, ry, rz = w / nw, h / nh, d / nd
  local o = sc.offset
  for i = 0, nw - 1 do
    for j = 0, nh - 1 do
      for k = 0, nd - 1 do
        local p
        if material == "fluid" then
          p = {x + rand() * w + o[1], y + rand() * h + o[2], z + rand() * d + o[3]}
        else
          p = {x + (i + 0.5) * rx + o[1], y + (j + 0.5) * ry + o[2], z + (k + 0.5) * rz + o[3]}
        end
        sc.x[#sc.x + 1] = p
        sc.group[#sc.group + 1] = group
        sc.material[#sc.material + 1] = material
      end
    end
  end
end

-- diffmpm3d.py's robot (block 0.1) or liquid.py's (block 0.08): 4 legs of 4
-- actuated boxes (b/2 x 0.35 b x b; 16 actuators) under 3 passive body boxes
-- (b x 0.7 b x b), offset (0.1, 0.05, 0.3), grid 64^3, neo-Hookean.
local function robot3(sc, b, dx)
  sc.offset = {0.1, 0.05, 0.3}
  for leg = 0, 3 do
    local lx, lz = math.floor(leg / 2) * b * 2, leg % 2 * b * 2
    for i = 0, 3 do
      rect3(sc, lx + b / 2 * math.floor(i / 2), 0.7 * b / 2 * (i % 2), lz, b / 2, 0.7 * b / 2, b, sc.groups,
        "neohookean", dx)
      sc.groups = sc.groups + 1
    end
  end
  for i = 0, 2 do rect3(sc, b * i, 0, b, b, b * 0.7, b, -1, "neohookean", dx) end
end

-- diffmpm3d: 16 x 1026 actuated + 3 x 4693 passive = 30,495 particles.
function M.robot3d(dx)
  local sc = scene(3)
  robot3(sc, 0.1, dx or 1 / 64)
  return sc
end

-- liquid: the 0.08 robot (15,150 particles) and a 0.2 x 0.05 x 0.2 fluid block
-- above it (12,996 particles at random, mass 4): 28,146.
function M.liquid3d(dx, seed)
  dx = dx or 1 / 64
  local sc = scene(3)
  robot3(sc, 0.08, dx)
  -- a small deterministic generator (LCG), so the scene does not depend on math.random's state
  local state = (seed or 1) % 2147483647
  if state == 0 then state = 1 end
  local function rand()
    state = (state * 48271) % 2147483647
    return state / 2147483647
  end
  rect3(sc, 0.1, 0.15, 0.1, 0.2, 0.05, 0.2, -1, "fluid", dx, rand)
  return sc
end

return M
