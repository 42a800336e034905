-- fem meshing and mesh files: TetGen tetrahedralizations of a cube and a
-- sphere fill exactly the volume their surface encloses with positive tets;
-- .msh written and read back (4.1 and 2.2) gives the same mesh bit for bit;
-- OBJ and STL surfaces read. Bad input: bad_plugin_fem_shell_spec.lua.
local ds = require("diffsim")
ds.init{precision = "f64", threads = 2}
local ffi = require("ffi")
local fem = ds.plugin("fem")

local shapes = require("fem_shapes")
local cube, sphere, enclosed = shapes.cube, shapes.sphere, shapes.enclosed

local function tet_volumes(mesh)
  local x, t = mesh.verts:data(), ffi.cast("int32_t *", mesh.tets:data())
  local vols = {}
  for e = 0, mesh.tets:shape()[1] - 1 do
    local a, b, c, d = t[4 * e], t[4 * e + 1], t[4 * e + 2], t[4 * e + 3]
    local u, v, w = {}, {}, {}
    for k = 0, 2 do
      u[k] = x[3 * b + k] - x[3 * a + k]
      v[k] = x[3 * c + k] - x[3 * a + k]
      w[k] = x[3 * d + k] - x[3 * a + k]
    end
    vols[#vols + 1] = (u[0] * (v[1] * w[2] - v[2] * w[1]) - u[1] * (v[0] * w[2] - v[2] * w[0]) +
                       u[2] * (v[0] * w[1] - v[1] * w[0])) / 6
  end
  return vols
end

local function check_filled(mesh, volume, max_volume)
  local vols, sum, minv, maxv = tet_volumes(mesh), 0, math.huge, 0
  for _, v in ipairs(vols) do sum, minv, maxv = sum + v, math.min(minv, v), math.max(maxv, v) end
  assert.is_true(minv > 0, "a tet has volume " .. minv)
  assert.is_true(math.abs(sum - volume) < 1e-12 * volume, string.format("tets sum to %.17g, surface encloses %.17g", sum, volume))
  if max_volume then assert.is_true(maxv <= max_volume * (1 + 1e-9), "a tet exceeds max_volume: " .. maxv) end
  return #vols, sum, minv
end

describe("fem.tetrahedralize (TetGen)", function()
  it("fills the unit cube with positive tets summing to its volume, each under max_volume", function()
    local V, F = cube()
    local mesh = fem.tetrahedralize(V, F, {max_volume = 1e-3, quality = 1.5})
    local n, sum = check_filled(mesh, 1, 1e-3)
    assert.is_true(n >= 1000)
    print(string.format("cube: %d vertices, %d tets, volume %.17g", mesh.verts:shape()[1], n, sum))
  end)

  it("fills a sphere: the tets' volumes add up to the enclosed volume (to round-off)", function()
    local V, F = sphere(2)
    local vol = enclosed(V, F)
    assert.is_true(math.abs(vol - 4 / 3 * math.pi) < 0.05 * 4 / 3 * math.pi)
    -- tensors in
    local mesh = fem.tetrahedralize(ds.tensor(V), ds.tensor(F, "i32"), {max_volume = 0.01})
    local n, sum, minv = check_filled(mesh, vol, 0.01)
    print(string.format("sphere: %d tets, volume %.17g vs enclosed %.17g, smallest tet %.3g", n, sum, vol, minv))
  end)

end)

describe("a TetGen mesh as an fem body", function()
  it("passes fem's rest-shape checks and falls freely: every vertex gains exactly h g in one implicit step", function()
    local V, F = sphere(1)
    local mesh = fem.tetrahedralize(V, F, {max_volume = 0.05})
    local body = fem.body{verts = mesh.verts, sets = {{type = "tet_snh", elems = mesh.tets, E = 1e5, nu = 0.3,
                                                       density = 1000}}, gravity = {0, -9.81, 0}, dt = 1e-2}
    local _, v1 = body:step(mesh.verts, ds.zeros{mesh.verts:shape()[1], 3})
    -- from rest and undeformed, a free body translates rigidly: v = h g everywhere
    local worst = 0
    for _, v in ipairs(v1:totable()) do
      worst = math.max(worst, math.abs(v[1]), math.abs(v[2] + 9.81e-2), math.abs(v[3]))
    end
    assert.is_true(worst < 1e-9, "largest deviation from h g: " .. worst)
  end)
end)

