-- Images, animations, tables and plots: what a headless run leaves behind.
--   ds.io.read_png(path [, {channel = 1, size = {h, w}}]) -> {h, w, c} or {h, w}, values in [0, 1]
--   ds.io.write_png(path, t [, {range = {lo, hi}} | {auto = true}])
--   ds.io.write_gif(path, frames [, {delay = 4, range = {lo, hi}}])   frames: list of {h, w} or {h, w, 3}
--   ds.io.write_csv(path, header, rows)      ds.io.plot_png(path, series, opts)
local ffi = require("ffi")

return function(ds)
  local V = ds.view
  local C, ctx = ds.C, ds.ctx
  local io_ = {}
  local range_buf = ffi.new("double[2]")

  function io_.mkdir(dir)
    if dir and dir ~= "" then os.execute("mkdir -p '" .. dir:gsub("'", "'\\''") .. "'") end
  end

  -- Resolves a data file: as given, else under <repo>/scenes/images.
  function io_.find(path)
    local f = io.open(path, "rb")
    if f then f:close(); return path end
    local alt = ds.root() .. "/scenes/images/" .. path:match("[^/]+$")
    f = io.open(alt, "rb")
    if f then f:close(); return alt end
    return path
  end

  function io_.read_png(path, opts)
    if type(path) ~= "string" then error("ds.io.read_png: path must be a string", 2) end
    opts = opts or {}
    local img = ds.wrap(C.ds_png_read(ctx, io_.find(path)))
    local h, w, c = tonumber(V(img).dims[0]), tonumber(V(img).dims[1]), tonumber(V(img).dims[2])
    if opts.channel then
      local ch = opts.channel == "alpha" and c or opts.channel
      if type(ch) ~= "number" or ch < 1 or ch > c then
        error(string.format("ds.io.read_png: '%s' has %d channels, channel %s requested", path, c, tostring(opts.channel)), 2)
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
    if opts.step then -- subsample [::step, ::step]
      local s = opts.step
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
    if opts.size then
      local out = ds.empty(c and {opts.size[1], opts.size[2], c} or {opts.size[1], opts.size[2]})
      ds.check(C.ds_image_resize(out.p, img.p), 2)
      img = out
    end
    return img
  end

  function io_.range(t)
    ds.check(C.ds_tensor_range(t.p, range_buf, range_buf + 1), 3)
    return range_buf[0], range_buf[1]
  end

  -- Maps t to [0, 1]: opts.range = {lo, hi}, or opts.auto (min..max), or
  -- opts.symmetric (-m..m with m = max |t|), else values are taken as they are.
  local function normalised(t, opts)
    local lo, hi
    if opts.range then lo, hi = opts.range[1], opts.range[2]
    elseif opts.auto then lo, hi = io_.range(t)
    elseif opts.symmetric then
      local a, b = io_.range(t)
      local m = math.max(math.abs(a), math.abs(b), 1e-12)
      lo, hi = -m, m
    end
    if not lo then return t end
    if hi <= lo then hi = lo + 1 end
    return ds.no_grad(ds.affine, t, 1 / (hi - lo), -lo / (hi - lo))
  end

  -- Images are made on the host: a tensor on another device is copied to the
  -- CPU first (normalising runs a kernel, which must find CPU tensors).
  local function on_cpu(t) return t.device == "cpu" and t or t:to("cpu") end

  function io_.write_png(path, t, opts)
    if not ds.is_tensor(t) then error("ds.io.write_png: image must be a tensor", 2) end
    ds.check(C.ds_png_write(ctx, path, normalised(on_cpu(t), opts or {}).p), 2)
  end

  function io_.write_gif(path, frames, opts)
    opts = opts or {}
    if type(frames) ~= "table" or #frames == 0 then error("ds.io.write_gif: expected a list of frames", 2) end
    for i = 1, #frames do
      if not ds.is_tensor(frames[i]) then error("ds.io.write_gif: frame " .. i .. " is not a tensor", 2) end
    end
    local shape = frames[1]:shape()
    local n = #frames
    local all = ds.empty({n, unpack(shape)})
    local per = frames[1]:numel()
    local dst = all:data()
    for i = 1, n do
      if frames[i]:numel() ~= per then error("ds.io.write_gif: frame " .. i .. " has another size", 2) end
      ffi.copy(dst + (i - 1) * per, normalised(on_cpu(frames[i]), opts):data(), per * ffi.sizeof("ds_real"))
    end
    ds.check(C.ds_gif_write(ctx, path, all.p, opts.delay or 4), 2)
  end

  function io_.write_csv(path, header, rows)
    local f, err = io.open(path, "w")
    if not f then error("ds.io.write_csv: " .. tostring(err), 2) end
    f:write(table.concat(header, ","), "\n")
    for _, r in ipairs(rows) do
      local cells = {}
      for i, v in ipairs(r) do cells[i] = type(v) == "number" and string.format("%.10g", v) or tostring(v) end
      f:write(table.concat(cells, ","), "\n")
    end
    f:close()
  end

  io_.plot_png = require("diffsim.io.plot")(ds)
  return io_
end
