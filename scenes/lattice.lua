-- A cubic n x n x n lattice of particles with springs to each point's 13
-- "forward" neighbours (edges, face diagonals, body diagonals), so every spring
-- is listed once. Used by the cage scene and the large 3D benchmark.
--
--   local x, springs, id = require("scenes.lattice").build(n, h, {x0, y0, z0})
--   x: list of {x, y, z};  springs: list of {a, b} (1-based);  id(i, j, k): 1-based index
local M = {}

local FORWARD = {{1, 0, 0}, {0, 1, 0}, {0, 0, 1}, {1, 1, 0}, {1, -1, 0}, {1, 0, 1}, {1, 0, -1}, {0, 1, 1},
                 {0, 1, -1}, {1, 1, 1}, {1, 1, -1}, {1, -1, 1}, {1, -1, -1}}

function M.build(n, h, origin)
  origin = origin or {0, 0, 0}
  local function id(i, j, k) return (i * n + j) * n + k + 1 end
  local x, springs = {}, {}
  for i = 0, n - 1 do
    for j = 0, n - 1 do
      for k = 0, n - 1 do
        x[#x + 1] = {origin[1] + i * h, origin[2] + j * h, origin[3] + k * h}
        for _, d in ipairs(FORWARD) do
          local a, b, c = i + d[1], j + d[2], k + d[3]
          if a >= 0 and a < n and b >= 0 and b < n and c >= 0 and c < n then
            springs[#springs + 1] = {id(i, j, k), id(a, b, c)}
          end
        end
      end
    end
  end
  return x, springs, id
end

return M
