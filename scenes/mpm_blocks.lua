-- Particle blocks of the reference's diffmpm_simple / diffmpm_benchmark scenes.
--   local blocks = require("scenes.mpm_blocks")
--   local pos = blocks.square(60, 0.7, 1 / 120)   -- N x N at dx (i*spacing + 10, j*spacing + 25)
local M = {}

-- N x N particles, particle i*N + j at dx * (i * spacing + ox, j * spacing + oy)
-- (the reference's order: x index slow, y index fast).
function M.square(N, spacing, dx, ox, oy)
  ox, oy = ox or 10, oy or 25
  local pos = {}
  for i = 0, N - 1 do
    for j = 0, N - 1 do pos[#pos + 1] = {dx * (i * spacing + ox), dx * (j * spacing + oy)} end
  end
  return pos
end

return M
