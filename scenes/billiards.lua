-- The billiards scene of the reference suite (SCENES.md): 11 discs of radius
-- 0.03 -- the cue ball at (0.1, 0.5) moving at (0.3, 0), and a 4-row triangle of
-- 10 balls at (0.5 + 2 r i, 0.5 + 2 r j - 0.7 r i), i = 0..3, j = 0..i -- no
-- gravity, friction or walls, restitution 0.8, dt 3e-3, 1023 steps. The last
-- ball should end at the goal (0.9, 0.75).
--   local scene = require("scenes.billiards")
--   local sys = rigid2d.discs(scene.discs{reference = true})
local M = {radius = 0.03, layers = 4, goal = {0.9, 0.75}, steps = 1023, dt = 3e-3, restitution = 0.8,
           cue_x = {0.1, 0.5}, cue_v = {0.3, 0}}

function M.discs(opts)
  opts = opts or {}
  local r = M.radius
  local x, v = {{M.cue_x[1], M.cue_x[2]}}, {{M.cue_v[1], M.cue_v[2]}}
  for i = 0, M.layers - 1 do
    for j = 0, i do
      x[#x + 1] = {0.5 + 2 * r * i, 0.5 + 2 * r * j - 0.7 * r * i}
      v[#v + 1] = {0, 0}
    end
  end
  -- allow_overlap: the reference never checks, and its optimiser may move the
  -- cue ball onto the triangle (it does, around iteration 75 of 200)
  return {x = x, v = v, radius = r, mass = 1, restitution = M.restitution, dt = M.dt, reference = opts.reference,
          allow_overlap = opts.allow_overlap ~= false}
end

return M
