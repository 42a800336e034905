-- wave: optimise the initial height of a 256 x 256 water surface so that after
-- 254 leap-frog updates of the wave equation the surface shows the Taichi logo
-- (taichi.png channel 0 / 255 in OpenCV's BGR order, minus its mean, resized).
-- The DiffTaichi `wave` scene: c = 340, dx = 1/256, dt = dx/(c sqrt 3), zero
-- Dirichlet boundary, loss = sum dx^2 (target - u_255)^2, plain gradient descent.
--
--   diffsim scripts/wave.lua [--iters 200] [--out out/wave] [--reference] [--lr X]
--     [--n 256] [--steps 256] [--alpha 0] [--boundary dirichlet|reflect] [--checkpoint K]
--
-- Modes:
--   --reference  the reference exactly: level 1 is never initialised, so it is 0
--                (which gives the surface an initial velocity of -u0/dt), and lr = 1.
--   default      the physically sensible start: the surface is released at rest,
--                level 1 = u0 + (c dt)^2/2 L u0 (second order), and lr = 0.5/dx^2,
--                the Newton step for the modes the rollout passes through with
--                gain 1 (the loss Hessian is 2 dx^2 M^T M with |M| <= 1). lr = 1 would
--                barely move in this mode: with the reference's start, slow modes are
--                amplified by up to 1/sin(theta) ~ 100, which is what made lr = 1 work there.
-- Writes: target.png, final_unoptimized.png, final_optimized.png (grey, u + 0.5),
-- initial_optimized.png and final_height.png (colour-bar plots, diverging map),
-- rollout.gif (the optimised rollout), loss.csv, loss.png; --frames also writes PNG frames;
-- --vtk writes wave.pvd + wave_NNNN.vti (the height every 4th step) for ParaView.
local cli = require("diffsim.cli")
local opt, ds = cli.parse(arg, {name = "wave", script = "scripts/wave.lua", iters = 200, out = "out/wave",
  flags = {lr = 0, n = 256, steps = 256, alpha = 0, boundary = "dirichlet", checkpoint = 0, frames = false,
           gif = true, vtk = false},
  checks = {lr = {ge = 0, help = "GD learning rate (0: 0.5 / dx^2, or 1 under --reference)"},
            n = {int = true, ge = 4, le = 8192, help = "grid size n x n, in cells"},
            steps = {int = true, ge = 2, le = 1e6, help = "wave states per rollout"},
            alpha = {ge = 0, help = "damping coefficient alpha of the wave equation (0: none)"},
            boundary = {"dirichlet", "reflect", help = "boundary: fixed zero height or reflecting walls"},
            checkpoint = {int = true, ge = 0, help = "steps per checkpointed segment (0: keep every step)"},
            frames = {help = "write frame_NNNN.png of every other step of the optimised rollout"},
            gif = {help = "write rollout.gif of the optimised rollout"},
            vtk = {help = "write the optimised rollout's height for ParaView: wave.pvd + wave_NNNN.vti (every 4th step)"}}})
local wave = ds.plugin("wave")

local n = opt.n
local p = wave.params{n = n, alpha = opt.alpha, boundary = opt.boundary}
local lr = opt.lr ~= 0 and opt.lr or (opt.reference and 1 or 0.5 / (p.dx * p.dx))
local target = wave.target_image(n)
local u0 = ds.zeros{n, n}:requires_grad()
local gd = ds.optim.gd({u0}, {lr = lr})
local show = {range = {-0.5, 0.5}} -- the reference shows u + 0.5

ds.io.write_png(opt.out .. "/target.png", target, show)

local function rollout(tape, on_level)
  return wave.rollout(u0, p, {steps = opt.steps, reference = opt.reference, tape = tape,
    checkpoint = opt.checkpoint > 0 and opt.checkpoint or nil, on_level = on_level})
end

local first_final
local losses, secs = cli.train(ds, opt, "wave", gd, function(tape)
  local uT = rollout(tape)
  return wave.l2_loss(uT, target, p.dx), uT
end, function(it, _, uT)
  if it == 1 then first_final = uT:detach() end
end)

-- The optimised rollout, without a tape: the final state and an animation.
local frames = {}
local final = ds.no_grad(function()
  return rollout(nil, function(t, u)
    if (opt.gif or opt.vtk) and t % 4 == 3 then frames[#frames + 1] = u:detach() end
    if opt.frames and t % 2 == 1 then
      ds.io.write_png(string.format("%s/frame_%04d.png", opt.out, t), u, show)
    end
  end)
end)
local final_loss = ds.no_grad(wave.l2_loss, final, target, p.dx):item()
if first_final then ds.io.write_png(opt.out .. "/final_unoptimized.png", first_final, show) end
ds.io.write_png(opt.out .. "/final_optimized.png", final, show)
ds.io.field_png(opt.out .. "/initial_optimized.png", u0, {symmetric = true, title = "optimised initial height u0",
  label = "height", xlabel = "x (cells)", ylabel = "y (cells)"})
ds.io.field_png(opt.out .. "/final_height.png", final, {symmetric = true, title = "height after the optimised rollout",
  label = "height", xlabel = "x (cells)", ylabel = "y (cells)"})
if #frames > 0 then
  local labels = {}
  for i = 1, #frames do labels[i] = string.format("step %d  t = %.2f ms", 4 * i - 1, (4 * i - 1) * p.dt * 1000) end
  if opt.gif then ds.io.write_gif(opt.out .. "/rollout.gif", frames, {delay = 4, range = {-0.5, 0.5}, labels = labels}) end
  if opt.vtk then
    -- ParaView: the height field every 4th step, times in seconds
    local list, times = {}, {}
    for i = 1, #frames do list[i], times[i] = {grid = frames[i], name = "height"}, (4 * i - 1) * p.dt end
    ds.io.write_vtk_series(opt.out .. "/wave.pvd", list, {times = times})
  end
end
cli.finish(ds, opt, "wave", losses, final_loss, secs, {{"lr", lr}})
