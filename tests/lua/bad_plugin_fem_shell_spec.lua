-- fem cloth and meshing, bad input: non-manifold or inconsistently oriented
-- cloth meshes, degenerate rest triangles and bad material values, surfaces
-- TetGen cannot mesh, and malformed .msh / OBJ files. Every message names the
-- function or kernel and the argument, or the file and line.
local ds = require("diffsim")
ds.init{precision = "f64", threads = 2}
local fem = ds.plugin("fem")
local shapes = require("fem_shapes")
local cube = shapes.cube

describe("fem cloth bad input", function()
  local sq = {{0, 0, 0}, {1, 0, 0}, {1, 0, 1}, {0, 0, 1}, {0.5, 1, 0.5}}
  it("refuses a non-manifold mesh, naming the edge, triangles or vertex", function()
    local ok, err = pcall(fem.cloth, {verts = sq, tris = {{0, 1, 2}, {0, 2, 3}, {0, 2, 4}}})
    assert.is_false(ok)
    assert.matches("fem.shell_hinges: argument 'tri': edge {0, 2} is shared by 3 triangles", err, 1, true)
    ok, err = pcall(fem.cloth, {verts = sq, tris = {{0, 1, 2}, {0, 3, 2}}})
    assert.matches("inconsistent orientation", err, 1, true)
    ok, err = pcall(fem.cloth, {verts = {{0, 0, 0}, {1, 0, 0}, {0, 1, 0}, {-1, 0, 0}, {0, -1, 0}},
                                tris = {{0, 1, 2}, {0, 3, 4}}})
    assert.matches("vertex 0 is where separate sheets meet", err, 1, true)
    ok, err = pcall(fem.cloth, {verts = sq, tris = {{0, 1, 7}}})
    assert.matches("vertex index 7", err, 1, true)
    ok, err = pcall(fem.hinges, ds.tensor({{0, 1}}, "i32"), 3)
    assert.matches("tris must be an i32 tensor {m, 3}", err, 1, true)
  end)

  it("refuses degenerate rest triangles and bad material values, naming the set and element", function()
    local body = fem.cloth{verts = {{0, 0, 0}, {1, 0, 0}, {2, 0, 0}, {0, 0, 1}}, tris = {{0, 1, 2}, {0, 3, 1}}}
    local ok, err = pcall(body.step, body, body.rest)
    assert.is_false(ok)
    assert.matches("set 1 %(tri_membrane%) element 0: ", err)
    local flat = fem.cloth{verts = {{0, 0, 0}, {1, 0, 0}, {1, 0, 1}, {0, 0, 1}}, tris = {{0, 3, 2}, {0, 2, 1}}}
    for _, c in ipairs({{1, "nu", 0.5, "nu = 0.5 must be in"}, {1, "E", -1, "E = %-1 must be positive"},
                        {1, "thickness", 0, "thickness = 0 must be positive"},
                        {2, "k_bend", -1, "k_bend = %-1 must be non%-negative"}}) do
      local saved = flat.sets[c[1]].values[c[2]]
      flat:set_param(c[1], c[2], c[3])
      ok, err = pcall(flat.step, flat, flat.rest)
      assert.is_false(ok)
      assert.matches(c[4], err)
      flat:set_param(c[1], c[2], saved)
    end
    assert.has_no.errors(function() flat:step(flat.rest) end)
  end)
end)

describe("fem.tetrahedralize bad input", function()
  it("refuses a self-intersecting surface (two overlapping cubes) with an error, not a crash", function()
    local V, F = cube()
    local V2, F2 = {}, {}
    for i, p in ipairs(V) do V2[i], V2[8 + i] = p, {p[1] + 0.5, p[2] + 0.5, p[3] + 0.5} end
    for i, f in ipairs(F) do F2[i], F2[12 + i] = f, {f[1] + 8, f[2] + 8, f[3] + 8} end
    local ok, err = pcall(fem.tetrahedralize, V2, F2)
    assert.is_false(ok)
    assert.matches("fem.tetrahedralize: the surface intersects itself: 12 of its faces cross others", err, 1, true)
    -- the same two cubes apart are two closed components: meshed, volume 2
    for i = 9, 16 do V2[i] = {V[i - 8][1] + 2, V[i - 8][2], V[i - 8][3]} end
    local mesh = fem.tetrahedralize(V2, F2)
    assert.are.same(4, mesh.tets:shape()[2])
  end)

  it("refuses surfaces that are open, non-manifold, inconsistently oriented or out of range", function()
    local V, F = cube()
    local open = {}
    for i = 1, #F - 1 do open[i] = F[i] end
    assert.has_error(function() fem.tetrahedralize(V, open) end,
      "fem.tetrahedralize: the surface is not closed: 3 of its edges belong to one face only (a hole)")
    local flipped = {}
    for i, f in ipairs(F) do flipped[i] = f end
    flipped[1] = {F[1][1], F[1][3], F[1][2]}
    local ok, err = pcall(fem.tetrahedralize, V, flipped)
    assert.is_false(ok)
    assert.matches("inconsistent orientation", err)
    ok, err = pcall(fem.tetrahedralize, V, {{0, 1, 8}, {0, 1, 2}, {0, 2, 3}, {1, 2, 3}})
    assert.is_false(ok)
    assert.matches("faces[1][3] = 8 is not a 0-based vertex index in [0, 8)", err, 1, true)
    ok, err = pcall(fem.tetrahedralize, ds.tensor(V):requires_grad(), F)
    assert.matches("fem.tetrahedralize: vertices require grad, but meshing is not differentiable", err, 1, true)
    ok, err = pcall(fem.tetrahedralize, V, F, {quality = 1.0})
    assert.matches("'quality'", err)
    ok, err = pcall(fem.tetrahedralize, V, F, {max_volume = -1})
    assert.matches("'max_volume' must be", err)
    ok, err = pcall(fem.tetrahedralize, V, F, {maxvol = 1})
    assert.matches("unknown option 'maxvol'", err)
    ok, err = pcall(fem.tetrahedralize, {{0, 0, 0}, {1, 0}}, F)
    assert.matches("vertices%[2%] must be {x, y, z}", err)
  end)
end)

