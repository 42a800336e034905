-- smoke3d: a 3D buoyant smoke plume on a 64^3 grid with solid walls. A ball of
-- smoke is fed by an inflow source near the floor and rises by buoyancy; we
-- optimise the initial velocity field (3 x 64^3 values) so that after --steps
-- steps the smoke matches a target density: the same plume bent toward one
-- side (a ball of smoke up and to the left of where it would rise alone).
-- Axis 0 is vertical (up = decreasing index 0, like image rows), axes 1 and 2
-- are horizontal; images are projections along axis 2 (rows = height).
--
--   diffsim scripts/smoke3d.lua [--iters 30] [--out out/smoke3d] [--n 64] [--steps 24]
--     [--solver jacobi|cg] [--jacobi-iters 10] [--lr 0.25] [--buoyancy 0.05]
--
-- Default mode only (no reference scene in the suite). Adam on the initial
-- velocity; the projection is a fixed number of Jacobi sweeps of the consistent
-- operator (walls) differentiated through, or --solver cg with its implicit adjoint.
-- Writes: target.png, initial.png, final_unoptimized.png, final_optimized.png (projections),
-- slice_optimized.png (the mid-plane), rollout.gif, loss.csv, loss.png; --vtk also
-- writes smoke3d.pvd + smoke3d_NNNN.vti (the optimised rollout's density, step 0 = the
-- initial smoke) and velocity.vti (the optimised initial velocity), for ParaView
-- (VTK x = axis 2, y = axis 1, z = axis 0, so ParaView's z is upside down).
local cli = require("diffsim.cli")
local opt, ds = cli.parse(arg, {name = "smoke3d", script = "scripts/smoke3d.lua", iters = 30, out = "out/smoke3d",
  flags = {n = 64, steps = 24, solver = "jacobi", jacobi_iters = 10, lr = 0.25, buoyancy = 0.05, tol = 1e-4,
           gif = true, vtk = false},
  checks = {n = {int = true, ge = 4, le = 1024, help = "grid size n^3, in cells"},
            steps = {int = true, ge = 1, le = 1e6, help = "simulation steps per rollout"},
            solver = {"jacobi", "cg", help = "pressure solver: fixed Jacobi sweeps or conjugate gradients to --tol"},
            jacobi_iters = {int = true, ge = 1, le = 1e6, help = "Jacobi sweeps per projection"},
            lr = {gt = 0, help = "Adam learning rate (cells per step)"},
            buoyancy = {help = "upward acceleration per unit smoke, in cells per step^2"},
            tol = {gt = 0, help = "CG relative residual tolerance"},
            gif = {help = "write rollout.gif of the optimised rollout"},
            vtk = {help = "write the optimised rollout's density for ParaView: smoke3d.pvd + smoke3d_NNNN.vti"}}})
local smoke = ds.plugin("smoke")

local n = opt.n
local shape = {n, n, n}
local c = n / 2
local s0 = smoke.blob(shape, {0.8 * n, c, c}, n / 8)
local src_mask = smoke.blob(shape, {0.85 * n, c, c}, n / 12)
local src_value = ds.ones(shape)
-- the target: smoke gathered up and to the side of the source
local target = smoke.blob(shape, {0.55 * n, 0.35 * n, c}, n / 6)
local sim = {solver = opt.solver, iters = opt.jacobi_iters, tol = opt.tol, bc = "wall",
             buoyancy = {-opt.buoyancy, 0, 0}, dt = 1, inflow = {mask = src_mask, value = src_value}}

-- Projection along axis 2 (sum over it), scaled by 1/n: an image {n, n}.
local ones = ds.full({n}, 1 / n)
local function project_image(s)
  return ds.no_grad(function() return ds.reshape(ds.matmul(ds.reshape(s, {n * n, n}), ones), {n, n}) end)
end
local function mid_slice(s)
  return ds.no_grad(function()
    local rows = ds.reshape(s, {n * n, n})
    -- column k = n/2 of every (i, j) line
    local pick = ds.zeros{n}
    pick:set(math.floor(n / 2) + 1, 1)
    return ds.reshape(ds.matmul(rows, pick), {n, n})
  end)
end
local show = {range = {0, 0.25}}
ds.io.write_png(opt.out .. "/target.png", project_image(target), show)
ds.io.write_png(opt.out .. "/initial.png", project_image(s0), show)

local v = {ds.zeros(shape), ds.zeros(shape), ds.zeros(shape)}
local adam = ds.optim.adam(v, {lr = opt.lr})
local first
local losses, secs = cli.train(ds, opt, "smoke3d", adam, function()
  local final = smoke.rollout({v = v, s = s0}, opt.steps, sim)
  return ds.mean(ds.square(final.s - target)), final
end, function(it, _, final)
  if it == 1 then first = final.s:detach() end
end)

local frames, grids = {}, {}
if opt.vtk then grids[1] = s0 end
local final = ds.no_grad(smoke.rollout, {v = v, s = s0}, opt.steps, cli.with(sim, {on_step = function(t, st)
  if opt.gif then frames[#frames + 1] = project_image(st.s) end
  if opt.vtk then grids[#grids + 1] = st.s end
end}))
local final_loss = ds.no_grad(function() return ds.mean(ds.square(final.s - target)) end):item()
if first then ds.io.write_png(opt.out .. "/final_unoptimized.png", project_image(first), show) end
ds.io.write_png(opt.out .. "/final_optimized.png", project_image(final.s), show)
ds.io.write_png(opt.out .. "/slice_optimized.png", mid_slice(final.s), {range = {0, 1}})
if #frames > 0 then
  local labels = {}
  for i = 1, #frames do labels[i] = string.format("step %d", i) end
  ds.io.write_gif(opt.out .. "/rollout.gif", frames, {delay = 8, range = show.range, labels = labels})
end
if opt.vtk then
  -- ParaView: the density per step (times in steps), and the optimised initial velocity
  local list, times = {}, {}
  for i = 1, #grids do list[i], times[i] = {grid = grids[i], name = "density"}, i - 1 end
  ds.io.write_vtk_series(opt.out .. "/smoke3d.pvd", list, {times = times})
  ds.io.write_vtk(opt.out .. "/velocity.vti", {grid = s0, name = "density0",
    point_data = {v_axis0 = v[1], v_axis1 = v[2], v_axis2 = v[3]}})
end
cli.finish(ds, opt, "smoke3d", losses, final_loss, secs, {{"cells", n * n * n}})
