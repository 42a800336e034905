-- toi: why contact needs time of impact to give the right gradient.
--
--   diffsim scripts/toi.lua [--steps 204] [--scan 41] [--out out/toi]
--
-- A ball (no gravity) starts at (0.7, 0.5 + dy) with v = (-1, -2) and bounces
-- elastically off the ground y = 0.1; after 204 steps of 2e-3 it is back on the
-- way up. The true dependence is y_final = 0.2 + ... - y0: raising the start
-- lowers the end, dy_final/dy0 = -1. The time-of-impact integrator gets that;
-- the naive one (reflect once the ball is below the ground) reports +1, because
-- within a step its bounce does not move when y0 moves.
-- Prints `result dy_final_dy0_toi -1`, `result dy_final_dy0_naive 1`, and writes
-- scan.csv, scan.png (the gradient of both over a scan of dy) and scan_y.png
-- (y_final of both over the same scan).
local cli = require("diffsim.cli")
local opt, ds = cli.parse(arg, {name = "toi", script = "scripts/toi.lua", iters = 0, out = "out/toi", precision = "f64",
                                flags = {steps = 204, scan = 41, range = 0.02},
                                checks = {steps = {int = true, ge = 1, le = 1e7, help = "time steps of 2e-3 s per rollout"},
                                          scan = {int = true, ge = 1, le = 1e5, help = "start heights scanned (count)"},
                                          range = {ge = 0, help = "half-width of the scanned start offsets dy, in m"}}})
local springs = ds.plugin("springs")

local function run(mode, dy)
  local sys = springs.system{x = {{0.7, 0.5 + dy}}, v = {{-1, -2}}, springs = {}, dt = 2e-3, gravity = 0, damping = 0,
                             ground = {mode = mode, y = 0.1, restitution = 1, friction = 0}}
  local x0 = sys.x0:requires_grad()
  local tape = ds.tape()
  local y = tape:record(function() return springs.select(sys:rollout(opt.steps, {x0 = x0}), -1, 1, 2) end)
  tape:backward(y)
  return y:item(), x0.grad:tolist()[2]
end

local rows, series = {}, {{}, {}, {}, {}}
local bar = ds.progress.new(opt.scan, "toi scan") -- on a terminal only
for k = 0, opt.scan - 1 do
  local dy = opt.scan > 1 and -opt.range + 2 * opt.range * k / (opt.scan - 1) or 0
  local yt, gt = run("toi", dy)
  local yn, gn = run("naive", dy)
  rows[#rows + 1] = {dy, yt, gt, yn, gn}
  series[1][#series[1] + 1], series[2][#series[2] + 1] = yt, yn
  series[3][#series[3] + 1], series[4][#series[4] + 1] = gt, gn
  bar:update(k + 1, string.format("dy %.3g m", dy))
end
bar:done()
ds.io.write_csv(opt.out .. "/scan.csv", {"dy", "y_final_toi", "grad_toi", "y_final_naive", "grad_naive"}, rows)
local dys = {}
for k = 1, #rows do dys[k] = rows[k][1] * 1000 end
ds.io.plot_png(opt.out .. "/scan.png", {series[3], series[4]}, {x = dys,
  labels = {"time of impact", "naive (reflect below the ground)"},
  title = string.format("d y_final / d y0 over %d steps (true value -1)", opt.steps),
  xlabel = "dy: start height offset (mm)", ylabel = "d y_final / d y0", legend = "right"})
ds.io.plot_png(opt.out .. "/scan_y.png", {series[1], series[2]}, {x = dys,
  labels = {"time of impact", "naive (reflect below the ground)"}, title = "final height of the ball",
  xlabel = "dy: start height offset (mm)", ylabel = "y_final (m)", legend = "right"})
local _, g_toi = run("toi", 0)
local _, g_naive = run("naive", 0)
cli.result("dy_final_dy0_toi", g_toi)
cli.result("dy_final_dy0_naive", g_naive)
cli.check(opt, "toi", math.abs(g_toi + 1) < 1e-6, "the time-of-impact gradient is not -1")
