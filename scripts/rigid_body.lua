-- rigid_body: teach a rigid-body robot (boxes, springs, joints) to walk to a goal.
--
--   diffsim scripts/rigid_body.lua --robot 0|1|2 [--iters 20] [--naive] [--out out/rigid_body]
--
-- The reference suite's rigid_body (SCENES.md, scenes/rigid_robots.lua): robot 0 (A,
-- a bar on three feet with a mast), 1 (B, a body on two legs) or 2 (Leg, a hip on
-- two three-segment legs). 2047 steps of 1e-3: corner-ground impulses (restitution
-- 0, friction 1) with the time-of-impact correction (--toi, default) or without it
-- (--naive), springs and joints, gravity -9.8, damping e^{-10 dt}.
-- Controller: the reference's network, 32 tanh hidden units and tanh outputs (one
-- per spring), fed 10 sines sin(30 t dt + 2 pi j / 10), per body (x - x_head,
-- v, rotation, omega) * 0.05 and the goal; init W1 x 0.5, W2 x 1, zero biases.
-- Controller and physics run fused in one launch (rigid2d.box_nn_rollout), forward
-- and adjoint. Loss: |x_head(2047) - (0.9, 0.15)|. Update: clipped GD,
-- theta -= lr min(1, 0.2 / (|g| + 1e-4)) g, lr 1, 20 iterations (the reference's).
-- --reference: the reference's simultaneous corner impulses (a box resting flat
-- slowly sinks; the default resolves the corners one after another).
-- Prints iter and result lines; writes loss.csv, loss.png and loss.svg (titled and
-- labelled). Exits 1 if the loss did not fall.
local cli = require("diffsim.cli")
local opt, ds = cli.parse(arg, {name = "rigid_body", script = "scripts/rigid_body.lua", iters = 20,
  out = "out/rigid_body",
  flags = {robot = 0, toi = true, naive = false, lr = 1.0, clip = 0.2, steps = 2047, hidden = 32},
  checks = {robot = {int = true, ge = 0, le = 2, help = "robot 0 (A), 1 (B) or 2 (Leg)"},
            lr = {gt = 0, help = "learning rate"}, clip = {gt = 0, help = "gradient clip norm"},
            steps = {int = true, ge = 1, le = 1e6, help = "time steps of 1e-3 s per rollout"},
            hidden = {int = true, ge = 1, le = 4096, help = "hidden units"},
            toi = {help = "time-of-impact contact (default)"}, naive = {help = "naive contact (no TOI)"}}})
local rigid2d = ds.plugin("rigid2d")
local robots = require("scenes.rigid_robots")

if opt.naive then opt.toi = false end
local scene = robots.get(opt.robot, {toi = opt.toi, reference = opt.reference})
local sys = rigid2d.boxes(scene)
local net = sys:controller{hidden = opt.hidden, seed = opt.seed}
local params = net:parameters()
local gd = ds.optim.gd(params, {lr = opt.lr, clip = opt.clip})
local goal = robots.goal

local function rollout() return sys:nn_rollout(opt.steps, net, {goal = goal}) end
local function loss_fn()
  local states = rollout()
  local dx = rigid2d.select(states, -1, sys.head, 1) - goal[1]
  local dy = rigid2d.select(states, -1, sys.head, 2) - goal[2]
  return ds.sqrt(ds.square(dx) + ds.square(dy))
end

io.stderr:write(string.format("robot %s: %d bodies, %d springs, %d controller parameters, %s contact\n", scene.name,
  sys.n, sys.ns, ds.nn.count(params), opt.toi and "TOI" or "naive"))
local name = string.format("rigid_body (robot %s, %s)", scene.name, opt.toi and "TOI" or "naive")
local losses, secs = cli.train(ds, opt, "rigid_body", gd, loss_fn)
local states = ds.no_grad(rollout)
local final = ds.no_grad(loss_fn):item()
local head = states:totable()[opt.steps + 1][sys.head]
if #losses > 0 then
  local its = {}
  for i = 1, #losses do its[i] = i end
  ds.io.plot(opt.out .. "/loss.svg", {losses}, {x = its, labels = {opt.toi and "TOI" or "naive"}, title = name,
    xlabel = "iteration", ylabel = "|x_head(T) - goal|"})
end
cli.finish(ds, opt, name, losses, final, secs, {
  {"robot", scene.name}, {"contact", opt.toi and "toi" or "naive"},
  {"head_final", head[1], head[2]}, {"goal", goal[1], goal[2]}})
