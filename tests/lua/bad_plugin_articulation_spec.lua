-- articulation, bad input: malformed or cyclic models, zero, negative and
-- non-positive-definite inertias, non-unit quaternions, NaN states, wrong
-- tensor shapes. The model description is checked in Lua (articulation.model)
-- and the packed tensors again in C (a script may edit model.args): each case
-- is a clear error naming the function or kernel and the argument. Kernel
-- probes run in a child process, so a crash is a failed test.
local probe = require("probe")
local ds = require("diffsim")
ds.init{precision = "f64", threads = 1}
local art = ds.plugin("articulation")

local function link(extra)
  local l = {parent = 0, joint = {type = "revolute", axis = {0, 1, 0}},
             inertial = {mass = 1, pos = {0, 0, -0.5}, diaginertia = {0.08, 0.08, 0.001}}}
  for k, v in pairs(extra or {}) do l[k] = v end
  return l
end
local function refuses(desc, text)
  local ok, err = pcall(art.model, desc)
  assert.is_false(ok)
  assert.is_truthy(tostring(err):find(text, 1, true), "message was: " .. tostring(err))
end

describe("articulation.model: a malformed description names the field", function()
  it("no links", function() refuses({links = {}}, "articulation.model: expected a description table") end)
  it("a parent that is not an earlier link (a cycle)", function()
    refuses({links = {link(), link{parent = 3}, link{parent = 2}}}, "links[2].parent = 3 must be 0 (the world) or the index of an earlier link")
    refuses({links = {link{parent = 1}}}, "links[1].parent = 1")
    refuses({links = {link{parent = -1}}}, "links[1].parent = -1")
    refuses({links = {link{parent = 1.5}}}, "links[1].parent = 1.5")
  end)
  it("an unknown joint type", function()
    refuses({links = {link{joint = {type = "hinge"}}}}, "links[1].joint.type = hinge is not one of")
  end)
  it("a free joint below another link", function()
    refuses({links = {link(), link{parent = 1, joint = {type = "free"}}}}, "links[2]: a free joint's parent must be the world")
  end)
  it("zero and negative mass", function()
    refuses({links = {link{inertial = {mass = 0, diaginertia = {1, 1, 1}}}}}, "links[1].inertial.mass must be > 0")
    refuses({links = {link{inertial = {mass = -1, diaginertia = {1, 1, 1}}}}}, "links[1].inertial.mass must be > 0")
  end)
  it("zero, negative and non-positive-definite inertia", function()
    refuses({links = {link{inertial = {mass = 1, diaginertia = {0, 1, 1}}}}}, "links[1].inertial: inertia {0, 1, 1, 0, 0, 0} is not positive definite")
    refuses({links = {link{inertial = {mass = 1, diaginertia = {1, -1, 1}}}}}, "is not positive definite")
    refuses({links = {link{inertial = {mass = 1, fullinertia = {1, 1, 1, 2, 0, 0}}}}}, "is not positive definite")
  end)
  it("a zero quaternion, a zero axis, NaN numbers, a bad range", function()
    refuses({links = {link{quat = {0, 0, 0, 0}}}}, "links[1].quat is a zero quaternion")
    refuses({links = {link{joint = {type = "revolute", axis = {0, 0, 0}}}}}, "links[1].joint.axis is zero")
    refuses({links = {link{pos = {0, 0 / 0, 0}}}}, "links[1].pos[2] must be a finite number")
    refuses({links = {link{joint = {type = "revolute", range = {1, -1}}}}}, "links[1].joint.range must have lo < hi")
  end)
  it("bad geoms and actuators", function()
    refuses({links = {link{geoms = {{type = "mesh"}}}}}, "links[1].geoms[1].type = mesh")
    refuses({links = {link{geoms = {{type = "capsule", size = {0.1}}}}}}, "links[1].geoms[1].size needs 2 numbers")
    refuses({links = {link()}, actuators = {{joint = 2}}}, "actuators[1].joint = 2 names no link")
    refuses({links = {link{joint = {type = "spherical"}}}, actuators = {{joint = 1}}}, "actuators drive revolute or prismatic joints only")
  end)
  it("bad actuator ranges and gains: empty or malformed ranges, negative kv, NaN, gains of another kind", function()
    local function act(a) a.joint = 1; return {links = {link()}, actuators = {a}} end
    refuses(act{ctrlrange = {1, 1}}, "actuators[1].ctrlrange = {1, 1} must have lower < upper")
    refuses(act{ctrlrange = {2, -1}}, "actuators[1].ctrlrange = {2, -1} must have lower < upper")
    refuses(act{forcerange = {1}}, "actuators[1].forcerange must be a list of 2 numbers")
    refuses(act{forcerange = "1 2"}, "actuators[1].forcerange must be a list of 2 numbers")
    refuses(act{ctrlrange = {0 / 0, 1}}, "actuators[1].ctrlrange[1] must be a finite number")
    refuses(act{forcerange = {-1, 1 / 0}}, "actuators[1].forcerange[2] must be a finite number")
    refuses(act{type = "position", kp = 1, kv = -1}, "actuators[1].kv must be >= 0, got -1")
    refuses(act{type = "velocity", kv = -1}, "actuators[1].kv must be > 0, got -1")
    refuses(act{type = "velocity"}, "actuators[1]: a velocity actuator needs kv > 0")
    refuses(act{type = "velocity", kv = 0 / 0}, "actuators[1].kv must be a finite number")
    refuses(act{type = "motor", kp = 3}, "actuators[1].kp: only a position actuator has kp")
    refuses(act{type = "motor", kv = 3}, "actuators[1].kv: a motor has no kv")
    refuses(act{type = "muscle"}, "actuators[1].type = muscle is not motor, position or velocity")
  end)
  it("an unknown option, an unsupported integrator", function()
    refuses({links = {link()}, options = {timestepp = 1}}, "options.timestepp is not an option")
    refuses({links = {link()}, options = {timestep = 0}}, "options.timestep must be > 0")
  end)
end)

