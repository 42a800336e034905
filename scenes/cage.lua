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
  local x, springs, fixed = {}, {}, {}
  local function id(i, j, k) return (i * n + j) * n + k + 1 end
  for i = 0, n - 1 do
    for j = 0, n - 1 do
      for k = 0, n - 1 do
        x[#x + 1] = {0.3 + i * h, 0.3 + j * h, k * h}
        local corner = (i == 0 or i == n - 1) and (j == 0 or j == n - 1) and (k == 0 or k == n - 1)
        if corner then fixed[#fixed + 1] = id(i, j, k) end
      end
    end
  end
  -- the 13 "forward" neighbours of a lattice point: each spring is listed once
  local nbr = {{1, 0, 0}, {0, 1, 0}, {0, 0, 1}, {1, 1, 0}, {1, -1, 0}, {1, 0, 1}, {1, 0, -1}, {0, 1, 1},
               {0, 1, -1}, {1, 1, 1}, {1, 1, -1}, {1, -1, 1}, {1, -1, -1}}
  for i = 0, n - 1 do
    for j = 0, n - 1 do
      for k = 0, n - 1 do
        for _, d in ipairs(nbr) do
          local a, b, c = i + d[1], j + d[2], k + d[3]
          if a >= 0 and a < n and b >= 0 and b < n and c >= 0 and c < n then
            springs[#springs + 1] = {id(i, j, k), id(a, b, c)}
          end
        end
      end
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
