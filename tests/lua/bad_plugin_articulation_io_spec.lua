-- Malformed and unsupported model files: every error names the file and line,
-- the element and (where one is at fault) the attribute, and none is a crash
-- or a model built from wrong numbers.
local mjcf = require("diffsim.io.mjcf")
local urdf = require("diffsim.io.urdf")
local xml = require("diffsim.io.xml")

local function err_of(f, ...)
  local ok, err = pcall(f, ...)
  assert.is_false(ok, "expected an error")
  return tostring(err)
end

-- MJCF body around `inner` (one body "b" with a hinge unless inner says otherwise).
local function body(inner)
  return "<mujoco>\n<worldbody>\n<body name=\"b\">\n" .. inner .. "\n</body>\n</worldbody>\n</mujoco>"
end

describe("XML syntax", function()
  it("an unclosed tag names the file, line and column", function()
    local e = err_of(mjcf.parse, "<mujoco>\n<worldbody>\n<body>\n</worldbody>\n</mujoco>", "m.xml")
    assert.matches("xml: m.xml:4:3: mismatched tag", e, 1, true)
  end)
  it("a file that is not XML, an empty file, a missing file", function()
    assert.matches("xml: x.xml:1:1: ", err_of(mjcf.parse, "hello", "x.xml"), 1, true)
    assert.matches("xml: e.xml:1:1: no element found", err_of(mjcf.parse, "", "e.xml"), 1, true)
    assert.matches("cannot open 'no/such.xml'", err_of(mjcf.load, "no/such.xml"), 1, true)
    assert.matches("cannot open 'no/such.urdf'", err_of(urdf.load, "no/such.urdf"), 1, true)
  end)
  it("a bad attribute quote is a syntax error with its line", function()
    assert.matches("xml: q.xml:2:", err_of(xml.parse_string, "<a>\n<b x=1/></a>", "q.xml"), 1, true)
  end)
end)

-- MJCF with a hinge "j" and the actuator element `a` on line 3.
local function act(a)
  return "<mujoco><worldbody><body><joint name='j'/><geom size='1'/></body></worldbody>\n<actuator>\n" .. a .. "</actuator></mujoco>"
end

