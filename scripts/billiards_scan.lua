-- billiards_scan: the billiards objective as a function of the cue ball's angle
-- (the paper's Fig. 11: a flat region where the cue misses and local minima).
--
--   diffsim scripts/billiards_scan.lua [--samples 1000] [--zoom 1] [--out out/billiards_scan]
--
-- As the reference's scan(zoom): for alpha = ((i + 0.5)/N - 0.5) pi zoom, the cue
-- ball starts at (0.1, 0.5) with v = 0.3 (cos alpha, sin alpha); after 1023 steps
-- the objective is |x_last - (0.9, 0.75)|^2 and the final distance its square
-- root. Also records d objective / d alpha (one adjoint per sample), which is 0 on
-- the flat region: gradient descent cannot leave it.
-- Writes scan.csv (angle_deg, distance, objective, d_objective_d_angle), scan.svg
-- (distance vs angle with a title and labelled axes) and scan.png (the same
-- curve without text). Prints the flat fraction and the local minima as result lines.
local cli = require("diffsim.cli")
local opt, ds = cli.parse(arg, {name = "billiards_scan", script = "scripts/billiards_scan.lua", iters = 0,
  out = "out/billiards_scan", flags = {samples = 1000, zoom = 1, steps = 1023},
  checks = {samples = {int = true, ge = 2, le = 1e6, help = "cue angles scanned (count)"},
            zoom = {gt = 0, le = 2, help = "width of the angle range, in units of pi rad (centred on 0)"},
            steps = {int = true, ge = 1, le = 1e6, help = "time steps of 3e-3 s per rollout"}}})
local rigid2d = ds.plugin("rigid2d")
local scene = require("scenes.billiards")

local sys = rigid2d.discs(scene.discs{reference = opt.reference})
local n = sys.n
local rest_x = ds.slice_rows(sys.x0, 2, n - 1)
local rest_v = ds.zeros{n - 1, 2}
local x0 = ds.concat{ds.tensor{{scene.cue_x[1], scene.cue_x[2]}}, rest_x}
local goal = scene.goal
local tape = ds.tape()

local angles, dist, obj, grad, rows = {}, {}, {}, {}, {}
local bar = ds.progress.new(opt.samples, "billiards_scan")
for i = 0, opt.samples - 1 do
  local alpha = ((i + 0.5) / opt.samples - 0.5) * math.pi * opt.zoom
  local cv = ds.tensor{0.3 * math.cos(alpha), 0.3 * math.sin(alpha)}:requires_grad()
  local loss = tape:record(function()
    local xs = sys:rollout(opt.steps, {x0 = x0, v0 = ds.concat{ds.reshape(cv, {1, 2}), rest_v}})
    return ds.square(rigid2d.select(xs, -1, n, 1) - goal[1]) + ds.square(rigid2d.select(xs, -1, n, 2) - goal[2])
  end)
  tape:backward(loss)
  local g = cv.grad:tolist()
  local l = loss:item()
  local k = i + 1
  angles[k], obj[k], dist[k] = math.deg(alpha), l, math.sqrt(l)
  -- chain rule through v = 0.3 (cos a, sin a), per radian
  grad[k] = g[1] * (-0.3 * math.sin(alpha)) + g[2] * (0.3 * math.cos(alpha))
  rows[k] = {angles[k], dist[k], obj[k], grad[k]}
  bar:update(k)
end
bar:done()
ds.io.write_csv(opt.out .. "/scan.csv", {"angle_deg", "distance", "objective", "d_objective_d_angle"}, rows)
local plot = {x = angles, title = "Billiards: final distance of the last ball to the goal",
  xlabel = "initial angle of the cue ball's velocity (degrees)", ylabel = "final distance to goal"}
ds.io.plot(opt.out .. "/scan.svg", {dist}, plot)
ds.io.plot(opt.out .. "/scan.png", {dist}, plot)

-- flat region: the objective does not change with the angle (the cue misses or
-- the last ball is never hit); local minima: interior samples below both neighbours
local flat = 0
for k = 1, #obj do if grad[k] == 0 then flat = flat + 1 end end
local minima = {}
for k = 2, #obj - 1 do
  if dist[k] < dist[k - 1] and dist[k] < dist[k + 1] then minima[#minima + 1] = k end
end
table.sort(minima, function(a, b) return dist[a] < dist[b] end)
cli.result("samples", opt.samples)
cli.result("flat_fraction", flat / #obj)
cli.result("local_minima", #minima)
for r = 1, math.min(5, #minima) do
  local k = minima[r]
  cli.result("minimum_" .. r .. "_angle_deg", angles[k])
  cli.result("minimum_" .. r .. "_distance", dist[k])
end
