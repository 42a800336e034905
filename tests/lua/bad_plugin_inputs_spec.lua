-- Plugins, bad input values found by a sweep over the front ends: each is an
-- error naming the function or kernel and the argument (before this, some ran
-- on silently or failed inside a helper with a message naming the helper).
local ds = require("diffsim")
ds.init({precision = "f64"})

local refuses = require("refuses")

describe("springs", function()
  local springs = ds.plugin("springs")
  local x = {{0.1, 0.2}, {0.2, 0.2}}
  it("a negative rest length or spring damping", function()
    refuses(function() springs.system{x = x, springs = {{1, 2, rest = -1}}}:rollout(2) end,
            "springs.rollout", "argument 'rest'", "spring 1 has -1")
    refuses(function() springs.system{x = x, springs = {{1, 2, c = -0.5}}}:rollout(2) end,
            "springs.rollout", "argument 'spring_damping'")
  end)
  it("a non-tensor state in step", function()
    local sys = springs.system{x = x, springs = {{1, 2}}}
    refuses(function() sys:step(nil, sys.v0) end, "springs.step", "x and v must be tensors")
  end)
  it("a non-finite initial velocity names the element", function()
    refuses(function() springs.system{x = x, springs = {{1, 2}}, v = {{0, 0}, {0 / 0, 0}}}:rollout(2) end,
            "springs.rollout", "argument 'v0'", "non-finite value", "element 2")
  end)
end)

describe("rigid2d boxes: malformed body and anchor rows", function()
  local rigid2d = ds.plugin("rigid2d")
  it("a body position with one coordinate", function()
    refuses(function() rigid2d.boxes{bodies = {{x = {0.3}, halfsize = {0.05, 0.02}}}} end,
            "rigid2d.boxes", "body 1: x must be two numbers")
  end)
  it("a spring anchor with one coordinate", function()
    local bodies = {{x = {0.3, 0.3}, halfsize = {0.05, 0.02}}, {x = {0.5, 0.3}, halfsize = {0.05, 0.02}}}
    refuses(function() rigid2d.boxes{bodies = bodies, springs = {{1, 2, {0.1}}}} end,
            "rigid2d.boxes", "spring 1: anchor 1 must be {x, y}")
  end)
end)

describe("wave: a non-finite initial height or source", function()
  local wave = ds.plugin("wave")
  local p = wave.params{n = 8}
  local function field(v)
    local r = {}
    for i = 1, 8 do r[i] = {} for j = 1, 8 do r[i][j] = 0 end end
    r[3][4] = v
    return ds.tensor(r)
  end
  it("u0 in the default start and in the reference start", function()
    refuses(function() wave.rollout(field(0 / 0), p, {steps = 4}) end, "wave.start", "argument 'u0'", "element 19")
    refuses(function() wave.rollout(field(math.huge), p, {steps = 4, reference = true}) end, "wave.rollout",
            "u0 has a non-finite value at element 19")
  end)
  it("a source field", function()
    refuses(function() wave.rollout(field(0), p, {steps = 4, src = field(-math.huge)}) end, "wave.step_src",
            "argument 'src'", "non-finite")
  end)
end)

describe("smoke: a malformed state", function()
  local smoke = ds.plugin("smoke")
  it("nil, or without the smoke field", function()
    refuses(function() smoke.step(nil) end, "smoke.step", "state must be a table")
    refuses(function() smoke.rollout({v = {ds.zeros{8, 8}, ds.zeros{8, 8}}}, 2) end, "smoke.rollout",
            "without s")
  end)
end)

describe("tensor:first_nonfinite", function()
  it("finds the first NaN or infinity, 0-based, and nil when there is none", function()
    assert.are.equal(2, ds.tensor{1, 2, 0 / 0, math.huge}:first_nonfinite())
    assert.is_nil(ds.tensor{1, 2}:first_nonfinite())
    assert.is_nil(ds.tensor({1, 2}, "i32"):first_nonfinite())
  end)
end)

describe("fem: misspelt options, a real-valued connectivity, a bad step count", function()
  local fem = ds.plugin("fem")
  local mesh = fem.box_mesh{size = {1, 0.1, 0.1}, res = {2, 1, 1}}
  local set = {type = "tet_snh", elems = mesh.tets, E = 1e5}
  it("unknown names in the body, its ground and damping tables, and the mesh builders", function()
    refuses(function() fem.body{verts = mesh.verts, sets = {set}, gravityy = {0, 0, 0}} end, "fem.body",
            "unknown option 'gravityy'")
    refuses(function() fem.body{verts = mesh.verts, sets = {set}, ground = {y = 0, stiffness = 1}} end,
            "fem.body: ground", "'stiffness'")
    refuses(function() fem.body{verts = mesh.verts, sets = {set}, damping = {a = 1}} end, "fem.body: damping", "'a'")
    refuses(function() fem.box_mesh{size = {1, 1, 1}, resolution = 2} end, "fem.box_mesh", "'resolution'")
  end)
  it("elems given as a real tensor", function()
    refuses(function() fem.body{verts = mesh.verts, sets = {{type = "tet_snh", elems = ds.tensor({{0, 1, 2, 3}})}}} end,
            "fem.body", "sets[1].elems must be an i32 tensor")
  end)
  it("a negative or fractional rollout length", function()
    local b = fem.body{verts = mesh.verts, sets = {set}}
    refuses(function() b:rollout(-1, mesh.verts) end, "fem.rollout", "argument 'T (steps)' must be an integer from 0", "got -1")
    refuses(function() b:rollout(2.5, mesh.verts) end, "fem.rollout", "got 2.5")
  end)
end)

