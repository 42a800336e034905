-- cartpole: swing-up of a pole (1 m uniform rod, 0.5 kg) on a cart (1 kg)
-- pushed by a horizontal force, in two ways:
--  1. trajectory optimisation: L-BFGS over the force sequence (one value per
--     step of 0.02 s, 3 s) through the differentiable articulation rollout;
--  2. a small network policy u = 20 tanh(mlp(x, sin th, cos th, xd, thd)):
--     first fitted to the optimised trajectory (behaviour cloning), then
--     trained through the simulator (back-propagation through time) on a
--     batch of starts around hanging, all copies in one batched step.
-- The loss over the last second: (1 + cos th)^2 (zero upright) + 0.1 x^2 +
-- 0.01 (xd^2 + thd^2), plus 1e-5 u^2 per step.
--   diffsim scripts/cartpole.lua [--iters 60] [--policy-iters 300] [--out out/cartpole]
-- Results: loss_initial, loss_final (trajectory optimisation), upright_error
-- (1 + cos th at the end, 0 = upright), policy_loss_initial, policy_loss_final,
-- policy_upright_error (mean over the batch). Check: the trajectory ends within
-- 0.05 of upright and the policy's loss fell. Pictures: loss.png, angle.png,
-- force.png, policy_loss.png, cartpole.gif, strobe.png.
local cli = require("diffsim.cli")
local opt, ds = cli.parse(arg, {name = "cartpole", script = "scripts/cartpole.lua", iters = 60, out = "out/cartpole",
                                precision = "f64",
                                flags = {policy_iters = 300, batch = 8, hidden = 32, lr = 3e-4, gif = true},
                                checks = {policy_iters = {int = true, ge = 0, le = 1e6, help = "network training iterations through the simulator"},
                                          batch = {int = true, ge = 1, le = 4096, help = "starts trained at once (batched rollout)"},
                                          hidden = {int = true, ge = 1, le = 4096, help = "hidden units of the policy"},
                                          lr = {gt = 0, help = "Adam learning rate of the policy"},
                                          gif = {help = "write cartpole.gif"}}})
local art = ds.plugin("articulation")

local dt, T, hold = 0.02, 150, 50 -- 3 s, the last second is scored
local desc = {name = "cartpole", options = {timestep = dt, ground = false},
              links = {{name = "cart", parent = 0, joint = {type = "prismatic", axis = {1, 0, 0}, damping = 0.1},
                        inertial = {mass = 1, diaginertia = {0.01, 0.01, 0.01}},
                        geoms = {{type = "box", size = {0.2, 0.1, 0.08}}}},
                       {name = "pole", parent = 1, joint = {type = "revolute", axis = {0, 1, 0}, damping = 0.01},
                        inertial = {mass = 0.5, pos = {0, 0, -0.5}, diaginertia = {0.5 / 12, 0.5 / 12, 1e-4}},
                        geoms = {{type = "capsule", pos = {0, 0, -0.5}, size = {0.03, 0.5}},
                                 {type = "sphere", pos = {0, 0, -1}, size = {0.06}}}}},
              actuators = {{joint = "cart", type = "motor", gear = 1}}}
local model = art.model(desc)

local e_x, e_th = ds.tensor{{1}, {0}}, ds.tensor{{0}, {1}}
-- weights over time: 1 for the scored steps
local wt = {}
for s = 1, T + 1 do wt[s] = {s > T + 1 - hold and 1 or 0} end
local W = ds.tensor(wt)
-- the loss of states {T+1, B, 2} and forces {T, B, 1}, averaged over B
local function loss_of(qs, qds, u, B)
  local q2, v2 = ds.reshape(qs, {(T + 1) * B, 2}), ds.reshape(qds, {(T + 1) * B, 2})
  local x, th = ds.matmul(q2, e_x), ds.matmul(q2, e_th)
  local per = ds.square(ds.cos(th) + 1) + ds.square(x) * 0.1 + ds.square(ds.matmul(v2, e_x)) * 0.01 +
              ds.square(ds.matmul(v2, e_th)) * 0.01
  local w = B == 1 and W or ds.reshape(ds.matmul(W, ds.ones{1, B}), {(T + 1) * B, 1})
  return (ds.sum(per * w) + ds.sum(ds.square(u)) * 1e-5) / B
