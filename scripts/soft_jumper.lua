-- soft_jumper: a soft body with muscle groups learns to crawl forward.
--
--   diffsim scripts/soft_jumper.lua [--iters 30] [--res 2] [--steps 40] [--controller open|nn] [--out out/soft_jumper]
--
-- A 0.4 x 0.1 x 0.1 m block of stable Neo-Hookean tetrahedra (E = 3e4 Pa,
-- nu = 0.4, 1000 kg/m^3; 8 res x 2 res x 2 res cells of 6 tets: 1536 at the
-- default res 2, 5184 at res 3) rests on a frictional ground (cubic penalty
-- contact, smoothed Coulomb friction mu = 0.8) under gravity. Four muscle groups -- the front and back halves, each split
-- into a lower and an upper layer -- swell or shrink with volumetric
-- activations a = 0.25 tanh(theta) (act_vol). Implicit Euler, dt = 0.02 s,
-- --steps steps. Loss: minus the mass-weighted x of the body after the last
-- step, plus 1e-3 |theta|^2. The controller:
--   open  open-loop activations, one per group per step (theta {steps, 4});
--   nn    a ds.nn.mlp 6 -> 32 tanh -> 4 (seeded by --seed) run through the core kit's fused MLP
--         (ds.kit.mlp) each step, on sin/cos of two gait phases and the body's
--         centre-of-mass height and velocity.
-- Adam (lr 0.1 open, 0.01 nn). Gradients: each step's implicit-function adjoint
-- (one CHOLMOD solve per step) w.r.t. the activations (and through them the
-- network), the states chained through the rollout. Pictures: the loss curve,
-- the side view of the body at the start, middle and end of the optimised
-- rollout, soft_jumper.gif (the rollout, side view; --no-gif: none), and
-- (--vtk) the rollout as legacy VTK frames.
-- The check: the loss fell and the body moved forward.
local cli = require("diffsim.cli")
local opt, ds = cli.parse(arg, {name = "soft_jumper", script = "scripts/soft_jumper.lua", iters = 30,
  out = "out/soft_jumper", precision = "f64", flags = {res = 2, steps = 40, controller = "open", lr = 0, vtk = false, gif = true},
  checks = {res = {int = true, ge = 1, le = 6, help = "mesh resolution: 8 res x 2 res x 2 res cells of 6 tets"},
            steps = {int = true, ge = 2, le = 2000, help = "time steps of 0.02 s per rollout"},
            controller = {"open", "nn", help = "open-loop activations per step, or a network"},
            lr = {ge = 0, help = "Adam learning rate (0: 0.1 open, 0.01 nn)"},
            vtk = {help = "write the optimised rollout for ParaView: soft_jumper_NNNN.vtk"},
            gif = {help = "write the optimised rollout as an animation: soft_jumper.gif (side view)"}}})
local fem = ds.plugin("fem")

local mesh = fem.box_mesh{size = {0.4, 0.1, 0.1}, res = {8 * opt.res, 2 * opt.res, 2 * opt.res}}
local n, m, T, G = mesh.n, mesh.m, opt.steps, 4
-- muscle group of each tet: by its centroid (front/back half, lower/upper layer)
local X, tets = mesh.verts:totable(), mesh.tets:totable()
local groups = {}
for e, t in ipairs(tets) do
  local cx, cy = 0, 0
  for a = 1, 4 do cx, cy = cx + X[t[a] + 1][1] / 4, cy + X[t[a] + 1][2] / 4 end
  groups[e] = (cx > 0.2 and 2 or 0) + (cy > 0.05 and 1 or 0)
end
local group_idx = ds.tensor(groups, "i32")
local body = fem.body{verts = mesh.verts, sets = {{type = "tet_snh", elems = mesh.tets, E = 3e4, nu = 0.4, density = 1000}},
  gravity = {0, -9.81, 0}, dt = 0.02, ground = {y = 0, k = 2e6, friction = 0.8, eps = 0.01}, tol = 1e-8}
local mass = body:masses()
local M = 0
for i = 1, n do M = M + mass[i] end
local wx, wy = {}, {}
for i = 1, n do wx[i], wy[i] = {mass[i] / M, 0, 0}, {0, mass[i] / M, 0} end
wx, wy = ds.tensor(wx), ds.tensor(wy)

-- settle on the ground first (no activation), once
local x_start, v_start = ds.no_grad(function()
  local x, v = ds.copy(mesh.verts), ds.zeros{n, 3}
  for t = 1, 15 do x, v = body:step(x, v, {step = t}) end
  return x, v
end)

local theta, net, params
if opt.controller == "open" then
  theta = ds.zeros{T, G}
  params = {theta:requires_grad()}
