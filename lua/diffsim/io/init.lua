-- Images, animations, tables and plots: what a headless run leaves behind.
--   ds.io.read_png(path [, {channel = 1, size = {h, w}, step = 2}]) -> {h, w, c} or {h, w}, values in [0, 1]
--   ds.io.scene_image(name)  -> the path of one of the repository's scene images (scenes/images/name)
--   ds.io.write_png(path, t [, {range = {lo, hi}} | {auto = true} | {symmetric = true}])
--   ds.io.write_gif(path, frames [, {delay = 4, range = {lo, hi}, labels = {...}}])   giflib
--   ds.io.write_mp4(path, frames [, {fps = 25, range = {lo, hi}, labels = {...}}])   FFmpeg (H.264)
--       frames: a list of {h, w} or {h, w, 3} tensors of one size; labels: one string per frame
--   ds.io.write_csv(path, header, rows [, {nan = "nan"}])   RFC 4180 cells
--   ds.io.plot(path, series, {title =, xlabel =, ylabel =, labels =, log =, ...})   PNG/SVG (io/plot.lua)
--   ds.io.plot_png(path, series, opts)  ds.io.plot_field(path, t, opts)  ds.io.field_png(path, t, opts)
--   ds.io.draw_text(img, text [, {x =, y =, size =, color =}])
--   ds.io.write_vtk(path, data)  ds.io.write_vtk_series(path, list [, {times =}])   ParaView (io/vtk.lua)
-- Every function checks its arguments and options (unknown option names are
-- errors) and raises an error naming itself and the argument, located at the
-- caller's line. A destination that cannot be written is an error before any
-- work; a source that is missing, unreadable or not a PNG is an error too.
--
-- Paths are read exactly as given: a missing file is an error, never another
-- file found elsewhere. The repository's scene images are named explicitly with
-- ds.io.scene_image(name) (e.g. "taichi.png" -> <root>/scenes/images/taichi.png).
local ffi = require("ffi")

