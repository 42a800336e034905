-- sysid_chain: system identification of a 5-link chain. A trajectory is
-- recorded from the true model (link masses and joint dampings below), driven
-- by known joint torques (without them, scaling every mass gives the same
-- motion under gravity alone); starting from wrong guesses (every mass 1 kg,
-- every damping 0.05; the rods' inertias scale with their masses), L-BFGS fits log-masses and log-dampings so that the
-- simulated joint angles match the recording. Gradients flow through the
-- articulation rollout into model.args.mass and model.args.damping.
--   diffsim scripts/sysid_chain.lua [--iters 40] [--time 1.5] [--noise 0] [--out out/sysid_chain]
-- Results: loss_initial, loss_final, mass_error_rel and damping_error_rel (the
-- largest relative error), masses and dampings (5 values each). Check: both
-- errors below 2% (noise 0). Pictures: loss.png, fit.png (joint angles, recorded
-- against fitted), params.png (relative errors per iteration), chain.png.
local cli = require("diffsim.cli")
local opt, ds = cli.parse(arg, {name = "sysid_chain", script = "scripts/sysid_chain.lua", iters = 40,
                                out = "out/sysid_chain", precision = "f64",
                                flags = {time = 1.5, dt = 2e-3, noise = 0},
                                checks = {time = {gt = 0, le = 100, help = "length of the recording, s"},
                                          dt = {gt = 0, le = 0.05, help = "time step, s"},
                                          noise = {ge = 0, help = "std of Gaussian noise added to the recorded angles, rad"}}})
local art = ds.plugin("articulation")
local scenes = dofile(ds.root() .. "/scenes/articulation_models.lua")

local n = 5
local true_mass = {1.2, 0.8, 1.0, 0.6, 0.9}
local true_damp = {0.30, 0.12, 0.20, 0.08, 0.15}
local function chain(masses, damps)
  local d = scenes.chain(n, {dt = opt.dt, length = 0.3, masses = masses, damping = damps})
  for i = 1, n do d.links[i].geoms = nil end
  d.actuators = {}
  for i = 1, n do d.actuators[i] = {joint = i, type = "motor", gear = 1} end
  return d
end
local truth = art.model(chain(true_mass, true_damp))
local T = math.floor(opt.time / opt.dt + 0.5)
-- known excitation: a different sine per joint
local u = {}
for s = 1, T do
  local t = (s - 1) * opt.dt
  local row = {}
  for j = 1, n do row[j] = 1.5 / j * math.sin((2 + 1.3 * j) * t + j) end
  u[s] = {row}
end
local ctrl = ds.tensor(u)
local q0, qd0 = truth:initial(1, {0.6, -0.3, 0.4, -0.2, 0.3})
local recorded = ds.no_grad(function() return (truth:rollout(ctrl, q0, qd0)) end)
if opt.noise > 0 then recorded = recorded + ds.randn(recorded:shape(), opt.seed, opt.noise) end

local guess = {}
for i = 1, n do guess[i] = 1 end
local model = art.model(chain(guess, {0.05, 0.05, 0.05, 0.05, 0.05}))
local logm = ds.log(model.args.mass:detach()):requires_grad()
local logd = ds.log(model.args.damping:detach()):requires_grad()
-- the links are uniform rods of known length: their inertias scale with their masses
local unit_inertia = model.args.inertia:detach() -- the guesses are 1 kg each
local ones6 = ds.ones{1, 6}
local function loss_fn()
  local mass = ds.exp(logm)
  model.args.mass, model.args.damping = mass, ds.exp(logd)
  model.args.inertia = ds.matmul(ds.reshape(mass, {n, 1}), ones6) * unit_inertia
  local qs = model:rollout(ctrl, q0, qd0)
  return ds.mean(ds.square(qs - recorded))
end

local function errors()
  local m, d = ds.exp(logm):tolist(), ds.exp(logd):tolist()
  local em, ed = 0, 0
  for i = 1, n do
    em = math.max(em, math.abs(m[i] / true_mass[i] - 1))
    ed = math.max(ed, math.abs(d[i] / true_damp[i] - 1))
  end
  return em, ed, m, d
end

local tape = ds.tape()
local function closure()
  logm:zero_grad(); logd:zero_grad()
  local loss = tape:record(loss_fn)
  tape:backward(loss)
  return loss
end
local lbfgs = ds.optim.lbfgs({logm, logd}, {max_iter = 1, history = 10})
local initial = ds.no_grad(loss_fn):item()
local losses, em_hist, ed_hist, it_hist = {}, {}, {}, {}
local bar = ds.progress.new(opt.iters, "sysid_chain")
local t0 = ds.now()
for it = 1, opt.iters do
  lbfgs:step(closure)
  losses[it] = ds.no_grad(loss_fn):item()
  cli.check_loss("sysid_chain", it, losses[it])
  local em, ed = errors()
  em_hist[it], ed_hist[it], it_hist[it] = em, ed, it
  cli.iter(it, losses[it])
  bar:update(it, losses[it])
  if losses[it] < 1e-20 then break end
end
bar:done()
local secs = ds.now() - t0
cli.write_losses(ds, opt.out, losses, {title = "sysid_chain", ylabel = "mean squared angle error (rad^2)"})
ds.io.plot(opt.out .. "/params.png", {{x = it_hist, y = em_hist, label = "masses"}, {x = it_hist, y = ed_hist, label = "dampings"}},
           {title = "sysid_chain: largest relative parameter error", xlabel = "iteration", ylabel = "relative error",
            logy = true, width = 560, height = 360})

-- fit picture: the recorded and fitted angles of joints 1 and 5
local fitted = ds.no_grad(function() return (model:rollout(ctrl, q0, qd0)) end)
local R, Fq = recorded:totable(), fitted:totable()
local series = {}
for _, j in ipairs{1, 5} do
  local t, a, b = {}, {}, {}
  for s = 1, T + 1, 5 do t[#t + 1], a[#a + 1], b[#b + 1] = (s - 1) * opt.dt, R[s][1][j], Fq[s][1][j] end
  series[#series + 1] = {x = t, y = a, label = "recorded, joint " .. j}
  series[#series + 1] = {x = t, y = b, label = "fitted, joint " .. j}
end
ds.io.plot(opt.out .. "/fit.png", series, {title = "sysid_chain: joint angles", xlabel = "time (s)", ylabel = "rad",
                                           width = 640, height = 380})
local rows = {}
for k = 0, 5 do rows[#rows + 1] = R[1 + math.floor(k * T / 5)][1] end
local imgs = truth:frames(ds.tensor(rows), {width = 320, height = 320, azimuth = 0, elevation = 0})
local acc = imgs[1]
for k = 2, #imgs do acc = acc * imgs[k] end
ds.io.write_png(opt.out .. "/chain.png", acc)

local em, ed, m, d = errors()
cli.result("loss_initial", initial)
cli.result("loss_final", losses[#losses])
cli.result("ms_per_iter", 1000 * secs / #losses)
cli.result("mass_error_rel", em)
cli.result("damping_error_rel", ed)
cli.result("masses", unpack(m))
cli.result("dampings", unpack(d))
cli.check(opt, "sysid_chain", opt.noise > 0 or (em < 0.02 and ed < 0.02),
          string.format("masses (%.3g) or dampings (%.3g) not within 2%%", em, ed))
