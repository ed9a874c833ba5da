"""The app's SVG export of its plots as the browser draws them: JavaScript that runs in the page.

Bokeh's own SVG export needs a browser; the user's browser is already there, so the server sends
these functions with the download button and needs no browser of its own.
"""

#: Browser functions (plain JavaScript over BokehJS 3's view API) that turn drawn Bokeh plots into
#: one SVG document; shared by :func:`svg_of` (a saved page in headless Chromium) and the app's SVG
#: downloads (the user's own browser, so the server needs no browser). ``rnnpanelSvg(manager,
#: names, options)`` takes a document's view manager and the plot names to keep (``null``: every
#: plot), places the plots as they sit on the page, and returns the SVG text (``null`` when no such
#: plot is drawn). Each plot is Bokeh's own SVG export (``view.export("svg")``): text as ``<text>``,
#: glyphs as paths. A renderer named in ``options.raster`` holding more than ``options.rasterAbove``
#: rows (a map's point cloud) is drawn instead as one PNG of ``options.pixelRatio`` times the
#: screen's resolution, embedded where the glyphs would be, so axes, trajectory and labels stay
#: vector and a map of 50,000 points is a file of about 1 MB rather than 13 MB of paths.
SVG_JS = r"""
function rnnpanelPlots(manager, names) {
  const isPlot = (v) => typeof v.export === "function" && v.frame != null && v.renderer_views != null;
  const drawn = [...manager.query((v) => isPlot(v) && (names == null || names.includes(v.model.name)))]
    .filter((v) => v.el.isConnected && v.bbox.width > 0 && v.bbox.height > 0);
  const latest = new Map();   // one plot per name: a replaced figure may linger in the document
  drawn.forEach((v, i) => latest.set(names == null ? i : v.model.name, v));
  return [...latest.values()];
}

function rnnpanelRasterImage(view, rv, ratio) {
  const {x, y, width, height} = view.frame.bbox;
  const Layer = view.canvas_view.primary.constructor;   // BokehJS's CanvasLayer (not exported)
  const layer = new Layer("canvas", false);
  layer.resize(Math.ceil(view.bbox.width * ratio), Math.ceil(view.bbox.height * ratio));
  const ctx = layer.prepare();
  ctx.scale(ratio, ratio);
  ctx.beginPath();
  ctx.rect(x, y, width, height);
  ctx.clip();
  view.force_paint(() => rv.paint(ctx));
  layer.finish();
  const crop = document.createElement("canvas");
  crop.width = Math.round(width * ratio);
  crop.height = Math.round(height * ratio);
  crop.getContext("2d").drawImage(layer.canvas, Math.round(x * ratio), Math.round(y * ratio), crop.width,
                                  crop.height, 0, 0, crop.width, crop.height);
  const image = new Image();          // an <img> keeps its full resolution in Bokeh's SVG context
  image.width = crop.width;
  image.height = crop.height;
  image.src = crop.toDataURL("image/png");
  return image;
}

function rnnpanelPlotSvg(view, options) {
  const swapped = [];
  for (const rv of view.renderer_views.values()) {
    const source = rv.model.data_source;
    if (!options.raster.includes(rv.model.name) || !rv.model.visible || source == null ||
        !(source.get_length() > options.rasterAbove)) {
      continue;
    }
    const image = rnnpanelRasterImage(view, rv, options.pixelRatio);
    const {x, y, width, height} = view.frame.bbox;
    rv._paint = (ctx) => ctx.drawImage(image, x, y, width, height);
    swapped.push(rv);
  }
  try {
    return view.export("svg").ctx.get_serialized_svg(true);
  } finally {
    for (const rv of swapped) { delete rv._paint; }
  }
}

function rnnpanelSvg(manager, names, options = {}) {
  options = {raster: [], rasterAbove: 0, pixelRatio: 2, ...options};
  const views = rnnpanelPlots(manager, names);
  if (views.length == 0) { return null; }
  const boxes = views.map((v) => v.el.getBoundingClientRect());
  const left = Math.min(...boxes.map((b) => b.left)), top = Math.min(...boxes.map((b) => b.top));
  const width = Math.max(...views.map((v, i) => boxes[i].left - left + v.bbox.width));
  const height = Math.max(...views.map((v, i) => boxes[i].top - top + v.bbox.height));
  const parts = views.map((v, i) => rnnpanelPlotSvg(v, options)
    .replace(/^<svg /, `<svg x="${Math.round(boxes[i].left - left)}" y="${Math.round(boxes[i].top - top)}" `)
    .replace(/<image([^>]*?) href=/g, "<image$1 xlink:href="));   // SVG 1.1 readers (Inkscape 0.92) want xlink
  return `<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" version="1.1" ` +
         `width="${Math.ceil(width)}" height="${Math.ceil(height)}">` + parts.join("") + "</svg>";
}
"""
