-- mass_spring: teach a mass-spring robot to walk right with a neural controller.
--
--   diffsim scripts/mass_spring.lua --robot 3 --iters 100 --out out/mass_spring
--
-- Robots 0..3 are A..D of scenes/robots.lua. Per step the controller (2-layer MLP,
-- 32 tanh hidden, tanh outputs) sees 10 sine phases sin(10 t dt + 2 pi j / 10), every
-- mass's (x - center) * 0.05 and v * 0.05, and goal - center (goal (0.9, 0.2)); its
-- output act in (-1, 1) per spring sets the target length L0 (1 + a act). Physics:
-- impulses dt (l - L) k / l d, gravity -4.8, damping exp(-15 dt), dt = 4e-3,
-- 682 states (681 updates), ground y = 0.1 with the time-of-impact integrator
-- (--toi, default; sticky like the reference) or the naive one (--naive).
-- Loss: -x of mass 1 (the head) at the last state. Update: the reference's fixed
-- length step, theta -= lr g / (|g| + 1e-6), lr 0.2.
-- The controller and the physics run fused in one kernel (springs.nn_rollout), so
-- an iteration is one forward and one adjoint launch.
-- --reference changes nothing here: these are the reference semantics already.
-- Writes loss.csv, loss.png, gait.gif (the final gait, each frame labelled with
-- its step and time, ground marked every 0.1), gait.mp4 (the same frames) and
-- gait.png (its last frame); --vtk also writes gait.pvd + gait_NNNN.vtp (masses
-- and springs per frame, for ParaView).
local cli = require("diffsim.cli")
local opt, ds = cli.parse(arg, {name = "mass_spring", script = "scripts/mass_spring.lua", iters = 100,
  out = "out/mass_spring",
  flags = {robot = 0, toi = true, naive = false, lr = 0.2, steps = 682, gif = true, hidden = 32, width = 480,
           vtk = false},
  checks = {robot = {int = true, ge = 0, le = 3, help = "robot 0..3 (A..D of scenes/robots.lua)"},
            lr = {gt = 0, help = "length of each normalised gradient step"},
            steps = {int = true, ge = 2, le = 1e6, help = "states per rollout (steps of 4e-3 s)"},
            hidden = {int = true, ge = 1, le = 4096, help = "hidden units of the controller"},
            width = {int = true, ge = 100, le = 8192, help = "width of gait.gif/gait.mp4/gait.png, in pixels"},
            toi = {help = "time-of-impact ground contact (--no-toi or --naive: naive)"},
            naive = {help = "naive ground contact (overrides --toi)"},
            gif = {help = "write gait.gif, gait.mp4 and gait.png of the final rollout"},
            vtk = {help = "write the final rollout for ParaView: gait.pvd + gait_NNNN.vtp"}}})
local springs = ds.plugin("springs")
local robots = require("scenes.robots")

local scene = robots.get(opt.robot)
if opt.naive then opt.toi = false end
scene.ground.mode = opt.toi and "toi" or "naive"
local sys = springs.system(scene)
local T = opt.steps - 1
local net = sys:controller{hidden = opt.hidden, seed = opt.seed}
local params = net:parameters()
local gd = ds.optim.gd(params, {lr = opt.lr, normalize = true})
local goal = robots.goal

local function rollout() return sys:nn_rollout(T, net, {goal = goal}) end
local function loss_of(xs) return springs.select(xs, -1, sys.head, 1, -1) end

io.stderr:write(string.format("robot %s: %d masses, %d springs, %d controller parameters, %s contact\n",
  scene.name, sys.n, sys.ns, ds.nn.count(params), opt.toi and "TOI" or "naive"))
local losses = {}
local tape = ds.tape()
local bar = ds.progress.new(opt.iters, "mass_spring")
local t0 = ds.now()
for it = 1, opt.iters do
  gd:zero_grad()
  local loss = tape:record(function() return loss_of(rollout()) end)
  tape:backward(loss)
  losses[it] = loss:item()
  if losses[it] ~= losses[it] then
    io.stderr:write("error: the loss became NaN at iteration " .. it .. "\n")
    os.exit(1)
  end
  cli.iter(it, losses[it])
  bar:update(it, losses[it])
  gd:step()
end
bar:done()
local secs = ds.now() - t0

local xs, _, _, acts = ds.no_grad(rollout)
local final = loss_of(xs):item()
cli.write_losses(ds, opt.out, losses, {title = "mass_spring (robot " .. scene.name .. ")", ylabel = "loss = -x of the head"})
local every = 8
if opt.gif then
  local view = {0, 1.2, 0, 0.4}
  local W, H = opt.width, math.floor(opt.width / 3)
  local frames = sys:frames(xs, acts, {every = every, width = W, height = H, view = view})
  -- ground marks every 0.1 (taller every 0.5), so that the walk reads as distance
  local gy = math.floor((1 - (scene.ground.y - view[3]) / (view[4] - view[3])) * H + 0.5)
  local marks = {}
  for k = 0, math.floor(view[2] / 0.1 + 1e-9) do
    marks[#marks + 1] = {math.floor(k * 0.1 / view[2] * (W - 1) + 0.5), k % 5 == 0 and 8 or 4}
  end
  local labels = {}
  for i, f in ipairs(frames) do
    local p = f:data()
    for _, m in ipairs(marks) do
      for y = gy, math.min(H - 1, gy + m[2]) do
        local q = (y * W + m[1]) * 3
        p[q], p[q + 1], p[q + 2] = 0.15, 0.15, 0.15
      end
    end
    f:touch()
    local step = (i - 1) * every
    labels[i] = string.format("step %d  t = %.2f s", step, step * sys:dt())
  end
  ds.io.write_gif(opt.out .. "/gait.gif", frames, {delay = 4, labels = labels})
  ds.io.write_mp4(opt.out .. "/gait.mp4", frames, {fps = 25, labels = labels})
  ds.io.write_png(opt.out .. "/gait.png", ds.io.draw_text(frames[#frames], labels[#labels]))
end
if opt.vtk then
  local list, times = {}, {}
  for t = 1, xs:shape()[1], every do
    list[#list + 1] = {points = springs.row(xs, t), lines = sys.pairs}
    times[#times + 1] = (t - 1) * sys:dt()
  end
  ds.io.write_vtk_series(opt.out .. "/gait.pvd", list, {times = times})
end
cli.result("loss_final", final)
cli.result("head_x", -final)
cli.result("loss_initial", losses[1] or final)
cli.result("ms_per_iter", opt.iters > 0 and 1000 * secs / opt.iters or 0)