local pre = probe.prelude .. [[
local art = ds.plugin("articulation")
local m = art.model{links = {{joint = {type = "free"}, pos = {0, 0, 1},
                              inertial = {mass = 1, diaginertia = {0.1, 0.1, 0.1}}},
                             {parent = 1, joint = {type = "revolute", axis = {0, 1, 0}},
                              inertial = {mass = 1, pos = {0, 0, -0.5}, diaginertia = {0.08, 0.08, 0.001}}}},
                    actuators = {{joint = 2}}}
local q, qd = m:initial(2)
]]

describe("articulation kernels: bad tensors are refused by name", function()
  it("a cyclic parent table edited into model.args", function()
    probe.fails_cleanly(pre .. "m.args.link = ds.tensor({{-1, 4, 0, 0}, {1, 1, 7, 6}}, 'i32'); m:step(q, qd)",
      "articulation.step: argument 'link': link 1 has parent 1; a parent must be -1 (the world) or an earlier link")
  end)
  it("zero mass and a non-positive-definite inertia edited into model.args", function()
    probe.fails_cleanly(pre .. "m.args.mass = ds.tensor{1, 0}; m:aba(q, qd, ds.zeros{2, 7})",
      "articulation.aba: argument 'mass': link 1 has mass 0 (must be > 0)")
    probe.fails_cleanly(pre .. "m.args.inertia = ds.tensor{{0.1, 0.1, 0.1, 0, 0, 0}, {1, 1, 1, 2, 0, 0}}; m:crba(q)",
      "articulation.crba: argument 'inertia': link 1's inertia {1, 1, 1, 2, 0, 0} is not positive definite")
    probe.fails_cleanly(pre .. "m.args.inertia = ds.tensor{{0.1, 0.1, 0.1, 0, 0, 0}, {-1, 1, 1, 0, 0, 0}}; m:rnea(q, qd, qd)",
      "articulation.rnea: argument 'inertia'")
  end)
  it("a non-unit quaternion in the state", function()
    probe.fails_cleanly(pre .. "local qq = q:totable(); qq[2][4] = 0.5; m:step(ds.tensor(qq), qd)",
      "articulation.step: argument 'q' row 1: the quaternion of link 0's joint has norm 0.5 (must be a unit quaternion")
    probe.fails_cleanly(pre .. "local qq = q:totable(); qq[1][5] = 2; m:rollout(3, ds.tensor(qq), qd)",
      "articulation.rollout: argument 'q0' row 0: the quaternion of link 0's joint has norm")
  end)
  it("NaN states and controls", function()
    probe.fails_cleanly(pre .. "local v = qd:totable(); v[1][3] = 0/0; m:step(q, ds.tensor(v))",
      "articulation.step: argument 'qd' entry 2 is NaN (states and controls must be finite)")
    probe.fails_cleanly(pre .. "m:step(q, qd, ds.tensor{{0/0}, {0}})",
      "articulation.step: argument 'ctrl' entry 0 is NaN")
    probe.fails_cleanly(pre .. "local qq = q:totable(); qq[1][8] = 1/0; m:fk(ds.tensor(qq))",
      "articulation.fk: argument 'q' entry 7 is +inf")
  end)
  it("wrong shapes", function()
    probe.fails_cleanly(pre .. "m:step(q, ds.zeros{2, 3})", "articulation.step: argument 'qd' (#21) has shape {2,3}, expected {2,7}")
    probe.fails_cleanly(pre .. "m:step(ds.zeros{2, 5}, qd)", "articulation.step: argument 'q' has 5 columns but the model has nq = 8")
    probe.fails_cleanly(pre .. "m:step(q, qd, ds.zeros{3, 1})", "articulation.step: argument 'ctrl' (#22) has shape {3,1}, expected {2,1}")
    probe.fails_cleanly(pre .. "m.args.mass = ds.tensor{1, 1, 1}; m:fk(q)", "articulation.fk: argument 'mass' (#4) has shape {3}, expected {2}")
    probe.fails_cleanly(pre .. "m:rollout(ds.zeros{0, 2, 1}, q, qd)", "articulation.rollout: argument 'ctrl' must hold at least one step")
    probe.fails_cleanly(pre .. "m:step(q, qd, nil, -1)", "articulation.step: param 'dt' must be positive")
    probe.fails_cleanly(pre .. "m.adjoint = 'forward'; m:step(q, qd)",
      "articulation.step: model.adjoint must be \"analytic\", \"tape\" or \"dual\", got forward")
    probe.fails_cleanly(pre .. "ds.kernel('articulation.step'):launch(m:_args{q = q, qd = qd, ctrl = ds.zeros{2, 1}, " ..
      "q_out = ds.empty{2, 8}, qd_out = ds.empty{2, 7}}, {dt = 1e-3, dual = 3})",
      "articulation.step: param 'dual' must be 0 (reverse-mode tape), 1 (dual numbers) or 2 (analytic adjoint), got 3")
  end)
  it("a state that blows up (time step past the stability limit)", function()
    probe.fails_cleanly(probe.prelude .. [[
local art = ds.plugin("articulation")
local m = art.model{options = {timestep = 0.05, ground = false},
                    links = {{joint = {type = "revolute", axis = {0, 1, 0}},
                              inertial = {mass = 1, pos = {0, 0, -0.5}, diaginertia = {0.08, 0.08, 0.001}}}},
                    actuators = {{joint = 1, type = "position", kp = 1e5}}}
local q, qd = m:initial(1, {0.5})
m:rollout(2000, q, qd)]], "articulation.rollout: batch element 0: the state became non-finite at step")
  end)
  it("actuator flags and ranges edited into model.args", function()
    probe.fails_cleanly(pre .. "m.args.act = ds.tensor({{1, 0, 1}}, 'i32'); m.args.gain = ds.tensor{{1, 0, 0, 0.5, 0.5, 0, 0}}; m:step(q, qd)",
      "articulation.step: argument 'gain': actuator 0's control range [0.5, 0.5] must have lower < upper")
    probe.fails_cleanly(pre .. "m.args.act = ds.tensor({{1, 2, 2}}, 'i32'); m.args.gain = ds.tensor{{1, 0, 1, 0, 0, 2, -2}}; m:rollout(3, q, qd)",
      "articulation.rollout: argument 'gain': actuator 0's force range [2, -2] must have lower < upper")
    probe.fails_cleanly(pre .. "m.args.act = ds.tensor({{1, 0, 4}}, 'i32'); m:step(q, qd)",
      "articulation.step: argument 'act': actuator 0 has joint link 1, type 0 and flags 4")
    probe.fails_cleanly(pre .. "m.args.act = ds.tensor({{1, 3, 0}}, 'i32'); m:step(q, qd)",
      "articulation.step: argument 'act': actuator 0 has joint link 1, type 3 and flags 0")
    probe.fails_cleanly(pre .. "m.args.gain = ds.tensor{{1, 0, 0, 0/0, 1, 0, 0}}; m:step(q, qd)",
      "articulation.step: argument 'gain' entry 3 is NaN")
    probe.fails_cleanly(pre .. "m.args.gain = ds.tensor{{1, 0, 0}}; m:step(q, qd)",
      "articulation.step: argument 'gain' (#")
  end)
  it("bad option values edited into model.args", function()
    probe.fails_cleanly(pre .. "local o = m.args.opt:totable(); o[6] = 0; m.args.opt = ds.tensor(o); m:step(q, qd)",
      "articulation.step: argument 'opt' entry 5 (contact smoothing) is 0 (must be > 0)")
  end)
end)