end

-- ---- 1. trajectory optimisation ------------------------------------------
local q0, qd0 = model:initial(1)
local u = ds.zeros{T, 1, 1}:requires_grad()
local tape = ds.tape()
local function traj_loss()
  local qs, qds = model:rollout(u, q0, qd0)
  return loss_of(qs, qds, u, 1)
end
local function closure()
  u:zero_grad()
  local loss = tape:record(traj_loss)
  tape:backward(loss)
  return loss
end
-- a small push to break the symmetry of the hanging start (zero force has zero gradient of cos th)
u:copy_(ds.randn({T, 1, 1}, opt.seed, 1.0))
local lbfgs = ds.optim.lbfgs({u}, {max_iter = 1, history = 20})
local initial = ds.no_grad(traj_loss):item()
local losses = {}
local bar = ds.progress.new(opt.iters, "cartpole")
local t0 = ds.now()
for it = 1, opt.iters do
  lbfgs:step(closure)
  losses[it] = ds.no_grad(traj_loss):item()
  cli.check_loss("cartpole", it, losses[it])
  cli.iter(it, losses[it])
  bar:update(it, losses[it])
end
bar:done()
local secs = ds.now() - t0
cli.write_losses(ds, opt.out, losses, {title = "cartpole (trajectory optimisation)", ylabel = "loss"})
local qs, qds = ds.no_grad(function() return model:rollout(u, q0, qd0) end)
local Q, V, U = qs:totable(), qds:totable(), u:totable()
local upright = 1 + math.cos(Q[T + 1][1][2])
local tt, th, xx, ff = {}, {}, {}, {}
for s = 1, T + 1 do tt[s], th[s], xx[s] = (s - 1) * dt, Q[s][1][2] * 180 / math.pi, Q[s][1][1] end
for s = 1, T do ff[s] = U[s][1][1] end
ds.io.plot(opt.out .. "/angle.png", {{x = tt, y = th, label = "pole angle (deg, +-180 = upright)"}},
           {title = "cartpole: optimised swing-up", xlabel = "time (s)", ylabel = "deg", width = 560, height = 360})
local tf = {}
for s = 1, T do tf[s] = (s - 1) * dt end
ds.io.plot(opt.out .. "/force.png", {{x = tf, y = ff, label = "force on the cart"}, {x = tt, y = xx, label = "cart x (m)"}},
           {title = "cartpole: optimised force and cart position", xlabel = "time (s)", ylabel = "N, m", width = 560,
            height = 360})

-- ---- 2. a network policy ---------------------------------------------------
local net = ds.nn.mlp{sizes = {5, opt.hidden, 1}, act = "tanh", seed = opt.seed}
local B = opt.batch
-- features {B, 5}: x, sin th, cos th, xd, thd (columns placed by selector matrices)
local P_x, P_s, P_c = ds.tensor{{1, 0, 0, 0, 0}, {0, 0, 0, 0, 0}}, ds.tensor{{0, 1, 0, 0, 0}}, ds.tensor{{0, 0, 1, 0, 0}}
local P_v = ds.tensor{{0, 0, 0, 1, 0}, {0, 0, 0, 0, 1}}
local function features(q, qd)
  local th_ = ds.matmul(q, e_th)
  return ds.matmul(q, P_x) + ds.matmul(ds.sin(th_), P_s) + ds.matmul(ds.cos(th_), P_c) + ds.matmul(qd, P_v)
end
local function act(q, qd) return ds.tanh(net:forward(features(q, qd))) * 20 end
-- (a) behaviour cloning on the optimised trajectory: force = 20 tanh(out) fits the forces
local Xs, Ys = {}, {}
for s = 1, T do
  Xs[s] = {Q[s][1][1], math.sin(Q[s][1][2]), math.cos(Q[s][1][2]), V[s][1][1], V[s][1][2]}
  Ys[s] = {math.max(-19.5, math.min(19.5, U[s][1][1]))}
end
local Xt, Yt = ds.tensor(Xs), ds.tensor(Ys)
local adam = ds.optim.adam(net:parameters(), {lr = 1e-2})
for _ = 1, 300 do
  adam:zero_grad()
  local l = tape:record(function() return ds.mean(ds.square(ds.tanh(net:forward(Xt)) * 20 - Yt)) end)
  tape:backward(l)
  adam:step()