describe("fem.read_msh / fem.write_msh", function()
  local tmp = os.tmpname()
  after_each(function() os.remove(tmp) end)

  local function same(a, b)
    assert.are.same(a:shape(), b:shape())
    local p, q = ffi.cast(a:dtype_name() == "i32" and "int32_t *" or "double *", a:data()),
                 ffi.cast(b:dtype_name() == "i32" and "int32_t *" or "double *", b:data())
    for i = 0, a:numel() - 1 do if p[i] ~= q[i] then return false end end
    return true
  end

  for _, version in ipairs({"4.1", "2.2"}) do
    it("round-trips a tet mesh exactly (version " .. version .. ")", function()
      local V, F = sphere(1)
      local mesh = fem.tetrahedralize(V, F, {max_volume = 0.05})
      -- coordinates with full double mantissas
      local x = mesh.verts:data()
      for i = 0, mesh.verts:numel() - 1 do x[i] = x[i] * (1 + 1e-13 * math.sin(i)) + math.pi * 1e-3 end
      mesh.triangles = ds.tensor({{0, 1, 2}, {2, 1, 3}}, "i32")
      fem.write_msh(tmp, mesh, {version = version})
      local back = fem.read_msh(tmp)
      assert.is_true(same(mesh.verts, back.verts))
      assert.is_true(same(mesh.tets, back.tets))
      assert.is_true(same(mesh.triangles, back.triangles))
    end)
  end

  local function write(text)
    local fh = io.open(tmp, "w")
    fh:write(text)
    fh:close()
  end

  it("reads a file gmsh wrote (4.1: $Entities, nodes in several blocks, trailing blanks)", function()
    -- gmsh 4.11's gmshWrite of two tets and a triangle (read from a 2.2 file); write_msh's 4.1
    -- output, with and without triangles, opens in gmsh's gmshOpen with no error (checked by hand)
    write("$MeshFormat\n4.1 0 8\n$EndMeshFormat\n$Entities\n0 0 1 1\n2 0 0 0 1 1 0 1 2 0 \n" ..
          "1 0 0 0 1 1 1 1 1 0 \n$EndEntities\n$Nodes\n2 5 1 5\n2 2 0 3\n1\n2\n3\n0 0 0\n1 0 0\n0 1 0\n" ..
          "3 1 0 2\n4\n5\n0 0 1\n1 1 1\n$EndNodes\n$Elements\n2 3 1 3\n2 2 2 1\n3 1 2 3 \n3 1 4 2\n" ..
          "1 1 2 3 4 \n2 2 3 4 5 \n$EndElements\n")
    local m = fem.read_msh(tmp)
    assert.are.same({{0, 1, 2, 3}, {1, 2, 3, 4}}, m.tets:totable())
    assert.are.same({{0, 1, 2}}, m.triangles:totable())
    assert.are.same({1, 1, 1}, m.verts:totable()[5])
  end)

  it("reads a hand-written 2.2 file with tags, skipping other element types and sections", function()
    write("$MeshFormat\n2.2 0 8\n$EndMeshFormat\n$PhysicalNames\n1\n3 1 \"body\"\n$EndPhysicalNames\n" ..
          "$Nodes\n4\n10 0 0 0\n20 1 0 0\n30 0 1 0\n40 0 0 1\n$EndNodes\n" ..
          "$Elements\n3\n1 15 2 0 1 10\n2 1 2 0 1 10 20\n3 4 2 1 1 10 20 30 40\n$EndElements\n")
    local m = fem.read_msh(tmp)
    assert.are.same({{0, 1, 2, 3}}, m.tets:totable())
    assert.are.same({0, 0, 1}, m.verts:totable()[4])
    assert.is_nil(m.triangles)
  end)

end)

