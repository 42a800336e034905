-- The save/load and resume cases, run by save_f32_spec.lua and
-- save_f64_spec.lua (one process per precision: a context has one).
local ffi = require("ffi")
return function(precision)
  local ds = require("diffsim")
  ds.init{precision = precision, threads = 2}
  local REAL = precision == "f64" and "<f8" or "<f4"
  local tmp = os.tmpname()
  os.remove(tmp)
  os.execute("mkdir -p " .. tmp)
  local function path(name) return tmp .. "/" .. name end
  local function bytes(t)
    local size = t:dtype_name() == "i32" and 4 or ffi.sizeof("ds_real")
    return t:numel() > 0 and ffi.string(t:data(), t:numel() * size) or ""
  end
  local function read(p)
    local f = assert(io.open(p, "rb"))
    local s = f:read("*a")
    f:close()
    return s
  end
  local function write(p, s)
    local f = assert(io.open(p, "wb"))
    f:write(s)
    f:close()
  end
  local function fails_with(msg, fn)
    local ok, err = pcall(fn)
    assert.is_false(ok)
    assert.is_truthy(tostring(err):find(msg, 1, true), "expected '" .. msg .. "' in: " .. tostring(err))
  end
  local have_python = os.execute("python3 -c 'import zipfile, ast' 2>/dev/null") == 0

  -- The header the NumPy format spec (version 1.0) prescribes, built here
  -- from the spec's words rather than from the writer's code.
  local function spec_header(descr, shape_text)
    local dict = "{'descr': '" .. descr .. "', 'fortran_order': False, 'shape': " .. shape_text .. ", }"
    local total = 10 + #dict + 1
    local pad = (64 - total % 64) % 64
    if pad == 0 then pad = 64 end -- numpy always pads (1..64 spaces)
    local hlen = #dict + pad + 1
    return "\147NUMPY\1\0" .. string.char(hlen % 256, math.floor(hlen / 256)) .. dict .. string.rep(" ", pad) .. "\n"
  end

  describe("ds.save / ds.load " .. precision, function()
    it("writes .npy headers byte for byte as the format spec says", function()
      local cases = {
        {ds.tensor(2.5), "()"}, {ds.randn({5}, 1), "(5,)"}, {ds.randn({2, 3}, 2), "(2, 3)"},
        {ds.randn({2, 3, 4, 1}, 3), "(2, 3, 4, 1)"}, {ds.zeros{0}, "(0,)"},
      }
      for _, c in ipairs(cases) do
        local p = path("h.npy")
        ds.save(p, c[1])
        local s = read(p)
        local h = spec_header(REAL, c[2])
        assert.are.equal(h, s:sub(1, #h))
        assert.are.equal(0, #h % 64)
        assert.are.equal(bytes(c[1]), s:sub(#h + 1))
      end
      -- a literal: np.save of a float32 (3,) array starts with these 128 bytes
      ds.save(path("i.npy"), ds.tensor({1, 2, 3}, "i32"))
      local s = read(path("i.npy"))
      local dict = "{'descr': '<i4', 'fortran_order': False, 'shape': (3,), }"
      assert.are.equal("\147NUMPY\1\0v\0" .. dict .. string.rep(" ", 128 - 10 - #dict - 1) .. "\n", s:sub(1, 128))
      assert.are.equal(128 + 12, #s)
    end)

    it("round-trips tensors bitwise: real and i32, 0 to 4 dims, empty", function()
      for i, t in ipairs({ds.randn({7}, 4), ds.randn({3, 5}, 5) * 1e-30, ds.tensor(-0.0), ds.randn({2, 1, 3, 2}, 6),
                          ds.tensor({{-2147483648, 2147483647}, {0, 7}}, "i32"), ds.zeros{3, 0}}) do
        local p = path("r" .. i .. ".npy")
        ds.save(p, t)
        local u = ds.load(p)
        assert.are.same(t:shape(), u:shape())
        assert.are.equal(t:dtype_name(), u:dtype_name())
        assert.are.equal(bytes(t), bytes(u))
      end
    end)

    it("round-trips nested tables through .npz; zip and headers readable by Python", function()
      local v = {net = {W = ds.randn({3, 2}, 7), layers = {ds.randn({2}, 8), ds.randn({4}, 9)}},
                 idx = ds.tensor({3, 1, 2}, "i32"), step = 12, lr = 0.25}
      local p = path("n.npz")
      ds.save(p, v)
      local u = ds.load(p, {quiet = true})
      assert.are.equal(bytes(v.net.W), bytes(u.net.W))
      assert.are.equal(bytes(v.net.layers[2]), bytes(u.net.layers[2]))
      assert.are.equal(bytes(v.idx), bytes(u.idx))
      assert.are.equal(12, u.step:item())
      assert.are.equal(0.25, u.lr:item())
      -- the same tables give the same bytes (fixed member dates, sorted names)
      ds.save(path("n2.npz"), v)
      assert.are.equal(read(p), read(path("n2.npz")))
      if have_python then
        local cmd = "python3 -c \"import zipfile, ast, sys\n" ..
          "z = zipfile.ZipFile(sys.argv[1]); assert z.testzip() is None\n" ..
          "for n in sorted(z.namelist()):\n" ..
          "  b = z.read(n); assert b[:8] == b'\\x93NUMPY\\x01\\x00'\n" ..
          "  hl = b[8] + 256 * b[9]; d = ast.literal_eval(b[10:10 + hl].decode('latin1'))\n" ..
          "  assert (10 + hl) % 64 == 0 and b[9 + hl] == 10\n" ..
          "  print(n, d['descr'], d['shape'], d['fortran_order'], len(b) - 10 - hl)\" " .. p
        local f = io.popen(cmd)
        local out = f:read("*a")
        f:close()
        local sz = ffi.sizeof("ds_real")
        assert.are.equal(table.concat({
          "idx.npy <i4 (3,) False 12", "lr.npy <f8 () False 8", "net/W.npy " .. REAL .. " (3, 2) False " .. 6 * sz,
          "net/layers/1.npy " .. REAL .. " (2,) False " .. 2 * sz, "net/layers/2.npy " .. REAL .. " (4,) False " .. 4 * sz,
          "step.npy <i4 () False 4", ""}, "\n"), out)
      end
    end)

    it("reads what numpy writes: zip64 members (np.savez), deflated ones (np.savez_compressed)", function()
      if not have_python then pending("python3 is not installed") return end
      -- the bytes of np.save(np.arange(4, dtype='<f8')) and of an '<i8' and
      -- an '<f4' array, zipped the way numpy's savez does (force_zip64)
      local function npy(descr, shape, data) return spec_header(descr, shape) .. data end
      write(path("a.npy"), npy("<f8", "(4,)", ffi.string(ffi.new("double[4]", {0, 1, 2, 3}), 32)))
      write(path("b.npy"), npy("<i8", "(2,)", ffi.string(ffi.new("int64_t[2]", {-5, 9}), 16)))
      write(path("c.npy"), npy("<f4", "(2,)", ffi.string(ffi.new("float[2]", {0.1, 3}), 8)))
      for _, mode in ipairs({"ZIP_STORED", "ZIP_DEFLATED"}) do
        assert.is_true(os.execute(string.format("cd %s && python3 -c \"import zipfile\n" ..
          "z = zipfile.ZipFile('np.npz', 'w', zipfile.%s)\n" ..
          "for n in 'abc':\n  f = z.open(n + '.npy', 'w', force_zip64=True); f.write(open(n + '.npy', 'rb').read()); f.close()\n" ..
          "z.close()\"", tmp, mode)) == 0)
        local u = ds.load(path("np.npz"), {quiet = true})
        assert.are.same({0, 1, 2, 3}, u.a:totable())
        assert.are.same({-5, 9}, u.b:totable())
        assert.are.equal("i32", u.b:dtype_name())
        assert.are.equal(ffi.string(ffi.new("ds_real[2]", {ffi.new("float", 0.1), 3}), 2 * ffi.sizeof("ds_real")),
          bytes(u.c))
      end
    end)

    it("converts the other precision: float32 files exactly, float64 rounded with a note or refused", function()
      local d = ffi.new("double[2]", {0.1, 1 / 3})
      write(path("d.npy"), spec_header("<f8", "(2,)") .. ffi.string(d, 16))
      local u = ds.load(path("d.npy"), {quiet = true})
      assert.are.equal(ffi.string(ffi.new("ds_real[2]", {d[0], d[1]}), 2 * ffi.sizeof("ds_real")), bytes(u))
      if precision == "f32" then
        fails_with("holds float64 data and this context is float32", function() ds.load(path("d.npy"), {exact = true}) end)
      else
        local f = ffi.new("float[2]", {0.1, 1 / 3})
        write(path("f.npy"), spec_header("<f4", "(2,)") .. ffi.string(f, 8))
        assert.are.same({f[0], f[1]}, ds.load(path("f.npy"), {exact = true}):totable())
      end
    end)

    it("refuses bad files and bad arguments with clear errors", function()
      local good = spec_header("<f4", "(2,)") .. ffi.string(ffi.new("float[2]"), 8)
      local cases = {
        {"", "is empty"}, {"hello world", "is neither a .npy file nor an .npz archive"},
        {good:sub(1, 100), "is truncated"}, {good:sub(1, #good - 3), "is truncated: shape (2,) of '<f4' needs 8 data bytes"},
        {good .. "xx", "has 2 bytes after its data"},
        {spec_header(">f4", "(2,)") .. string.rep("\0", 8), "has dtype '>f4'; diffsim reads"},
        {spec_header("<c8", "(1,)") .. string.rep("\0", 8), "has dtype '<c8'"},
        {spec_header("<f4", "(1, 1, 1, 1, 2)") .. string.rep("\0", 8), "has 5 dims; diffsim tensors have at most 4"},
        {(spec_header("<f4", "(2, 2)"):gsub("False", "True ")) .. string.rep("\0", 16), "is stored in Fortran order"},
        {"\147NUMPY\9\0" .. good:sub(9), "has .npy format version 9.0"},
        {"PK\3\4 not really a zip", "no zip end-of-central-directory record"},
      }
      for i, c in ipairs(cases) do
        write(path("bad" .. i), c[1])
        fails_with(c[2], function() ds.load(path("bad" .. i)) end)
      end
      fails_with("int64 element 0 (1099511627776) does not fit an i32 tensor", function()
        write(path("big.npy"), spec_header("<i8", "(1,)") .. ffi.string(ffi.new("int64_t[1]", 2^40), 8))
        ds.load(path("big.npy"))
      end)
      -- a flipped data byte in an .npz member: its CRC no longer matches
      ds.save(path("c.npz"), {x = ds.randn({4}, 1)})
      local s = read(path("c.npz"))
      local at = s:find("\n", 1, true) + 2
      write(path("c.npz"), s:sub(1, at - 1) .. string.char((s:byte(at) + 1) % 256) .. s:sub(at + 1))
      fails_with("fails its CRC-32 check", function() ds.load(path("c.npz")) end)
      fails_with("cannot open '" .. path("none.npy") .. "'", function() ds.load(path("none.npy")) end)
      fails_with("must end in .npy (one tensor) or .npz", function() ds.save(path("x.txt"), ds.zeros{1}) end)
      fails_with("a .npy file holds one tensor", function() ds.save(path("x.npy"), {a = ds.zeros{1}}) end)
      fails_with("'a/b' must be a tensor, a number or a table of them, got 'x'",
        function() ds.save(path("x.npz"), {a = {b = "x"}}) end)
      fails_with("cannot write '" .. tmp .. "/no/such/dir/x.npy'", function() ds.save(path("no/such/dir/x.npy"), ds.zeros{1}) end)
      local t = ds.zeros{2}
      t:free()
      fails_with("has been freed", function() ds.save(path("x.npy"), t) end)
      fails_with("ds.load: unknown option 'fast'", function() ds.load(path("r1.npy"), {fast = true}) end)
    end)
  end)

  describe("state / load_state " .. precision, function()
    local x = ds.randn({8, 3}, 5)
    local function train(kind, n, net, opt)
      for _ = 1, n do
        local function closure()
          opt:zero_grad()
          local tape = ds.tape()
          local loss = tape:record(function() return ds.mean(ds.square(net:forward(x) - 0.5)) end)
          tape:backward(loss)
          return loss:item()
        end
        if kind == "lbfgs" then opt:step(closure) else closure(); opt:step() end
      end
    end
    local function make(kind)
      local net = ds.nn.mlp{sizes = {3, 6, 2}, seed = 3}
      local ps = net:parameters()
      local opt = kind == "adam" and ds.optim.adam(ps, {lr = 1e-2}) or kind == "adamw" and ds.optim.adamw(ps, {lr = 1e-2})
        or kind == "sgd" and ds.optim.sgd(ps, {lr = 1e-2, momentum = 0.9}) or kind == "gd" and ds.optim.gd(ps, {lr = 1e-2})
        or ds.optim.lbfgs(ps, {max_iter = 3, history = 4})
      return net, opt
    end
    for _, kind in ipairs({"adam", "adamw", "sgd", "gd", "lbfgs"}) do
      it(kind .. ": 10 steps = 5 steps, save, load into fresh objects, 5 steps (bitwise)", function()
        local n1, o1 = make(kind)
        train(kind, 10, n1, o1)
        local n2, o2 = make(kind)
        train(kind, 5, n2, o2)
        local p = path("ck_" .. kind .. ".npz")
        ds.save(p, {net = n2:state(), opt = o2:state()})
        local ck = ds.load(p)
        local n3, o3 = make(kind)
        n3:load_state(ck.net)
        o3:load_state(ck.opt)
        train(kind, 5, n3, o3)
        local a, b = n1:parameters(), n3:parameters()
        for i = 1, #a do assert.are.equal(bytes(a[i]), bytes(b[i])) end
        -- and the run that did not resume differs from a fresh 5-step one
        local n4, o4 = make(kind)
        train(kind, 5, n4, o4)
        assert.are_not.equal(bytes(a[1]), bytes(n4:parameters()[1]))
      end)
    end

    it("refuses a state that does not fit, changing nothing", function()
      local net = ds.nn.mlp{sizes = {3, 6, 2}, seed = 3}
      local before = bytes(net:parameters()[1])
      local s = ds.nn.mlp{sizes = {3, 5, 2}, seed = 4}:state()
      fails_with("mlp:load_state: state.layers[1].W has shape {3, 5}, expected {3, 6}", function() net:load_state(s) end)
      assert.are.equal(before, bytes(net:parameters()[1]))
      fails_with("state.layers has 1 layers, this network has 2",
        function() net:load_state({layers = {net.layers[1]:state()}}) end)
      fails_with("state has no entry 'b'", function() net.layers[1]:load_state({W = ds.zeros{3, 6}}) end)
      local opt = ds.optim.adam(net:parameters())
      fails_with("adam:load_state: state.m has 1 entries, expected 4 (one per parameter)", function()
        opt:load_state({t = 1, m = {ds.zeros{3, 6}}, v = {}})
      end)
      fails_with("state.t must be a non-negative integer", function()
        local st = opt:state()
        st.t = 1.5
        opt:load_state(st)
      end)
      fails_with("has an unexpected entry 'lr'", function()
        local st = opt:state()
        st.lr = 1
        opt:load_state(st)
      end)
    end)
  end)
end
