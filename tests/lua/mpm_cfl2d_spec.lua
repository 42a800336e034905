-- mpm.substep (2D) at the CFL limit: a launch whose particles would cross more
-- than one cell in dt is split into k equal sub-substeps (substep.c, as
-- substep3.c in 3D; it used to be refused). Equality with k plain launches of
-- dt / k, the threshold, a restart, float64 central-difference checks of a split
-- launch and of rollouts through split substeps, the kept-grid marker, and the
-- CFL error past 16 sub-substeps.
local ds = require("diffsim")
local U = require("mpm_spec_util")
ds.init{precision = "f64", threads = 2}
local mpm = ds.plugin("mpm")

local errs = {}

-- the 6 x 5 block of mpm_kernels_spec in a 16^2 grid (dx = 1/16), its corner in the bands
local function block()
  local pos = {}
  for i = 0, 5 do
    for j = 0, 4 do pos[#pos + 1] = {0.09 + 0.031 * i + 0.004 * j, 0.1 + 0.029 * j + 0.003 * i} end
  end
  return pos
end

local cycle = U.cycle

-- At dt = 1e-2, |v| dt / dx = 0.16 |v|: vy ~ 9.4 is 1.5 cells per step (k = 2).
-- vy ~ 11.6 with gravity -400 (upwards) starts at k = 2 (1.86 cells), but the
-- second half-step's input (vy ~ 13.6, 1.09 cells per half-step) breaks the
-- limit, so the substep restarts at k = 3.
local function fast(vy, g, keep)
  local pos = block()
  local n = #pos
  local sim = mpm.sim{grid = 16, dt = 1e-2, x = pos, material = cycle(n, {0, 1, 2}), group = cycle(n, {-1, 0, 1}),
                      groups = 2, floor = "coulomb", mu = 10, lam = 10, bulk = 5, strength = 5}
  local s = sim:state{v = ds.add_row(ds.randn({n, 2}, 3) * 0.1, ds.tensor{0.3, vy})}
  local args = {x = s.x, v = s.v, C = ds.randn({n, 2, 2}, 4) * 0.5, F = s.F + ds.randn({n, 2, 2}, 5) * 0.05,
                act = ds.tensor{0.3, -0.2}, group = sim.group, material = sim.material,
                mass = ds.tensor(1.2), vol = ds.randn({n}, 7) * 0.1 + 0.9, mu = ds.tensor(10), lam = ds.tensor(8),
                bulk = ds.tensor(5), gravity = ds.tensor(g), friction = ds.tensor(0.4), x_out = ds.empty{n, 2},
                v_out = ds.empty{n, 2}, C_out = ds.empty{n, 2, 2}, F_out = ds.empty{n, 2, 2},
                aux = ds.empty({keep and sim:aux_count() or 0}, "i32")}
  return sim, args
end

local function launch(args, p)
  local o = {}
  for k, v in pairs(args) do o[k] = v end
  for _, k in ipairs{"x_out", "v_out", "C_out", "F_out"} do o[k] = ds.empty_like(args[k]) end
  o.aux = ds.empty_like(args.aux)
  mpm.kernels.substep:launch(o, p)
  return o
end

-- the largest difference between a split launch and k plain launches of dt / k
local function split_gap(vy, g, k, only)
  local sim, args = fast(vy, g)
  local p = sim.params
  if only then
    -- one particle at `only` cells per step along y, the others at rest
    args.v = ds.zeros{sim.n, 2}
    args.v:data()[1] = only * (1 / 16) / p.dt
  end
  return U.split_gap(launch, args, p, k)
end

describe("mpm.substep splits a substep at the CFL limit", function()
  it("a launch at 1.5 cells per step is two launches of dt / 2", function()
    local d2, d3 = split_gap(9.4, 9.8, 2), split_gap(9.4, 9.8, 3)
    print(string.format("# 1.5 cells: vs 2 halves %.3g, vs 3 thirds %.3g", d2, d3))
    assert.is_true(d2 < 1e-12)
    assert.is_true(d3 > 1e-6) -- and not three
  end)
  it("a velocity that grows past the limit inside the substep restarts it with k = 3", function()
    local d3, d2 = split_gap(11.6, -400, 3), split_gap(11.6, -400, 2)
    print(string.format("# restart: vs 3 thirds %.3g, vs 2 halves %.3g", d3, d2))
    assert.is_true(d3 < 1e-12)
    assert.is_true(d2 > 1e-6)
  end)
  it("splits exactly where a particle would cross more than one cell", function()
    U.assert_split_threshold(function(k, cells) return split_gap(0, 9.8, k, cells) end)
  end)
  it("a split launch keeps no grid (aux marker -2) and the sim keeps keeping grids", function()
    local _, args = fast(9.4, 9.8, true)
    local sim = fast(9.4, 9.8)
    local o = launch(args, sim.params)
    assert.are.equal(-2, o.aux:get(1))
    local slow = launch((select(2, fast(2, 9.8, true))), sim.params)
    assert.is_true(slow.aux:get(1) >= 0)
    -- through Sim:substep: a split step must not switch the sim to recomputing (_sparse)
    sim:substep(sim:state{v = args.v}, nil, nil, nil, nil, true)
    assert.is_nil(sim._sparse)
  end)
  for _, c in ipairs{{"k = 2", 9.4, 9.8}, {"k = 3 after a restart", 11.6, -400}, {"k = 2, aux", 9.4, 9.8, true}} do
    it("the adjoint of a split launch (" .. c[1] .. ") matches central differences", function()
      local sim, args = fast(c[2], c[3], c[4])
      -- eps 1e-5 as in the 3D spec: the fast outputs (v ~ 10) make round-off at 1e-6 too large
      local ok, rep = ds.gradcheck_kernel("mpm.substep", args, sim.params,
        {eps = 1e-5, rtol = 1e-5, atol = 1e-7, max_elems = 100})
      assert(ok, tostring(rep.message))
      assert.is_true(rep.checked > 300)
      errs["substep split " .. c[1]] = rep.max_abs_err
    end)
  end
  for _, seg in ipairs{false, 2} do
    local key = seg and "rollout split, checkpoints of 2" or "rollout split, kept grids"
    it("a " .. key .. " matches central differences", function()
      local pos = block()
      local n = #pos
      local sim = mpm.sim{grid = 16, dt = 1e-2, x = pos, material = cycle(n, {2, 0, 1}), group = cycle(n, {-1, 0}),
                          groups = 1, mu = 10, lam = 8, bulk = 5, strength = 5, gravity = 9.8}
      local v0 = ds.add_row(ds.randn({n, 2}, 12) * 0.2, ds.tensor{1, 9})
      local ok, rep = ds.gradcheck(function(v, act, mu)
        sim.mu = mu
        local sT = sim:rollout(sim:state{v = v}, 4, {act = act, checkpoint = seg or nil, tape = seg and ds.tape() or nil})
        return ds.sum(ds.square(sT.x)) + ds.sum(ds.square(sT.v)) * 0.01
      -- eps 1e-4: the fast block's loss (v ~ 9) carries round-off that at eps 1e-6 puts
      -- the small mu gradient (4.6e-4) 2e-5 off; at 1e-4 the error is 2e-10 (measured)
      end, {v0, ds.tensor{0.4}, ds.tensor(10)}, {eps = 1e-4, rtol = 1e-5, atol = 1e-9, max_elems = 12})
      assert(ok, tostring(rep.message))
      assert.is_true(rep.checked >= 14)
      errs[key] = rep.max_abs_err
    end)
  end
  it("past 16 cells per substep: the CFL error naming the kernel", function()
    local sim, args = fast(0, 9.8)
    args.v:data()[1] = 17.5 * (1 / 16) / sim.params.dt -- 17.5 cells
    local ok, err = pcall(launch, args, sim.params)
    assert.is_false(ok)
    assert.truthy(tostring(err):find("mpm.substep.*'v'.*particle 0.*16 sub%-substeps.*CFL"), tostring(err))
    args.v:data()[1] = 3.5 * (1 / 16) / sim.params.dt -- 3.5 cells: 4 sub-substeps
    assert.is_true(pcall(launch, args, sim.params))
  end)
end)

describe("mpm 2D CFL report", function()
  it("prints the worst errors", function()
    U.report(errs, 38)
  end)
end)