describe("fem.read_msh / fem.write_msh / fem.read_surface bad input", function()
  local tmp = os.tmpname()
  local tmp_obj = os.tmpname() .. ".obj"
  after_each(function() os.remove(tmp) os.remove(tmp_obj) end)
  local function write(text)
    local fh = io.open(tmp, "w")
    fh:write(text)
    fh:close()
  end

  it("names the file and line of malformed input", function()
    local path = tmp
    local cases = {
      {"$MeshFormat\n2.2 0 8\n$EndMeshFormat\n$Nodes\n2\n1 0 0 x\n", ":6: node %(tag x y z%): 'x' is not a number"},
      {"$MeshFormat\n3.0 0 8\n$EndMeshFormat\n", ":2: MSH version '3.0' is not supported"},
      {"$MeshFormat\n4.1 1 8\n$EndMeshFormat\n", ":2: binary .msh files are not supported"},
      {"$MeshFormat\n2.2 0 8\n$EndMeshFormat\n$Nodes\n3\n1 0 0 0\n", ":6: unexpected end of file"},
      {"$MeshFormat\n2.2 0 8\n$EndMeshFormat\n$Nodes\n1\n1 0 0 0\n$EndNodes\n$Elements\n1\n1 4 0 1 2 3\n$EndElements\n",
       ":10: element of type 4 needs 4 node tags after 0 tags, the line has 6 numbers"},
      {"$MeshFormat\n2.2 0 8\n$EndMeshFormat\n$Nodes\n1\n1 0 0 0\n$EndNodes\n$Elements\n1\n1 4 0 1 2 3 4\n$EndElements\n",
       "tets 1 refers to node 2, which $Nodes does not define"},
      {"$MeshFormat\n2.2 0 8\n$EndMeshFormat\n$Nodes\n1\n1 0 0 0\n$EndNodes\n$Elements\n1\n1 99 0 1\n$EndElements\n",
       ":10: unknown element type 99"},
      {"hello\n", ":1: unexpected line 'hello' outside a section"},
      {"", "no $MeshFormat section: not a gmsh .msh file"},
    }
    for _, c in ipairs(cases) do
      write(c[1])
      local ok, err = pcall(fem.read_msh, path)
      assert.is_false(ok)
      assert.matches("fem.read_msh: ", err, 1, true)
      assert.matches(c[2], err)
    end
    local ok, err = pcall(fem.read_msh, "/nonexistent/cloth.msh")
    assert.matches("cannot open '/nonexistent/cloth.msh'", err, 1, true)
    ok, err = pcall(fem.write_msh, tmp, {verts = ds.tensor({{0, 0, 0}})})
    assert.matches("mesh has neither tets nor triangles", err, 1, true)
    ok, err = pcall(fem.write_msh, tmp, {verts = ds.tensor({{0, 0, 0}}), tets = ds.tensor({{0, 0, 0, 1}}, "i32")})
    assert.matches("mesh.tets row 0 %(0%-based%) has vertex index 1, outside %[0, 1%)", err)
    ok, err = pcall(fem.write_msh, tmp, {verts = ds.tensor({{0, 0, 0}}), tets = ds.tensor({{0, 0, 0, 0}}, "i32")},
      {version = "3"})
    assert.matches("option 'version' must be one of '4.1', '2.2'", err)
  end)

  it("names the file and line of a malformed OBJ", function()
    local fh = io.open(tmp_obj, "w")
    fh:write("v 0 0 0\nv 1 0 0\nf 1 2 3\n")
    fh:close()
    local ok, err = pcall(fem.read_surface, tmp_obj)
    assert.is_false(ok)
    assert.matches(":3: face refers to vertex 3, but only 2 are defined so far", err, 1, true)
    ok, err = pcall(fem.read_surface, "mesh.ply")
    assert.matches("neither .obj nor .stl", err, 1, true)
  end)
end)