describe("mpm front end", function()
  local mpm = ds.plugin("mpm")
  local pos = {{0.4, 0.4}, {0.41, 0.4}, {0.4, 0.41}}
  it("a misspelt sim option, E with mu/lam, a fractional group count", function()
    refuses(function() mpm.sim{x = pos, grdi = 32} end, "mpm.sim", "unknown option 'grdi'")
    refuses(function() mpm.sim{x = pos, E = 10, mu = 3} end, "mpm.sim", "give E and nu, or mu and lam, not both")
    refuses(function() mpm.sim{x = pos, groups = 1.5} end, "mpm.sim", "option 'groups' must be an integer from 1", "got 1.5")
  end)
  it("an actuation with the wrong number of groups", function()
    local sim = mpm.sim{x = pos, grid = 32, groups = 2, group = {0, 1, -1}}
    refuses(function() sim:substep(sim:state(), ds.tensor{1, 2, 3}) end, "mpm.substep",
            "one entry per actuator group (2), got 3")
  end)
  it("a malformed state, step count or checkpoint", function()
    local sim = mpm.sim{x = pos, grid = 32}
    refuses(function() sim:state{v = {1, 2, 3}} end, "mpm.state", "v must be a tensor {3, 2}")
    refuses(function() sim:substep(nil) end, "mpm.substep", "s must be a state")
    refuses(function() sim:rollout(sim:state(), -1) end, "mpm.rollout", "argument 'T (substeps)' must be an integer from 0", "got -1")
    refuses(function() sim:rollout(sim:state(), 2, {chekpoint = 1}) end, "mpm sim:rollout", "'chekpoint'")
    local v = ds.zeros{3, 2}:requires_grad()
    local tape = ds.tape()
    refuses(function() tape:record(function() return sim:rollout(sim:state{v = v}, 4, {checkpoint = 2}).x end) end,
            "mpm.rollout", "needs tape")
  end)
end)

describe("articulation model descriptions", function()
  local art = ds.plugin("articulation")
  local function desc(link_extra, inertial, extra)
    local l = {name = "l1", parent = 0, pos = {0, 0, 1}, joint = {type = "revolute", axis = {0, 1, 0}},
               inertial = inertial or {mass = 1, pos = {0, 0, -0.5}, diaginertia = {0.1, 0.1, 0.01}}}
    for k, v in pairs(link_extra or {}) do l[k] = v end
    local d = {links = {l}, options = {ground = false}}
    for k, v in pairs(extra or {}) do d[k] = v end
    return d
  end
  it("misspelt names in the description, a link, its joint, inertial, geom and an actuator", function()
    refuses(function() art.model(desc(nil, nil, {actuator = {}})) end, "articulation.model", "'actuator'")
    refuses(function() art.model(desc{mas = 1}) end, "articulation.model: links[1]", "'mas'")
    refuses(function() art.model(desc{joint = {type = "revolute", dampin = 1}}) end, "links[1].joint", "'dampin'")
    refuses(function() art.model(desc(nil, {mass = 1, diaginertia = {1, 1, 1}, inertia = 1})) end,
            "links[1].inertial", "'inertia'")
    refuses(function() art.model(desc{geoms = {{type = "sphere", size = {0.1}, frction = 1}}}) end,
            "links[1].geoms[1]", "'frction'")
    refuses(function() art.model(desc(nil, nil, {actuators = {{joint = 1, gian = 2}}})) end, "actuators[1]", "'gian'")
  end)
  it("an inertia no rigid body has (A + B < C), also when rotated", function()
    refuses(function() art.model(desc(nil, {mass = 1, diaginertia = {1, 1, 2.5}})) end, "links[1].inertial",
            "is not a rigid body's", "A + B >= C")
    refuses(function() art.model(desc(nil, {mass = 1, diaginertia = {1, 1, 2.5}, quat = {0.9, 0.3, 0.2, 0.1}})) end,
            "is not a rigid body's")
    assert.is_truthy(art.model(desc(nil, {mass = 1, diaginertia = {1, 1, 2}}))) -- a thin disc: A + B = C
  end)
  it("a bad copy count or initial state length", function()
    local m = art.model(desc())
    refuses(function() m:initial(0) end, "articulation.initial", "argument 'B (copies)' must be an integer from 1", "got 0")
    refuses(function() m:initial(2.5) end, "got 2.5")
    refuses(function() m:initial(1, {0, 0}) end, "q must be a list of 1 numbers")
  end)
end)
