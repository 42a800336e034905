-- water_renderer: inverse rendering through a water surface. A picture lies on
-- the bottom of a 256 x 256 pool (peace.png); a hidden initial surface shaped
-- like the Taichi logo is released, and after 254 wave updates the refracted
-- view is the target image: the logo drawn into the picture by refraction. The
-- script optimises the initial height, starting from a flat pool, until its
-- refracted view matches the target. The DiffTaichi water_renderer scene
-- (wave c = 340, dx = 1/256, dt = dx/(c sqrt 3), zero walls).
--
--   diffsim scripts/water_renderer.lua [--iters 100] [--out out/water_renderer] [--reference]
--     [--background PNG (default scenes/images/peace.png)] [--pattern PNG (default scenes/images/taichi.png)] [--amp 0.004] [--depth 24] [--ior 1.33]
--     [--lr X] [--optimizer adam|gd]
--
-- Modes:
--   default      Snell refraction of a vertical view ray into water `depth` pixels
--                deep, the surface released at rest (second-order first step),
--                Adam on the initial height (lr 2e-4 by default, in height units).
--   --reference  the reference's renderer and start: displacement = -2 x slope,
--                sample positions clamped to [0, n-2] as in the reference,
--                level 1 = 0, plain GD with lr 0.1. The reference's loss (VGG16
--                class scores) needs a pretrained network and is not reproduced:
--                both modes use the image loss mean((view - target)^2).
-- Writes: background.png, target.png, before.png, after.png, height_true.png,
-- height_optimized.png, rollout.gif (the optimised surface's view over time),
-- loss.csv, loss.png.
local cli = require("diffsim.cli")
local opt, ds = cli.parse(arg, {name = "water_renderer", script = "scripts/water_renderer.lua", iters = 100,
  out = "out/water_renderer",
  flags = {background = "", pattern = "", amp = 0.004, depth = 24, ior = 1.33, lr = 0,
           optimizer = "", n = 256, steps = 256, gif = true},
  checks = {background = {help = "PNG on the pool's bottom ('': scenes/images/peace.png)"},
            pattern = {help = "PNG of the hidden initial surface ('': scenes/images/taichi.png)"},
            amp = {help = "height of the hidden surface's pattern (height units)"},
            depth = {gt = 0, help = "water depth, in pixels"}, ior = {gt = 0, help = "refractive index of the water"},
            lr = {ge = 0, help = "learning rate (0: 2e-4 with adam, 0.1 with gd)"},
            optimizer = {"", "adam", "gd", help = "optimizer ('': adam, gd under --reference)"},
            n = {int = true, ge = 4, le = 8192, help = "pool size n x n, in cells"},
            steps = {int = true, ge = 2, le = 1e6, help = "wave states per rollout"},
            gif = {help = "write rollout.gif of the optimised surface's view"}}})
local wave = ds.plugin("wave")
local render = ds.plugin("render")

local n = opt.n
local p = wave.params{n = n}
local view_opts = opt.reference and {mode = "reference", scale = 2, dx = p.dx, boundary = "zero"}
  or {mode = "snell", depth = opt.depth, ior = opt.ior, dx = p.dx, boundary = "zero"}
local optimizer = opt.optimizer ~= "" and opt.optimizer or (opt.reference and "gd" or "adam")
local lr = opt.lr ~= 0 and opt.lr or (optimizer == "gd" and 0.1 or 2e-4)

-- empty flags: the reference's images from scenes/images
local background = render.load_image(opt.background ~= "" and opt.background or ds.io.scene_image("peace.png"), n, n)
-- the hidden surface: the pattern in [-1/2, 1/2] (zero mean) times 2 amp
local h_true = ds.no_grad(function() return wave.target_image(n, opt.pattern ~= "" and opt.pattern or nil) * (2 * opt.amp) end)

local function view(h0, tape, on_level)
  local uT = wave.rollout(h0, p, {steps = opt.steps, reference = opt.reference, tape = tape, on_level = on_level})
  return render.refract(uT, background, view_opts)
end

local target = ds.no_grad(view, h_true)
ds.io.write_png(opt.out .. "/background.png", background)
ds.io.write_png(opt.out .. "/target.png", target)
ds.io.field_png(opt.out .. "/height_true.png", h_true, {symmetric = true, title = "hidden initial height",
  label = "height (pool units)", xlabel = "x (pixels)", ylabel = "y (pixels)"})

local h0 = ds.zeros{n, n}:requires_grad()
local o = optimizer == "gd" and ds.optim.gd({h0}, {lr = lr}) or ds.optim.adam({h0}, {lr = lr})
local losses, secs = cli.train(ds, opt, "water_renderer", o, function(tape)
  local seen = view(h0, tape)
  return ds.mean(ds.square(seen - target)), seen
end, function(it, _, seen)
  if it == 1 then ds.io.write_png(opt.out .. "/before.png", seen) end
end)

local frames = {}
local final = ds.no_grad(function()
  return view(h0, nil, function(t, u)
    if opt.gif and t % 8 == 7 then frames[#frames + 1] = render.refract(u, background, view_opts) end
  end)
end)
local final_loss = ds.no_grad(function() return ds.mean(ds.square(final - target)) end):item()
ds.io.write_png(opt.out .. "/after.png", final)
ds.io.field_png(opt.out .. "/height_optimized.png", h0, {symmetric = true, title = "optimised initial height",
  label = "height (pool units)", xlabel = "x (pixels)", ylabel = "y (pixels)"})
if #frames > 0 then
  local labels = {}
  for i = 1, #frames do labels[i] = string.format("step %d", 8 * i - 1) end
  ds.io.write_gif(opt.out .. "/rollout.gif", frames, {delay = 6, labels = labels})
end
cli.finish(ds, opt, "water_renderer", losses, final_loss, secs)
