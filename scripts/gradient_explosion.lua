-- gradient_explosion: how the gradient of a long rollout grows with its length.
--
--   diffsim scripts/gradient_explosion.lua [--steps 10000] [--out out/gradient_explosion]
--
-- The 1D system v_t = exp(-alpha dt) v_{t-1} + a, x_t = x_{t-1} + dt v_t (a = 1,
-- dt = 1e-3, starting at rest) is a single mass of the springs plugin with no
-- springs, velocity damping alpha and gravity a / dt (so a step adds exactly a).
-- dx_T/da grows like dt T^2 / 2 without damping and like dt T / (alpha dt) = T / alpha
-- with it. Since x is linear in a, x_T / a is that gradient for every T at once
-- (one springs.rollout per alpha); the table also checks it with the tape, by
-- back-propagating x_T to a through a Lua-built rollout, and against the closed form.
-- Writes table.csv (T, alpha, gradient) and plot.png (log scale, one curve per alpha).
local cli = require("diffsim.cli")
local opt, ds = cli.parse(arg, {name = "gradient_explosion", script = "scripts/gradient_explosion.lua", iters = 0,
                                out = "out/gradient_explosion", precision = "f64", flags = {steps = 10000},
                                checks = {steps = {int = true, ge = 1, le = 1e7,
                                                   help = "longest rollout T, in time steps of 1e-3 s"}}})
local springs = ds.plugin("springs")
local dt, a, Tmax = 1e-3, 1, opt.steps
local alphas = {0, 1, 10, 100}

local function closed(alpha, T)
  if alpha == 0 then return dt * T * (T + 1) / 2 end
  local q = math.exp(-alpha * dt)
  return dt / (1 - q) * (T - q * (1 - q ^ T) / (1 - q))
end

-- the gradient through the tape: a as a tensor, one affine/add per step
local function tape_grad(alpha, T)
  local at = ds.tensor{a}:requires_grad()
  local q = math.exp(-alpha * dt)
  local tape = ds.tape()
  local x = tape:record(function()
    local v, x = ds.tensor{0}, ds.tensor{0}
    for _ = 1, T do
      v = ds.affine(v, q, 0) + at
      x = x + ds.affine(v, dt, 0)
    end
    return ds.sum(x)
  end)
  tape:backward(x)
  return at.grad:item()
end

local rows, series = {}, {}
local checkpoints = {}
for e = 1, math.floor(math.log10(Tmax) + 1e-9) do checkpoints[#checkpoints + 1] = 10 ^ e end
print(string.format("%8s %8s %16s %16s %16s", "T", "alpha", "dxT/da", "tape", "closed form"))
-- a progress bar on a terminal (one tick per table row), erased before each printed line
local bar, done = ds.progress.new(#alphas * #checkpoints, "gradient_explosion"), 0
for ai, alpha in ipairs(alphas) do
  local sys = springs.system{x = {{0, 0}}, springs = {}, dt = dt, damping = alpha, gravity = a / dt, ground = "none"}
  local xs = sys:rollout(Tmax)
  local ys = xs:tolist() -- {Tmax+1, 1, 2}: y is every second entry
  series[ai] = {}
  for T = 1, Tmax do series[ai][T] = ys[2 * (T + 1)] / a end
  for _, T in ipairs(checkpoints) do
    local g = series[ai][T]
    -- the Lua-built rollout costs 3 launches a step: check it up to T = 1000
    local tg = T <= 1000 and tape_grad(alpha, T) or 0 / 0
    local tgs = tg == tg and string.format("%16.8g", tg) or string.format("%16s", "-")
    rows[#rows + 1] = {T, alpha, g, tg == tg and tg or "", closed(alpha, T)}
    ds.progress.clear()
    print(string.format("%8d %8g %16.8g %s %16.8g", T, alpha, g, tgs, closed(alpha, T)))
    done = done + 1
    bar:update(done, string.format("alpha %g  T %d", alpha, T))
    local rel = math.abs(g - closed(alpha, T)) / closed(alpha, T)
    cli.check(opt, "gradient_explosion", not (rel > 1e-6 or (tg == tg and math.abs(tg - g) / g > 1e-9)),
      "the gradient disagrees with the closed form at T = " .. T)
  end
  cli.result("dx_da_s_t" .. Tmax .. "_alpha" .. alpha, series[ai][Tmax]) -- dx_T/da, in seconds
end
bar:done()
ds.io.write_csv(opt.out .. "/table.csv", {"T", "alpha", "dxT_da", "tape", "closed_form"}, rows)
-- one curve per alpha over T, thinned to ~500 points spread evenly on the log T axis
local Ts, seen = {}, {}
for k = 0, 500 do
  local T = math.floor(10 ^ (k / 500 * math.log10(Tmax)) + 0.5)
  if not seen[T] then seen[T] = true; Ts[#Ts + 1] = T end
end
local curves = {}
for ai = 1, #series do
  local ys = {}
  for k, T in ipairs(Ts) do ys[k] = series[ai][T] end
  curves[ai] = {x = Ts, y = ys, label = "alpha = " .. alphas[ai] .. " 1/s"}
end
ds.io.plot_png(opt.out .. "/plot.png", curves, {logx = true, log = true, width = 720, height = 480,
  title = "gradient of x_T with respect to the force a (dt = 1e-3 s)", xlabel = "T (steps)", ylabel = "dx_T / da", legend = "bottom-right"})
