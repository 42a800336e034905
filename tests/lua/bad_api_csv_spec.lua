-- CSV per RFC 4180: cells with commas, double quotes or line breaks are quoted
-- (quotes doubled), numbers read back exactly, NaN/Inf are written explicitly,
-- and a cell that is not a scalar is an error naming the row and the column.
local ds = require("diffsim")
ds.init{precision = "f64", threads = 2}
local tmp = os.tmpname()
os.remove(tmp)
ds.io.mkdir(tmp)

local function read_all(path)
  local f = assert(io.open(path, "rb"))
  local s = f:read("*a")
  f:close()
  return s
end
local function err_of(f)
  local ok, err = pcall(function() local r = f(); return r end)
  assert.is_false(ok, "expected an error")
  assert.matches("bad_api_csv_spec.lua:%d+: ", tostring(err))
  return tostring(err)
end

-- A small RFC 4180 reader, to check that what is written reads back.
local function parse(s)
  local rows, row, cell, i, quoted = {}, {}, {}, 1, false
  while i <= #s do
    local ch = s:sub(i, i)
    if quoted then
      if ch == '"' then
        if s:sub(i + 1, i + 1) == '"' then cell[#cell + 1] = '"'; i = i + 1 else quoted = false end
      else cell[#cell + 1] = ch end
    elseif ch == '"' then quoted = true
    elseif ch == "," then row[#row + 1] = table.concat(cell); cell = {}
    elseif ch == "\n" then row[#row + 1] = table.concat(cell); cell = {}; rows[#rows + 1] = row; row = {}
    else cell[#cell + 1] = ch end
    i = i + 1
  end
  return rows
end

describe("write_csv", function()
  local path = tmp .. "/t.csv"

  it("quotes what needs quoting and round-trips through an RFC 4180 reader", function()
    local cells = {"plain", "a,b", 'say "hi"', "two\nlines", "cr\rhere", "", " spaced "}
    local header = {}
    for i = 1, #cells do header[i] = "c" .. i end
    header[2] = "x,y"
    ds.io.write_csv(path, header, {cells})
    local back = parse(read_all(path))
    assert.are.same(header, back[1])
    assert.are.same(cells, back[2])
    assert.matches('^c1,"x,y",c3', read_all(path))
    assert.matches('plain,"a,b","say ""hi""","two\nlines"', read_all(path), 1, true)
  end)

  it("numbers read back exactly; NaN and Inf are written as nan, inf, -inf (or opts.nan)", function()
    local vals = {0.1, 1 / 3, 1e-300, -2.5e17, 42, 0}
    ds.io.write_csv(path, {"v"}, (function()
      local r = {}
      for i, v in ipairs(vals) do r[i] = {v} end
      return r
    end)())
    local back = parse(read_all(path))
    for i, v in ipairs(vals) do assert.are.equal(v, tonumber(back[i + 1][1])) end
    assert.are.equal("42", back[6][1])
    ds.io.write_csv(path, {"a", "b", "c"}, {{0 / 0, 1 / 0, -1 / 0}})
    assert.are.equal("a,b,c\nnan,inf,-inf\n", read_all(path))
    ds.io.write_csv(path, {"a"}, {{0 / 0}}, {nan = ""})
    assert.are.equal("a\n\n", read_all(path))
  end)

  it("one-element tensors and booleans are cells; tables and larger tensors are errors", function()
    ds.io.write_csv(path, {"t", "b"}, {{ds.tensor{2.5}, true}})
    assert.are.equal("t,b\n2.5,true\n", read_all(path))
    local err = err_of(function() return ds.io.write_csv(path, {"iter", "loss"}, {{1, 0.5}, {2, ds.zeros{3}}}) end)
    assert.matches("ds.io.write_csv: row 2, column 'loss': a cell must be a scalar, got a tensor of 3 elements", err, 1, true)
    err = err_of(function() return ds.io.write_csv(path, {"iter", "loss"}, {{1, {0.5}}}) end)
    assert.matches("row 1, column 'loss': a cell must be a number, string or boolean, got a table", err, 1, true)
    err = err_of(function() return ds.io.write_csv(path, {"iter", "loss"}, {{1, print}}) end)
    assert.matches("row 1, column 'loss'", err, 1, true)
  end)

  it("rows must match the header; nil cells, bad headers and bad rows are errors", function()
    assert.matches("rows[1] has 1 cells, the header 2 columns", err_of(function() return ds.io.write_csv(path, {"a", "b"}, {{1}}) end), 1, true)
    assert.matches("rows[1] has 3 cells, the header 2 columns", err_of(function() return ds.io.write_csv(path, {"a", "b"}, {{1, 2, 3}}) end), 1, true)
    assert.matches("row 1, column 'a': missing value (nil)", err_of(function() return ds.io.write_csv(path, {"a", "b"}, {{nil, 2}}) end), 1, true)
    assert.matches("argument 'header' must be a non-empty list", err_of(function() return ds.io.write_csv(path, {}, {}) end), 1, true)
    assert.matches("header[2] must be a string", err_of(function() return ds.io.write_csv(path, {"a", {}}, {}) end), 1, true)
    assert.matches("argument 'rows' must be a list of rows", err_of(function() return ds.io.write_csv(path, {"a"}, 5) end), 1, true)
    assert.matches("rows[1] must be a list of cells", err_of(function() return ds.io.write_csv(path, {"a"}, {5}) end), 1, true)
    assert.matches("option 'nan' must be a string", err_of(function() return ds.io.write_csv(path, {"a"}, {}, {nan = 0}) end), 1, true)
  end)
end)