end
-- (b) through the simulator, on B starts around hanging
local starts, vstarts = {}, {}
for b = 1, B do
  local r = ds.randn({2}, opt.seed + 100 + b, 1):tolist()
  starts[b] = {b == 1 and 0 or 0.1 * r[1], b == 1 and 0 or 0.1 * r[2]}
  vstarts[b] = {0, 0}
end
local qb0, qdb0 = ds.tensor(starts), ds.tensor(vstarts)
local function policy_rollout(q, qd)
  local qrows, vrows, us = {q}, {qd}, {}
  for s = 1, T do
    local f = act(q, qd)
    us[s] = f
    q, qd = model:step(q, qd, f)
    qrows[s + 1], vrows[s + 1] = q, qd
  end
  local n = q:shape()[1]
  return ds.reshape(ds.concat(qrows), {T + 1, n, 2}), ds.reshape(ds.concat(vrows), {T + 1, n, 2}),
         ds.reshape(ds.concat(us), {T, n, 1})
end
local function policy_loss()
  local pq, pv, pu = policy_rollout(qb0, qdb0)
  return loss_of(pq, pv, pu, B)
end
local adam2 = ds.optim.adam(net:parameters(), {lr = opt.lr})
local plosses = {}
local pinit = ds.no_grad(policy_loss):item()
local bar2 = ds.progress.new(opt.policy_iters, "cartpole policy")
for it = 1, opt.policy_iters do
  adam2:zero_grad()
  local l = tape:record(policy_loss)
  tape:backward(l)
  adam2:step()
  plosses[it] = l:item()
  cli.check_loss("cartpole", it, plosses[it])
  print(string.format("policy iter %d loss %.9g", it, plosses[it]))
  bar2:update(it, plosses[it])
end
bar2:done()
local pfinal = ds.no_grad(policy_loss):item()
if #plosses > 0 then
  local its = {}
  for i = 1, #plosses do its[i] = i end
  ds.io.plot(opt.out .. "/policy_loss.png", {{x = its, y = plosses, label = "batch loss"}},
             {title = string.format("cartpole: network policy through the simulator (%d starts)", B),
              xlabel = "iteration", ylabel = "loss", logy = true, width = 560, height = 360})
end
local pq = ds.no_grad(function() return (policy_rollout(qb0, qdb0)) end)
local PQ = pq:totable()
local perr = 0
for b = 1, B do perr = perr + (1 + math.cos(PQ[T + 1][b][2])) / B end

-- pictures: the optimised swing-up, and the policy's first start
local rows, labels = {}, {}
for s = 1, T + 1, 2 do rows[#rows + 1], labels[#labels + 1] = Q[s][1], string.format("t = %.2f s", (s - 1) * dt) end
local view = {width = 360, height = 240, azimuth = 0, elevation = 0.15, bounds = {-1.6, 1.6, -1.2, 1.2}}
local imgs = model:frames(ds.tensor(rows), view)
if opt.gif then ds.io.write_gif(opt.out .. "/cartpole.gif", imgs, {labels = labels, delay = 4}) end
local strobe = {}
for k = 0, 9 do strobe[#strobe + 1] = Q[1 + math.floor(k * T / 9)][1] end
local simg = model:frames(ds.tensor(strobe), view)
local acc = simg[1]
for k = 2, #simg do acc = acc * simg[k] end
ds.io.write_png(opt.out .. "/strobe.png", acc)

cli.result("loss_initial", initial)
cli.result("loss_final", losses[#losses] or initial)
cli.result("loss_reduction", initial / (losses[#losses] or initial))
cli.result("ms_per_iter", 1000 * secs / math.max(#losses, 1))
cli.result("upright_error", upright)
cli.result("policy_loss_initial", pinit)
cli.result("policy_loss_final", pfinal)
cli.result("policy_upright_error", perr)
cli.check(opt, "cartpole", upright < 0.05 and (opt.policy_iters == 0 or pfinal < pinit),
          string.format("upright error %.3g (want < 0.05), policy loss %.4g -> %.4g", upright, pinit, pfinal))