else
  net = ds.nn.mlp{sizes = {6, 32, G}, act = "tanh", seed = 3 + opt.seed}
  params = net:parameters()
end
local lr = opt.lr > 0 and opt.lr or (opt.controller == "open" and 0.1 or 0.01)

local function activations(t, x, v)
  if theta then return ds.reshape(ds.slice_rows(theta, t, 1), {G}) end
  local ph = 2 * math.pi * t * 0.02
  local com_y, com_vx = ds.dot(x, wy), ds.dot(v, wx)
  local feat = ds.concat{ds.tensor{math.sin(2 * ph), math.cos(2 * ph), math.sin(4 * ph), math.cos(4 * ph)},
                         ds.reshape((com_y - 0.05) * 10, {1}), ds.reshape(com_vx, {1})}
  return ds.kit.mlp(net, feat)
end

local function rollout(keep)
  local x, v = x_start, v_start
  local frames = keep and {x} or nil
  local reg
  for t = 1, T do
    local th = activations(t, x, v)
    local a = ds.tanh(th) * 0.25
    body:set_param(1, "act_vol", ds.gather(a, group_idx))
    x, v = body:step(x, v, {step = t})
    local r = ds.sum(ds.square(th))
    reg = reg and reg + r or r
    if keep then frames[#frames + 1] = x end
  end
  return x, reg, frames
end

local function loss_of()
  local x, reg = rollout(false)
  return ds.dot(x, wx) * -1 + reg * 1e-3
end

local x0_com = ds.no_grad(function() return ds.dot(x_start, wx) end):item()
io.stderr:write(string.format("soft_jumper: %d tets, %d vertices, %d steps, controller %s, %d parameters\n", m, n, T,
  opt.controller, theta and T * G or ds.nn.count(params)))
local adam = ds.optim.adam(params, {lr = lr})
local tape = ds.tape()
local losses, t0 = {}, ds.now()
local newton_total, steps_total = 0, 0
for it = 1, opt.iters do
  adam:zero_grad()
  local loss = tape:record(loss_of)
  tape:backward(loss)
  losses[it] = loss:item() + x0_com -- report relative to the start: minus the distance crawled (+ reg)
  cli.iter(it, losses[it])
  cli.check_loss("soft_jumper", it, losses[it])
  adam:step()
end
local secs = ds.now() - t0
local x_end, _, frames = ds.no_grad(rollout, true)
local dist = ds.dot(x_end, wx):item() - x0_com
local final = ds.no_grad(loss_of):item() + x0_com

-- the smallest element volume over the optimised rollout, relative to rest (< 0: inverted)
local function vol(P, t) return fem.tet_volume(P[t[1] + 1], P[t[2] + 1], P[t[3] + 1], P[t[4] + 1]) end
local min_ratio = math.huge
for _, fr in ipairs(frames) do
  local P = fr:totable()
  for _, t in ipairs(tets) do min_ratio = math.min(min_ratio, vol(P, t) / vol(X, t)) end
end

-- pictures: side view at the start and end, and the loss
cli.write_losses(ds, opt.out, losses, {title = "soft_jumper (" .. opt.controller .. ")",
  ylabel = "minus distance crawled + 1e-3 |theta|^2 (m)"})
local extra = {}
fem.plot_mesh(opt.out .. "/soft_jumper_side.png", {frames[1], frames[math.floor(T / 2) + 1], frames[T + 1]}, mesh.tets, {
  labels = {"start", string.format("t = %.2f s", 0.02 * math.floor(T / 2)), string.format("t = %.2f s", 0.02 * T)},
  title = string.format("soft_jumper (%s): crawled %.1f mm in %.2f s", opt.controller, 1000 * dist, 0.02 * T),
  width = 1000, height = 460, legend = "top-right"})
if opt.gif then
  fem.animate(opt.out .. "/soft_jumper.gif", frames, mesh.tets, {width = 800, height = 400,
    title = function(i) return string.format("soft_jumper (%s), t = %.2f s", opt.controller, 0.02 * (i - 1)) end})
end
if opt.vtk then
  for t, x in ipairs(frames) do
    fem.write_vtk(string.format("%s/soft_jumper_%04d.vtk", opt.out, t - 1), x, mesh.tets)
  end
end
cli.result("loss_initial", losses[1])
cli.result("loss_final", final)
cli.result("ms_per_iter", 1000 * secs / opt.iters)
cli.result("distance_m", dist)
cli.result("min_volume_ratio", min_ratio)
cli.result("tets", m)
cli.result("wall_seconds", secs)
cli.check(opt, "soft_jumper", final < losses[1] and dist > 0, string.format(
  "the loss did not fall (%.4g -> %.4g) or the body did not move forward (%.4g m)", losses[1], final, dist))
