-- Float64 finite-difference checks of mpm.substep, for each material and each
-- boundary, w.r.t. the state (x, v, C, F), actuation and every constant, and of
-- a 20-substep rollout (also through tape:checkpoint).
local ds = require("diffsim")
local U = require("mpm_spec_util")
ds.init{precision = "f64", threads = 2}
local mpm = ds.plugin("mpm")

local errs = {} -- worst absolute error per case, printed at the end (docs/mpm.md)

-- A 6 x 5 block in a 16^2 grid whose lower left corner lies in the wall and
-- floor bands (bound 3 = y, x < 0.1875), so every boundary rule is exercised.
-- spread (default 1) scales its spacing: at 1 about 4 particles per cell, at 3
-- its stencils reach more nodes than it has particles (no kept grid).
local function block(spread)
  local pos, k = {}, spread or 1
  for i = 0, 5 do
    for j = 0, 4 do pos[#pos + 1] = {0.09 + k * (0.031 * i + 0.004 * j), 0.1 + k * (0.029 * j + 0.003 * i)} end
  end
  return pos
end

local cycle = U.cycle

-- The kernel's arguments for a sim with materials `mats`, with random state and
-- velocities that point into the walls (so the band rules trigger).
local function setup(o)
  local pos = block(o.spread)
  local n = #pos
  local sim = mpm.sim{grid = 16, dt = 1e-3, x = pos, material = cycle(n, o.mats), group = cycle(n, {-1, 0, 1}),
                      groups = 2, wall = o.wall or "slip", floor = o.floor or "coulomb", reference = o.reference,
                      mu = 10, lam = 10, bulk = 5}
  local s = sim:state{v = ds.add_row(ds.randn({n, 2}, 3) * 0.4, ds.tensor{-0.3, -0.3})}
  local args = {x = s.x, v = s.v, C = ds.randn({n, 2, 2}, 4) * 0.5, F = s.F + ds.randn({n, 2, 2}, 5) * 0.05,
                act = ds.tensor{0.3, -0.2}, group = sim.group, material = sim.material,
                mass = o.per_particle and (ds.randn({n}, 6) * 0.1 + 1.2) or ds.tensor(1.2),
                vol = o.per_particle and (ds.randn({n}, 7) * 0.1 + 0.9) or ds.tensor(0.9),
                mu = ds.tensor(10), lam = ds.tensor(8), bulk = ds.tensor(5), gravity = ds.tensor(9.8),
                friction = ds.tensor(0.4), x_out = ds.empty{n, 2}, v_out = ds.empty{n, 2},
                C_out = ds.empty{n, 2, 2}, F_out = ds.empty{n, 2, 2},
                aux = ds.empty({o.keep and sim:aux_count() or 0}, "i32")}
  return sim, args
end

local function check_kernel(key, o)
  local sim, args = setup(o)
  -- eps 1e-6: the truncation error (eps^2/6 f''', with f''' ~ 1/dx^3 through the
  -- B-spline weights) and round-off balance there; atol 1e-7 is above both and
  -- far below the gradients (1e-4 .. 1e2)
  local ok, rep = ds.gradcheck_kernel("mpm.substep", args, sim.params,
    {eps = 1e-6, rtol = 1e-5, atol = 1e-7, max_elems = 120})
  assert(ok, key .. ": " .. tostring(rep.message))
  assert.is_true(rep.checked > 300)
  errs[key] = rep.max_abs_err
end

describe("mpm.substep adjoint matches central differences (f64)", function()
  for _, m in ipairs{{"corotated", {1}}, {"neohookean", {2}}, {"fluid", {0}}, {"mixed", {0, 1, 2}}} do
    it("material " .. m[1] .. ", Coulomb floor, slip walls", function()
      check_kernel("substep " .. m[1], {mats = m[2]})
    end)
  end
  it("sticky walls, slip floor", function() check_kernel("substep sticky walls", {mats = {1, 2}, wall = "sticky", floor = "slip"}) end)
  it("sticky floor", function() check_kernel("substep sticky floor", {mats = {1, 2}, floor = "sticky"}) end)
  it("reference floor (zeroed before friction)", function()
    check_kernel("substep reference floor", {mats = {1, 2}, floor = "coulomb", reference = true})
  end)
  it("per-particle mass and volume", function()
    check_kernel("substep per-particle mass/vol", {mats = {0, 1, 2}, per_particle = true})
  end)
  it("the forward's grid kept for the adjoint (aux)", function()
    check_kernel("substep kept grid", {mats = {0, 1, 2}, keep = true})
  end)

  it("the friction gradient is nonzero with a sliding Coulomb floor", function()
    local sim, args = setup{mats = {1}}
    args.friction:requires_grad()
    args.friction:zero_grad()
    local tape = ds.tape()
    local loss = tape:record(function()
      mpm.kernels.substep:launch(args, sim.params)
      return ds.sum(args.v_out)
    end)
    tape:backward(loss)
    assert.is_true(math.abs(args.friction.grad:item()) > 1e-6)
  end)
end)

describe("mpm rollouts: gradients match central differences (f64)", function()
  local function rollout_case(key, checkpoint, keep)
    it(key, function()
      local pos = block()
      local n = #pos
      local sim = mpm.sim{grid = 16, dt = 1e-3, x = pos, material = cycle(n, {1, 2, 0}), group = cycle(n, {-1, 0}),
                          groups = 1, floor = "coulomb", mu = 10, lam = 10, bulk = 5}
      local x0 = sim.x0:detach()
      local v0 = ds.randn({n, 2}, 11) * 0.2
      local mu, lam, g, act = ds.tensor(10), ds.tensor(8), ds.tensor(9.8), ds.tensor{0.5}
      local target = ds.tensor{0.2, 0.1}
      local ok, rep = ds.gradcheck(function(x, v, mu_, lam_, g_, act_)
        sim.mu, sim.lam, sim.gravity = mu_, lam_, g_
        local s = sim:state{x = x, v = v}
        -- checkpoint segments attach to the recording tape (gradcheck's); any tape object starts them
        local sT = sim:rollout(s, 20, {act = act_, checkpoint = checkpoint, tape = checkpoint and ds.tape() or nil,
                                       keep_grid = keep})
        local d = mpm.mean_x(sT.x) - target
        return ds.sum(ds.square(d)) * 0.5 + ds.sum(ds.square(sT.v)) * 0.01
      end, {x0, v0, mu, lam, g, act}, {rtol = 1e-5, atol = 1e-9, max_elems = 12})
      assert(ok, tostring(rep.message))
      assert.is_true(rep.checked >= 28)
      print(string.format("# %s checked %d max_abs_err %.3g", key, rep.checked, rep.max_abs_err))
      errs[key] = rep.max_abs_err
    end)
  end
  rollout_case("rollout 20 substeps")
  rollout_case("rollout 20 substeps, checkpoints of 6", 6)
  rollout_case("rollout 20 substeps, kept grids", nil, true)
  rollout_case("rollout 20 substeps, checkpoints of 6, kept grids", 6, true)

  it("kept grids give bitwise the same loss and gradients as the recompute", function()
    for _, spread in ipairs{1, 3} do
      local pos = block(spread)
      local n = #pos
      local sim = mpm.sim{grid = 16, dt = 1e-3, x = pos, material = cycle(n, {1, 2, 0}), group = cycle(n, {-1, 0}),
                          groups = 1, floor = "coulomb", mu = 10, lam = 10, bulk = 5}
      local function run(keep, seg)
        local v0 = (ds.randn({n, 2}, 11) * 0.2):requires_grad()
        local act = ds.tensor{0.5}:requires_grad()
        local tape = ds.tape()
        local loss = tape:record(function()
          local sT = sim:rollout(sim:state{v = v0}, 30, {act = act, tape = tape, checkpoint = seg, keep_grid = keep})
          return ds.sum(ds.square(sT.x)) + ds.sum(ds.square(sT.v))
        end)
        tape:backward(loss)
        return {loss:item(), v0.grad:totable(), act.grad:totable()}
      end
      assert.are.same(run(false), run(true))
      assert.are.same(run(false, 7), run(true, 7))
    end
  end)

  it("a step keeps its grid when its stencils reach at most n nodes, else keeps nothing", function()
    -- aux[1]: the packed node count, -1 when none is kept (the adjoint then recomputes)
    local function kept(spread)
      local sim, args = setup{mats = {1}, keep = true, spread = spread}
      mpm.kernels.substep:launch(args, sim.params)
      return args.aux:totable()[1], sim.n
    end
    local k1, n = kept(1)
    assert.is_true(k1 >= 16 and k1 <= n, "dense block keeps its " .. k1 .. " nodes")
    assert.are.equal(-1, kept(3))
  end)

  it("a wrongly sized aux is an error naming it", function()
    local sim, args = setup{mats = {1}}
    args.aux = ds.empty({5}, "i32")
    local ok, err = pcall(function() mpm.kernels.substep:launch(args, sim.params) end)
    assert.is_false(ok)
    assert.truthy(tostring(err):find("mpm.substep.*'aux'"))
  end)
end)

describe("mpm E and nu", function()
  it("mu and lam from E and nu carry gradients", function()
    local pos = block()
    local sim = mpm.sim{grid = 16, dt = 1e-3, x = pos, floor = "slip", E = 20, nu = 0.3}
    local E, nu = ds.tensor(20), ds.tensor(0.3)
    local ok, rep = ds.gradcheck(function(E_, nu_)
      sim.E, sim.nu = E_, nu_
      local s = sim:state{v = ds.full({#pos, 2}, -0.2)}
      local sT = sim:rollout(s, 5)
      return ds.sum(ds.square(sT.x))
    end, {E, nu}, {rtol = 1e-5, atol = 1e-9})
    assert(ok, tostring(rep.message))
    errs["rollout E, nu"] = rep.max_abs_err
    print("# E nu", rep.checked, rep.max_abs_err, E.grad:item(), nu.grad:item())
  end)
end)

describe("mpm density", function()
  it("a rollout through density (mass = density vol) matches central differences", function()
    local pos = {}
    for i = 0, 3 do
      for j = 0, 3 do pos[#pos + 1] = {0.3 + 0.02 * i + 0.003 * j, 0.3 + 0.02 * j} end
    end
    local rho = ds.tensor(1.3)
    local sim = mpm.sim{grid = 16, dt = 1e-3, x = pos, floor = "slip", mu = 20, lam = 20, vol = 0.8, density = rho}
    local v0 = ds.randn({#pos, 2}, 21) * 0.3
    local ok, rep = ds.gradcheck(function(r)
      sim.density = r
      local sT = sim:rollout(sim:state{v = v0}, 5)
      return ds.sum(ds.square(sT.x)) + ds.sum(ds.square(sT.v))
    end, {rho}, {rtol = 1e-5, atol = 1e-9})
    assert(ok, tostring(rep.message))
    assert.is_true(math.abs(rho.grad:item()) > 1e-6, "density gets a gradient")
    errs["rollout density"] = rep.max_abs_err
  end)
end)

describe("mpm report", function()
  it("prints the worst relative errors", function()
    U.report(errs, 34)
  end)
end)