return function(ds)
  local V = ds.view
  local C, ctx = ds.C, ds.ctx
  local O = require("diffsim.options").install(ds)
  local raise = O.raise
  local io_ = {}
  local range_buf = ffi.new("double[2]")

  local function reason(err)
    err = tostring(err or "unknown error")
    return err:match(":%s*([^:]+)$") or err
  end

  local function shell_quote(s) return "'" .. s:gsub("'", "'\\''") .. "'" end

  -- Creates dir (and its parents); an error when that fails.
  function io_.mkdir(dir)
    if dir == nil or dir == "" then return end
    O.string("ds.io.mkdir", "dir", dir)
    local r = os.execute("mkdir -p " .. shell_quote(dir) .. " 2>/dev/null")
    if not (r == 0 or r == true) then
      local f = io.open(dir .. "/.", "rb")
      if f then f:close() return end
      raise("ds.io.mkdir: cannot create the directory '" .. dir .. "'")
    end
  end

  -- Creates dir and checks that a file can be written in it (by writing and
  -- removing a probe file). Returns nil on success, or a reason.
  function io_.writable_dir(dir)
    O.string("ds.io.writable_dir", "dir", dir)
    return require("diffsim.cli").writable_dir(dir)
  end

  -- The path of one of the repository's scene images.
  function io_.scene_image(name)
    O.string("ds.io.scene_image", "name", name)
    if name:find("/", 1, true) then
      raise("ds.io.scene_image: argument 'name' must be a bare file name in scenes/images, got '" .. name .. "'")
    end
    local p = ds.root() .. "/scenes/images/" .. name
    local f = io.open(p, "rb")
    if not f then raise("ds.io.scene_image: no scene image '" .. name .. "' in " .. ds.root() .. "/scenes/images") end
    f:close()
    return p
  end

  -- Resolves a data file: as given; a bare name that is not in the current
  -- directory may name a scene image. Returns the path, or nil and a reason.
  local function resolve(path)
    local f, err = io.open(path, "rb")
    if f then f:close(); return path end
    return nil, reason(err)
  end
  function io_.find(path)
    O.string("ds.io.find", "path", path)
    return resolve(path) or path
  end

  local PNG_SIG = "\137PNG\r\n\26\n"
  local READ_OPTS = {"channel", "size", "step"}

  local function size_pair(who, name, v)
    if type(v) ~= "table" or getmetatable(v) ~= nil or #v ~= 2 then
      raise(string.format("%s: option '%s' must be a list {h, w} of two positive integers, got %s", who, name,
        O.describe(v)))
    end
    O.number(who, name .. "[1]", v[1], nil, {int = true, ge = 1, le = 65535})
    O.number(who, name .. "[2]", v[2], nil, {int = true, ge = 1, le = 65535})
    return v[1], v[2]
  end

  function io_.read_png(path, opts)
    local who = "ds.io.read_png"
    O.string(who, "path", path)
    opts = O.check(who, opts, READ_OPTS)
    local step = opts.step ~= nil and O.number(who, "step", opts.step, nil, {int = true, ge = 1}) or nil
    local sh, sw
    if opts.size ~= nil then
      sh, sw = size_pair(who, "size", opts.size)
      if sh * sw > 2^26 then raise(string.format("%s: option 'size' {%d, %d} is larger than 2^26 pixels", who, sh, sw)) end
    end
    if opts.channel ~= nil and opts.channel ~= "alpha" then
      O.number(who, "channel", opts.channel, nil, {int = true, ge = 1, le = 4})
    end
    local file, why = resolve(path)
    if not file then raise(string.format("%s: cannot read '%s': %s", who, path, why)) end
    local f = io.open(file, "rb")
    local sig = f:read(8)
    f:close()
    if sig == nil then
      local g = io.open(file .. "/.", "rb")
      if g then g:close(); raise(string.format("%s: cannot read '%s': it is a directory", who, path)) end
      raise(string.format("%s: '%s' is not a PNG file (it is empty)", who, path))
    end
    if sig ~= PNG_SIG then raise(string.format("%s: '%s' is not a PNG file (no PNG signature)", who, path)) end
    local p = C.ds_png_read(ctx, file)
    if p == nil then raise(who .. ": " .. ffi.string(C.ds_last_error(ctx))) end
    local img = ds.wrap(p)
    local h, w, c = tonumber(V(img).dims[0]), tonumber(V(img).dims[1]), tonumber(V(img).dims[2])
    if opts.channel ~= nil then
      local ch = opts.channel
      if ch == "alpha" then
        if c ~= 2 and c ~= 4 then
          raise(string.format("%s: '%s' has %d channels and no alpha channel", who, path, c))
        end
        ch = c
      end
      if ch > c then
        raise(string.format("%s: '%s' has %d channels, option 'channel' = %s requested", who, path, c,
          tostring(opts.channel)))
      end
      -- take one channel: rows of the {h*w, c} view, column ch
      local flat = ds.reshape(img, {h * w, c})
      local sel = ds.matmul(flat, ds.tensor((function()
        local col = {}
        for i = 1, c do col[i] = {i == ch and 1 or 0} end
        return col
      end)()))
      img = ds.reshape(sel, {h, w})
      c = nil
    end
    if step then -- subsample [::step, ::step]
      local s = step
      local hh, ww = math.ceil(h / s), math.ceil(w / s)
      local out = ds.empty(c and {hh, ww, c} or {hh, ww})
      local src, dst = img:data(), out:data()
      local cc = c or 1
      for i = 0, hh - 1 do
        for j = 0, ww - 1 do
          for k = 0, cc - 1 do dst[(i * ww + j) * cc + k] = src[((i * s) * w + j * s) * cc + k] end
        end
      end
      img, h, w = out, hh, ww
    end
    if sh then
      local out = ds.empty(c and {sh, sw, c} or {sh, sw})
      local rc = C.ds_image_resize(out.p, img.p)
      if rc ~= 0 then raise(who .. ": " .. ffi.string(C.ds_last_error(ctx))) end
      img = out
    end
    return img
  end

  local function live_tensor(who, name, t)
    if not ds.is_tensor(t) then raise(string.format("%s: argument '%s' must be a tensor, got %s", who, name,
      O.describe(t))) end
    if t.ptr == nil then raise(string.format("%s: argument '%s' has been freed", who, name)) end
    return t
  end

  function io_.range(t)
    live_tensor("ds.io.range", "t", t)
    if t:numel() == 0 then raise("ds.io.range: argument 't' is empty") end
    if C.ds_tensor_range(t.p, range_buf, range_buf + 1) ~= 0 then
      raise("ds.io.range: " .. ffi.string(C.ds_last_error(ctx)))
    end
    return range_buf[0], range_buf[1]
  end

  -- Maps t to [0, 1]: opts.range = {lo, hi}, or opts.auto (min..max), or
  -- opts.symmetric (-m..m with m = max |t|), else values are taken as they are.
  -- Checked by check_map (at most one of them; a range with lo < hi, finite).
  local MAP_OPTS = {"range", "auto", "symmetric"}
  local function check_map(who, opts)
    local n = 0
    if opts.range ~= nil then
      n = n + 1
      local r = opts.range
      if type(r) ~= "table" or getmetatable(r) ~= nil or #r ~= 2 or not O.finite(r[1]) or not O.finite(r[2]) or
         not (r[1] < r[2]) then
        raise(string.format("%s: option 'range' must be a list {lo, hi} of finite numbers with lo < hi, got %s", who,
          type(r) == "table" and getmetatable(r) == nil and
            "{" .. tostring(r[1]) .. ", " .. tostring(r[2]) .. (#r > 2 and ", ..." or "") .. "}" or O.describe(r)))
      end
    end
    if opts.auto ~= nil then
      O.boolean(who, "auto", opts.auto)
      if opts.auto then n = n + 1 end
    end
    if opts.symmetric ~= nil then
      O.boolean(who, "symmetric", opts.symmetric)
      if opts.symmetric then n = n + 1 end
    end
    if n > 1 then raise(who .. ": options 'range', 'auto' and 'symmetric' exclude each other") end
  end
  local function finite_range(who, t, name)
    local a, b = io_.range(t)
    if not (O.finite(a) and O.finite(b)) then
      raise(string.format("%s: option '%s' needs finite values, and the image holds %s", who, name,
        (a ~= a or a == math.huge) and "no finite value" or "Inf"))
    end
    return a, b
  end
  local function normalised(who, t, opts)
    local lo, hi
    if opts.range then lo, hi = opts.range[1], opts.range[2]
    elseif opts.auto then lo, hi = finite_range(who, t, "auto")
    elseif opts.symmetric then
      local a, b = finite_range(who, t, "symmetric")
      local m = math.max(math.abs(a), math.abs(b), 1e-12)
      lo, hi = -m, m
    end
    if not lo then return t end
    if hi <= lo then hi = lo + 1 end -- a constant image under auto
    return ds.no_grad(ds.affine, t, 1 / (hi - lo), -lo / (hi - lo))
  end

  -- Images are made on the host: a tensor on another device is copied to the
  -- CPU first (normalising runs a kernel, which must find CPU tensors).
  local function on_cpu(t) return t.device == "cpu" and t or t:to("cpu") end

  -- The destination must be writable: opened for appending (so nothing is lost
  -- if it is not), then left to the writer.
  local function check_dest(who, path)
    O.string(who, "path", path)
    local f, err = io.open(path, "ab")
    if not f then raise(string.format("%s: cannot write '%s': %s", who, path, reason(err))) end
    f:close()
  end

  local function image_shape(who, name, t)
    local s = t:shape()
    if t:dtype_name() ~= "real" then
      raise(string.format("%s: %s must be a real tensor, got an %s tensor", who, name, t:dtype_name()))
    end
    local ok = (#s == 2 or (#s == 3 and s[3] >= 1 and s[3] <= 4)) and s[1] >= 1 and s[2] >= 1
    if not ok then
      raise(string.format("%s: %s must have shape {h, w} or {h, w, c} with c in 1..4, got {%s}", who, name,
        table.concat(s, ", ")))
    end
    return s
  end

  function io_.write_png(path, t, opts)
    local who = "ds.io.write_png"
    O.string(who, "path", path)
    live_tensor(who, "t", t)
    opts = O.check(who, opts, MAP_OPTS)
    check_map(who, opts)
    image_shape(who, "argument 't'", t)
    check_dest(who, path)
    local img = normalised(who, on_cpu(t), opts)
    if C.ds_png_write(ctx, path, img.p) ~= 0 then raise(who .. ": " .. ffi.string(C.ds_last_error(ctx))) end
  end

  -- Frames for an animation: checked (one shape, {h, w} or {h, w, 3}, real),
  -- mapped to [0, 1] by range/auto/symmetric, labelled (opts.labels: one string
  -- per frame, drawn top-left), and packed into one {n, h, w[, 3]} tensor.
  local function pack_frames(who, frames, opts, max_side)
    if type(frames) ~= "table" or getmetatable(frames) ~= nil or #frames == 0 then
      raise(who .. ": argument 'frames' must be a non-empty list of tensors, got " ..
        (type(frames) == "table" and getmetatable(frames) == nil and "an empty list" or O.describe(frames)))
    end
    local n = #frames
    local labels = opts.labels
    if labels ~= nil then
      if type(labels) ~= "table" or getmetatable(labels) ~= nil or #labels ~= n then
        raise(string.format("%s: option 'labels' must be a list of %d strings (one per frame), got %s", who, n,
          type(labels) == "table" and getmetatable(labels) == nil and (#labels .. " entries") or O.describe(labels)))
      end
      for i = 1, n do
        if type(labels[i]) ~= "string" then
          raise(string.format("%s: labels[%d] must be a string, got %s", who, i, O.describe(labels[i])))
        end
      end
    end
    local shape
    for i = 1, n do
      local f = frames[i]
      if not ds.is_tensor(f) then raise(string.format("%s: frames[%d] is not a tensor (got %s)", who, i, O.describe(f))) end
      if f.ptr == nil then raise(string.format("%s: frames[%d] has been freed", who, i)) end
      local s = image_shape(who, "frames[" .. i .. "]", f)
      if not (#s == 2 or s[3] == 3) then
        raise(string.format("%s: frames[%d] must have shape {h, w} or {h, w, 3}, got {%s}", who, i,
          table.concat(s, ", ")))
      end
      if s[1] > max_side or s[2] > max_side then
        raise(string.format("%s: frames[%d] is larger than %d x %d pixels", who, i, max_side, max_side))
      end
      if not shape then
        shape = s
      elseif #s ~= #shape or s[1] ~= shape[1] or s[2] ~= shape[2] or s[3] ~= shape[3] then
        raise(string.format("%s: frames[%d] has shape {%s}, but frames[1] has {%s}: all frames must have one size",
          who, i, table.concat(s, ", "), table.concat(shape, ", ")))
      end
    end
    local all = ds.empty({n, unpack(shape)})
    local per = frames[1]:numel()
    local dst = all:data()
    local one = labels and ds.empty(shape)
    for i = 1, n do
      local img = normalised(who, on_cpu(frames[i]), opts)
      if labels and labels[i] ~= "" then
        -- drawn into a copy: the caller's frame is never written
        ffi.copy(one:data(), img:data(), per * ffi.sizeof("ds_real"))
        one:touch()
        ds.io.draw_text(one, labels[i])
        img = one
      end
      ffi.copy(dst + (i - 1) * per, img:data(), per * ffi.sizeof("ds_real"))
    end
    all:touch()
    return all
  end

  local GIF_OPTS = {"delay", "range", "auto", "symmetric", "labels"}
  function io_.write_gif(path, frames, opts)
    local who = "ds.io.write_gif"
    O.string(who, "path", path)
    opts = O.check(who, opts, GIF_OPTS)
    check_map(who, opts)
    local delay = O.number(who, "delay", opts.delay, 4, {int = true, ge = 0, le = 65535})
    local all = pack_frames(who, frames, opts, 65535)
    check_dest(who, path)
    if C.ds_gif_write(ctx, path, all.p, delay) ~= 0 then raise(who .. ": " .. ffi.string(C.ds_last_error(ctx))) end
  end

  -- MP4 video (H.264 where libavcodec has libx264, else MPEG-4 part 2):
  --   ds.io.write_mp4(path, frames [, {fps = 25, labels = {...}, range = | auto = | symmetric =}])
  local MP4_OPTS = {"fps", "range", "auto", "symmetric", "labels"}
  function io_.write_mp4(path, frames, opts)
    local who = "ds.io.write_mp4"
    O.string(who, "path", path)
    opts = O.check(who, opts, MP4_OPTS)
    check_map(who, opts)
    local fps = O.number(who, "fps", opts.fps, 25, {int = true, ge = 1, le = 240})
    local all = pack_frames(who, frames, opts, 8192)
    check_dest(who, path)
    if C.ds_mp4_write(ctx, path, all.p, fps) ~= 0 then raise(who .. ": " .. ffi.string(C.ds_last_error(ctx))) end
  end
  -- The encoder write_mp4 uses ("libx264" or "mpeg4").
  function io_.mp4_codec() return ffi.string(C.ds_mp4_codec()) end

  -- RFC 4180 cells: a cell holding a comma, a double quote, CR or LF is
  -- quoted, with its quotes doubled. Numbers are written with the shortest
  -- %.15g/%.17g form that reads back exactly; NaN as opts.nan (default "nan"),
  -- +-Inf as "inf" / "-inf". A one-element tensor is its value; a table or a
  -- tensor with more elements is an error naming the row and column.
  local function quote(s)
    if s:find('[,"\r\n]') then return '"' .. s:gsub('"', '""') .. '"' end
    return s
  end
  local function number_cell(v, nan)
    if v ~= v then return nan end
    if v == math.huge then return "inf" end
    if v == -math.huge then return "-inf" end
    local s = string.format("%.15g", v)
    if tonumber(s) ~= v then s = string.format("%.17g", v) end
    return s
  end
  local CSV_OPTS = {"nan"}
  function io_.write_csv(path, header, rows, opts)
    local who = "ds.io.write_csv"
    O.string(who, "path", path)
    opts = O.check(who, opts, CSV_OPTS)
    local nan = opts.nan == nil and "nan" or opts.nan
    if type(nan) ~= "string" then raise(who .. ": option 'nan' must be a string, got " .. O.describe(nan)) end
    if type(header) ~= "table" or getmetatable(header) ~= nil or #header == 0 then
      raise(who .. ": argument 'header' must be a non-empty list of column names, got " .. O.describe(header))
    end
    local ncol = #header
    local head = {}
    for k in pairs(header) do
      if type(k) ~= "number" or k < 1 or k > ncol or k ~= math.floor(k) then
        raise(who .. ": argument 'header' must be a list of column names (keys 1.." .. ncol .. ")")
      end
    end
    for i = 1, ncol do
      local h = header[i]
      if type(h) ~= "string" and type(h) ~= "number" then
        raise(string.format("%s: header[%d] must be a string, got %s", who, i, O.describe(h)))
      end
      head[i] = quote(tostring(h))
    end
    if type(rows) ~= "table" or getmetatable(rows) ~= nil then
      raise(who .. ": argument 'rows' must be a list of rows, got " .. O.describe(rows))
    end
    local nrow = #rows
    for k in pairs(rows) do
      if type(k) ~= "number" or k < 1 or k > nrow or k ~= math.floor(k) then
        raise(who .. ": argument 'rows' must be a list (keys 1.." .. nrow .. "), got key " .. O.describe(k))
      end
    end
    local lines = {table.concat(head, ",")}
    for r = 1, nrow do
      local row = rows[r]
      if type(row) ~= "table" or getmetatable(row) ~= nil then
        raise(string.format("%s: rows[%d] must be a list of cells, got %s", who, r, O.describe(row)))
      end
      for k in pairs(row) do
        if type(k) ~= "number" or k < 1 or k ~= math.floor(k) then
          raise(string.format("%s: rows[%d] must be a list of cells, got key %s", who, r, O.describe(k)))
        end
      end
      local width = table.maxn(row)
      if width ~= ncol then
        raise(string.format("%s: rows[%d] has %d cells, the header %d columns", who, r, width, ncol))
      end
      local cells = {}
      for i = 1, ncol do
        local v = row[i]
        local col = tostring(header[i])
        if ds.is_tensor(v) then
          if v.ptr == nil then raise(string.format("%s: row %d, column '%s': the tensor has been freed", who, r, col)) end
          if v:numel() ~= 1 then
            raise(string.format("%s: row %d, column '%s': a cell must be a scalar, got a tensor of %d elements", who, r,
              col, v:numel()))
          end
          v = v:item()
        end
        local tv = type(v)
        if tv == "number" then cells[i] = number_cell(v, nan)
        elseif tv == "string" then cells[i] = quote(v)
        elseif tv == "boolean" then cells[i] = tostring(v)
        elseif v == nil then
          raise(string.format("%s: row %d, column '%s': missing value (nil); write \"\" for an empty cell", who, r, col))
        else
          raise(string.format("%s: row %d, column '%s': a cell must be a number, string or boolean, got %s", who, r,
            col, O.describe(v)))
        end
      end
      lines[#lines + 1] = table.concat(cells, ",")
    end
    local f, err = io.open(path, "wb")
    if not f then raise(string.format("%s: cannot write '%s': %s", who, path, reason(err))) end
    local ok, werr = f:write(table.concat(lines, "\n"), "\n")
    f:close()
    if not ok then raise(string.format("%s: cannot write '%s': %s", who, path, reason(werr))) end
  end

  for k, f in pairs(require("diffsim.io.plot")(ds)) do io_[k] = f end
  for k, f in pairs(require("diffsim.io.vtk")(ds)) do io_[k] = f end
  return io_
end
