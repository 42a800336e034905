-- fem meshing and mesh files, mixed into the fem front end (fem.lua):
--
--   local mesh = fem.tetrahedralize(vertices, faces, {max_volume = 1e-3, quality = 2})
--       vertices: {n, 3} real tensor or {{x, y, z}, ...}; faces: {m, 3} i32 tensor
--       or {{i, j, k}, ...}, 0-based (as fem.body's elems); a closed, consistently oriented
--       surface. Returns {verts = {N, 3}, tets = i32 {M, 4} (0-based, positive
--       orientation)}. TetGen does the work (libds_fem_tetgen.so, tetgen_wrap.cpp).
--   local mesh = fem.read_msh(path)          gmsh .msh, ASCII 2.2 or 4.1: vertices and
--       whatever of tets {M, 4} and triangles {K, 3} (i32, 0-based) the file holds
--   fem.write_msh(path, mesh [, {version = "4.1" | "2.2"}])   ASCII, exact (%.17g / %.9g)
--   local surf = fem.read_surface(path)      OBJ or STL (ASCII or binary):
--       {verts = {n, 3}, triangles = i32 {m, 3}}; STL corners merged by exact position
--
-- Every malformed input is an error naming the function, the file and line (or
-- the argument). Coordinates go in and come out as the context's real type.
local ffi = require("ffi")

return function(ds, M, front_file)
  local O = require("diffsim.options")
  local raise = O.raise
  local f64 = ds.precision == "f64"
  local FMT = f64 and "%.17g" or "%.9g"

  -- ---- arguments ---------------------------------------------------------
  local function vertices_arg(who, v)
    if ds.is_tensor(v) then
      local s = v:shape()
      if v:dtype_name() ~= "real" or #s ~= 2 or s[2] ~= 3 then
        raise(string.format("%s: vertices must be a real tensor {n, 3}, got a %s tensor {%s}", who, v:dtype_name(),
          table.concat(s, ", ")))
      end
      return v
    end
    if type(v) ~= "table" or #v == 0 then raise(who .. ": vertices must be a {n, 3} tensor or a list of {x, y, z}") end
    for i, p in ipairs(v) do
      if type(p) ~= "table" or #p ~= 3 or not (O.finite(p[1]) and O.finite(p[2]) and O.finite(p[3])) then
        raise(string.format("%s: vertices[%d] must be {x, y, z} of finite numbers", who, i))
      end
    end
    return ds.tensor(v)
  end
  -- An index tensor {m, k} or a list of k-tuples, 0-based either way (as fem.body's elems and pins).
  local function index_arg(who, name, v, k, nv)
    local t
    if ds.is_tensor(v) then
      local s = v:shape()
      if v:dtype_name() ~= "i32" or #s ~= 2 or s[2] ~= k then
        raise(string.format("%s: %s must be an i32 tensor {m, %d} (0-based), got a %s tensor {%s}", who, name, k,
          v:dtype_name(), table.concat(s, ", ")))
      end
      t = v
    else
      if type(v) ~= "table" or #v == 0 then raise(string.format("%s: %s must be a non-empty list or tensor", who, name)) end
      local rows = {}
      for i, f in ipairs(v) do
        if type(f) ~= "table" or #f ~= k then raise(string.format("%s: %s[%d] must have %d indices", who, name, i, k)) end
        local r = {}
        for j = 1, k do
          local x = f[j]
          if type(x) ~= "number" or x ~= math.floor(x) or x < 0 or x >= nv then
            raise(string.format("%s: %s[%d][%d] = %s is not a 0-based vertex index in [0, %d)", who, name, i, j,
              tostring(x), nv))
          end
          r[j] = x
        end
        rows[i] = r
      end
      t = ds.tensor(rows, "i32")
    end
    local p = ffi.cast("int32_t *", t:data())
    for i = 0, t:numel() - 1 do
      if p[i] < 0 or p[i] >= nv then
        raise(string.format("%s: %s row %d (0-based) has vertex index %d, outside [0, %d)", who, name,
          math.floor(i / k), p[i], nv))
      end
    end
    return t
  end

  -- ---- TetGen --------------------------------------------------------------
  local tetgen
  local function load_tetgen(who)
    if tetgen then return tetgen end
    pcall(ffi.cdef, [[
      typedef struct fem_tetmesh fem_tetmesh;
      fem_tetmesh *fem_tetgen(const double *verts, int64_t nv, const int32_t *faces, int64_t nf, double max_volume,
                              double quality, char *err, int errlen);
      int64_t fem_tetmesh_nvert(const fem_tetmesh *m);
      int64_t fem_tetmesh_ntet(const fem_tetmesh *m);
      void fem_tetmesh_copy(const fem_tetmesh *m, void *verts, int real_size, int32_t *tets);
      void fem_tetmesh_free(fem_tetmesh *m);
    ]])
    -- beside the plugins (the search path), or beside this front end (a plugin built in its own folder)
    local dirs = {}
    for d in ffi.string(ds.C.ds_plugin_path(ds.ctx)):gmatch("[^:]+") do dirs[#dirs + 1] = d end
    if front_file then dirs[#dirs + 1] = front_file:match("^(.*)/[^/]*$") end
    for _, d in ipairs(dirs) do
      local ok, lib = pcall(ffi.load, d .. "/libds_fem_tetgen.so")
      if ok then tetgen = lib return lib end
    end
    raise(who .. ": libds_fem_tetgen.so (TetGen meshing) was not found on the plugin path " ..
      table.concat(dirs, ":") .. " (build the fem plugin; TetGen is the Debian package libtet1.5-dev)")
  end

  function M.tetrahedralize(vertices, faces, opts)
    local who = "fem.tetrahedralize"
    opts = O.check(who, opts, {"max_volume", "quality"})
    local maxv = O.number(who, "max_volume", opts.max_volume, 0, {ge = 0})
    local q = O.number(who, "quality", opts.quality, 2, {ge = 0})
    if q > 0 and q < 1.1 then raise(who .. ": option 'quality' (TetGen's radius-edge bound) must be 0 (off) or >= 1.1, got " .. q) end
    local V = vertices_arg(who, vertices)
    if V:needs_grad() then
      raise(who .. ": vertices require grad, but meshing is not differentiable (no gradient would reach them); " ..
        "pass vertices:detach()")
    end
    local nv = V:shape()[1]
    local F = index_arg(who, "faces", faces, 3, nv)
    local lib = load_tetgen(who)
    local vd = ffi.new("double[?]", 3 * nv)
    local src = V:data()
    for i = 0, 3 * nv - 1 do vd[i] = src[i] end
    local err = ffi.new("char[512]")
    local m = lib.fem_tetgen(vd, nv, ffi.cast("int32_t *", F:data()), F:shape()[1], maxv, q, err, 512)
    if m == nil then raise(who .. ": " .. ffi.string(err)) end
    m = ffi.gc(m, lib.fem_tetmesh_free)
    local n, nt = tonumber(lib.fem_tetmesh_nvert(m)), tonumber(lib.fem_tetmesh_ntet(m))
    local out = {verts = ds.empty{n, 3}, tets = ds.empty({nt, 4}, "i32")}
    lib.fem_tetmesh_copy(m, out.verts:data(), f64 and 8 or 4, ffi.cast("int32_t *", out.tets:data()))
    lib.fem_tetmesh_free(ffi.gc(m, nil))
    return out
  end

  -- ---- gmsh .msh -----------------------------------------------------------
  -- Nodes per element type (gmsh's numbering); 2 = triangle, 4 = tetrahedron are kept.
  local NODES = {[1] = 2, [2] = 3, [3] = 4, [4] = 4, [5] = 8, [6] = 6, [7] = 5, [8] = 3, [9] = 6, [10] = 9,
                 [11] = 10, [12] = 27, [13] = 18, [14] = 14, [15] = 1, [16] = 8, [17] = 20, [18] = 15, [19] = 13}

  -- A line reader that knows where it is, for messages.
  local function reader(who, path)
    local fh, e = io.open(path, "rb")
    if not fh then raise(who .. ": cannot open '" .. tostring(path) .. "': " .. tostring(e)) end
    local r, open = {n = 0}, true
    function r.close() if open then fh:close() open = false end end
    function r.fail(msg) r.close() raise(string.format("%s: %s:%d: %s", who, path, r.n, msg)) end
    function r.next() -- the next line, nil at the end of the file
      local l = fh:read("*l")
      if l == nil then return nil end
      r.n = r.n + 1
      return (l:gsub("\r$", ""))
    end
    function r.line()
      local l = r.next()
      if l == nil then r.fail("unexpected end of file") end
      return l
    end
    function r.nums(want, what)
      local l, out = r.line(), {}
      for w in l:gmatch("%S+") do
        local x = tonumber(w)
        if not x then r.fail(string.format("%s: '%s' is not a number", what, w)) end
        out[#out + 1] = x
      end
      if want and #out < want then r.fail(string.format("%s: expected %d numbers, got %d", what, want, #out)) end
      return out
    end
    return r
  end

  local function int_ok(x) return x == math.floor(x) and x >= 0 end

  function M.read_msh(path)
    local who = "fem.read_msh"
    if type(path) ~= "string" then raise(who .. ": path must be a string, got " .. type(path)) end
    local r = reader(who, path)
    local version
    local coords, tag_of = {}, {}     -- coords in file order; tag -> 0-based index
    local elems = {[2] = {}, [4] = {}}
    local function add_node(tag, x, y, z)
      if tag_of[tag] then r.fail("node tag " .. tag .. " appears twice") end
      tag_of[tag] = #coords / 3
      coords[#coords + 1], coords[#coords + 2], coords[#coords + 3] = x, y, z
    end
    local function add_elem(etype, nodes)
      local list = elems[etype]
      if list then list[#list + 1] = nodes end
    end
    while true do
      local text = r.next()
      if text == nil then break end
      local l = text:match("^%s*(.-)%s*$")
      if l == "$MeshFormat" then
        local f = r.line()
        local v, ft = f:match("^%s*(%S+)%s+(%S+)")
        if v ~= "2.2" and v ~= "4.1" and v ~= "2" and v ~= "2.1" and v ~= "2.0" then
          r.fail("MSH version '" .. tostring(v) .. "' is not supported (2.2 or 4.1 ASCII)")
        end
        if ft ~= "0" then r.fail("binary .msh files are not supported (write ASCII: gmsh -format msh41 or -bin 0)") end
        version = tonumber(v) >= 4 and 4 or 2
        if r.line():match("^%s*(.-)%s*$") ~= "$EndMeshFormat" then r.fail("expected $EndMeshFormat") end
      elseif l == "$Nodes" then
        if not version then r.fail("$Nodes before $MeshFormat") end
        if version == 2 then
          local n = r.nums(1, "node count")[1]
          if not int_ok(n) then r.fail("node count must be a non-negative integer") end
          for _ = 1, n do
            local t = r.nums(4, "node (tag x y z)")
            add_node(t[1], t[2], t[3], t[4])
          end
        else
          local h = r.nums(4, "$Nodes header (blocks nodes min max)")
          for _ = 1, h[1] do
            local b = r.nums(4, "node block header (dim tag parametric count)")
            if b[3] ~= 0 then r.fail("parametric nodes are not supported") end
            local tags = {}
            for i = 1, b[4] do tags[i] = r.nums(1, "node tag")[1] end
            for i = 1, b[4] do
              local x = r.nums(3, "node coordinates (x y z)")
              add_node(tags[i], x[1], x[2], x[3])
            end
          end
          if #coords / 3 ~= h[2] then r.fail(string.format("$Nodes header says %d nodes, the blocks hold %d", h[2], #coords / 3)) end
        end
        if r.line():match("^%s*(.-)%s*$") ~= "$EndNodes" then r.fail("expected $EndNodes") end
      elseif l == "$Elements" then
        if not version then r.fail("$Elements before $MeshFormat") end
        if version == 2 then
          local n = r.nums(1, "element count")[1]
          for _ = 1, n do
            local e = r.nums(3, "element (tag type ntags ...)")
            local k = NODES[e[2]]
            if not k then r.fail("unknown element type " .. tostring(e[2])) end
            if #e ~= 3 + e[3] + k then
              r.fail(string.format("element of type %d needs %d node tags after %d tags, the line has %d numbers",
                e[2], k, e[3], #e))
            end
            add_elem(e[2], {unpack(e, 4 + e[3], 3 + e[3] + k)})
          end
        else
          local h = r.nums(4, "$Elements header (blocks elements min max)")
          for _ = 1, h[1] do
            local b = r.nums(4, "element block header (dim tag type count)")
            local k = NODES[b[3]]
            if not k then r.fail("unknown element type " .. tostring(b[3])) end
            for _ = 1, b[4] do
              local e = r.nums(1 + k, "element (tag and " .. k .. " node tags)")
              if #e ~= 1 + k then r.fail(string.format("element of type %d needs %d node tags, got %d", b[3], k, #e - 1)) end
              add_elem(b[3], {unpack(e, 2, 1 + k)})
            end
          end
        end
        if r.line():match("^%s*(.-)%s*$") ~= "$EndElements" then r.fail("expected $EndElements") end
      elseif l:sub(1, 1) == "$" and l:sub(1, 4) ~= "$End" then
        -- a section we do not read ($Entities, $PhysicalNames, ...): skip to its end
        local stop = "$End" .. l:sub(2)
        repeat until r.line():match("^%s*(.-)%s*$") == stop
      elseif l ~= "" then
        r.fail("unexpected line '" .. l:sub(1, 40) .. "' outside a section")
      end
    end
    r.close()
    if not version then raise(who .. ": " .. path .. ": no $MeshFormat section: not a gmsh .msh file") end
    local n = #coords / 3
    if n == 0 then raise(who .. ": " .. path .. ": the file has no nodes") end
    local rows = {}
    for i = 1, n do rows[i] = {coords[3 * i - 2], coords[3 * i - 1], coords[3 * i]} end
    local mesh = {verts = ds.tensor(rows)}
    for etype, name in pairs({[4] = "tets", [2] = "triangles"}) do
      local list = elems[etype]
      if #list > 0 then
        local idx = {}
        for i, e in ipairs(list) do
          local row = {}
          for j, tag in ipairs(e) do
            local v = tag_of[tag]
            if not v then raise(string.format("%s: %s: %s %d refers to node %s, which $Nodes does not define", who,
              path, name, i, tostring(tag))) end
            row[j] = v
          end
          idx[i] = row
        end
        mesh[name] = ds.tensor(idx, "i32")
      end
    end
    return mesh
  end

  function M.write_msh(path, mesh, opts)
    local who = "fem.write_msh"
    if type(path) ~= "string" then raise(who .. ": path must be a string, got " .. type(path)) end
    opts = O.check(who, opts, {"version"})
    local version = O.choice(who, "version", opts.version, "4.1", {"4.1", "2.2"})
    if type(mesh) ~= "table" then raise(who .. ": mesh must be a table {verts =, tets =, triangles =}") end
    local V = vertices_arg(who, mesh.verts)
    local n = V:shape()[1]
    local blocks = {}
    for _, spec in ipairs({{"tets", 4, 4, 3}, {"triangles", 3, 2, 2}}) do
      if mesh[spec[1]] ~= nil then
        blocks[#blocks + 1] = {t = index_arg(who, "mesh." .. spec[1], mesh[spec[1]], spec[2], n), k = spec[2],
                               type = spec[3], dim = spec[4]}
      end
    end
    if #blocks == 0 then raise(who .. ": mesh has neither tets nor triangles") end
    local fh, e = io.open(path, "wb")
    if not fh then raise(who .. ": cannot write '" .. path .. "': " .. tostring(e)) end
    local out, p = {}, V:data()
    local function put(s) out[#out + 1] = s end
    local nel = 0
    for _, b in ipairs(blocks) do nel = nel + b.t:shape()[1] end
    put("$MeshFormat\n" .. version .. " 0 8\n$EndMeshFormat\n$Nodes\n")
    if version == "4.1" then
      -- Without an $Entities section gmsh makes one entity per node block, and an
      -- element block must name an existing entity: all nodes go to the first
      -- block's entity (dim, 1), and each further block gets an empty node block.
      put(string.format("%d %d 1 %d\n%d 1 0 %d\n", #blocks, n, n, blocks[1].dim, n))
      for i = 1, n do put(i .. "\n") end
      for i = 0, n - 1 do put(string.format(FMT .. " " .. FMT .. " " .. FMT .. "\n", p[3 * i], p[3 * i + 1], p[3 * i + 2])) end
      for bi = 2, #blocks do put(string.format("%d %d 0 0\n", blocks[bi].dim, bi)) end
    else
      put(n .. "\n")
      for i = 0, n - 1 do
        put(string.format("%d " .. FMT .. " " .. FMT .. " " .. FMT .. "\n", i + 1, p[3 * i], p[3 * i + 1], p[3 * i + 2]))
      end
    end
    put("$EndNodes\n$Elements\n")
    if version == "4.1" then put(string.format("%d %d 1 %d\n", #blocks, nel, nel)) else put(nel .. "\n") end
    local tag = 0
    for bi, b in ipairs(blocks) do
      local m, q = b.t:shape()[1], ffi.cast("int32_t *", b.t:data())
      if version == "4.1" then put(string.format("%d %d %d %d\n", b.dim, bi, b.type, m)) end
      local row = {}
      for i = 0, m - 1 do
        tag = tag + 1
        for j = 0, b.k - 1 do row[j + 1] = q[b.k * i + j] + 1 end
        if version == "4.1" then put(tag .. " " .. table.concat(row, " ") .. "\n")
        else put(string.format("%d %d 2 %d %d %s\n", tag, b.type, bi, bi, table.concat(row, " "))) end
      end
    end
    put("$EndElements\n")
    local ok, werr = fh:write(table.concat(out))
    fh:close()
    if not ok then raise(who .. ": writing '" .. path .. "' failed: " .. tostring(werr)) end
  end

  -- ---- OBJ / STL surfaces ------------------------------------------------------
  local function read_obj(who, path)
    local r = reader(who, path)
    local V, F = {}, {}
    while true do
      local l = r.next()
      if l == nil then break end
      local kind, rest = l:match("^%s*(%S+)%s*(.*)$")
      if kind == "v" then
        local x, y, z = rest:match("^(%S+)%s+(%S+)%s+(%S+)")
        x, y, z = tonumber(x), tonumber(y), tonumber(z)
        if not (x and y and z) then r.fail("a vertex line needs three numbers") end
        V[#V + 1] = {x, y, z}
      elseif kind == "f" then
        local idx = {}
        for w in rest:gmatch("%S+") do
          local i = tonumber(w:match("^([-%d]+)"))
          if not i then r.fail("face entry '" .. w .. "' has no vertex index") end
          if i < 0 then i = #V + 1 + i end
          if i < 1 or i > #V then r.fail("face refers to vertex " .. w .. ", but only " .. #V .. " are defined so far") end
          idx[#idx + 1] = i
        end
        if #idx < 3 then r.fail("a face needs at least 3 vertices") end
        for k = 2, #idx - 1 do F[#F + 1] = {idx[1], idx[k], idx[k + 1]} end -- fan-triangulate polygons
      end
    end
    r.close()
    return V, F
  end

  local function read_stl(who, path)
    local fh, e = io.open(path, "rb")
    if not fh then raise(who .. ": cannot open '" .. path .. "': " .. tostring(e)) end
    local data = fh:read("*a")
    fh:close()
    local V, F, key = {}, {}, {}
    local function vertex(x, y, z)
      local k = string.format("%.17g %.17g %.17g", x, y, z)
      local i = key[k]
      if not i then V[#V + 1] = {x, y, z} i = #V key[k] = i end
      return i
    end
    local nbin = #data >= 84 and (data:byte(81) + 256 * data:byte(82) + 65536 * data:byte(83) + 16777216 * data:byte(84))
    if nbin and #data == 84 + 50 * nbin then
      local p = ffi.cast("const uint8_t *", data)
      for t = 0, nbin - 1 do
        local f = ffi.cast("const float *", p + 84 + 50 * t + 12)
        F[#F + 1] = {vertex(f[0], f[1], f[2]), vertex(f[3], f[4], f[5]), vertex(f[6], f[7], f[8])}
      end
    else
      if not data:match("^%s*solid") then
        raise(who .. ": " .. path .. ": neither ASCII STL ('solid ...') nor binary STL of a consistent size")
      end
      local line, corner = 0, {}
      for l in (data .. "\n"):gmatch("([^\n]*)\n") do
        line = line + 1
        local x, y, z = l:match("^%s*vertex%s+(%S+)%s+(%S+)%s+(%S+)")
        if l:match("^%s*vertex") then
          x, y, z = tonumber(x), tonumber(y), tonumber(z)
          if not (x and y and z) then raise(string.format("%s: %s:%d: a vertex line needs three numbers", who, path, line)) end
          corner[#corner + 1] = vertex(x, y, z)
        elseif l:match("^%s*endfacet") then
          if #corner ~= 3 then raise(string.format("%s: %s:%d: a facet needs 3 vertices, got %d", who, path, line, #corner)) end
          F[#F + 1] = corner
          corner = {}
        end
      end
    end
    return V, F
  end

  function M.read_surface(path)
    local who = "fem.read_surface"
    if type(path) ~= "string" then raise(who .. ": path must be a string, got " .. type(path)) end
    local ext = path:lower():match("%.(%w+)$")
    local V, F
    if ext == "obj" then V, F = read_obj(who, path)
    elseif ext == "stl" then V, F = read_stl(who, path)
    else raise(who .. ": '" .. path .. "' is neither .obj nor .stl") end
    if #V < 3 or #F < 1 then raise(who .. ": " .. path .. ": no triangles in the file") end
    for i, f in ipairs(F) do F[i] = {f[1] - 1, f[2] - 1, f[3] - 1} end
    return {verts = ds.tensor(V), triangles = ds.tensor(F, "i32")}
  end
end
