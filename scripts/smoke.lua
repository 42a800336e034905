-- smoke: optimise the initial velocity field of a 2D smoke simulation so that
-- after 99 steps the smoke that started as init_smoke.png shows peace.png.
-- This is the timing peer's configuration exactly (SCENES.md, smoke_pytorch):
-- grid 110^2, h = 1/110, periodic boundaries, velocities in cells per step,
-- 99 steps of {self-advect v, project with 6 Jacobi sweeps from p = 0, advect
-- the smoke}, loss = mean((smoke_99 - target)^2), plain gradient descent on
-- (vx, vy), lr 100, 50 iterations, starting from zero velocity.
--
--   diffsim scripts/smoke.lua [--iters 50] [--out out/smoke] [--solver jacobi|cg]
--     [--lr 100] [--steps 99] [--n 110] [--jacobi-iters 6] [--tol 1e-5] [--bc periodic|wall]
--     [--checkpoint K] [--precision f32|f64] [--threads T] [--no-gif]
--
-- Modes:
--   default / --reference  the peer's algorithm, number for number (the peer has no
--                quirk to undo: its 6 unconverged Jacobi sweeps are the method).
--   --solver cg  the projection is solved to --tol by conjugate gradients (warm
--                started from the previous step's pressure) and its gradient comes
--                from one adjoint CG solve per step (implicit function theorem),
--                so the velocity is divergence-free to the tolerance.
-- --checkpoint K keeps only every K-th step's state on the tape and recomputes the
-- rest during backward (memory O(steps/K + K) instead of O(steps)).
-- Writes: target.png, init.png, final_unoptimized.png, final_optimized.png,
-- velocity_x.png, velocity_y.png (colour-bar plots), rollout.gif and rollout.mp4 (the
-- optimised rollout, frames labelled with their step), loss.csv, loss.png; --vtk also
-- writes smoke.pvd + smoke_NNNN.vti (density per step) and velocity.vti, for ParaView.
local cli = require("diffsim.cli")
local opt, ds = cli.parse(arg, {name = "smoke", script = "scripts/smoke.lua", iters = 50, out = "out/smoke",
  flags = {solver = "jacobi", lr = 100, steps = 99, n = 110, jacobi_iters = 6, tol = 0, max_cg = 2000,
           bc = "periodic", checkpoint = 0, gif = true, vtk = false},
  checks = {solver = {"jacobi", "cg", help = "pressure solver: fixed Jacobi sweeps or conjugate gradients to --tol"},
            bc = {"periodic", "wall", help = "boundary conditions"},
            lr = {gt = 0, help = "GD learning rate (cells per step per unit loss gradient)"},
            steps = {int = true, ge = 1, le = 1e6, help = "simulation steps per rollout"},
            n = {int = true, ge = 4, le = 8192, help = "grid size n x n, in cells"},
            jacobi_iters = {int = true, ge = 1, le = 1e6, help = "Jacobi sweeps per projection"},
            tol = {ge = 0, help = "CG relative residual tolerance (0: the solver's default)"},
            max_cg = {int = true, ge = 1, le = 1e7, help = "CG iteration cap per solve"},
            checkpoint = {int = true, ge = 0, help = "steps per checkpointed segment (0: keep every step)"},
            gif = {help = "write rollout.gif and rollout.mp4 of the optimised rollout"},
            vtk = {help = "write smoke.pvd + smoke_NNNN.vti (density per step) and velocity.vti for ParaView"}}})
local smoke = ds.plugin("smoke")

local n = opt.n
local init, target = smoke.peer_images()
if n ~= 110 then
  init = ds.io.read_png(ds.io.scene_image("init_smoke.png"), {channel = 1, size = {n, n}})
  target = ds.io.read_png(ds.io.scene_image("peace.png"), {channel = "alpha", step = 2, size = {n, n}})
end
local sim = {solver = opt.solver, iters = opt.jacobi_iters, bc = opt.bc, h = 1 / n,
             tol = opt.tol > 0 and opt.tol or nil, max_iters = opt.max_cg}

local vx, vy = ds.zeros{n, n}, ds.zeros{n, n}
local gd = ds.optim.gd({vx, vy}, {lr = opt.lr})

local function rollout(tape, frames)
  local state = {v = {vx, vy}, s = init}
  local K = opt.checkpoint
  if tape and K > 0 then
    local t = 0
    while t < opt.steps do
      local m = math.min(K, opt.steps - t)
      local a, b, s, p = tape:checkpoint(function(a, b, s, p)
        local st = smoke.rollout({v = {a, b}, s = s, p = p}, m, sim)
        return st.v[1], st.v[2], st.s, st.p
      end, state.v[1], state.v[2], state.s, state.p)
      state = {v = {a, b}, s = s, p = p}
      t = t + m
    end
    return state
  end
  return smoke.rollout(state, opt.steps, cli.with(sim, {frames = frames}))
end

local function loss_of(s) return ds.mean(ds.square(s - target)) end

ds.io.write_png(opt.out .. "/target.png", target)
ds.io.write_png(opt.out .. "/init.png", init)

local first_final
local losses, secs = cli.train(ds, opt, "smoke", gd, function(tape)
  local final = rollout(tape)
  return loss_of(final.s), final
end, function(it, _, final)
  if it == 1 then first_final = final.s:detach() end
end)

-- The optimised rollout without a tape: final state and animation.
local frames = {}
local final = ds.no_grad(rollout, nil, opt.gif and frames or nil)
local final_loss = ds.no_grad(loss_of, final.s):item()
if first_final then ds.io.write_png(opt.out .. "/final_unoptimized.png", first_final) end
ds.io.write_png(opt.out .. "/final_optimized.png", final.s)
-- signed fields: a diverging map (white = 0) with a colour bar
ds.io.field_png(opt.out .. "/velocity_x.png", vx, {symmetric = true, title = "optimised initial velocity, x",
  label = "vx (cells/step)", xlabel = "x (cells)", ylabel = "y (cells)"})
ds.io.field_png(opt.out .. "/velocity_y.png", vy, {symmetric = true, title = "optimised initial velocity, y",
  label = "vy (cells/step)", xlabel = "x (cells)", ylabel = "y (cells)"})
if #frames > 0 then
  local every, labels = {}, {}
  for i = 1, #frames, 2 do
    every[#every + 1] = frames[i]
    labels[#labels + 1] = string.format("step %d", i)
  end
  ds.io.write_gif(opt.out .. "/rollout.gif", every, {delay = 6, range = {0, 1}, labels = labels})
  ds.io.write_mp4(opt.out .. "/rollout.mp4", every, {fps = 15, range = {0, 1}, labels = labels})
  if opt.vtk then
    -- ParaView: the smoke density per step, and the optimised initial velocity
    local list, times = {}, {}
    for i = 1, #frames do list[i], times[i] = {grid = frames[i], name = "density"}, i end
    ds.io.write_vtk_series(opt.out .. "/smoke.pvd", list, {times = times})
  end
end
if opt.vtk then
  ds.io.write_vtk(opt.out .. "/velocity.vti", {grid = init, name = "density0",
    point_data = {vx = vx, vy = vy}})
end
local extra = {}
if opt.solver == "cg" then
  extra[1] = {"cg_iters_per_solve", smoke.cg_iters_per_solve()}
end
cli.finish(ds, opt, "smoke", losses, final_loss, secs, extra)
