-- MJCF and URDF loaders (lua/diffsim/io/mjcf.lua, urdf.lua): every supported
-- element and attribute read into the right numbers. The strong check is
-- MuJoCo's own compiler (the peer shim, when built): masses, inertias from
-- geoms, frames, joints, actuators and options of the same files must agree
-- to rounding. Without the shim those comparisons skip with one line and the
-- hand-computed checks still run.
local mjcf = require("diffsim.io.mjcf")
local urdf = require("diffsim.io.urdf")
local X = require("diffsim.io.modelxml")
local mj, why = require("plugins.articulation.mujoco.peer").open()

local SCENES = "scenes/articulation/"
local MODELS = {"pendulum", "chain2", "chain5", "box_drop", "legged", "mixed", "features"}

local function near(a, b, tol, what)
  if math.abs(a - b) > tol * math.max(1, math.abs(a), math.abs(b)) then
    error(string.format("%s: %.17g vs %.17g", what, a, b), 2)
  end
end

-- The full inertia (packed) about the com in the link frame, from either form.
local function full_inertia(inr)
  if inr.fullinertia then return inr.fullinertia end
  local d = inr.diaginertia
  return X.irot(X.qmat(inr.quat or {1, 0, 0, 0}), {d[1], d[2], d[3], 0, 0, 0})
end

local function same_rotation(q1, q2, tol, what)
  local dot = q1[1] * q2[1] + q1[2] * q2[2] + q1[3] * q2[3] + q1[4] * q2[4]
  near(math.abs(dot), 1, tol, what)
end

