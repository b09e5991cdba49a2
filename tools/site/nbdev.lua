--[[
nbdev.lua: a pandoc Lua filter for rendering nbdev-processed notebooks (_proc/*.ipynb) to HTML
without quarto. Used by tools/build_site.py.

It honours the quarto cell options that nbdev leaves in code cells (leading `#| key: value` lines):
  include: false   drop the whole cell (code and outputs)
  echo: false      drop the code, keep the outputs
  output: false    drop the outputs;   output: asis  -> outputs are spliced into the page as markdown
  warning: false   drop stderr outputs; error: false -> drop error outputs
  eval: false      (the cell was not run; the code is shown)
  code-fold: true|show, code-summary: "text"   fold the code in a <details> element
All `#|` option lines are removed from the code that is shown (as quarto does).
Markdown outputs (e.g. nbdev's show_doc) are parsed as markdown; outputs get quarto's classes
(cell-output, cell-output-stdout, cell-output-display, ...) so nbs/styles.css styles both renderers.
Links to the hosted docs (meta `site-url`) and to local .ipynb files become relative site links;
duplicate header ids are made unique (first one wins, as in quarto).
--]]

local site_url = nil   -- e.g. https://user.github.io/proj (from meta site-url)
local root = ''        -- relative path from this page to the site root ('' or '../')

local function trim(s) return (s:gsub('^%s+', ''):gsub('%s+$', '')) end

local function unquote(s)
  s = trim(s)
  local q = s:sub(1, 1)
  if (q == '"' or q == "'") and s:sub(-1) == q and #s >= 2 then return s:sub(2, -2) end
  return s
end

local function is_false(v) return v ~= nil and (v == 'false' or v == 'False' or v == 'no' or v == '0') end
local function is_true(v) return v ~= nil and (v == 'true' or v == 'True' or v == 'yes' or v == '') end

-- Split leading `#| key: value` lines from the code; returns (opts table, remaining code)
local function parse_opts(code)
  local opts, rest, header = {}, {}, true
  for line in (code .. '\n'):gmatch('([^\n]*)\n') do
    if header and line:match('^%s*#|') then
      local k, v = line:match('^%s*#|%s*([%w_%-%.]+)%s*:%s*(.-)%s*$')
      if not k then k = line:match('^%s*#|%s*([%w_%-%.]+)%s*$'); v = '' end
      if k then opts[k] = unquote(v) end
    else
      if header and line:match('%S') then header = false end
      if not header then rest[#rest + 1] = line end
    end
  end
  while #rest > 0 and not rest[#rest]:match('%S') do rest[#rest] = nil end
  return opts, table.concat(rest, '\n')
end

local function html_escape(s)
  return (s:gsub('&', '&amp;'):gsub('<', '&lt;'):gsub('>', '&gt;'):gsub('"', '&quot;'))
end

local function fold(block, opts)
  local f = opts['code-fold']
  if f == nil or is_false(f) or f == 'none' then return { block } end
  local open = (f == 'show') and ' open' or ''
  local summary = opts['code-summary'] or 'Code'
  return {
    pandoc.RawBlock('html', '<details class="code-fold"' .. open .. '><summary>' .. html_escape(summary) .. '</summary>'),
    block,
    pandoc.RawBlock('html', '</details>'),
  }
end

-- Parse markdown outputs (RawBlock "markdown") into blocks
local function md_blocks(blocks)
  local res = pandoc.List()
  for _, b in ipairs(blocks) do
    if b.t == 'RawBlock' and (b.format == 'markdown' or b.format == 'md') then
      res:extend(pandoc.read(b.text, 'markdown').blocks)
    else
      res:insert(b)
    end
  end
  return res
end

local quarto_cls = {
  stdout = 'cell-output-stdout', stderr = 'cell-output-stderr', error = 'cell-output-error',
  execute_result = 'cell-output-display', display_data = 'cell-output-display',
}

local function code_cell(el)
  local blocks = el.content
  local opts = {}
  local first = blocks[1]
  if first and first.t == 'CodeBlock' then
    opts, first.text = parse_opts(first.text)
  end
  if is_false(opts.include) then return {} end
  local new = pandoc.List()
  for i, b in ipairs(blocks) do
    if i == 1 and b.t == 'CodeBlock' then
      if not is_false(opts.echo) and b.text:match('%S') then
        b.classes = pandoc.List({ 'python' })
        new:extend(fold(b, opts))
      end
    elseif b.t == 'Div' and b.classes:includes('output') then
      local drop = is_false(opts.output)
        or (b.classes:includes('stderr') and is_false(opts.warning))
        or (b.classes:includes('error') and is_false(opts.error))
      if not drop then
        local content = pandoc.Blocks(md_blocks(b.content))
        local alt = opts['fig-alt'] or opts['fig-cap']
        content = content:walk({ Image = function(img)
          if #img.caption == 0 then img.caption = { pandoc.Str(alt or 'output of the code cell') } end
          return img
        end })
        if opts['fig-cap'] then
          content:insert(pandoc.Para({ pandoc.Emph(pandoc.read(opts['fig-cap'], 'markdown').blocks[1].content) }))
        end
        if opts.output == 'asis' then
          new:extend(content)
        else
          local cls = pandoc.List({ 'cell-output' })
          for _, c in ipairs(b.classes) do if quarto_cls[c] then cls:insert(quarto_cls[c]) end end
          new:insert(pandoc.Div(content, pandoc.Attr('', cls)))
        end
      end
    else
      new:insert(b)
    end
  end
  if #new == 0 then return {} end
  -- asis output without code (nbdev's show_doc): splice it into the page, so its headings reach the TOC
  if opts.output == 'asis' and is_false(opts.echo) then return new end
  return pandoc.Div(new, pandoc.Attr('', { 'cell' }))
end

local function Div(el)
  if el.classes:includes('cell') then
    if el.classes:includes('code') then return code_cell(el) end
    if el.classes:includes('raw') then return {} end   -- frontmatter and other raw cells
    -- markdown cells: unwrap, as quarto does
    return el.content
  end
end

local function nbpath2html(p)
  -- nbdev's nbpath2html: strip a numeric prefix like `01_`, lowercase, .ipynb -> .html
  local dir, name = p:match('^(.-)([^/]*)$')
  name = name:lower():gsub('^%d+[%w]*_', '')
  return dir .. name:gsub('%.ipynb$', '.html')
end

local function Link(el)
  local t = el.target
  if site_url and site_url ~= '' and t:sub(1, #site_url) == site_url then
    local rest = t:sub(#site_url + 1):gsub('^/', '')
    if rest == '' then rest = 'index.html' end
    el.target = root .. rest
  elseif not t:match('^%a[%w+.-]*:') and not t:match('^#') then
    local path, frag = t:match('^([^#]*)(.*)$')
    if path:match('%.ipynb$') then el.target = nbpath2html(path) .. frag end
  end
  return el
end

local function dedupe_ids(doc)
  local seen = {}
  doc.blocks = doc.blocks:walk({
    Header = function(h)
      if h.identifier ~= '' then
        local id, n = h.identifier, 0
        while seen[id] do n = n + 1; id = h.identifier .. '-' .. n end
        seen[id] = true
        h.identifier = id
        return h
      end
    end,
  })
  return doc
end

return {
  { Meta = function(m)
      if m['site-url'] then site_url = pandoc.utils.stringify(m['site-url']):gsub('/$', '') end
      if m['site-root'] then root = pandoc.utils.stringify(m['site-root']) end
    end },
  { Div = Div },
  { Link = Link },
  { Pandoc = dedupe_ids },
}
