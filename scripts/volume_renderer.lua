-- volume_renderer: recover a 3D density from 7 rendered views (the DiffTaichi
-- volume_renderer scene). Emission-only ray marching: a pixel is the sum of the
-- density samples at origin + (k+1) 0.02 dir, k < 1000, inside the box
-- [-0.5, 0.5)^3; 7 cameras on a half circle of radius 1 around the y axis
-- (view v at pi/7 v - pi/2), field of view 1, 512^2 pixels.
--
--   diffsim scripts/volume_renderer.lua [--iters 100] [--out out/volume_renderer] [--reference]
--     [--n 128] [--res 512] [--views 7] [--lr 15]
--
-- Target: the reference's torus (ring radius 0.4, tube 0.1, around the x axis,
-- density 1/n inside), since its bunny_128.bin cannot be fetched here
-- (SCENES.md). Loss: sum over views of mean((image - target)^2). The density
-- starts at 0; each iteration is a projected gradient step
-- density <- max(density - lr grad, 0), lr 15 (table B).
-- Modes: default samples the density trilinearly between voxel centres;
-- --reference uses the reference's nearest-voxel lookup (targets and fit both).
-- Writes views.png (one row per view: target | optimised, shown like the
-- reference's pictures, 1 - image / max of the targets, so dense is dark),
-- loss.csv and loss.png. Under the success check (--check, or the default --iters)
-- exits 1 unless the loss fell by --min-reduction (10 x by default).
local cli = require("diffsim.cli")
local opt, ds = cli.parse(arg, {name = "volume_renderer", script = "scripts/volume_renderer.lua", iters = 100,
  out = "out/volume_renderer",
  flags = {n = 128, res = 512, views = 7, lr = 15, min_reduction = 10},
  checks = {n = {int = true, ge = 2, le = 1024, help = "density grid n^3, in voxels"},
            res = {int = true, ge = 1, le = 4096, help = "rendered image size res x res, in pixels"},
            views = {int = true, ge = 1, le = 360, help = "camera views (count)"},
            lr = {gt = 0, help = "projected-GD learning rate"},
            min_reduction = {ge = 1, help = "loss_initial / loss_final the success check requires (factor)"}}})
local render = ds.plugin("render")

local V, res, n = opt.views, opt.res, opt.n
local o = {res = res, mode = opt.reference and "nearest" or "trilinear"}
local angles = ds.tensor(render.volume_angles(V))
local targets = ds.no_grad(function() return render.volume(render.torus(n), angles, o) end)

local density = ds.zeros{n, n, n}:requires_grad()
local function loss_of(d)
  local imgs = render.volume(d, angles, o)
  return ds.mean(ds.square(imgs - targets)) * V, imgs -- sum over views of each view's mean
end

local losses, tape = {}, ds.tape()
local bar = ds.progress.new(opt.iters, "volume_renderer")
local t0 = ds.now()
for it = 1, opt.iters do
  local loss = tape:record(function() return (loss_of(density)) end)
  tape:backward(loss)
  local l = loss:item()
  cli.check_loss("volume_renderer", it, l)
  losses[it] = l
  cli.iter(it, l)
  bar:update(it)
  -- the projected step: the density stays physical (>= 0)
  density = ds.no_grad(function() return ds.clamp(density - density.grad * opt.lr, 0, 1e300) end):requires_grad()
  tape = ds.tape()
end
bar:done()
local secs = ds.now() - t0
local final_loss, final_imgs = ds.no_grad(function() return loss_of(density) end)
final_loss = final_loss:item()

-- views.png: target | optimised per view, 1 - image / max, side by side by two
-- selector matmuls ({V res, res} x {res, 2 res}), no Lua loop over pixels
local _, top = ds.io.range(targets)
local left, right = {}, {}
for i = 1, res do
  local l, r = {}, {}
  for j = 1, 2 * res do l[j], r[j] = (j == i) and 1 or 0, (j == res + i) and 1 or 0 end
  left[i], right[i] = l, r
end
local strip = ds.no_grad(function()
  local both = ds.matmul(ds.reshape(targets, {V * res, res}), ds.tensor(left)) +
    ds.matmul(ds.reshape(final_imgs, {V * res, res}), ds.tensor(right))
  return ds.clamp(1 - both * (1 / math.max(top, 1e-30)), 0, 1)
end)
ds.io.write_png(opt.out .. "/views.png", strip, {range = {0, 1}})
cli.write_losses(ds, opt.out, losses)
local l0 = losses[1] or final_loss
cli.result("mode", o.mode)
cli.result("loss_initial", l0)
cli.result("loss_final", final_loss)
cli.result("loss_reduction", l0 / final_loss)
cli.result("ms_per_iter", 1000 * secs / math.max(opt.iters, 1))
cli.result("ms_per_view", 1000 * secs / math.max(opt.iters, 1) / V)
cli.check(opt, "volume_renderer", opt.iters == 0 or l0 / final_loss >= opt.min_reduction,
  string.format("the loss fell %.3g x, less than --min-reduction %g", l0 / final_loss, opt.min_reduction))
