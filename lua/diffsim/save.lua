-- Saving and loading tensors in NumPy's formats, so that numpy (np.load) reads
-- what diffsim writes and diffsim reads what numpy writes.
--
--   ds.save("x.npy", t)                          -- one tensor
--   ds.save("ckpt.npz", {net = net:state(), opt = opt:state(), iter = 5})
--   local t = ds.load("x.npy")                   -- a tensor, on the CPU
--   local s = ds.load("ckpt.npz")                -- a table: s.net, s.opt, s.iter
--
-- .npy: format version 1.0 as the NumPy format spec defines it: the magic
-- "\x93NUMPY", version bytes 1 0, a little-endian uint16 header length, then an
-- ASCII dict {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }
-- padded with spaces and ended by '\n' so that the data starts at a multiple
-- of 64 bytes; then the elements in C order. dtypes written: '<f4' (float32
-- context), '<f8' (float64), '<i4' (i32 tensors).
--
-- .npz: a zip archive of .npy members, one per named tensor, stored
-- uncompressed (what np.savez writes; np.savez_compressed's deflated members
-- are read too when zlib is present). Nested tables are flattened with '/'
-- (net/layers/1/W); ds.load nests them again, and all-digit parts become
-- integer keys, so ds.load(ds.save(p, x)) has x's shape. A Lua number becomes
-- a 0-dim array ('<i4' when it is an integer in range, else '<f8').
--
-- Precision: a file's real dtype need not match the context's. float32 data
-- loads into a float64 context exactly. float64 data loads into a float32
-- context rounded to nearest, with a one-line note on stderr naming the file
-- (opts.quiet = true silences it; opts.exact = true makes it an error instead).
-- '<i8' (numpy's default integer) loads as i32 when every value fits.
return function(ds)
  local ffi = require("ffi")
  local bit = require("bit")
  local O = require("diffsim.options").install(ds)
  local raise = O.raise
  local C = ds.C

  if not ffi.abi("le") then
    -- the writer copies element bytes as they are in memory
    function ds.save() raise("ds.save: only little-endian machines are supported") end
    function ds.load() raise("ds.load: only little-endian machines are supported") end
    return
  end

  local MAGIC = "\147NUMPY"
  local REAL_DESCR = ds.precision == "f64" and "<f8" or "<f4"

  -- ---- CRC-32 (zip members carry one) --------------------------------------
  -- zlib's when the shared library is there (fast, and needed anyway to read
  -- deflated members); otherwise a table-driven one in Lua.
  local zlib
  do
    pcall(ffi.cdef, "unsigned long crc32(unsigned long crc, const unsigned char *buf, unsigned int len);")
    for _, name in ipairs({"z", "libz.so.1"}) do
      local ok, lib = pcall(ffi.load, name)
      if ok then zlib = lib break end
    end
  end
  local crc_table
  local function crc32(s)
    if zlib then
      local crc, pos, n = 0, 0, #s
      local p = ffi.cast("const unsigned char *", s)
      while pos < n do -- zlib takes an unsigned int length: feed it in chunks
        local len = math.min(n - pos, 2 ^ 30)
        crc = zlib.crc32(crc, p + pos, len)
        pos = pos + len
      end
      return tonumber(crc)
    end
    if not crc_table then
      crc_table = ffi.new("uint32_t[256]")
      for i = 0, 255 do
        local c = i
        for _ = 1, 8 do
          if bit.band(c, 1) ~= 0 then c = bit.bxor(0xEDB88320, bit.rshift(c, 1)) else c = bit.rshift(c, 1) end
        end
        crc_table[i] = c
      end
    end
    local c = 0xFFFFFFFF
    local p = ffi.cast("const uint8_t *", s)
    for i = 0, #s - 1 do c = bit.bxor(crc_table[bit.band(bit.bxor(c, p[i]), 0xFF)], bit.rshift(c, 8)) end
    c = bit.bxor(c, 0xFFFFFFFF)
    return c < 0 and c + 2 ^ 32 or c
  end

  -- little-endian integers in and out of strings
  local function u16(n) return string.char(n % 256, math.floor(n / 256) % 256) end
  local function u32(n)
    return string.char(n % 256, math.floor(n / 256) % 256, math.floor(n / 65536) % 256, math.floor(n / 16777216) % 256)
  end
  local function get_u16(s, i) local a, b = s:byte(i, i + 1) return a + 256 * b end
  local function get_u32(s, i)
    local a, b, c, d = s:byte(i, i + 3)
    return a + 256 * b + 65536 * c + 16777216 * d
  end
  local function get_u64(s, i) return get_u32(s, i) + 4294967296 * get_u32(s, i + 4) end

  -- ---- .npy ------------------------------------------------------------------
  local function shape_text(shape)
    if #shape == 0 then return "()" end
    if #shape == 1 then return "(" .. shape[1] .. ",)" end
    return "(" .. table.concat(shape, ", ") .. ")"
  end

  -- The header of a version 1.0 file: magic, version, uint16 length, dict,
  -- spaces, '\n'; the data starts at a multiple of 64 (numpy pads with 1..64
  -- spaces, never 0, and so does this).
  local function npy_header(descr, shape)
    local dict = "{'descr': '" .. descr .. "', 'fortran_order': False, 'shape': " .. shape_text(shape) .. ", }"
    local pad = 64 - ((#MAGIC + 2 + 2 + #dict + 1) % 64)
    local len = #dict + pad + 1
    if len > 65535 then raise("ds.save: the .npy header is too long") end
    return MAGIC .. "\1\0" .. u16(len) .. dict .. string.rep(" ", pad) .. "\n"
  end

  local function live_tensor(who, what, t)
    if not ds.is_tensor(t) then raise(who .. ": " .. what .. " must be a tensor, got " .. O.describe(t)) end
    if t.ptr == nil then raise(who .. ": " .. what .. " has been freed") end
  end

  -- The .npy bytes of a tensor (any device: copied to the CPU first).
  local function npy_bytes(who, what, t)
    live_tensor(who, what, t)
    if t.p.device ~= 0 then t = t:to("cpu") end
    local i32 = t:dtype_name() == "i32"
    local n = t:numel()
    local size = i32 and 4 or ffi.sizeof("ds_real")
    local data = n > 0 and ffi.string(t:data(), n * size) or ""
    return npy_header(i32 and "<i4" or REAL_DESCR, t:shape()) .. data
  end

  local function number_npy(v)
    if v == math.floor(v) and v >= -2147483648 and v <= 2147483647 then
      return npy_header("<i4", {}) .. ffi.string(ffi.new("int32_t[1]", v), 4)
    end
    return npy_header("<f8", {}) .. ffi.string(ffi.new("double[1]", v), 8)
  end

  local ITEM = {["<f4"] = 4, ["<f8"] = 8, ["<i4"] = 4, ["<i8"] = 8}

  -- Parses .npy bytes `s` (what: the file or member, for messages) into a tensor.
  local function parse_npy(who, what, s, opts, notes)
    if #s < 10 or s:sub(1, 6) ~= MAGIC then
      raise(string.format("%s: %s is not a .npy file (no \\x93NUMPY magic)", who, what))
    end
    local major, minor = s:byte(7, 8)
    local hlen, start
    if major == 1 then
      hlen, start = get_u16(s, 9), 11
    elseif major == 2 or major == 3 then
      if #s < 12 then raise(string.format("%s: %s is truncated in its header", who, what)) end
      hlen, start = get_u32(s, 9), 13
    else
      raise(string.format("%s: %s has .npy format version %d.%d; versions 1.0, 2.0 and 3.0 are read", who, what,
        major, minor))
    end
    if #s < start - 1 + hlen then
      raise(string.format("%s: %s is truncated: its header says %d bytes, the file has %d", who, what, hlen,
        #s - start + 1))
    end
    local header = s:sub(start, start + hlen - 1)
    local descr = header:match("['\"]descr['\"]%s*:%s*['\"]([^'\"]*)['\"]")
    local fortran = header:match("['\"]fortran_order['\"]%s*:%s*(%a+)")
    local shape_s = header:match("['\"]shape['\"]%s*:%s*%(([^%)]*)%)")
    if not descr or not fortran or not shape_s then
      raise(string.format("%s: %s has a malformed .npy header (needs 'descr', 'fortran_order' and 'shape'): %s", who,
        what, header:gsub("%s+$", "")))
    end
    local shape = {}
    for d in shape_s:gmatch("[^,%s]+") do
      local n = tonumber(d)
      if not n or n < 0 or n ~= math.floor(n) then
        raise(string.format("%s: %s has a malformed shape (%s)", who, what, shape_s))
      end
      shape[#shape + 1] = n
    end
    if #shape > 4 then
      raise(string.format("%s: %s has %d dims; diffsim tensors have at most 4", who, what, #shape))
    end
    if descr == "|i1" or descr == "|u1" or descr == "|b1" or not ITEM[descr] then
      raise(string.format("%s: %s has dtype '%s'; diffsim reads '<f4', '<f8', '<i4' and '<i8' (little-endian " ..
        "float32, float64, int32, int64): convert it in numpy with a.astype('<f8')", who, what, descr))
    end
    local n = 1
    for _, d in ipairs(shape) do n = n * d end
    if fortran == "True" and #shape > 1 then
      local big = 0
      for _, d in ipairs(shape) do if d > 1 then big = big + 1 end end
      if big > 1 then
        raise(string.format("%s: %s is stored in Fortran order; save np.ascontiguousarray(a) instead", who, what))
      end
    elseif fortran ~= "True" and fortran ~= "False" then
      raise(string.format("%s: %s has a malformed 'fortran_order' (%s)", who, what, fortran))
    end
    local item = ITEM[descr]
    local data_at = start + hlen
    local have = #s - data_at + 1
    if have < n * item then
      raise(string.format("%s: %s is truncated: shape %s of '%s' needs %d data bytes, the file has %d", who, what,
        shape_text(shape), descr, n * item, have))
    end
    if have > n * item then
      raise(string.format("%s: %s has %d bytes after its data (shape %s of '%s' needs %d): not a valid .npy", who,
        what, have - n * item, shape_text(shape), descr, n * item))
    end
    local src = ffi.cast("const uint8_t *", s) + (data_at - 1)
    if descr == "<i4" or descr == "<i8" then
      local t = ds.empty(shape, "i32")
      if n > 0 then
        if descr == "<i4" then
          ffi.copy(t:data(), src, n * 4)
        else
          local d, q = t:data(), ffi.cast("const int64_t *", src)
          for i = 0, n - 1 do
            local v = q[i]
            if v < -2147483648LL or v > 2147483647LL then
              raise(string.format("%s: %s: int64 element %d (%s) does not fit an i32 tensor", who, what, i,
                tostring(v):gsub("LL$", "")))
            end
            d[i] = v
          end
        end
        t:touch()
      end
      return t
    end
    local t = ds.empty(shape)
    if n > 0 then
      if descr == REAL_DESCR then
        ffi.copy(t:data(), src, n * item)
        t:touch()
      elseif descr == "<f8" then -- float64 data, float32 context: rounded by the core
        if opts.exact then
          raise(string.format("%s: %s holds float64 data and this context is float32 (exact = true refuses to " ..
            "round); load it with ds.init{precision = 'f64'}", who, what))
        end
        notes[#notes + 1] = what
        local buf = ffi.new("double[?]", n)
        ffi.copy(buf, src, n * 8)
        ds.check(C.ds_tensor_from_doubles(t.p, buf, n), 2)
      else -- float32 data, float64 context: exact
        local d, q = t:data(), ffi.cast("const float *", src)
        for i = 0, n - 1 do d[i] = q[i] end
        t:touch()
      end
    end
    return t
  end

  -- ---- .npz (zip) --------------------------------------------------------------
  -- Members get a fixed date (1980-01-01): the same tensors give the same bytes.
  local DOS_TIME, DOS_DATE = 0, 33
  local function zip(entries)
    local out, central, offset = {}, {}, 0
    for _, e in ipairs(entries) do
      local name, data = e[1], e[2]
      if #data >= 0xFFFFFFFF or offset >= 0xFFFFFFFF then
        raise("ds.save: an .npz larger than 4 GiB needs zip64, which is not written; save large tensors as .npy")
      end
      local crc = crc32(data)
      local fields = u16(20) .. u16(0) .. u16(0) .. u16(DOS_TIME) .. u16(DOS_DATE) .. u32(crc) .. u32(#data) ..
        u32(#data) .. u16(#name)
      out[#out + 1] = "PK\3\4" .. fields .. u16(0) .. name
      out[#out + 1] = data
      central[#central + 1] = "PK\1\2" .. u16(20) .. fields .. u16(0) .. u16(0) .. u16(0) .. u16(0) .. u32(0) ..
        u32(offset) .. name
      offset = offset + 30 + #name + #data
    end
    local cd = table.concat(central)
    if #entries > 65535 then raise("ds.save: an .npz holds at most 65535 tensors") end
    out[#out + 1] = cd
    out[#out + 1] = "PK\5\6" .. u16(0) .. u16(0) .. u16(#entries) .. u16(#entries) .. u32(#cd) .. u32(offset) .. u16(0)
    return table.concat(out)
  end

  -- Raw inflate of a deflated member, through zlib (np.savez_compressed).
  local inflate
  local function get_inflate()
    if inflate ~= nil then return inflate end
    inflate = false
    if not zlib then return inflate end
    local ok = pcall(ffi.cdef, [[
      typedef struct ds_z_stream {
        const unsigned char *next_in; unsigned int avail_in; unsigned long total_in;
        unsigned char *next_out; unsigned int avail_out; unsigned long total_out;
        const char *msg; void *state; void *zalloc; void *zfree; void *opaque;
        int data_type; unsigned long adler; unsigned long reserved;
      } ds_z_stream;
      const char *zlibVersion(void);
      int inflateInit2_(ds_z_stream *strm, int windowBits, const char *version, int stream_size);
      int inflate(ds_z_stream *strm, int flush);
      int inflateEnd(ds_z_stream *strm);
    ]])
    if not ok then return inflate end
    inflate = function(data, size)
      local zs = ffi.new("ds_z_stream")
      local out = ffi.new("unsigned char[?]", math.max(size, 1))
      -- -15: a raw deflate stream, as zip members hold (no zlib header)
      if zlib.inflateInit2_(zs, -15, zlib.zlibVersion(), ffi.sizeof(zs)) ~= 0 then return nil end
      zs.next_in, zs.avail_in = ffi.cast("const unsigned char *", data), #data
      zs.next_out, zs.avail_out = out, size
      local rc = zlib.inflate(zs, 4) -- Z_FINISH
      local got = tonumber(zs.total_out)
      zlib.inflateEnd(zs)
      if rc ~= 1 or got ~= size then return nil end -- Z_STREAM_END with every byte
      return ffi.string(out, size)
    end
    return inflate
  end

  -- The members of a zip archive: a list of {name, bytes}.
  local function unzip(who, path, s)
    local eocd
    for i = #s - 21, math.max(1, #s - 21 - 65535), -1 do
      if s:sub(i, i + 3) == "PK\5\6" then eocd = i break end
    end
    if not eocd then raise(who .. ": " .. path .. " is not a valid .npz: no zip end-of-central-directory record") end
    local count, cd_size, cd_off = get_u16(s, eocd + 10), get_u32(s, eocd + 12), get_u32(s, eocd + 16)
    if count == 0xFFFF or cd_off == 0xFFFFFFFF then -- zip64: the real numbers are in the zip64 records
      local loc = eocd - 20
      if loc < 1 or s:sub(loc, loc + 3) ~= "PK\6\7" then
        raise(who .. ": " .. path .. " is a zip64 archive without its zip64 locator")
      end
      local z = get_u64(s, loc + 8) + 1
      if s:sub(z, z + 3) ~= "PK\6\6" then raise(who .. ": " .. path .. " has a broken zip64 record") end
      count, cd_size, cd_off = get_u64(s, z + 32), get_u64(s, z + 40), get_u64(s, z + 48)
    end
    if cd_off + cd_size > #s then raise(who .. ": " .. path .. " is truncated (its zip directory lies past the end)") end
    local members, p = {}, cd_off + 1
    for _ = 1, count do
      if s:sub(p, p + 3) ~= "PK\1\2" then raise(who .. ": " .. path .. " has a corrupt zip directory") end
      local flags, method = get_u16(s, p + 8), get_u16(s, p + 10)
      local crc, csize, usize = get_u32(s, p + 16), get_u32(s, p + 20), get_u32(s, p + 24)
      local nlen, xlen, clen = get_u16(s, p + 28), get_u16(s, p + 30), get_u16(s, p + 32)
      local loff = get_u32(s, p + 42)
      local name = s:sub(p + 46, p + 45 + nlen)
      -- zip64 extra field: the 0xFFFFFFFF fields, in order usize, csize, offset
      local x, xend = p + 46 + nlen, p + 46 + nlen + xlen
      while x + 4 <= xend do
        local id, len = get_u16(s, x), get_u16(s, x + 2)
        if id == 1 then
          local q = x + 4
          if usize == 0xFFFFFFFF then usize, q = get_u64(s, q), q + 8 end
          if csize == 0xFFFFFFFF then csize, q = get_u64(s, q), q + 8 end
          if loff == 0xFFFFFFFF then loff = get_u64(s, q) end
        end
        x = x + 4 + len
      end
      p = p + 46 + nlen + xlen + clen
      if bit.band(flags, 1) ~= 0 then raise(who .. ": " .. path .. ": member '" .. name .. "' is encrypted") end
      local l = loff + 1
      if s:sub(l, l + 3) ~= "PK\3\4" then raise(who .. ": " .. path .. ": member '" .. name .. "' has no local header") end
      local at = l + 30 + get_u16(s, l + 26) + get_u16(s, l + 28)
      if at - 1 + csize > #s then raise(who .. ": " .. path .. " is truncated in member '" .. name .. "'") end
      local data = s:sub(at, at + csize - 1)
      if method == 8 then
        local inf = get_inflate()
        if not inf then
          raise(who .. ": " .. path .. ": member '" .. name .. "' is deflated (np.savez_compressed) and zlib is not " ..
            "available; save it with np.savez")
        end
        data = inf(data, usize)
        if not data then raise(who .. ": " .. path .. ": member '" .. name .. "' does not inflate (corrupt data)") end
      elseif method ~= 0 then
        raise(who .. ": " .. path .. ": member '" .. name .. "' uses zip compression method " .. method ..
          "; stored (np.savez) and deflated (np.savez_compressed) members are read")
      end
      if #data ~= usize then raise(who .. ": " .. path .. ": member '" .. name .. "' has the wrong size") end
      if crc32(data) ~= crc then
        raise(who .. ": " .. path .. ": member '" .. name .. "' fails its CRC-32 check (the file is corrupt)")
      end
      members[#members + 1] = {name, data}
    end
    return members
  end

  -- ---- public -----------------------------------------------------------------
  local function read_file(who, path)
    local f, err = io.open(path, "rb")
    if not f then raise(who .. ": cannot open '" .. path .. "': " .. tostring(err):gsub("^[^:]*: ", "")) end
    local s = f:read("*a")
    f:close()
    if not s then raise(who .. ": cannot read '" .. path .. "'") end
    return s
  end

  -- Written to a temporary file, then renamed: an interrupted save never
  -- leaves a half-written checkpoint in place of the previous one.
  local function write_file(who, path, bytes)
    local tmp = path .. ".tmp" .. tostring(os.time()) .. tostring(math.random(1e9))
    local f, err = io.open(tmp, "wb")
    if not f then raise(who .. ": cannot write '" .. path .. "': " .. tostring(err):gsub("^[^:]*: ", "")) end
    local ok, werr = f:write(bytes)
    local closed = f:close()
    if not ok or not closed then
      os.remove(tmp)
      raise(who .. ": writing '" .. path .. "' failed: " .. tostring(werr or "disk full?"))
    end
    local renamed, rerr = os.rename(tmp, path)
    if not renamed then
      os.remove(tmp)
      raise(who .. ": cannot write '" .. path .. "': " .. tostring(rerr))
    end
  end

  -- Flattens a table of tensors, numbers and tables into {name, npy bytes}.
  local function flatten(who, value, prefix, out, seen)
    if seen[value] then raise(who .. ": the table contains itself (at '" .. prefix .. "')") end
    seen[value] = true
    local keys = {}
    for k in pairs(value) do
      local tk = type(k)
      if tk == "number" then
        if k ~= math.floor(k) then raise(who .. ": key " .. k .. " is not an integer; keys are names or list indices") end
      elseif tk ~= "string" then
        raise(who .. ": keys must be strings or list indices, got a " .. tk .. " key" ..
          (prefix ~= "" and " in '" .. prefix .. "'" or ""))
      elseif k == "" or k:find("[%z/]") then
        raise(who .. ": key '" .. k .. "' " .. (k == "" and "is empty" or "contains '/' or NUL ('/' separates levels)"))
      end
      keys[#keys + 1] = k
    end
    -- numbers first in order, then names sorted: the same table gives the same file
    table.sort(keys, function(a, b)
      if type(a) ~= type(b) then return type(a) == "number" end
      return a < b
    end)
    for _, k in ipairs(keys) do
      local v = value[k]
      local name = prefix .. tostring(k)
      if ds.is_tensor(v) then
        out[#out + 1] = {name, npy_bytes(who, "'" .. name .. "'", v)}
      elseif type(v) == "number" then
        out[#out + 1] = {name, number_npy(v)}
      elseif type(v) == "table" and getmetatable(v) == nil then
        flatten(who, v, name .. "/", out, seen)
      else
        raise(who .. ": '" .. name .. "' must be a tensor, a number or a table of them, got " .. O.describe(v))
      end
    end
    seen[value] = nil
    return out
  end

  local SAVE_OPTS = {}
  function ds.save(path, value, opts)
    local who = "ds.save"
    O.string(who, "path", path)
    O.check(who, opts, SAVE_OPTS)
    local ext = path:match("%.([^./]+)$")
    ext = ext and ext:lower()
    if ext == "npy" then
      if not ds.is_tensor(value) then
        raise(who .. ": a .npy file holds one tensor, got " .. O.describe(value) .. " (save tables as .npz)")
      end
      write_file(who, path, npy_bytes(who, "argument 'value'", value))
    elseif ext == "npz" then
      local entries
      if ds.is_tensor(value) then
        entries = {{"arr_0", npy_bytes(who, "argument 'value'", value)}} -- np.savez's name for a lone array
      elseif type(value) == "table" and getmetatable(value) == nil then
        entries = flatten(who, value, "", {}, {})
      else
        raise(who .. ": argument 'value' must be a tensor or a table of tensors, got " .. O.describe(value))
      end
      for _, e in ipairs(entries) do e[1] = e[1] .. ".npy" end
      write_file(who, path, zip(entries))
    else
      raise(who .. ": path '" .. path .. "' must end in .npy (one tensor) or .npz (a table of tensors)")
    end
  end

  local LOAD_OPTS = {"quiet", "exact"}
  function ds.load(path, opts)
    local who = "ds.load"
    O.string(who, "path", path)
    opts = O.check(who, opts, LOAD_OPTS)
    O.boolean(who, "quiet", opts.quiet, false)
    O.boolean(who, "exact", opts.exact, false)
    local s = read_file(who, path)
    local notes, result = {}, nil
    if s:sub(1, 6) == MAGIC then
      result = parse_npy(who, "'" .. path .. "'", s, opts, notes)
    elseif s:sub(1, 4) == "PK\3\4" or s:sub(1, 4) == "PK\5\6" then
      result = {}
      for _, m in ipairs(unzip(who, path, s)) do
        local name = m[1]:gsub("%.npy$", "")
        local t = parse_npy(who, "'" .. path .. "' member '" .. m[1] .. "'", m[2], opts, notes)
        -- nest a/b/1 back into result.a.b[1]
        local node, parts = result, {}
        for part in name:gmatch("[^/]+") do parts[#parts + 1] = part:match("^%d+$") and tonumber(part) or part end
        if #parts == 0 then raise(who .. ": '" .. path .. "' has a member with an empty name") end
        for i = 1, #parts - 1 do
          local k = parts[i]
          if node[k] == nil then node[k] = {} end
          if ds.is_tensor(node[k]) then
            raise(who .. ": '" .. path .. "': member '" .. m[1] .. "' nests under a tensor of the same name")
          end
          node = node[k]
        end
        if node[parts[#parts]] ~= nil then
          raise(who .. ": '" .. path .. "': member '" .. m[1] .. "' clashes with another member's name")
        end
        node[parts[#parts]] = t
      end
    elseif #s == 0 then
      raise(who .. ": '" .. path .. "' is empty")
    else
      raise(who .. ": '" .. path .. "' is neither a .npy file nor an .npz archive (it starts with " ..
        string.format("%q", s:sub(1, 6)):gsub("\\\n", "\\n") .. ")")
    end
    if #notes > 0 and not opts.quiet then
      io.stderr:write(string.format("ds.load: note: %s held float64 data, rounded to this float32 context " ..
        "(quiet = true silences this; exact = true refuses)\n", #notes == 1 and notes[1] or
        (#notes .. " arrays of '" .. path .. "'")))
    end
    return result
  end

  -- the state of networks and optimizers, which these functions save
  require("diffsim.state")(ds)
end
