/* The product page's lineage graph: upstream on the left, the product in the middle, downstream
   on the right, drawn as SVG from the lineage walks the page embeds (#lineage-data: the documents
   of /api/v1/lineage/upstream and /downstream). A product node opens that product's page (click,
   Enter or Space). "Show columns" fetches the column-level walks from the page's lineage URL and
   draws each product's columns with the column-to-column edges. Plain JS, no library, no request
   off the machine. Every node and edge carries data-* attributes (key, kind, layer; src, dst). */
(function () {
  "use strict";
  var SVG = "http://www.w3.org/2000/svg";
  var BOX_W = 210, GAP_X = 70, GAP_Y = 14, HEAD = 40, ROW = 18, PAD = 8;

  var host = document.getElementById("lineage-graph");
  var dataEl = document.getElementById("lineage-data");
  if (!host || !dataEl) { return; }
  var button = document.getElementById("lineage-columns");
  var note = document.getElementById("lineage-note");
  var base = JSON.parse(dataEl.textContent || "{}");
  var columnWalks = null;

  function el(name, attrs, text) {
    var node = document.createElementNS(SVG, name);
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, String(attrs[k])); });
    if (text !== undefined) { node.textContent = text; }
    return node;
  }

  function id(ref) { return ref.kind + ":" + ref.key; }

  function productUrl(key) {
    var dot = key.indexOf(".");
    if (dot < 0) { return null; }
    return "/products/" + encodeURIComponent(key.slice(0, dot)) + "/" + encodeURIComponent(key.slice(dot + 1));
  }

  /* nodes by id with their layer (upstream negative, downstream positive) and the edges to draw */
  function collect(walks, columns) {
    var nodes = {}, edges = [], productLayer = {};
    function add(n, sign) {
      var key = id(n);
      var layer = sign * (n.distance || 0);
      if (!nodes[key]) { nodes[key] = {kind: n.kind, key: n.key, name: n.name, props: n.properties || {}, layer: layer}; }
      if (n.kind !== "column") { productLayer[n.key] = nodes[key].layer; }
    }
    add(walks.upstream.root, 0);
    walks.upstream.nodes.forEach(function (n) { add(n, -1); });
    walks.downstream.nodes.forEach(function (n) { add(n, 1); });
    var seen = {};
    walks.upstream.edges.concat(walks.downstream.edges).forEach(function (e) {
      if (e.rel === "has_column") { return; }
      var k = id(e.src) + ">" + id(e.dst) + ">" + e.rel;
      if (seen[k]) { return; }
      seen[k] = true;
      edges.push(e);
    });
    var boxes = {};
    Object.keys(nodes).forEach(function (k) {
      var n = nodes[k];
      if (n.kind === "column") { return; }
      boxes[k] = {kind: n.kind, key: n.key, name: n.name, layer: n.layer, props: n.props, columns: []};
    });
    if (columns) {
      var linked = {};
      edges.forEach(function (e) {
        if (e.src.kind === "column" && e.dst.kind === "column") { linked[e.src.key] = true; linked[e.dst.key] = true; }
      });
      Object.keys(nodes).forEach(function (k) {
        var n = nodes[k];
        if (n.kind !== "column" || !linked[n.key]) { return; }
        var owner = n.props.product || n.key.split(".").slice(0, 2).join(".");
        var boxKey = "product:" + owner;
        if (!boxes[boxKey]) {
          var layer = productLayer[owner] !== undefined ? productLayer[owner] : n.layer;
          boxes[boxKey] = {kind: "product", key: owner, name: owner, layer: layer, props: {}, columns: []};
        }
        boxes[boxKey].columns.push(n);
      });
      Object.keys(boxes).forEach(function (k) {
        boxes[k].columns.sort(function (a, b) { return (a.props.position || 0) - (b.props.position || 0); });
      });
    }
    return {boxes: boxes, edges: edges};
  }

  function layout(graph) {
    var layers = {};
    Object.keys(graph.boxes).forEach(function (k) {
      var b = graph.boxes[k];
      (layers[b.layer] = layers[b.layer] || []).push(b);
    });
    var order = Object.keys(layers).map(Number).sort(function (a, b) { return a - b; });
    var width = Math.max(1, order.length) * (BOX_W + GAP_X) - GAP_X + 2 * PAD, height = 0;
    var at = {};
    order.forEach(function (layer, i) {
      var y = PAD;
      layers[layer].sort(function (a, b) { return a.key < b.key ? -1 : a.key > b.key ? 1 : 0; });
      layers[layer].forEach(function (b) {
        b.x = PAD + i * (BOX_W + GAP_X);
        b.y = y;
        b.h = HEAD + (b.columns.length ? b.columns.length * ROW + 4 : 0);
        at["product:" + b.key] = b;
        at[b.kind + ":" + b.key] = b;
        b.columns.forEach(function (c, j) { at["column:" + c.key] = {x: b.x, y: b.y + HEAD + j * ROW, h: ROW, column: true}; });
        y += b.h + GAP_Y;
      });
      height = Math.max(height, y);
    });
    return {width: width, height: Math.max(height, 60), at: at};
  }

  function draw(walks, columns) {
    var graph = collect(walks, columns);
    var place = layout(graph);
    var svg = el("svg", {viewBox: "0 0 " + place.width + " " + place.height, width: place.width, height: place.height,
                         role: "img", "class": "lineage", "data-mode": columns ? "columns" : "products",
                         "aria-label": "lineage of " + walks.upstream.root.key});
    var edgeLayer = el("g", {"class": "edges"});
    svg.appendChild(el("defs", {})).appendChild(
      el("marker", {id: "arrow", viewBox: "0 0 10 10", refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: "auto"})
    ).appendChild(el("path", {d: "M0,0 L10,5 L0,10 z", "class": "arrowhead"}));
    svg.appendChild(edgeLayer);
    var drawn = 0;
    graph.edges.forEach(function (e) {
      var isColumn = e.src.kind === "column";
      if (isColumn && !columns) { return; }
      /* src was derived from dst: the arrow runs from dst (upstream) to src (downstream) */
      var from = place.at[id(e.dst)], to = place.at[id(e.src)];
      if (!from || !to) { return; }
      var x1 = from.x + BOX_W, y1 = from.y + (from.column ? ROW / 2 : HEAD / 2);
      var x2 = to.x, y2 = to.y + (to.column ? ROW / 2 : HEAD / 2);
      if (x2 <= x1) { x1 = from.x + BOX_W / 2; x2 = to.x + BOX_W / 2; }
      var mid = (x1 + x2) / 2;
      var props = e.properties || {};
      var path = el("path", {d: "M" + x1 + "," + y1 + " C" + mid + "," + y1 + " " + mid + "," + y2 + " " + x2 + "," + y2,
                             "class": "edge" + (isColumn ? " column-edge" : ""), "marker-end": "url(#arrow)",
                             "data-src": e.dst.key, "data-dst": e.src.key, "data-rel": e.rel,
                             "data-subtype": props.subtype || props.type || ""});
      path.appendChild(el("title", {}, e.dst.key + " → " + e.src.key + (props.subtype ? " (" + props.subtype + ")" : "")));
      edgeLayer.appendChild(path);
      drawn += 1;
    });
    var root = walks.upstream.root.key;
    var nodeCount = 0;
    Object.keys(graph.boxes).forEach(function (k) {
      var b = graph.boxes[k];
      var url = b.kind === "product" && b.key !== root ? productUrl(b.key) : null;
      var g = el("g", {"class": "node" + (b.key === root ? " root" : "") + (url ? " link" : ""),
                       "data-key": b.key, "data-kind": b.kind, "data-layer": b.layer,
                       "data-columns": b.columns.length, transform: "translate(" + b.x + "," + b.y + ")"});
      g.appendChild(el("rect", {width: BOX_W, height: b.h, rx: 5, ry: 5}));
      g.appendChild(el("text", {x: 8, y: 17, "class": "key"}, b.key.length > 30 ? b.key.slice(0, 29) + "…" : b.key));
      var side = b.layer < 0 ? "upstream" : b.layer > 0 ? "downstream" : "this product";
      g.appendChild(el("text", {x: 8, y: 33, "class": "meta"}, b.kind + " · " + side +
                              (b.props.status ? " · " + b.props.status : "")));
      b.columns.forEach(function (c, j) {
        var row = el("g", {"class": "col", "data-key": c.key, transform: "translate(0," + (HEAD + j * ROW) + ")"});
        row.appendChild(el("line", {x1: 0, x2: BOX_W, y1: 0, y2: 0}));
        row.appendChild(el("text", {x: 14, y: 13}, c.name + (c.props.type ? " : " + c.props.type : "")));
        g.appendChild(row);
      });
      g.appendChild(el("title", {}, b.key + (url ? " — open its page" : "")));
      if (url) {
        g.setAttribute("role", "link");
        g.setAttribute("tabindex", "0");
        g.setAttribute("aria-label", "open " + b.key);
        g.addEventListener("click", function () { window.location.assign(url); });
        g.addEventListener("keydown", function (ev) {
          if (ev.key === "Enter" || ev.key === " ") { ev.preventDefault(); window.location.assign(url); }
        });
      }
      svg.appendChild(g);
      nodeCount += 1;
    });
    svg.setAttribute("data-nodes", nodeCount);
    svg.setAttribute("data-edges", drawn);
    host.replaceChildren(svg);
  }

  function showColumns(on) {
    button.setAttribute("aria-pressed", on ? "true" : "false");
    button.textContent = on ? "Hide columns" : "Show columns";
    if (!on) { draw(base, false); note.textContent = ""; return; }
    if (columnWalks) { draw(columnWalks, true); return; }
    note.textContent = "loading column lineage…";
    button.disabled = true;
    fetch(host.getAttribute("data-source") + "?columns=true",
          {credentials: "same-origin", headers: {"Accept": "application/json"}})
      .then(function (r) {
        if (!r.ok) { throw new Error("the server answered " + r.status); }
        return r.json();
      })
      .then(function (walks) {
        columnWalks = walks;
        draw(walks, true);
        var edges = host.querySelectorAll("path.column-edge").length;
        note.textContent = edges === 0 ? "no column-level lineage recorded" : edges + " column edge(s)";
      })
      .catch(function (err) {
        note.textContent = "could not load column lineage: " + err.message;
        button.setAttribute("aria-pressed", "false");
        button.textContent = "Show columns";
      })
      .then(function () { button.disabled = false; });
  }

  draw(base, false);
  if (button) {
    button.addEventListener("click", function () { showColumns(button.getAttribute("aria-pressed") !== "true"); });
  }
}());