describe("MJCF", function()
  local cases = {
    {"unknown element", body("<joint/><geom size='0.1'/><tendon/>"),
     "m.xml:4: <tendon> is not supported inside <body>"},
    {"unknown top element", "<mujoco>\n<equality/>\n<worldbody/></mujoco>", "m.xml:2: <equality> is not supported inside <mujoco>"},
    {"unknown attribute", body("<joint foo='1'/><geom size='0.1'/>"),
     "m.xml:4: <joint> has an unsupported attribute 'foo'"},
    {"bad number", body("<joint/><geom size='0.1x'/>"),
     "m.xml:4: <geom> attribute 'size': '0.1x' is not a finite number"},
    {"hex", body("<joint/><geom size='0x10'/>"), "<geom> attribute 'size': '0x10' is not a finite number"},
    {"overflow", body("<joint/><geom size='1e400'/>"), "<geom> attribute 'size': '1e400' is not a finite number"},
    {"NaN", body("<joint axis='0 nan 1'/><geom size='0.1'/>"),
     "m.xml:4: <joint> attribute 'axis': 'nan' is not a finite number"},
    {"wrong count", body("<joint/><geom size='0.1' pos='1 2'/>"),
     "m.xml:4: <geom> attribute 'pos': needs 3 numbers, got 2"},
    {"zero mass inertial", body("<joint/><inertial pos='0 0 0' mass='0' diaginertia='1 1 1'/>"),
     "m.xml:4: <inertial> attribute 'mass': must be > 0, got 0"},
    {"negative inertia", body("<joint/><inertial pos='0 0 0' mass='1' diaginertia='1 -1 1'/>"),
     "m.xml:4: <inertial> attribute 'diaginertia': must be > 0, got -1"},
    {"triangle inequality", body("<joint/><inertial pos='0 0 0' mass='1' diaginertia='1 1 3'/>"),
     "attribute 'diaginertia': violates the triangle inequality"},
    {"indefinite full inertia", body("<joint/><inertial pos='0 0 0' mass='1' fullinertia='1 1 1 2 0 0'/>"),
     "attribute 'fullinertia': is not positive definite"},
    {"missing attribute", body("<joint/><inertial mass='1' diaginertia='1 1 1'/>"),
     "m.xml:4: <inertial> is missing the required attribute 'pos'"},
    {"missing size", body("<joint/><geom type='box'/>"), "m.xml:4: <geom> is missing the required attribute 'size'"},
    {"negative geom mass", body("<joint/><geom size='0.1' mass='-2'/>"), "<geom> attribute 'mass': must be > 0, got -2"},
    {"zero density", body("<joint/><geom size='0.1' density='0'/>"), "<geom> attribute 'density': must be > 0, got 0"},
    {"massless body", body("<joint/>"), "m.xml:3: <body name='b'> has no mass"},
    {"unsupported geom type", body("<joint/><geom type='cylinder' size='0.1 0.2'/>"),
     "<geom> attribute 'type': 'cylinder' is not supported"},
    {"bad joint type", body("<joint type='screw'/><geom size='0.1'/>"),
     "<joint> attribute 'type': 'screw' is not one of hinge, slide, ball, free"},
    {"a free joint with another joint", "<mujoco><worldbody><body><joint/>\n<freejoint/><geom size='1'/></body></worldbody></mujoco>",
     "m.xml:2: <freejoint> a free joint must be the only joint of its body"},
    {"range without limited", body("<joint range='0 1'/><geom size='0.1'/>"),
     "<joint> attribute 'range': is given without limited=\"true\""},
    {"reversed range", body("<joint range='1 0' limited='true'/><geom size='0.1'/>"),
     "<joint> attribute 'range': must have lower < upper"},
    {"two orientations", "<mujoco><worldbody>\n<body quat='1 0 0 0' euler='0 0 1'><geom size='1'/></body></worldbody></mujoco>",
     "m.xml:2: <body> has more than one orientation (quat, euler)"},
    {"zero quaternion", "<mujoco><worldbody>\n<body quat='0 0 0 0'><geom size='1'/></body></worldbody></mujoco>",
     "m.xml:2: <body> attribute 'quat': is zero"},
    {"free joint not at the root", body("<joint/><geom size='0.1'/><body><freejoint/><geom size='0.1'/></body>"),
     "<freejoint> a free joint's body must be a child of <worldbody>"},
    {"missing class", body("<joint class='nope'/><geom size='0.1'/>"),
     "<joint> attribute 'class': names no <default class='nope'>"},
    {"missing joint of an actuator", "<mujoco><worldbody><body><joint name='j'/><geom size='1'/></body></worldbody>\n<actuator>\n<motor joint='k'/></actuator></mujoco>",
     "m.xml:3: <motor> attribute 'joint': names no joint 'k'"},
    {"unknown actuator kind", "<mujoco><worldbody><body><joint name='j'/><geom size='1'/></body></worldbody>\n<actuator>\n<muscle joint='j'/></actuator></mujoco>",
     "m.xml:3: <muscle> is not supported inside <actuator>"},
    {"RK4", "<mujoco>\n<option integrator='RK4'/><worldbody><body><geom size='1'/></body></worldbody></mujoco>",
     "m.xml:2: <option> attribute 'integrator': RK4 is not supported"},
    {"not MJCF", "<robot name='r'/>", "m.xml:1: <robot name='r'> is not an MJCF model"},
    {"no worldbody", "<mujoco>\n<option/></mujoco>", "m.xml:1: <mujoco> has no <worldbody>"},
    {"a static box in the world", "<mujoco><worldbody>\n<geom type='box' size='1 1 1'/></worldbody></mujoco>",
     "m.xml:2: <geom> static world geoms are supported only as the ground"},
    {"duplicate body names", "<mujoco><worldbody><body name='x'><geom size='1'/></body>\n<body name='x'><geom size='1'/></body></worldbody></mujoco>",
     "m.xml:2: <body name='x'> attribute 'name': 'x' is used by another body"},
    {"bad default value is reported at the default", "<mujoco><default>\n<joint damping='-1'/></default><worldbody><body>\n<joint/><geom size='1'/></body></worldbody></mujoco>",
     "m.xml:2: <joint> attribute 'damping': must be >= 0, got -1"},
    {"motor under a servo default", "<mujoco><default>\n<position kp='5'/></default><worldbody><body><joint name='j'/><geom size='1'/></body></worldbody>\n<actuator>\n<motor joint='j'/></actuator></mujoco>",
     "m.xml:4: <motor> uses class 'main' whose <position> default (line 2)"},
    {"actuated ball joint", "<mujoco><worldbody><body><joint name='j' type='ball'/><geom size='1'/></body></worldbody>\n<actuator>\n<motor joint='j'/></actuator></mujoco>",
     "m.xml:3: <motor> attribute 'joint': 'j' is a spherical joint"},
    {"a <general> default (it would reach motors)", "<mujoco><default>\n<general gainprm='3'/></default><worldbody/></mujoco>",
     "m.xml:2: <general> is not supported inside <default>"},
    {"contacts for some link pairs and not others",
     "<mujoco><worldbody><body><joint/><geom size='0.1'/><body pos='0 0 -1'><joint/><geom size='0.1'/><body pos='0 0 -1'><joint/>\n<geom size='0.1'/></body></body></body>\n"
       .. "<body pos='1 0 0'><joint/>\n<geom size='0.1' contype='2' conaffinity='2'/></body></worldbody></mujoco>",
     "MuJoCo would collide some pairs of link shapes (m.xml:1 with m.xml:2) and not others (m.xml:1 with m.xml:4"},
    {"the ground for some geoms only", "<mujoco><worldbody><geom type='plane' size='1 1 1'/><body><joint/>\n<geom size='0.1'/>"
       .. "<geom size='0.1' pos='1 0 0' contype='0' conaffinity='0'/></body></worldbody></mujoco>",
     "the ground touches some geoms (m.xml:2) and not others (m.xml:2, by contype/conaffinity)"},
    {"an explicit contact pair", "<mujoco><worldbody><body name='a'><geom size='1'/></body></worldbody><contact>\n<pair geom1='x' geom2='y'/></contact></mujoco>",
     "m.xml:2: <pair> is not supported inside <contact>"},
    {"an exclude naming no body", "<mujoco><worldbody><body name='a'><geom size='1'/></body></worldbody><contact>\n<exclude body1='a' body2='zz'/></contact></mujoco>",
     "m.xml:2: <exclude> attribute 'body2': names no body 'zz'"},
    {"a flag the plugin cannot honour", "<mujoco><option>\n<flag limit='disable'/></option><worldbody/></mujoco>",
     "m.xml:2: <flag> attribute 'limit': 'disable' is not supported (only MuJoCo's default, enable)"},
    {"an unknown flag", "<mujoco><option>\n<flag wobble='enable'/></option><worldbody/></mujoco>",
     "m.xml:2: <flag> attribute 'wobble': is not a flag of MuJoCo 2.2"},
    {"a negative bit mask", body("<joint/><geom size='0.1' contype='-1'/>"),
     "<geom> attribute 'contype': must be a bit mask (an integer >= 0), got -1"},
    {"joint stiffness", body("<joint stiffness='3'/><geom size='0.1'/>"), "<joint> attribute 'stiffness': is not supported (only 0)"},
    {"an empty control range", act("<motor joint='j' ctrlrange='1 1' ctrllimited='true'/>"),
     "m.xml:3: <motor> attribute 'ctrlrange': must have lower < upper (an empty control range), got 1 1"},
    {"a reversed force range", act("<position joint='j' kp='2' forcerange='1 -1' forcelimited='true'/>"),
     "m.xml:3: <position> attribute 'forcerange': must have lower < upper (an empty force range), got 1 -1"},
    {"a malformed force range", act("<motor joint='j' forcerange='1' forcelimited='true'/>"),
     "m.xml:3: <motor> attribute 'forcerange': needs 2 numbers, got 1"},
    {"a NaN control range", act("<motor joint='j' ctrlrange='nan 1' ctrllimited='true'/>"),
     "m.xml:3: <motor> attribute 'ctrlrange': 'nan' is not a finite number"},
    {"a force range without forcelimited", act("<motor joint='j' forcerange='-1 1'/>"),
     "m.xml:3: <motor> attribute 'forcerange': is given without forcelimited=\"true\""},
    {"forcelimited without a range", act("<motor joint='j' forcelimited='true'/>"),
     "m.xml:3: <motor> attribute 'forcelimited': is true but there is no forcerange"},
    {"a negative kv", act("<velocity joint='j' kv='-1'/>"), "m.xml:3: <velocity> attribute 'kv': must be > 0, got -1"},
    {"a NaN kv", act("<velocity joint='j' kv='nan'/>"), "m.xml:3: <velocity> attribute 'kv': 'nan' is not a finite number"},
    {"kv on a position servo (MuJoCo 2.2 has none)", act("<position joint='j' kv='1'/>"),
     "m.xml:3: <position> has an unsupported attribute 'kv'"},
    {"frictionless contact", body("<joint/>\n<geom size='0.1' condim='1'/>"),
     "m.xml:5: <geom> attribute 'condim': 1 is not supported (only 3: frictional point contact)"},
    {"torsional friction from a default", "<mujoco><default>\n<geom condim='4'/></default><worldbody><body><joint/><geom size='1'/></body></worldbody></mujoco>",
     "m.xml:2: <geom> attribute 'condim': 4 is not supported"},
    {"a reversed inertiagrouprange", "<mujoco>\n<compiler inertiagrouprange='3 1'/><worldbody/></mujoco>",
     "m.xml:2: <compiler> attribute 'inertiagrouprange': must have lower <= upper, got 3 1"},
    {"an unknown collision mode", "<mujoco>\n<option collision='some'/><worldbody/></mujoco>",
     "m.xml:2: <option> attribute 'collision': 'some' is not one of all, pair, dynamic"},
  }
  for _, c in ipairs(cases) do
    it(c[1], function()
      local e = err_of(mjcf.parse, c[2], "m.xml")
      assert.matches("mjcf: ", e, 1, true)
      assert.matches(c[3], e, 1, true)
    end)
  end

  it("a missing include, an include cycle, a bad value inside an included file", function()
    local dir = os.tmpname()
    os.remove(dir)
    os.execute("mkdir -p " .. dir)
    local function put(name, text)
      local f = assert(io.open(dir .. "/" .. name, "w"))
      f:write(text)
      f:close()
    end
    put("a.xml", "<mujoco>\n<include file='b.xml'/><worldbody/></mujoco>")
    put("b.xml", "<mujoco>\n\n<include file='a.xml'/></mujoco>")
    put("c.xml", "<mujoco>\n<include file='nope.xml'/></mujoco>")
    put("d.xml", "<mujoco><worldbody>\n<include file='e.xml'/></worldbody></mujoco>")
    put("e.xml", "<mujoco>\n<body><joint/>\n<geom size='0.1' density='-5'/></body></mujoco>")
    local e = err_of(mjcf.load, dir .. "/a.xml")
    assert.matches("b.xml:3: <include> attribute 'file': 'a.xml' includes itself (an include cycle)", e, 1, true)
    e = err_of(mjcf.load, dir .. "/c.xml")
    assert.matches("c.xml:2: <include> attribute 'file': cannot open '" .. dir .. "/nope.xml'", e, 1, true)
    e = err_of(mjcf.load, dir .. "/d.xml")
    assert.matches("e.xml:3: <geom> attribute 'density': must be > 0, got -5", e, 1, true)
    os.execute("rm -rf " .. dir)
  end)

  it("ignores the harmless: visual, asset, rgba, site, condim", function()
    local d = mjcf.parse([[<mujoco><visual/><asset/><worldbody><light/>
      <body><joint/><geom size="0.1" rgba="1 0 0 1" condim="3"/><site/></body></worldbody></mujoco>]], "ok.xml")
    assert.equals(1, #d.links)
  end)

  it("an unknown option is an error", function()
    local e = err_of(mjcf.parse, "<mujoco/>", "m.xml", {self_colision = true})
    assert.matches("mjcf: opts.self_colision is not an option (ground, self_collision)", e, 1, true)
  end)
end)

describe("URDF", function()
  it("an unknown option is an error", function()
    local e = err_of(urdf.parse, "<robot name='r'><link name='a'/></robot>", "r.urdf", {flaoting = true})
    assert.matches("urdf: opts.flaoting is not an option", e, 1, true)
    e = err_of(urdf.parse, "<robot name='r'><link name='a'/></robot>", "r.urdf", {actuators = "position"})
    assert.matches("urdf: opts.actuators = position is not supported (nil: none; \"motor\": a motor per moving joint)", e, 1, true)
  end)
  local function robot(s) return "<robot name='r'>\n" .. s .. "\n</robot>" end
  local L = "<link name='%s'><inertial><mass value='1'/><inertia ixx='1' iyy='1' izz='1' ixy='0' ixz='0' iyz='0'/></inertial></link>\n"
  local function links(...)
    local t = {}
    for _, n in ipairs({...}) do t[#t + 1] = L:format(n) end
    return table.concat(t)
  end
  local function J(name, p, c, t)
    return ("<joint name='%s' type='%s'><parent link='%s'/><child link='%s'/></joint>\n"):format(name, t or "continuous", p, c)
  end
  local cases = {
    {"a cycle", robot(links("a", "b", "c") .. J("ab", "a", "b") .. J("bc", "b", "c") .. J("ca", "c", "a")),
     "<joint name='ab'> closes a cycle"},
    {"a cycle beside a root", robot(links("r", "a", "b", "c") .. J("ra", "r", "a") .. J("bc", "b", "c") .. J("cb", "c", "b")),
     "is part of a cycle"},
    {"two parents", robot(links("a", "b", "c") .. J("ab", "a", "b") .. J("cb", "c", "b")),
     "r.urdf:6: <joint name='cb'> gives link 'b' a second parent (its first: <joint name='ab'> at line 5)"},
    {"missing link", robot(links("a") .. J("ab", "a", "b")),
     "r.urdf:3: <child> attribute 'link': names no link 'b'"},
    {"two roots", robot(links("a", "b")), "r.urdf:3: <link name='b'> is a second root"},
    {"zero mass", robot("<link name='a'><inertial><mass value='0'/><inertia ixx='1' iyy='1' izz='1' ixy='0' ixz='0' iyz='0'/></inertial></link>"),
     "r.urdf:2: <mass> attribute 'value': must be > 0, got 0"},
    {"missing inertia attribute", robot("<link name='a'><inertial><mass value='1'/>\n<inertia ixx='1' iyy='1' ixy='0' ixz='0' iyz='0'/></inertial></link>"),
     "r.urdf:3: <inertia> is missing the required attribute 'izz'"},
    {"bad number", robot("<link name='a'><inertial><mass value='one'/><inertia ixx='1' iyy='1' izz='1' ixy='0' ixz='0' iyz='0'/></inertial></link>"),
     "<mass> attribute 'value': 'one' is not a finite number"},
    {"unsupported joint", robot(links("a", "b") .. J("ab", "a", "b", "planar")),
     "<joint name='ab'> attribute 'type': 'planar' is not supported"},
    {"revolute without limit", robot(links("a", "b") .. J("ab", "a", "b", "revolute")),
     "<joint name='ab'> a revolute joint needs a <limit>"},
    {"moving massless link", robot(links("a") .. "<link name='b'/>\n" .. J("ab", "a", "b")),
     "r.urdf:3: <link name='b'> has no <inertial> (mass 0) but moves on joint 'ab'"},
    {"mesh collision", robot("<link name='a'><collision><geometry>\n<mesh filename='x.stl'/></geometry></collision></link>"),
     "r.urdf:3: <mesh> is not a supported collision shape"},
    {"unknown element", robot("<link name='a'>\n<sensor/></link>"), "r.urdf:3: <sensor> is not supported inside <link>"},
    {"unknown attribute", robot("<link name='a' colour='red'/>"), "<link name='a'> has an unsupported attribute 'colour'"},
    {"duplicate link", robot(links("a", "a")), "r.urdf:3: <link name='a'> attribute 'name': 'a' is used by another link (line 2)"},
    {"missing name", robot("<link/>"), "r.urdf:2: <link> is missing the required attribute 'name'"},
    {"zero axis", robot(links("a", "b") .. "<joint name='ab' type='continuous'><parent link='a'/><child link='b'/>\n<axis xyz='0 0 0'/></joint>"),
     "r.urdf:5: <axis> attribute 'xyz': is a zero axis"},
    {"not URDF", "<mujoco/>", "r.urdf:1: <mujoco> is not a URDF model"},
    {"negative effort", robot(links("a", "b") .. "<joint name='ab' type='revolute'><parent link='a'/><child link='b'/>\n<limit lower='-1' upper='1' effort='-3' velocity='1'/></joint>"),
     "r.urdf:5: <limit> attribute 'effort': must be >= 0, got -3"},
    {"NaN velocity", robot(links("a", "b") .. "<joint name='ab' type='continuous'><parent link='a'/><child link='b'/>\n<limit velocity='nan'/></joint>"),
     "r.urdf:5: <limit> attribute 'velocity': 'nan' is not a finite number"},
  }
  for _, c in ipairs(cases) do
    it(c[1], function()
      local e = err_of(urdf.parse, c[2], "r.urdf")
      assert.matches("urdf: ", e, 1, true)
      assert.matches(c[3], e, 1, true)
    end)
  end
end)
