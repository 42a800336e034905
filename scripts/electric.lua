-- electric: steer a point charge along a goal path with 8 electrodes whose
-- charges a network sets every step (the DiffTaichi "electric" scene).
--
--   diffsim scripts/electric.lua [--iters 1000] [--out out/electric] [--seed 0] [--lr 0.02]
--     [--steps 511] [--seg 256] [--hidden 64] [--resample | --no-resample] [--eval 8]
--
-- Physics (table A): v_t = e^{-0.2 dt} v_{t-1} + dt sum_i K g_i r_i/|r_i|^3,
-- x_t = x_{t-1} + dt v_t, r_i = x_{t-1} - p_i with |r_i| clamped >= 0.1,
-- K = 1e-3, dt = 0.03, 511 steps, electrodes at the corners and edge midpoints
-- of the square inset by 0.1. Network 8 -> 64 tanh -> 8 tanh (charges), inputs
-- x - 0.5, v, goal - 0.5, goal_v - 0.5, W ~ U(-0.15, 0.15), biases 0.
-- Loss (table B): sum_{t=1}^{511} dt |x_t - goal_t|^2, the goal running linearly
-- through 3 random points in [0.2, 0.8]^2 (2 segments of 256 steps), x_0 the
-- first point, v_0 = 0; plain gradient descent, lr 2e-2. Like the reference,
-- every iteration draws a new goal path (--no-resample keeps the first).
--
-- Semantics: the network at step t reads the state of step t-1. The reference
-- reads x[t], v[t] there, which still hold its *previous* rollout's values (a
-- bug: stale inputs, no gradient through them); diffsim does not reproduce it,
-- in either mode. --reference changes nothing else here (no other quirk).
--
-- Progress is measured on --eval fixed held-out goal paths (seeded), before and
-- after training: result loss_initial / loss_final are their mean losses (with
-- --no-resample: the loss of the one training path).
-- Writes loss.csv, loss.png (training loss per iteration) and track.png (x, y
-- of the charge and of the goal over time on the first held-out path, after
-- training).
local cli = require("diffsim.cli")
local opt, ds = cli.parse(arg, {name = "electric", script = "scripts/electric.lua", iters = 1000, out = "out/electric",
  seed = 0,
  flags = {lr = 0.02, steps = 511, seg = 256, hidden = 64, resample = true, eval = 8},
  checks = {lr = {gt = 0, help = "GD learning rate"}, steps = {int = true, ge = 1, le = 1e6, help = "time steps of 0.03 s per rollout"},
            seg = {int = true, ge = 1, help = "time steps per straight segment of the goal path"},
            hidden = {int = true, ge = 1, le = 4096, help = "hidden units of the controller network"},
            resample = {help = "draw a new random goal path every iteration (--no-resample keeps the first)"},
            eval = {int = true, ge = 1, le = 1000, help = "held-out goal paths for loss_initial/loss_final (count)"}}})
local el = ds.plugin("electric")

local T, seg = opt.steps, opt.seg
local n_points = math.floor(T / seg) + 2 -- enough segments for T steps (3 for 511 / 256)
math.randomseed(opt.seed)
local function rand() return 0.2 + math.random() * 0.6 end
local function task()
  local pts = {}
  for i = 1, n_points do pts[i] = {rand(), rand()} end
  local goal, goal_v = el.goal_path(pts, seg, T)
  return {x0 = ds.tensor(pts[1]), goal = goal, goal_v = goal_v}
end
local held_out = {}
for i = 1, opt.eval do held_out[i] = task() end
local current = task()
-- without resampling the network is fitted to one path: progress is that path's loss
if not opt.resample then held_out = {current} end
local v0 = ds.zeros{2}

local H = opt.hidden
local net = {ds.rand({8, H}, opt.seed + 1, -0.15, 0.15), ds.zeros{H}, ds.rand({H, 8}, opt.seed + 2, -0.15, 0.15), ds.zeros{8}}
for _, p in ipairs(net) do p:requires_grad() end

local function loss_of(tk)
  local xs = el.nn_rollout(net, tk.x0, v0, tk.goal, tk.goal_v)
  return ds.sum(ds.square(ds.slice_rows(xs, 2, T) - tk.goal)) * 0.03, xs
end
local function eval_loss()
  return ds.no_grad(function()
    local s = 0
    for _, tk in ipairs(held_out) do s = s + loss_of(tk):item() end
    return s / #held_out
  end)
end

local before = eval_loss()
local o = ds.optim.sgd(net, {lr = opt.lr})
local losses, secs = cli.train(ds, opt, "electric", o, function()
  if opt.resample then current = task() end
  return (loss_of(current))
end)
local after = eval_loss()

cli.write_losses(ds, opt.out, losses)
local final_xs = ds.no_grad(function() return select(2, loss_of(held_out[1])) end)
local xs, g = final_xs:totable(), held_out[1].goal:totable()
local sx, sy, gx, gy = {}, {}, {}, {}
for t = 1, T do sx[t], sy[t], gx[t], gy[t] = xs[t + 1][1], xs[t + 1][2], g[t][1], g[t][2] end
ds.io.plot(opt.out .. "/track.png", {sx, gx, sy, gy}, {title = "electric: the charge against a held-out goal path",
  xlabel = "step", ylabel = "position", labels = {"charge x", "goal x", "charge y", "goal y"}})
local w = math.max(1, math.floor(#losses / 10))
local function window(a, b) local s = 0; for i = a, b do s = s + losses[i] end; return s / (b - a + 1) end
cli.result("semantics", "controller_reads_state_t-1")
cli.result("loss_initial", before)
cli.result("loss_final", after)
cli.result("loss_reduction", before / after)
if #losses > 0 then
  cli.result("train_loss_first_window", window(1, w))
  cli.result("train_loss_last_window", window(#losses - w + 1, #losses))
end
cli.result("ms_per_iter", 1000 * secs / math.max(opt.iters, 1))
cli.check(opt, "electric", opt.iters == 0 or after < before, "the held-out tracking loss did not decrease")
