-- smoke_control: optimise a steady force field that steers a puff of smoke into
-- a target region. A 96^2 box with solid walls; a ball of smoke starts at the
-- left; every step the field f = (fx, fy) is added to the velocity (v += dt f),
-- then the stable-fluids step runs (self-advection, projection, smoke advection).
-- After --steps steps we want the smoke inside the target disk (upper right).
-- The captured fraction alone has no gradient while no smoke reaches the disk, so
-- the loss is the mean squared distance of the smoke to the disk's centre (in grid
-- lengths), plus penalties on lost smoke (semi-Lagrangian advection does not
-- conserve mass exactly, and squeezing smoke away would be a cheat) and force:
--   loss = sum(s_T |x - c|^2) / sum(s_T) + (1 - sum(s_T) / sum(s_0))^2 + reg mean(|f|^2)
-- Adam on the 2 x 96^2 force values; the gradient flows back through every
-- projection (Jacobi sweeps, or --solver cg with its implicit adjoint).
--
--   diffsim scripts/smoke_control.lua [--iters 40] [--out out/smoke_control] [--n 96]
--     [--steps 48] [--lr 0.01] [--reg 0.1] [--solver jacobi|cg] [--jacobi-iters 10]
--
-- Default mode only (no reference scene). Writes: target.png, initial.png,
-- final_unoptimized.png, final_optimized.png, force_x.png, force_y.png,
-- rollout.gif, loss.csv, loss.png. Result lines: the fraction of smoke in the
-- target before and after.
local cli = require("diffsim.cli")
local opt, ds = cli.parse(arg, {name = "smoke_control", script = "scripts/smoke_control.lua", iters = 40,
  out = "out/smoke_control", flags = {n = 96, steps = 48, lr = 0.01, reg = 0.1, solver = "jacobi",
                                      jacobi_iters = 10, tol = 1e-4, gif = true},
  checks = {n = {int = true, ge = 4, le = 8192, help = "grid size n x n, in cells"},
            steps = {int = true, ge = 1, le = 1e6, help = "simulation steps per rollout"},
            lr = {gt = 0, help = "Adam learning rate (force units)"},
            reg = {ge = 0, help = "weight of the force penalty mean(|f|^2) in the loss"},
            solver = {"jacobi", "cg", help = "pressure solver: fixed Jacobi sweeps or conjugate gradients to --tol"},
            jacobi_iters = {int = true, ge = 1, le = 1e6, help = "Jacobi sweeps per projection"},
            tol = {gt = 0, help = "CG relative residual tolerance"},
            gif = {help = "write rollout.gif of the optimised rollout"}}})
local smoke = ds.plugin("smoke")

local n = opt.n
local shape = {n, n}
local s0 = smoke.blob(shape, {0.5 * n, 0.2 * n}, n / 10)
local center = {0.25 * n, 0.75 * n}
local target = ds.clamp(smoke.blob(shape, center, n / 7) * 1e6, 0, 1) -- a hard disk
-- |x - c|^2 / n^2 from a soft ball wider than the box: 1 - |x - c|^2 / (4n)^2
local dist2 = (1 - smoke.blob(shape, center, 4 * n)) * 16
local total0 = ds.sum(s0):item()
local sim = {solver = opt.solver, iters = opt.jacobi_iters, tol = opt.tol, bc = "wall"}

local fx, fy = ds.zeros(shape), ds.zeros(shape)
local adam = ds.optim.adam({fx, fy}, {lr = opt.lr})

local function rollout(frames)
  local st = {v = {ds.zeros(shape), ds.zeros(shape)}, s = s0}
  for t = 1, opt.steps do
    st.v = smoke.force(st.v, st.s, {fx, fy}, {dt = 1})
    st = smoke.step(st, sim)
    if frames then frames[#frames + 1] = st.s end
  end
  return st
end
local function captured(s) return ds.sum(s * target) * (1 / total0) end
local function loss_of(s)
  local mass = ds.sum(s)
  return ds.sum(s * dist2) / mass + ds.square(1 - mass * (1 / total0)) +
         (ds.mean(ds.square(fx)) + ds.mean(ds.square(fy))) * opt.reg
end

ds.io.write_png(opt.out .. "/target.png", target + s0 * 0.5, {range = {0, 1}})
ds.io.write_png(opt.out .. "/initial.png", s0, {range = {0, 1}})

local first
local losses, secs = cli.train(ds, opt, "smoke_control", adam, function()
  local final = rollout()
  return loss_of(final.s), final
end, function(it, _, final)
  if it == 1 then first = final.s:detach() end
end)

local frames = {}
local final = ds.no_grad(rollout, opt.gif and frames or nil)
local final_loss = ds.no_grad(loss_of, final.s):item()
local before = first and ds.no_grad(captured, first):item() or ds.no_grad(captured, final.s):item()
local after = ds.no_grad(captured, final.s):item()
if first then ds.io.write_png(opt.out .. "/final_unoptimized.png", first, {range = {0, 1}}) end
ds.io.write_png(opt.out .. "/final_optimized.png", final.s, {range = {0, 1}})
ds.io.field_png(opt.out .. "/force_x.png", fx, {symmetric = true, title = "optimised force field, x",
  label = "fx (cells/step²)", xlabel = "x (cells)", ylabel = "y (cells)"})
ds.io.field_png(opt.out .. "/force_y.png", fy, {symmetric = true, title = "optimised force field, y",
  label = "fy (cells/step²)", xlabel = "x (cells)", ylabel = "y (cells)"})
if #frames > 0 then
  local labels = {}
  for i = 1, #frames do labels[i] = string.format("step %d", i) end
  ds.io.write_gif(opt.out .. "/rollout.gif", frames, {delay = 6, range = {0, 1}, labels = labels})
end
cli.finish(ds, opt, "smoke_control", losses, final_loss, secs, {{"captured_fraction_initial", before},
  {"captured_fraction_final", after}})
