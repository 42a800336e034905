-- Projectile fitting: the smallest complete diffsim optimization.
--
-- 64 point masses start on a line and fly under gravity for 100 steps of the
-- example plugin's semi-implicit Euler; we optimise their launch velocities
-- with Adam so that at the end they draw a circle. Writes loss.csv, loss.png
-- and a plot of the final positions against the target circle (final.png). Under
-- the success check (--check, or the default --iters) exits 1 unless the loss
-- fell a hundredfold.
--   diffsim scripts/projectile.lua --iters 200 --out out/projectile
local cli = require("diffsim.cli")
local opt, ds = cli.parse(arg, {script = "scripts/projectile.lua", name = "projectile", iters = 200,
                                out = "out/projectile", flags = {lr = 0.5, n = 64, steps = 100},
                                checks = {lr = {gt = 0, help = "Adam learning rate (m/s per step)"},
                                          n = {int = true, ge = 2, le = 1e7, help = "point masses (count)"},
                                          steps = {int = true, ge = 1, le = 1e6, help = "time steps of 0.01 s per flight"}}})
local ex = ds.plugin("example")

local n, steps, dt, g = opt.n, opt.steps, 0.01, -9.8
local x0, y0, tx, ty = {}, {}, {}, {}
for i = 1, n do
  local a = 2 * math.pi * (i - 1) / n
  x0[i], y0[i] = (i - 1) / (n - 1), 0
  tx[i], ty[i] = 0.5 + 0.3 * math.cos(a), 0.5 + 0.3 * math.sin(a)
end
local px, py = ds.tensor(x0), ds.tensor(y0)
local target_x, target_y = ds.tensor(tx), ds.tensor(ty)
local vx = ds.zeros{n}:requires_grad()
local vy = ds.randn({n}, opt.seed, 0.1):requires_grad()

local function fly()
  local x, y, vxx, vyy = px, py, vx, vy
  for _ = 1, steps do
    x, vxx = ex.step(x, vxx, dt, 0)
    y, vyy = ex.step(y, vyy, dt, g)
  end
  return x, y
end

local adam = ds.optim.adam({vx, vy}, {lr = opt.lr})
local tape = ds.tape()
local losses = {}
local bar = ds.progress.new(opt.iters, "projectile")
for it = 1, opt.iters do
  adam:zero_grad()
  local loss = tape:record(function()
    local x, y = fly()
    return ds.mean(ds.square(x - target_x) + ds.square(y - target_y))
  end)
  tape:backward(loss)
  adam:step()
  losses[it] = loss:item()
  cli.iter(it, losses[it])
  bar:update(it, losses[it])
end
bar:done()

-- picture: 256x256, target red, reached blue
local x, y = ds.no_grad(fly)
local W = 256
local xs, ys = x:tolist(), y:tolist()
-- closed curves through the targets (the circle) and the final landing points
local function closed(t) local c = {}; for i = 1, #t do c[i] = t[i] end; c[#c + 1] = t[1]; return c end
ds.io.plot(opt.out .. "/final.png", {{x = closed(tx), y = closed(ty), label = "targets (the circle)"},
                                     {x = closed(xs), y = closed(ys), label = "landing points after training"}},
           {title = "projectile: where the projectiles land", xlabel = "x (m)", ylabel = "y (m)", width = 440,
            height = 420})
cli.write_losses(ds, opt.out, losses, {title = "projectile", ylabel = "mean squared distance to the circle"})
cli.result("loss_initial", losses[1])
cli.result("loss_final", losses[#losses])
cli.check(opt, "projectile", losses[#losses] < losses[1] * 1e-2, "the loss did not fall a hundredfold")
