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
-- slice_optimized.png (the mid-plane), rollout.gif, loss.csv, loss.png.
local cli = require("diffsim.cli")
local opt, ds = cli.parse(arg, {name = "smoke3d", script = "scripts/smoke3d.lua", iters = 30, out = "out/smoke3d",
  flags = {n = 64, steps = 24, solver = "jacobi", jacobi_iters = 10, lr = 0.25, buoyancy = 0.05, tol = 1e-4,
           gif = true},
  checks = {n = {int = true, ge = 4, le = 1024}, steps = {int = true, ge = 1, le = 1e6}, solver = {"jacobi", "cg"},
            jacobi_iters = {int = true, ge = 1, le = 1e6}, lr = {gt = 0}, tol = {gt = 0}}})
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

local frames = {}
local final = ds.no_grad(smoke.rollout, {v = v, s = s0}, opt.steps, setmetatable({on_step = function(t, st)
  if opt.gif then frames[#frames + 1] = project_image(st.s) end
end}, {__index = sim}))
local final_loss = ds.no_grad(function() return ds.mean(ds.square(final.s - target)) end):item()
if first then ds.io.write_png(opt.out .. "/final_unoptimized.png", project_image(first), show) end
ds.io.write_png(opt.out .. "/final_optimized.png", project_image(final.s), show)
ds.io.write_png(opt.out .. "/slice_optimized.png", mid_slice(final.s), {range = {0, 1}})
if #frames > 0 then
  local labels = {}
  for i = 1, #frames do labels[i] = string.format("step %d", i) end
  ds.io.write_gif(opt.out .. "/rollout.gif", frames, {delay = 8, range = show.range, labels = labels})
end
cli.finish(ds, opt, "smoke3d", losses, final_loss, secs, {{"cells", n * n * n}})
