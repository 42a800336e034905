-- diffmpm3d: teach DiffTaichi's 3D soft robot (examples/diffmpm3d.py) to walk along +x.
--
--   diffsim scripts/diffmpm3d.lua [--iters 100] [--out out/diffmpm3d] [--reference] [--steps 511]
--
-- Scene (scenes/mpm_robot.lua): 30,495 neo-Hookean particles (16 actuated leg
-- boxes, 3 body boxes), grid 64^3, E = mu = lam = 10, mass = vol = 1, gravity 10,
-- 511 substeps of 2e-3, sticky walls and ceiling (the reference zeroes the whole
-- velocity in the 3-node bands); the floor has Coulomb friction 1.5 by default and
-- the reference's effectively sticky floor under --reference.
-- Controller: act_i(t) = tanh(sum_j w_ij sin(40 t dt + 2 pi j / 4) + b_i), 16 x 4
-- weights ~ N(0, 0.01^2) (seeded) and 16 biases; stress += F diag(0, 0, 5 act) F^T
-- (the fibres along z). Loss -mean_x of the solid particles after the last substep;
-- plain GD lr 30. Checkpointed rollout (--checkpoint substeps per segment).
-- scripts/liquid.lua runs the same with the robot under a fluid block.
-- Writes loss.csv, loss.png, robot.gif (side view, coloured by actuation / material);
-- --vtk also particles.pvd + particles_NNNN.vtp (points with velocity and actuation).
local cli = require("diffsim.cli")
local spec = rawget(_G, "DIFFMPM3D_SPEC") or {name = "diffmpm3d", lr = 30, iters = 100}
local opt, ds = cli.parse(arg, {script = "scripts/" .. spec.name .. ".lua", name = spec.name, iters = spec.iters,
  out = "out/" .. spec.name,
  flags = {lr = spec.lr, steps = 511, checkpoint = 24, gif = true, frames = 32, vtk = false},
  checks = {lr = {gt = 0, help = "GD learning rate"},
            steps = {int = true, ge = 1, le = 1e6, help = "substeps of 2e-3 s per rollout"},
            checkpoint = {int = true, ge = 0, help = "substeps per checkpointed segment (0: keep every substep)"},
            gif = {help = "write robot.gif of the final rollout"},
            frames = {int = true, ge = 1, le = 1e5, help = "frames in robot.gif and the --vtk series (count)"},
            vtk = {help = "write the final rollout's particles for ParaView: particles.pvd + particles_NNNN.vtp"}}})
local mpm = ds.plugin("mpm")
local robot = require("scenes.mpm_robot")

local grid, dt = 64, 2e-3
local sc = spec.name == "liquid" and robot.liquid3d(1 / grid, opt.seed + 1) or robot.robot3d(1 / grid)
local n = #sc.x
-- per-particle mass (fluid 4, solid 1) only when there is fluid
local mass, solid, n_solid = 1, {}, 0
local fluid = false
for i = 1, n do
  solid[i] = sc.material[i] ~= "fluid" and 1 or 0
  n_solid = n_solid + solid[i]
  if solid[i] == 0 then fluid = true end
end
if fluid then
  local m = {}
  for i = 1, n do m[i] = solid[i] == 1 and 1 or 4 end
  mass = ds.tensor(m)
end
local sim = mpm.sim{grid = grid, dt = dt, bound = 3, mu = 10, lam = 10, bulk = 10, mass = mass, vol = 1,
                    gravity = 10, wall = "sticky", ceiling = "sticky", floor = "coulomb", friction = 1.5,
                    reference = opt.reference, strength = 5, x = sc.x, group = sc.group, material = sc.material,
                    groups = sc.groups}
local T, G, n_sin, omega = opt.steps, sc.groups, 4, 40
io.stderr:write(string.format("%s: %d particles (%d solid), grid %d^3, %d substeps, floor %s\n", spec.name, n,
  n_solid, grid, T, opt.reference and "reference (sticky)" or "Coulomb 1.5"))