describe("MJCF loader, hand-computed", function()
  it("reads a uniform rod: mass, centre, the capsule's inertia", function()
    local d = mjcf.load(SCENES .. "pendulum.xml")
    assert.equals(1, #d.links)
    local l = d.links[1]
    assert.equals("revolute", l.joint.type)
    assert.same({0, 1, 0}, l.joint.axis)
    near(l.inertial.mass, 1, 1e-15, "mass")
    near(l.inertial.pos[3], -0.5, 1e-15, "com")
    -- a capsule of radius 0.02 around a 1 m segment (caps beyond its ends):
    -- a little above the thin rod's m L^2 / 12 about its centre
    local I = l.inertial.fullinertia
    assert.is_true(I[2] > 1 / 12 and I[2] < 1.06 / 12)
    near(I[1], I[2], 0, "symmetric about the axis")
    assert.equals(0.001, d.options.timestep)
    assert.same({0, 0, -9.81}, d.options.gravity)
    assert.equals("euler", d.options.integrator)
    assert.is_false(d.options.ground)
  end)

  it("reads the features model: classes, frames, limits in radians, actuators", function()
    local d = mjcf.load(SCENES .. "features.xml")
    assert.equals(5, #d.links)
    local a, b, c, dd, fl = unpack(d.links)
    assert.equals(0, a.parent); assert.equals(1, b.parent); assert.equals(2, c.parent)
    assert.equals(3, dd.parent); assert.equals(0, fl.parent)
    near(a.joint.range[1], -math.pi / 4, 1e-15, "hinge range in radians")
    assert.same({-0.1, 0.2}, b.joint.range)     -- slide ranges are lengths
    assert.equals(0.3, a.joint.damping)
    assert.equals(1.5, b.joint.damping)          -- childclass heavy
    assert.equals(0.3, c.joint.damping)          -- class main overrides the childclass
    assert.equals("spherical", c.joint.type)
    assert.equals("free", fl.joint.type)
    assert.is_true(d.options.ground)
    assert.equals(0.9, a.geoms[1].friction)      -- max(geom 0.8, ground 0.9)
    assert.equals(3, #d.actuators)
    assert.same({name = "m", joint = 1, type = "motor", gear = 2, ctrlrange = {-1, 1}}, d.actuators[1])
    assert.equals(30, d.actuators[2].kp)
    assert.equals(4, d.actuators[3].kv)
    assert.equals(1.5, d.actuators[3].gear)
    -- the box of mass 2 on the free body: m/3 (b^2 + c^2)
    near(fl.inertial.fullinertia[1], 2 / 3 * (0.2 ^ 2 + 0.3 ^ 2), 1e-14, "box inertia")
  end)
end)

describe("MJCF contact switches", function()
  it("ground and self_collision follow MuJoCo's contype/conaffinity and parent-child rules", function()
    local want = {pendulum = {false, false}, chain5 = {false, false}, box_drop = {true, false},
                  legged = {true, true}, mixed = {false, false}, gimbal = {false, false}}
    for name, w in pairs(want) do
      local d = mjcf.load(SCENES .. name .. ".xml")
      assert.same(w, {d.options.ground, d.options.self_collision}, name)
    end
    -- <contact><exclude>: the only colliding pair excluded -> no self collision
    local two = [[<mujoco><worldbody>
      <body name="a"><joint/><geom size="0.1"/></body>
      <body name="b" pos="1 0 0"><joint/><geom size="0.1"/></body></worldbody>%s</mujoco>]]
    assert.is_true(mjcf.parse(two:format(""), "two.xml").options.self_collision)
    assert.is_false(mjcf.parse(two:format('<contact><exclude body1="a" body2="b"/></contact>'), "two.xml").options.self_collision)
    -- <flag contact="disable" gravity="disable">
    local d = mjcf.parse([[<mujoco><option gravity="0 0 -3"><flag contact="disable" gravity="disable" energy="enable"/></option>
      <worldbody><geom type="plane" size="1 1 1"/><body><freejoint/><geom size="0.1"/></body></worldbody></mujoco>]], "f.xml")
    assert.same({false, false}, {d.options.ground, d.options.self_collision})
    assert.same({0, 0, 0}, d.options.gravity)
    -- options override a file that mixes both kinds of pairs
    d = mjcf.load(SCENES .. "legged.xml", {self_collision = false, ground = true})
    assert.is_false(d.options.self_collision)
  end)
end)

describe("MJCF include", function()
  it("splices an included file's children in place, relative to the includer", function()
    local dir = os.tmpname()
    os.remove(dir)
    os.execute("mkdir -p " .. dir .. "/parts")
    local function put(name, text)
      local f = assert(io.open(dir .. "/" .. name, "w"))
      f:write(text)
      f:close()
    end
    put("main.xml", [[<mujoco><include file="parts/opt.xml"/><worldbody><include file="parts/arm.xml"/></worldbody></mujoco>]])
    put("parts/opt.xml", [[<mujoco><option timestep="0.004"/><default><joint damping="0.25"/></default></mujoco>]])
    put("parts/arm.xml", [[<mujoco><body name="arm"><joint/><geom size="0.1" mass="2"/></body></mujoco>]])
    local d = mjcf.load(dir .. "/main.xml")
    assert.equals(0.004, d.options.timestep)
    assert.equals("arm", d.links[1].name)
    assert.is_true(math.abs(d.links[1].inertial.mass - 2) < 1e-14)
    assert.equals(0.25, d.links[1].joint.damping)
    os.execute("rm -rf " .. dir)
  end)
end)

describe("URDF loader", function()
  it("gives chain2.urdf the same model as chain2.xml", function()
    local u = urdf.load(SCENES .. "chain2.urdf")
    local m = mjcf.load(SCENES .. "chain2.xml")
    assert.equals(#m.links, #u.links)
    for i, lu in ipairs(u.links) do
      local lm = m.links[i]
      assert.equals(lm.parent, lu.parent)
      for k = 1, 3 do
        near(lu.pos[k], lm.pos[k], 1e-14, "pos")
        near(lu.joint.axis[k], lm.joint.axis[k], 1e-14, "axis")
        near(lu.inertial.pos[k], lm.inertial.pos[k], 1e-14, "com")
      end
      for k = 1, 6 do near(lu.inertial.fullinertia[k], lm.inertial.fullinertia[k], 1e-12, "inertia") end
      assert.equals("revolute", lu.joint.type)
      assert.is_nil(lu.joint.range)                 -- continuous
    end
    -- the cylinder (r 0.02, length 0.54) became a capsule of the same length
    assert.equals("capsule", u.links[1].geoms[1].type)
    near(u.links[1].geoms[1].size[2], 0.25, 1e-15, "capsule half length")
  end)

  it("reads rpy, limits, damping, fixed and floating joints, merges massless frames", function()
    local d = urdf.parse([[
<robot name="r">
  <link name="world"/>
  <link name="base"><inertial><mass value="3"/><inertia ixx="1" iyy="2" izz="2.5" ixy="0" ixz="0" iyz="0"/></inertial>
    <collision><origin xyz="0 0 0.1"/><geometry><box size="0.2 0.4 0.6"/></geometry></collision></link>
  <link name="mount"/>
  <link name="arm"><inertial><origin xyz="0 0 -0.2" rpy="0 0 1.5707963267948966"/><mass value="0.5"/>
    <inertia ixx="0.01" iyy="0.015" izz="0.008" ixy="0" ixz="0" iyz="0"/></inertial>
    <collision><geometry><sphere radius="0.05"/></geometry></collision></link>
  <link name="slider"><inertial><mass value="0.2"/><inertia ixx="0.001" iyy="0.001" izz="0.001" ixy="0" ixz="0" iyz="0"/></inertial></link>
  <joint name="float" type="floating"><parent link="world"/><child link="base"/><origin xyz="0 0 1"/></joint>
  <joint name="fix" type="fixed"><parent link="base"/><child link="mount"/><origin xyz="0.1 0 0" rpy="0 0 1.5707963267948966"/></joint>
  <joint name="hinge" type="revolute"><parent link="mount"/><child link="arm"/><origin xyz="0.2 0 0"/>
    <axis xyz="0 0 1"/><limit lower="-1" upper="2" effort="10" velocity="3"/><dynamics damping="0.7"/></joint>
  <joint name="slide" type="prismatic"><parent link="arm"/><child link="slider"/><axis xyz="1 0 0"/>
    <limit lower="0" upper="0.3"/></joint>
</robot>]], "r.urdf")
    assert.equals(3, #d.links)                  -- mount merged into base
    assert.equals("free", d.links[1].joint.type)
    assert.same({0, 0, 1}, d.links[1].pos)
    local arm = d.links[2]
    assert.equals(1, arm.parent)
    -- mount at (0.1, 0, 0) turned 90 deg about z, arm 0.2 along mount's x
    near(arm.pos[1], 0.1, 1e-14, "arm x"); near(arm.pos[2], 0.2, 1e-14, "arm y")
    same_rotation(arm.quat, X.qaxis({0, 0, 1}, math.pi / 2), 1e-14, "arm quat")
    assert.same({-1, 2}, arm.joint.range)
    assert.equals(0.7, arm.joint.damping)
    -- inertia rotated 90 deg about z: ixx and iyy swap
    near(arm.inertial.fullinertia[1], 0.015, 1e-14, "ixx"); near(arm.inertial.fullinertia[2], 0.01, 1e-14, "iyy")
    assert.equals("prismatic", d.links[3].joint.type)
    assert.same({0.1, 0.2, 0.3}, d.links[1].geoms[1].size)
  end)
end)

describe("URDF options", function()
  it("floats a root with mass, passes options through, fixes a massive link", function()
    local text = [[<robot name="f">
      <link name="base"><inertial><mass value="2"/><inertia ixx="1" iyy="1" izz="1" ixy="0" ixz="0" iyz="0"/></inertial></link>
      <link name="tool"><inertial><mass value="0.5"/><inertia ixx="0.1" iyy="0.1" izz="0.1" ixy="0" ixz="0" iyz="0"/></inertial></link>
      <joint name="weld" type="fixed"><parent link="base"/><child link="tool"/><origin xyz="0 0 0.3"/></joint>
    </robot>]]
    local d = urdf.parse(text, "f.urdf", {floating = true, ground = true, timestep = 0.001, gravity = {0, 0, -1.62}})
    assert.equals(2, #d.links)
    assert.equals("free", d.links[1].joint.type)
    assert.is_nil(d.links[2].joint)              -- fixed: a link of its own, no joint
    assert.same({0, 0, 0.3}, d.links[2].pos)
    assert.same({timestep = 0.001, gravity = {0, 0, -1.62}, integrator = "euler", ground = true, self_collision = false},
                d.options)
    local fixed = urdf.parse(text, "f.urdf")
    assert.is_nil(fixed.links[1].joint)          -- a root with mass, not floating: fixed to the world
  end)
end)

describe("URDF effort and velocity limits", function()
  local text = [[<robot name="e">
    <link name="world"/>
    <link name="a"><inertial><mass value="1"/><origin xyz="0 0 -0.3"/><inertia ixx="0.03" iyy="0.03" izz="0.001" ixy="0" ixz="0" iyz="0"/></inertial></link>
    <link name="b"><inertial><mass value="0.5"/><inertia ixx="0.01" iyy="0.01" izz="0.01" ixy="0" ixz="0" iyz="0"/></inertial></link>
    <joint name="h" type="revolute"><parent link="world"/><child link="a"/><axis xyz="0 1 0"/>
      <limit lower="-1" upper="1" effort="2.5" velocity="3"/></joint>
    <joint name="c" type="continuous"><parent link="a"/><child link="b"/><origin xyz="0 0 -0.6"/><axis xyz="0 1 0"/></joint>
  </robot>]]
  it("reports both per joint; without opts.actuators no actuator is made", function()
    local d = urdf.parse(text, "e.urdf")
    assert.same({effort = 2.5, velocity = 3}, d.joint_limits.h)
    assert.same({}, d.joint_limits.c)
    assert.equals(0, #d.actuators)
  end)
  it("opts.actuators = \"motor\": a motor per moving joint, its force clamped to the effort", function()
    local d = urdf.parse(text, "e.urdf", {actuators = "motor"})
    assert.same({name = "h", joint = 1, type = "motor", gear = 1, forcerange = {-2.5, 2.5}}, d.actuators[1])
    assert.same({name = "c", joint = 2, type = "motor", gear = 1}, d.actuators[2]) -- no effort: unclamped
    -- the physics: a command past the effort acts as the effort
    local ds = require("diffsim")
    ds.init{precision = "f64", threads = 1}
    local m = ds.plugin("articulation").model(d)
    local q, qd = m:initial(1)
    local _, v1 = m:step(q, qd, ds.tensor{{40, 0}})
    local _, v2 = m:step(q, qd, ds.tensor{{2.5, 0}})
    local _, v3 = m:step(q, qd, ds.tensor{{2.4, 0}})
    assert.equals(v2:totable()[1][1], v1:totable()[1][1])
    assert.is_true(v3:totable()[1][1] < v2:totable()[1][1])
  end)
end)

describe("MJCF options that change the physics", function()
  local function model_text(option, compiler, geom_extra)
    return string.format([[<mujoco><compiler %s/><option>%s</option><worldbody><geom type="plane" size="1 1 1"/>
      <body pos="0 0 1"><joint name="j" axis="0 1 0"/><geom size="0.1" mass="1"/>
      <geom size="0.1" pos="0.3 0 0" mass="2" %s/></body></worldbody>
      <actuator><motor joint="j" ctrlrange="-1 1" ctrllimited="true"/></actuator></mujoco>]], compiler or "", option or "",
      geom_extra or "")
  end
  it("<flag clampctrl=\"disable\"> drops the control range, as MuJoCo", function()
    assert.same({-1, 1}, mjcf.parse(model_text(), "c.xml").actuators[1].ctrlrange)
    assert.is_nil(mjcf.parse(model_text('<flag clampctrl="disable"/>'), "c.xml").actuators[1].ctrlrange)
  end)
  it("collision=\"pair\" (explicit pairs only, and none given) turns contact off", function()
    assert.is_true(mjcf.parse(model_text(), "c.xml").options.ground)
    assert.is_false(mjcf.parse(model_text():gsub("<option>", '<option collision="pair">'), "c.xml").options.ground)
  end)
  it("inertiagrouprange: geoms of other groups carry no mass", function()
    near(mjcf.parse(model_text(nil, nil, 'group="3"'), "c.xml").links[1].inertial.mass, 3, 1e-14, "mass")
    near(mjcf.parse(model_text(nil, 'inertiagrouprange="0 2"', 'group="3"'), "c.xml").links[1].inertial.mass, 1, 1e-14, "mass")
  end)
end)


if not mj then
  describe("MJCF loader against MuJoCo's compiler", function()
    it("skips: " .. why, function() pending(why) end)
  end)
  return
end

describe("MJCF loader against MuJoCo's compiler (" .. mj.version .. ")", function()
  local TYPES = {free = 0, spherical = 1, prismatic = 2, revolute = 3}
  local function compare(d, m)
      assert.equals(#d.links + 1, m.nbody)
      local F = {}
      for _, f in ipairs({"body_mass", "body_ipos", "body_iquat", "body_inertia", "body_pos", "body_quat",
                          "body_parentid", "jnt_type", "jnt_bodyid", "jnt_axis", "jnt_pos", "jnt_range",
                          "jnt_limited", "jnt_dofadr", "dof_damping", "dof_armature", "opt_timestep",
                          "opt_gravity", "actuator_gear", "actuator_gainprm", "actuator_biasprm",
                          "actuator_ctrlrange", "actuator_forcerange", "actuator_trnid", "geom_bodyid", "geom_size", "geom_pos",
                          "geom_quat", "geom_type"}) do
        F[f] = m:field(f)
      end
      near(F.opt_timestep[1], d.options.timestep, 0, "timestep")
      for k = 1, 3 do near(F.opt_gravity[k], d.options.gravity[k], 0, "gravity") end
      local jid = 0
      for i, l in ipairs(d.links) do
        local w = "body " .. i
        assert.equals(l.parent, F.body_parentid[i + 1])
        near(F.body_mass[i + 1], l.inertial.mass, 1e-12, w .. " mass")
        for k = 1, 3 do
          near(F.body_ipos[3 * i + k], l.inertial.pos[k], 1e-12, w .. " com")
          near(F.body_pos[3 * i + k], l.pos[k], 1e-12, w .. " pos")
        end
        same_rotation({F.body_quat[4 * i + 1], F.body_quat[4 * i + 2], F.body_quat[4 * i + 3], F.body_quat[4 * i + 4]},
                      l.quat, 1e-12, w .. " quat")
        -- MuJoCo stores principal moments in a principal frame: rebuild the tensor
        local iq = {F.body_iquat[4 * i + 1], F.body_iquat[4 * i + 2], F.body_iquat[4 * i + 3], F.body_iquat[4 * i + 4]}
        local Im = X.irot(X.qmat(iq), {F.body_inertia[3 * i + 1], F.body_inertia[3 * i + 2], F.body_inertia[3 * i + 3], 0, 0, 0})
        local Id = full_inertia(l.inertial)
        local scale = math.max(Id[1], Id[2], Id[3])
        -- 1e-6: MuJoCo's principal frame (its 3x3 eigen solver) is that
        -- accurate; the principal moments themselves agree to ~1e-15.
        for k = 1, 6 do near(Im[k] / scale, Id[k] / scale, 1e-6, w .. " inertia[" .. k .. "]") end
        local ev = X.principal(Id)
        local mi = {F.body_inertia[3 * i + 1], F.body_inertia[3 * i + 2], F.body_inertia[3 * i + 3]}
        table.sort(mi)
        for k = 1, 3 do near(ev[k], mi[k], 1e-12, w .. " principal moment") end
        if l.joint then
          assert.equals(i, F.jnt_bodyid[jid + 1])
          assert.equals(TYPES[l.joint.type], F.jnt_type[jid + 1])
          local j = l.joint
          if j.axis then
            local n = math.sqrt(j.axis[1] ^ 2 + j.axis[2] ^ 2 + j.axis[3] ^ 2)
            for k = 1, 3 do
              near(F.jnt_axis[3 * jid + k], j.axis[k] / n, 1e-12, w .. " axis")
              near(F.jnt_pos[3 * jid + k], j.pos[k], 1e-12, w .. " joint pos")
            end
            local dof = F.jnt_dofadr[jid + 1]
            near(F.dof_damping[dof + 1], j.damping, 0, w .. " damping")
            near(F.dof_armature[dof + 1], j.armature, 0, w .. " armature")
          end
          assert.equals(j.range and 1 or 0, F.jnt_limited[jid + 1])
          if j.range then
            near(F.jnt_range[2 * jid + 1], j.range[1], 1e-12, w .. " range lo")
            near(F.jnt_range[2 * jid + 2], j.range[2], 1e-12, w .. " range hi")
          end
          jid = jid + 1
        end
      end
      -- geoms, in MuJoCo's order (world's plane first, then body by body)
      local gid = 0
      while F.geom_bodyid[gid + 1] == 0 do gid = gid + 1 end
      for i, l in ipairs(d.links) do
        for _, g in ipairs(l.geoms) do
          assert.equals(i, F.geom_bodyid[gid + 1])
          if F.geom_type[gid + 1] == 5 then
            -- a URDF cylinder (MuJoCo keeps it): the loader's capsule has the
            -- same radius and total length
            assert.equals("capsule", g.type)
            near(F.geom_size[3 * gid + 1], g.size[1], 1e-12, "cylinder radius")
            near(F.geom_size[3 * gid + 2], g.size[2] + g.size[1], 1e-12, "cylinder half length")
          else
            for k = 1, #g.size do near(F.geom_size[3 * gid + k], g.size[k], 1e-12, "geom size") end
          end
          for k = 1, 3 do near(F.geom_pos[3 * gid + k], g.pos[k], 1e-12, "geom pos") end
          -- the shape's axis (a capsule's z; a box's full frame)
          local mq = {F.geom_quat[4 * gid + 1], F.geom_quat[4 * gid + 2], F.geom_quat[4 * gid + 3], F.geom_quat[4 * gid + 4]}
          if g.type == "box" then
            same_rotation(mq, g.quat, 1e-12, "box frame")
          else
            local za, zb = X.qrot(mq, {0, 0, 1}), X.qrot(g.quat, {0, 0, 1})
            near(math.abs(za[1] * zb[1] + za[2] * zb[2] + za[3] * zb[3]), 1, 1e-12, "geom axis")
          end
          gid = gid + 1
        end
      end
      assert.equals(#d.actuators, m.nu)
      for a, act in ipairs(d.actuators) do
        local k = a - 1
        near(F.actuator_gear[6 * k + 1], act.gear, 0, "gear")
        local jl = F.jnt_bodyid[F.actuator_trnid[2 * k + 1] + 1]
        assert.equals(act.joint, jl)
        local gain, bq, bv = F.actuator_gainprm[10 * k + 1], F.actuator_biasprm[10 * k + 2], F.actuator_biasprm[10 * k + 3]
        if act.type == "motor" then
          assert.same({1, 0, 0}, {gain, bq, bv})
        elseif act.type == "position" then
          assert.same({act.kp, -act.kp, 0}, {gain, bq, bv})
        else
          assert.same({act.kv, 0, -act.kv}, {gain, bq, bv})
        end
        if act.ctrlrange then
          assert.same(act.ctrlrange, {F.actuator_ctrlrange[2 * k + 1], F.actuator_ctrlrange[2 * k + 2]})
        end
        if act.forcerange then
          assert.same(act.forcerange, {F.actuator_forcerange[2 * k + 1], F.actuator_forcerange[2 * k + 2]})
        end
      end
  end
  it("inertiagrouprange, velocity actuators and force ranges agree with MuJoCo's compiler", function()
    local text = [[<mujoco><compiler inertiagrouprange="0 2"/><worldbody>
      <body pos="0 0 1"><joint name="j" axis="0 1 0"/><geom size="0.1" mass="1"/>
      <geom size="0.1" pos="0.3 0 0" mass="2" group="3"/><geom type="box" size="0.1 0.2 0.1" pos="0 0.2 0" group="2"/>
      <body pos="0 0 -0.5"><joint name="k" type="slide"/><geom type="capsule" size="0.05 0.2"/></body></body></worldbody>
      <actuator><velocity joint="j" kv="3" gear="2" forcerange="-1 2" forcelimited="true"/>
        <motor joint="k" ctrlrange="-1 1" ctrllimited="true" forcerange="-0.5 0.5" forcelimited="true"/></actuator></mujoco>]]
    compare(mjcf.parse(text, "g.xml"), mj.load_string(text))
  end)
  for _, name in ipairs(MODELS) do
    it(name .. ".xml: masses, inertias, frames, joints, actuators, options agree", function()
      local path = SCENES .. name .. ".xml"
      compare(mjcf.load(path), mj.load_file(path))
    end)
  end
  -- MuJoCo imports URDF too (fusing fixed-joint bodies, as the loader merges
  -- massless frames): the same comparison checks rpy, inertia rotation and
  -- frame merging. Options are not in URDF: give MuJoCo's defaults.
  for _, name in ipairs({"chain2", "arm"}) do
    it(name .. ".urdf: agrees with MuJoCo's URDF import", function()
      local path = SCENES .. name .. ".urdf"
      local d = urdf.load(path, {timestep = 0.002, gravity = {0, 0, -9.81}})
      compare(d, mj.load_file(path))
    end)
  end
end)
