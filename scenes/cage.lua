-- A 3D mass-spring cage: an n x n x n lattice of particles (spacing h) tied to
-- its neighbours along edges, face diagonals and body diagonals, with the eight
-- corners pinned. Gravity pulls it into a sag; the centre particle is what the
-- cage scene steers.
--
--   local cage = require("scenes.cage").build{n = 5}
--   cage.scene  -- a springs.system scene table;  cage.center -- the centre's index
local M = {}

function M.build(opts)
  opts = opts or {}
  local n = opts.n or 5 -- odd, so there is a centre particle
  if n < 3 or n % 2 == 0 then error("scenes.cage.build: n must be odd and >= 3", 2) end
  local h = opts.spacing or 0.1
  local x, springs, id = require("scenes.lattice").build(n, h, {0.3, 0.3, 0})
  local fixed = {}
  for _, i in ipairs{0, n - 1} do
    for _, j in ipairs{0, n - 1} do
      for _, k in ipairs{0, n - 1} do fixed[#fixed + 1] = id(i, j, k) end
    end
  end
  local m = (n - 1) / 2
  return {
    scene = {x = x, springs = springs, fixed = fixed, stiffness = opts.stiffness or 400, mass = opts.mass or 0.05,
             spring_damping = opts.spring_damping or 0.05, dt = opts.dt or 2e-3, damping = opts.damping or 2,
             gravity = opts.gravity or -9.8, ground = "none"},
    center = id(m, m, m),
    n = n,
  }
end

return M