local basis = {}
for t = 0, T - 1 do
  local row = {}
  for j = 0, n_sin - 1 do row[j + 1] = math.sin(omega * t * dt + 2 * math.pi * j / n_sin) end
  basis[t + 1] = row
end
local S = ds.tensor(basis)
local W = (ds.randn({G, n_sin}, opt.seed + 1) * 0.01):requires_grad()
local b = ds.zeros{G}:requires_grad()
-- the loss averages the solid particles only: weights 1/n_solid on solids, 0 on fluid, as a {1, n} row
local wrow = {}
for i = 1, n do wrow[i] = solid[i] / n_solid end
local avg = ds.tensor({wrow})

local function actuation()
  local acts = ds.tanh(ds.add_row(ds.matmul(S, W, false, true), b)) -- {T, G}
  return function(t) return ds.reshape(ds.slice_rows(acts, t + 1, 1), {G}) end, acts
end

-- The fastest particle of a state in cells per substep (max |v_d| dt / dx): past 1
-- mpm.substep3 splits the next substep into sub-substeps (docs/mpm.md, CFL limit).
local function cells_per_step(v)
  local p, m = v:data(), 0
  for i = 0, v:numel() - 1 do m = math.max(m, math.abs(p[i])) end
  return m * dt * grid
end

-- the final rollout's fastest particle and how many substeps started past one cell
local cfl = {max = cells_per_step(sim:state().v), split = 0}
local function loss_of(tape)
  local act, acts = actuation()
  local on_step = not tape and function(t, st)
    local c = cells_per_step(st.v)
    cfl.max = math.max(cfl.max, c)
    if c > 1 and t < T then cfl.split = cfl.split + 1 end
  end or nil
  local sT = sim:rollout(sim:state(), T, {tape = tape, checkpoint = opt.checkpoint, act = act, inputs = {acts},
                                          on_step = on_step})
  return -ds.pick(ds.reshape(ds.matmul(avg, sT.x), {3}), 1)
end

local gd = ds.optim.sgd({W, b}, {lr = opt.lr})
ds.reset_peak_memory()
-- A substep that would move a particle more than one cell is split by the kernel
-- into sub-substeps (the reference has no such check and runs on); an update that
-- drives a particle past 16 cells per substep (a blown-up simulation, which the
-- kernel refuses) is undone and retried at half the learning rate.
local losses, secs = cli.train(ds, opt, spec.name, gd, loss_of, nil, {reject = "CFL limit"})
local peak = ds.memory().peak
local final = ds.no_grad(function() return loss_of(nil) end):item()
cli.iter(opt.iters + 1, final, "(after the last update)")

if opt.gif or opt.vtk then
  local frames, every = {}, math.max(1, math.floor(T / opt.frames))
  local states, times = {}, {}
  ds.no_grad(function()
    local act, acts = actuation()
    local A = acts:totable()
    sim:rollout(sim:state(), T, {act = act, on_step = function(t, st)
      if t % every == 0 then
        local col = {}
        for i = 1, n do
          local g = sc.group[i]
          col[i] = g >= 0 and 0.5 + 0.5 * A[t][g + 1] or (solid[i] == 1 and 0.5 or 0)
        end
        if opt.gif then frames[#frames + 1] = sim:render(st.x, {size = 256, color = ds.tensor(col)}) end
        -- ParaView: points with velocity and actuation (0..1; passive solid 0.5, fluid 0), times in seconds
        if opt.vtk then
          states[#states + 1], times[#times + 1] =
            {points = st.x, point_data = {velocity = st.v, actuation = ds.tensor(col)}}, t * dt
        end
      end
    end})
  end)
  if opt.gif then ds.io.write_gif(opt.out .. "/robot.gif", frames, {delay = 6}) end
  if opt.vtk then ds.io.write_vtk_series(opt.out .. "/particles.pvd", states, {times = times}) end
end

cli.finish(ds, opt, spec.name, losses, final, secs, {
  {"mean_x_final", -final},
  {"cells_per_substep_max", cfl.max}, -- of the final rollout: > 1 where substeps were split
  {"substeps_split", cfl.split},
  {"peak_mb", peak / 2^20},
  {"particles", n},
})
