-- diffmpm: teach the 2D soft robot of DiffTaichi's diffmpm to walk right.
--
--   diffsim scripts/diffmpm.lua [--iters 100] [--out out/diffmpm] [--reference] [--controller sine|nn]
--
-- The scene (examples/diffmpm.py): 2976 particles (a 0.3 x 0.1 body on 4 legs of
-- 0.05 x 0.1, the legs are actuators 0..3; scenes/mpm_robot.lua), grid 128^2,
-- corotated E = mu = lam = 10, mass = vol = 1, gravity 3.8, 1023 substeps of 1e-3,
-- walls and ceiling that zero the velocity in a 3-node band. Floor: real Coulomb
-- friction 0.5 by default; --reference keeps the reference's floor, which zeroes
-- the velocity before its friction projection (effectively sticky).
-- Loss: -mean_x of the particles after the last substep.
-- Controllers:
--   sine (default, the reference's): act_i(t) = tanh(sum_j w_ij sin(20 t dt + 2 pi j / 4) + b_i),
--        w {4, 4} ~ N(0, 0.01^2) (seeded), b = 0; stress += F diag(0, 4 act) F^T.
--   nn: closed loop, a ds.nn.mlp 8 -> 32 tanh -> 4 tanh run through the kit's fused
--        MLP (ds.kit.mlp, one launch per substep) on the observation
--        (centre of mass - its start, 0.1 x mean velocity, the 4 sine phases).
-- The actuation of each substep is an input of mpm.substep with an adjoint, so
-- the loss's gradient reaches the weights. The rollout is checkpointed (segments
-- of --checkpoint substeps, recomputed in backward): memory O(T/k + k) states.
-- Plain GD, lr 0.1. Writes loss.csv, loss.png, robot.gif (coloured by actuation);
-- --vtk also particles.pvd + particles_NNNN.vtp (points with velocity and actuation).
local cli = require("diffsim.cli")
local opt, ds = cli.parse(arg, {script = "scripts/diffmpm.lua", name = "diffmpm", iters = 100, out = "out/diffmpm",
  flags = {lr = 0.1, steps = 1023, checkpoint = 32, controller = "sine", gif = true, frames = 48, hidden = 32,
           vtk = false, keep_grid = true},
  checks = {lr = {gt = 0, help = "GD learning rate"},
            keep_grid = {help = "recorded substeps keep their bins and grid for the adjoint (off: it recomputes them; a slower backward, less memory)"},
            steps = {int = true, ge = 1, le = 1e6, help = "substeps of 1e-3 s per rollout"},
            checkpoint = {int = true, ge = 0, help = "substeps per checkpointed segment (0: keep every substep)"},
            controller = {"sine", "nn", help = "actuation: open-loop sines (reference) or a closed-loop network"},
            gif = {help = "write robot.gif of the final rollout"},
            frames = {int = true, ge = 1, le = 1e5, help = "frames in robot.gif and the --vtk series (count)"},
            hidden = {int = true, ge = 1, le = 4096, help = "hidden units of the nn controller"},
            vtk = {help = "write the final rollout's particles for ParaView: particles.pvd + particles_NNNN.vtp"}}})
local mpm = ds.plugin("mpm")
local robot = require("scenes.mpm_robot")

if opt.controller ~= "sine" and opt.controller ~= "nn" then
  io.stderr:write("diffmpm: --controller must be 'sine' or 'nn', got '" .. tostring(opt.controller) .. "'\n")
  os.exit(2)
end

local grid, dt = 128, 1e-3
local sc = robot.robot2d(1 / grid)
local sim = mpm.sim{grid = grid, dt = dt, bound = 3, mu = 10, lam = 10, mass = 1, vol = 1, gravity = 3.8,
                    wall = "sticky", ceiling = "sticky", floor = "coulomb", friction = 0.5,
                    reference = opt.reference, strength = 4, x = sc.x, group = sc.group, material = sc.material,
                    groups = sc.groups}
