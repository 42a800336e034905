-- pendulum: a uniform rod of length 1 m pivoting at one end, released from 5
-- degrees (SCENES.md); the period measured from the zero crossings of the
-- angle is compared with the small-angle formula 2 pi sqrt(2 L / (3 g)).
-- With --links n > 1: a chain of n rods (total length 1 m) released from a
-- bent pose, and the drift of its total energy (undamped: semi-implicit Euler
-- keeps it bounded).
--   diffsim scripts/pendulum.lua [--links 1] [--theta0 5] [--time 10] [--dt 1e-3] [--out out/pendulum]
-- Prints `result period_s`, `result period_small_angle_s`, `result period_rel_err` (one link) and
-- `result energy_drift_rel` (the largest |E(t) - E(0)| over m g L), writes angle.png,
-- energy.png, strobe.png (the links at 8 instants) and pendulum.gif. Check: the
-- period within 1% of the formula (one link), the energy drift below 1% (chains).
local cli = require("diffsim.cli")
local opt, ds = cli.parse(arg, {name = "pendulum", script = "scripts/pendulum.lua", iters = 0, out = "out/pendulum",
                                precision = "f64", flags = {links = 1, theta0 = 5, time = 10, dt = 1e-3, gif = true},
                                checks = {links = {int = true, ge = 1, le = 100, help = "rods in the chain (count)"},
                                          theta0 = {gt = -180, lt = 180, help = "release angle of every joint, degrees"},
                                          time = {gt = 0, le = 1e4, help = "simulated time, s"},
                                          dt = {gt = 0, le = 0.1, help = "time step, s"},
                                          gif = {help = "write pendulum.gif"}}})
local art = ds.plugin("articulation")
local scenes = dofile(ds.root() .. "/scenes/articulation_models.lua")

local n, L, g = opt.links, 1, 9.81
local desc = n == 1 and scenes.pendulum{dt = opt.dt} or scenes.chain(n, {dt = opt.dt, length = L / n, masses = (function()
  local m = {}
  for i = 1, n do m[i] = 1 / n end
  return m
end)()})
local model = art.model(desc)
local th0 = opt.theta0 * math.pi / 180
local q0 = {}
for i = 1, n do q0[i] = i == 1 and th0 or th0 * (i % 2 == 0 and -0.5 or 0.5) end
local q, qd = model:initial(1, q0)
local T = math.floor(opt.time / opt.dt + 0.5)
local t0 = ds.now()
local qs, qds = model:rollout(T, q, qd)
local secs = ds.now() - t0
local Q, V = qs:totable(), qds:totable()

-- energy every few steps (kinetic + potential, Lua side)
local every = math.max(1, math.floor(T / 400))
local et, ev, e0, worst = {}, {}, nil, 0
for s = 1, T + 1, every do
  local e = model:energy(ds.tensor{Q[s][1]}, ds.tensor{V[s][1]})[1]
  e0 = e0 or e
  et[#et + 1], ev[#ev + 1] = (s - 1) * opt.dt, e - e0
  worst = math.max(worst, math.abs(e - e0))
end
local mgl = g * L -- total mass 1 kg (each rod 1/n kg), length 1 m
local drift = worst / mgl

local tt, th = {}, {}
for s = 1, T + 1, every do tt[#tt + 1], th[#th + 1] = (s - 1) * opt.dt, Q[s][1][1] * 180 / math.pi end
ds.io.plot(opt.out .. "/angle.png", {{x = tt, y = th, label = "joint 1"}},
           {title = string.format("pendulum (%d link%s): angle of joint 1", n, n > 1 and "s" or ""),
            xlabel = "time (s)", ylabel = "angle (deg)", width = 560, height = 360})
ds.io.plot(opt.out .. "/energy.png", {{x = et, y = ev, label = "E(t) - E(0)"}},
           {title = string.format("pendulum (%d link%s): energy drift, dt = %g s", n, n > 1 and "s" or "", opt.dt),
            xlabel = "time (s)", ylabel = "J", width = 560, height = 360})

-- pictures of the links
local rows, labels = {}, {}
local frames = math.min(T + 1, 120)
for k = 0, frames - 1 do
  local s = 1 + math.floor(k * T / math.max(frames - 1, 1))
  rows[#rows + 1], labels[#labels + 1] = Q[s][1], string.format("t = %.2f s", (s - 1) * opt.dt)
end
local view = {width = 320, height = 320, azimuth = 0, elevation = 0, bounds = {-1.05, 1.05, -1.1, 0.1}}
local imgs = model:frames(ds.tensor(rows), view)
if opt.gif then ds.io.write_gif(opt.out .. "/pendulum.gif", imgs, {labels = labels, delay = 4}) end
-- strobe: 8 instants over the first period in one picture
local strobe = {}
for k = 0, 7 do strobe[#strobe + 1] = Q[1 + math.floor(k * math.min(T, 1.64 / opt.dt) / 8)][1] end
local simg = model:frames(ds.tensor(strobe), view)
local acc = simg[1]
for k = 2, #simg do acc = ds.minimum and ds.minimum(acc, simg[k]) or acc * simg[k] end
ds.io.write_png(opt.out .. "/strobe.png", acc)

cli.result("steps_per_second", T / secs)
if n == 1 then
  local c = {}
  for s = 2, T + 1 do
    local a, b = Q[s - 1][1][1], Q[s][1][1]
    if (a > 0) ~= (b > 0) then c[#c + 1] = (s - 2 + a / (a - b)) * opt.dt end
  end
  local period = #c >= 3 and 2 * (c[#c] - c[1]) / (#c - 1) or 0 / 0
  local small = 2 * math.pi * math.sqrt(2 * L / (3 * g))
  cli.result("period_s", period)
  cli.result("period_small_angle_s", small)
  cli.result("period_rel_err", period / small - 1)
  cli.result("energy_drift_rel", drift)
  cli.check(opt, "pendulum", math.abs(period / small - 1) < 0.01, "the period is not within 1% of 2 pi sqrt(2L/3g)")
else
  print(string.format("energy drift: max |E(t) - E(0)| = %.3e J over %g s (%.3e of m g L)", worst, opt.time, drift))
  cli.result("energy_drift_rel", drift)
  cli.check(opt, "pendulum", drift < 0.01, "the energy drifted by more than 1% of m g L")
end
