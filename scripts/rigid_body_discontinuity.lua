-- rigid_body_discontinuity: the final x of a box thrown at the ground, as a
-- function of its initial rotation, with and without friction (the DiffTaichi
-- paper's Fig. 12): with friction the outcome jumps where the corner that lands
-- first changes, so the loss is discontinuous in the rotation.
--
--   diffsim scripts/rigid_body_discontinuity.lua [--samples 40] [--steps 2047] [--out DIR]
--
-- As the reference scene (SCENES.md): one box of half-size 0.1 at (0.7, 0.5),
-- v = (-1, -2), no gravity, no damping, restitution 0.3, ground at y = 0.1,
-- dt = 2e-4, 2047 steps; rotations (i + 0.5) 1e-3 rad for i = -samples/2 ..
-- samples/2 - 1 (±1.1 degrees for 40 samples); friction 0 and 1. Contact uses
-- the engine's time of impact and sequential corner impulses; the reference
-- instead adds a penalty spring (1e4) below the ground, which diffsim does not
-- model (--reference: the reference's simultaneous impulses, no time of impact).
-- Writes scan.csv (rotation_deg, x_final_friction0, x_final_friction1) and
-- scan.png / scan.svg (two labelled curves); result lines per friction: the
-- range of x_final and the largest jump between neighbouring rotations.
local cli = require("diffsim.cli")
local opt, ds = cli.parse(arg, {name = "rigid_body_discontinuity", script = "scripts/rigid_body_discontinuity.lua",
  iters = 0, out = "out/rigid_body_discontinuity", precision = "f64", flags = {samples = 40, steps = 2047},
  checks = {samples = {int = true, ge = 2, le = 100000, help = "initial rotations scanned, 1e-3 rad apart"},
            steps = {int = true, ge = 1, le = 1e6, help = "steps of 2e-4 s per throw"}}})
local rigid2d = ds.plugin("rigid2d")

local function throw(rotation, friction)
  local sys = rigid2d.boxes{
    bodies = {{x = {0.7, 0.5}, halfsize = {0.1, 0.1}, rotation = rotation, v = {-1, -2}, omega = 0}},
    density = 1, gravity = 0, damping = 0, friction = friction, restitution = 0.3, ground_y = 0.1,
    dt = 2e-4, toi = not opt.reference, reference = opt.reference or false}
  local states = ds.no_grad(function() return sys:rollout(opt.steps) end)
  return states:totable()[opt.steps + 1][1][1]
end

local rot_deg, xf = {}, {{}, {}}
local rows = {}
local bar = ds.progress.new(2 * opt.samples, "rigid_body_discontinuity")
local half = math.floor(opt.samples / 2)
for k = 1, opt.samples do
  local rot = (k - 1 - half + 0.5) * 1e-3
  rot_deg[k] = math.deg(rot)
  for f = 0, 1 do
    xf[f + 1][k] = throw(rot, f)
    bar:update(2 * (k - 1) + f + 1)
  end
  rows[k] = {rot_deg[k], xf[1][k], xf[2][k]}
end
bar:done()
ds.io.write_csv(opt.out .. "/scan.csv", {"rotation_deg", "x_final_friction0", "x_final_friction1"}, rows)
local plot = {x = rot_deg, labels = {"friction 0", "friction 1"}, title = "Rigid body: final x vs initial rotation",
  xlabel = "initial rotation (degrees)", ylabel = "final x of the box (m)"}
ds.io.plot(opt.out .. "/scan.png", xf, plot)
ds.io.plot(opt.out .. "/scan.svg", xf, plot)

for f = 0, 1 do
  local lo, hi, jump = math.huge, -math.huge, 0
  for k = 1, opt.samples do
    lo, hi = math.min(lo, xf[f + 1][k]), math.max(hi, xf[f + 1][k])
    if k > 1 then jump = math.max(jump, math.abs(xf[f + 1][k] - xf[f + 1][k - 1])) end
  end
  cli.result(string.format("x_final_min_friction%d_m", f), lo)
  cli.result(string.format("x_final_max_friction%d_m", f), hi)
  cli.result(string.format("largest_jump_friction%d_m", f), jump)
end

-- Physics: without friction the horizontal velocity never changes, so every
-- throw ends at x = 0.7 - steps dt; with friction the landing corner decides the
-- outcome and x_final jumps between neighbouring rotations.
local lo0, hi0 = math.huge, -math.huge
for k = 1, opt.samples do lo0, hi0 = math.min(lo0, xf[1][k]), math.max(hi0, xf[1][k]) end
local expect = 0.7 - opt.steps * 2e-4
cli.check(opt, "rigid_body_discontinuity", math.abs(lo0 - expect) < 1e-6 and math.abs(hi0 - expect) < 1e-6,
  string.format("frictionless throws end in [%.9g, %.9g], expected %.9g", lo0, hi0, expect))
local jump1 = 0
for k = 2, opt.samples do jump1 = math.max(jump1, math.abs(xf[2][k] - xf[2][k - 1])) end
cli.check(opt, "rigid_body_discontinuity", jump1 > 0.01,
  string.format("with friction the largest jump is %.3g m; a discontinuity (> 0.01 m) was expected", jump1))
