-- smoke_taichi: the DiffTaichi smoke scene (SCENES.md, smoke_taichi): optimise the
-- initial velocity so that a 16-pixel checkerboard of smoke, advected for 99 steps
-- on a 128^2 periodic grid with 10 Jacobi sweeps per projection, shows the Taichi
-- logo (taichi.png, OpenCV channel 0 = blue, resized to 128^2, / 255).
-- loss = mean((target - smoke_99)^2), plain gradient descent, lr 400, 240 iterations.
--
--   diffsim scripts/smoke_taichi.lua [--iters 240] [--out out/smoke_taichi] [--lr 400]
--     [--solver jacobi|cg] [--n 128] [--steps 99] [--jacobi-iters 10] [--checkpoint K] [--no-gif]
--
-- Modes:
--   default      each step projects from p = 0 with --jacobi-iters sweeps and corrects the
--                velocity with the last sweep.
--   --reference  the reference's pressure chain (smoke_taichi.py): step t's sweeps continue
--                from step t-1's last sweep (zero at step 1), and step t's velocity is
--                corrected with sweep K-1 of step t-1 (step 1 is not corrected); the
--                gradient flows through the chain (smoke.step, opts.reference).
--   --solver cg projects exactly (to --tol) with the implicit-adjoint CG solve (default mode only).
-- Writes: target.png, init.png, final_unoptimized.png, final_optimized.png,
-- rollout.gif, loss.csv, loss.png.
local cli = require("diffsim.cli")
local opt, ds = cli.parse(arg, {name = "smoke_taichi", script = "scripts/smoke_taichi.lua", iters = 240,
  out = "out/smoke_taichi", flags = {lr = 400, n = 128, steps = 99, jacobi_iters = 10, solver = "jacobi", tol = 0,
                                     checkpoint = 0, gif = true},
  checks = {lr = {gt = 0, help = "GD learning rate"}, n = {int = true, ge = 4, le = 8192, help = "grid size n x n, in cells"},
            steps = {int = true, ge = 1, le = 1e6, help = "simulation steps per rollout"},
            jacobi_iters = {int = true, ge = 1, le = 1e6, help = "Jacobi sweeps per projection"},
            solver = {"jacobi", "cg", help = "pressure solver: fixed Jacobi sweeps or conjugate gradients to --tol"},
            tol = {ge = 0, help = "CG relative residual tolerance (0: the solver's default)"},
            checkpoint = {int = true, ge = 0, help = "steps per checkpointed segment (0: keep every step)"},
            gif = {help = "write rollout.gif of the optimised rollout"}}})
local smoke = ds.plugin("smoke")

local n = opt.n
local init = smoke.checker({n, n}, 16)
local target = ds.io.read_png(ds.io.scene_image("taichi.png"), {channel = 3, size = {n, n}})
if opt.reference and opt.solver ~= "jacobi" then
  error("--reference runs the reference's Jacobi chain; --solver " .. opt.solver .. " is not allowed with it", 0)
end
local sim = {iters = opt.jacobi_iters, solver = opt.solver, tol = opt.tol > 0 and opt.tol or nil,
             reference = opt.reference or nil}
ds.io.write_png(opt.out .. "/target.png", target)
ds.io.write_png(opt.out .. "/init.png", init)

local bar = ds.progress.new(opt.iters, "smoke_taichi")
local first
local t0 = ds.now()
local v, losses = smoke.fit_velocity{init = init, target = target, steps = opt.steps, sim = sim, lr = opt.lr,
  iters = opt.iters, checkpoint = opt.checkpoint, on_iter = function(it, l, final)
    if it == 1 then first = final.s:detach() end
    cli.iter(it, l)
    bar:update(it, l)
  end}
bar:done()
local secs = ds.now() - t0
if losses[#losses] ~= losses[#losses] then
  io.stderr:write("smoke_taichi: the loss became NaN (lr too large?)\n")
  os.exit(1)
end

local frames = {}
local final = ds.no_grad(smoke.rollout, {v = v, s = init}, opt.steps,
  cli.with(sim, {frames = opt.gif and frames or nil}))
local final_loss = ds.no_grad(function() return ds.mean(ds.square(final.s - target)) end):item()
if first then ds.io.write_png(opt.out .. "/final_unoptimized.png", first) end
ds.io.write_png(opt.out .. "/final_optimized.png", final.s)
if #frames > 0 then
  local every = {}
  for i = 1, #frames, 2 do every[#every + 1] = frames[i] end
  local labels = {}
  for k = 1, #every do labels[k] = string.format("step %d", 2 * k - 1) end
  ds.io.write_gif(opt.out .. "/rollout.gif", every, {delay = 6, range = {0, 1}, labels = labels})
end
cli.finish(ds, opt, "smoke_taichi", losses, final_loss, secs)