local n, T, G = sim.n, opt.steps, sc.groups
local n_sin, omega = 4, 20
io.stderr:write(string.format("diffmpm: %d particles, grid %d^2, %d substeps, controller %s, floor %s\n", n, grid,
  T, opt.controller, opt.reference and "reference (sticky)" or "Coulomb 0.5"))

-- the sine basis of every substep {T, 4}: sin(omega t dt + 2 pi j / 4)
local basis = {}
for t = 0, T - 1 do
  local row = {}
  for j = 0, n_sin - 1 do row[j + 1] = math.sin(omega * t * dt + 2 * math.pi * j / n_sin) end
  basis[t + 1] = row
end
local S = ds.tensor(basis)

local params, act_of, inputs
if opt.controller == "sine" then
  local W = ds.randn({G, n_sin}, opt.seed + 1) * 0.01
  W = W:requires_grad()
  local b = ds.zeros{G}:requires_grad()
  params = {W, b}
  -- all T actuations at once, {T, G}; each substep reads its row
  act_of = function()
    local acts = ds.tanh(ds.add_row(ds.matmul(S, W, false, true), b))
    return function(t) return ds.reshape(ds.slice_rows(acts, t + 1, 1), {G}) end, {acts}
  end
else
  local net = ds.nn.mlp{sizes = {2 + 2 + n_sin, opt.hidden, G}, act = "tanh", out_act = "tanh", seed = opt.seed + 1}
  params = net:parameters()
  local c0 = mpm.mean_x(sim.x0)
  act_of = function()
    return function(t, st)
      local obs = ds.concat{mpm.mean_x(st.x) - c0, mpm.mean_x(st.v) * 0.1, ds.reshape(ds.slice_rows(S, t + 1, 1), {n_sin})}
      return ds.kit.mlp(net, obs)
    end, params
  end
end

local last_acts
local function loss_of(tape)
  local act, extra = act_of()
  last_acts = act
  local sT = sim:rollout(sim:state(), T, {tape = tape, checkpoint = opt.checkpoint, act = act, inputs = extra,
                                          keep_grid = opt.keep_grid})
  return -ds.pick(mpm.mean_x(sT.x), 1)
end

local gd = ds.optim.sgd(params, {lr = opt.lr})
ds.reset_peak_memory()
local losses, secs = cli.train(ds, opt, "diffmpm", gd, loss_of)
local peak = ds.memory().peak
local final = ds.no_grad(function() return loss_of(nil) end):item()
cli.iter(opt.iters + 1, final, "(after the last update)")

if opt.gif or opt.vtk then
  -- the particles coloured by their group's actuation (passive: 0.5)
  local group = sc.group
  local frames, every = {}, math.max(1, math.floor(T / opt.frames))
  local states, times = {}, {}
  ds.no_grad(function()
    local act = act_of()
    local cur
    local s0 = sim:state()
    if opt.vtk then
      local col = {}
      for i = 1, n do col[i] = 0.5 end
      states[1], times[1] = {points = s0.x, point_data = {velocity = s0.v, actuation = ds.tensor(col)}}, 0
    end
    sim:rollout(s0, T, {act = function(t, st) cur = act(t, st); return cur end, on_step = function(t, st)
      if t % every == 0 then
        local a = cur:totable()
        local col = {}
        for i = 1, n do col[i] = group[i] >= 0 and 0.5 + 0.5 * a[group[i] + 1] or 0.5 end
        if opt.gif then frames[#frames + 1] = sim:render(st.x, {size = 256, color = ds.tensor(col)}) end
        if opt.vtk then
          states[#states + 1], times[#times + 1] =
            {points = st.x, point_data = {velocity = st.v, actuation = ds.tensor(col)}}, t * dt
        end
      end
    end})
  end)
  if opt.gif then ds.io.write_gif(opt.out .. "/robot.gif", frames, {delay = 6}) end
  -- ParaView: particles as points with velocity and actuation (0..1, passive 0.5), times in seconds
  if opt.vtk then ds.io.write_vtk_series(opt.out .. "/particles.pvd", states, {times = times}) end
end

cli.finish(ds, opt, "diffmpm", losses, final, secs, {
  {"mean_x_final", -final},
  {"peak_mb", peak / 2^20},
  {"particles", n},
})
