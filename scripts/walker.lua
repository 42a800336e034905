-- walker: a planar walker (scenes/articulation_models.lua: a 3 kg torso on a
-- planar root, a front and a back leg with hip and knee PD servos, spherical
-- feet on a frictional ground) learns to move forward. A small network maps
-- the state (height, pitch, joint angles, all velocities) and a clock
-- (sin, cos of 2 pi f t) to the four joint targets, 0.8 tanh(mlp(...)) rad;
-- Adam trains it through the differentiable simulation (back-propagation
-- through time over every step, contacts and friction included), on B copies
-- with different clock phases. Network and physics run fused, T steps of B
-- copies in one launch (articulation.nn_rollout, the kit's MLP).
-- Loss: -(mean forward position of the torso over the run) + 5 (mean(pitch^2)
-- + 10 mean(relu(-0.08 - dz)^2)), dz the torso's height change. The controller
-- with the lowest loss seen is the one kept (and drawn).
--   diffsim scripts/walker.lua [--iters 40] [--time 1] [--batch 2] [--out out/walker]
-- Results: loss_initial, loss_final, distance_initial_m, distance_final_m (the
-- torso's forward travel with the first and the trained controller, batch
-- mean), ms_per_iter. Check: the trained walker moves forward at least 0.1 m
-- more than the untrained one. Pictures: loss.png, distance.png, walker.gif,
-- strobe.png.
local cli = require("diffsim.cli")
local opt, ds = cli.parse(arg, {name = "walker", script = "scripts/walker.lua", iters = 40, out = "out/walker",
                                precision = "f64",
                                flags = {time = 1.0, batch = 2, hidden = 32, lr = 3e-3, decay = 0.95, freq = 2, clip = 1, pitch_weight = 5, gif = true},
                                checks = {time = {gt = 0, le = 100, help = "simulated time per rollout, s"},
                                          batch = {int = true, ge = 1, le = 4096, help = "copies trained at once (clock phases)"},
                                          hidden = {int = true, ge = 1, le = 4096, help = "hidden units of the controller"},
                                          lr = {gt = 0, help = "Adam learning rate of the first iteration"},
                                          decay = {gt = 0, le = 1, help = "learning rate factor per iteration (the walker's loss has cliffs; smaller steps later)"},
                                          freq = {gt = 0, help = "clock frequency, Hz"},
                                          clip = {gt = 0, help = "largest gradient norm (larger gradients are scaled down)"},
                                          pitch_weight = {ge = 0, help = "weight of the mean squared torso pitch (rad^2) in the loss"},
                                          gif = {help = "write walker.gif"}}})
local art = ds.plugin("articulation")
local scenes = dofile(ds.root() .. "/scenes/articulation_models.lua")

local model = art.model(scenes.walker())
local dt = model.dt
local T = math.floor(opt.time / dt + 0.5)
local B = opt.batch
local nq, nv, nu = model.nq, model.nv, model.nu -- 7, 7, 4

local function sel(rows, cols, map)
  local m = {}
  for i = 1, rows do m[i] = {} for j = 1, cols do m[i][j] = 0 end end
  for i, j in pairs(map) do m[i][j] = 1 end
  return ds.tensor(m)
end
-- observations: q without x (6), qd (7), the clock's sin and cos (2); each copy's clock has its own phase
local obs = {}
for i = 2, nq + nv + 2 do obs[#obs + 1] = i end
local phase = {}
for b = 1, B do phase[b] = 2 * math.pi * (b - 1) / B end
local net = ds.nn.mlp{sizes = {#obs, opt.hidden, nu}, act = "tanh", out_act = "tanh", seed = opt.seed}
-- output weights scaled down: the first controller moves the legs a little, at random
do
  local p = net:parameters()
  p[#p - 1]:copy_(p[#p - 1]:detach() * 0.3)
end
local e_x, e_z, e_pitch = sel(nq, 1, {[1] = 1}), sel(nq, 1, {[2] = 1}), sel(nq, 1, {[3] = 1})

local q0, qd0 = model:initial(B)
-- the whole closed loop (network and physics, T steps, B copies) is one launch of articulation.nn_rollout
local function rollout()
  local qs = model:nn_rollout(T, net, q0, qd0, {obs = obs, freq = opt.freq, scale = 0.8, phase = phase})
  local q2 = ds.reshape(qs, {(T + 1) * B, nq})
  local xs, zs, ps = ds.matmul(q2, e_x), ds.matmul(q2, e_z), ds.matmul(q2, e_pitch)
  local n = (T + 1) * B
  -- a torso more than 8 cm below standing height is penalised (falling forward also moves x forward)
  local pen = (ds.sum(ds.square(ps)) + ds.sum(ds.square(ds.relu(-(zs + 0.08)))) * 10) / n
  local last = ds.slice_rows(q2, T * B + 1, B)
  local dist = ds.sum(ds.matmul(last, e_x) - ds.matmul(q0, e_x)) / B
  return dist, pen, ds.sum(xs) / n, qs
end
-- the mean forward position over the run rewards moving early (a denser signal than the end point)
local function loss_fn()
  local dist, pen, xmean = rollout()
  return -xmean + pen * opt.pitch_weight, dist
end

local params = net:parameters()
local adam = ds.optim.adam(params, {lr = opt.lr})
local tape = ds.tape()
local losses, dists, its = {}, {}, {}
local bar = ds.progress.new(opt.iters, "walker")
local t0 = ds.now()
local dist0
local best_loss, best_params = math.huge, {}
for i, p in ipairs(params) do best_params[i] = p:detach() end
for it = 1, opt.iters do
  adam:zero_grad()
  local dist
  local loss = tape:record(function()
    local l, d = loss_fn()
    dist = d
    return l
  end)
  tape:backward(loss)
  -- clip the gradient's norm: contact-rich rollouts have rare large gradients
  local n2 = 0
  for _, p in ipairs(params) do n2 = n2 + ds.sum(ds.square(p.grad)):item() end
  local scale = math.sqrt(n2) > opt.clip and opt.clip / math.sqrt(n2) or 1
  if scale < 1 then for _, p in ipairs(params) do p.grad:copy_(p.grad * scale) end end
  losses[it], dists[it], its[it] = loss:item(), dist:item(), it
  if losses[it] < best_loss then -- the parameters that gave this loss (before the update below)
    best_loss = losses[it]
    for i, p in ipairs(params) do best_params[i] = p:detach() end
  end
  adam:step()
  adam.lr = adam.lr * opt.decay
  dist0 = dist0 or dists[it]
  cli.check_loss("walker", it, losses[it])
  cli.iter(it, losses[it])
  bar:update(it, losses[it])
end
bar:done()
local secs = ds.now() - t0
-- the controller with the lowest loss seen is kept (the loss landscape of a
-- walker has cliffs: one step can tip it over)
for i, p in ipairs(params) do p:copy_(best_params[i]) end
local final_dist, final_pen, final_xm, final_qs = ds.no_grad(rollout)
local final_loss = -final_xm:item() + opt.pitch_weight * final_pen:item()
cli.write_losses(ds, opt.out, losses, {title = "walker", ylabel = "-mean x + w mean pitch^2"})
if #its > 0 then
  ds.io.plot(opt.out .. "/distance.png", {{x = its, y = dists, label = "forward travel (m), batch mean"}},
             {title = string.format("walker: forward travel in %g s", opt.time), xlabel = "iteration", ylabel = "m",
              width = 560, height = 360})
end
-- pictures of copy 1
local FQ = final_qs:totable()
local rows, labels = {}, {}
for s = 0, T, 5 do rows[#rows + 1], labels[#labels + 1] = FQ[s + 1][1], string.format("t = %.2f s", s * dt) end
local lastx = rows[#rows][1]
local view = {width = 400, height = 220, azimuth = -0.25, elevation = 0.25,
              bounds = {math.min(-0.5, lastx - 0.5), math.max(0.5, lastx + 0.5), -0.1, 0.6}}
local imgs = model:frames(ds.tensor(rows), view)
if opt.gif then ds.io.write_gif(opt.out .. "/walker.gif", imgs, {labels = labels, delay = 2}) end
local strobe = {}
for k = 0, 5 do strobe[#strobe + 1] = rows[1 + math.floor(k * (#rows - 1) / 5)] end
local simg = model:frames(ds.tensor(strobe), view)
local acc = simg[1]
for k = 2, #simg do acc = acc * simg[k] end
ds.io.write_png(opt.out .. "/strobe.png", acc)

cli.result("loss_initial", losses[1] or final_loss)
cli.result("loss_final", final_loss)
cli.result("ms_per_iter", 1000 * secs / math.max(#losses, 1))
cli.result("distance_initial_m", dist0 or final_dist:item())
cli.result("distance_final_m", final_dist:item())
cli.check(opt, "walker", final_dist:item() > (dist0 or 0) + 0.1,
          string.format("the walker moved %.3f m (untrained: %.3f m)", final_dist:item(), dist0 or 0))