describe("fem.read_surface", function()
  local tmp_obj, tmp_stl = os.tmpname() .. ".obj", os.tmpname() .. ".stl"
  after_each(function() os.remove(tmp_obj) os.remove(tmp_stl) end)

  it("reads an OBJ cube (quads split) and an ASCII STL cube, and meshes both to volume 1", function()
    local V, F = cube()
    local fh = io.open(tmp_obj, "w")
    fh:write("# cube\n")
    for _, p in ipairs(V) do fh:write(string.format("v %d %d %d\n", p[1], p[2], p[3])) end
    -- one quad face (two of the triangles) and the rest as triangles with texture/normal indices
    -- OBJ counts from 1
    fh:write(string.format("f %d/1 %d/1 %d/1 %d/1\n", F[1][1] + 1, F[1][2] + 1, F[2][3] + 1, F[1][3] + 1))
    for i = 3, #F do fh:write(string.format("f %d//1 %d//1 %d//1\n", F[i][1] + 1, F[i][2] + 1, F[i][3] + 1)) end
    fh:close()
    local s = fem.read_surface(tmp_obj)
    assert.are.same({12, 3}, s.triangles:shape())
    check_filled(fem.tetrahedralize(s.verts, s.triangles, {max_volume = 0.01}), 1, 0.01)
    fh = io.open(tmp_stl, "w")
    fh:write("solid cube\n")
    for _, f in ipairs(F) do
      fh:write("facet normal 0 0 0\n outer loop\n")
      for k = 1, 3 do local p = V[f[k] + 1] fh:write(string.format("  vertex %d %d %d\n", p[1], p[2], p[3])) end
      fh:write(" endloop\nendfacet\n")
    end
    fh:write("endsolid cube\n")
    fh:close()
    s = fem.read_surface(tmp_stl)
    assert.are.same({8, 3}, s.verts:shape()) -- corners merged
    check_filled(fem.tetrahedralize(s.verts, s.triangles, {max_volume = 0.01}), 1, 0.01)
  end)

  it("reads a binary STL cube", function()
    local V, F = cube()
    local size = 84 + 50 * #F
    local buf = ffi.new("uint8_t[?]", size)
    ffi.cast("uint32_t *", buf + 80)[0] = #F
    for i, f in ipairs(F) do
      local rec = ffi.cast("float *", buf + 84 + 50 * (i - 1))
      for k = 1, 3 do for d = 1, 3 do rec[3 * k + d - 1] = V[f[k] + 1][d] end end -- after the normal's 3 floats
    end
    local fh = io.open(tmp_stl, "wb")
    fh:write(ffi.string(buf, size))
    fh:close()
    local s = fem.read_surface(tmp_stl)
    assert.are.same({8, 3}, s.verts:shape())
    assert.are.same({12, 3}, s.triangles:shape())
    check_filled(fem.tetrahedralize(s.verts, s.triangles, {max_volume = 0.01}), 1, 0.01)
  end)

end)

describe("fem_mesh.lua's ffi.cdef", function()
  it("declares exactly the functions of plugins/fem/tetgen_wrap.h", function()
    local function norm(text)
      text = text:gsub("/%*.-%*/", ""):gsub("#[^\n]*", ""):gsub("%s+", " ")
      local decls = {}
      for d in text:gmatch("([^;{}]+);") do
        d = d:gsub("^%s+", ""):gsub("%s+$", ""):gsub("%s*([%(%),%*])%s*", "%1")
        if d ~= "" then decls[#decls + 1] = d end
      end
      table.sort(decls)
      return decls
    end
    local function read(p) local f = assert(io.open(p)) local s = f:read("*a") f:close() return s end
    local header = read("plugins/fem/tetgen_wrap.h"):gsub("extern \"C\" {", "")
    local cdef = read("plugins/fem/fem_mesh.lua"):match("ffi%.cdef, %[%[(.-)%]%]")
    assert.is_truthy(cdef)
    assert.are.same(norm(header), norm(cdef))
  end)
end)
