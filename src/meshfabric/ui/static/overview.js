// The overview's pending rows: fetch each from the server (four at a time), swap it in, and
// sort the table by attention once all arrived. Without this script the rows say "computing…"
// and a reload shows them (the server caches what it computed).
(function () {
  "use strict";
  var table = document.getElementById("domains");
  if (!table) { return; }
  var body = table.tBodies[0];
  var rows = Array.prototype.slice.call(body.querySelectorAll("tr.domain[data-pending]"));
  var next = 0, running = 0, failed = 0;

  function sortRows() {
    var all = Array.prototype.slice.call(body.querySelectorAll("tr.domain"));
    all.sort(function (a, b) {
      var diff = parseFloat(b.dataset.attention || "0") - parseFloat(a.dataset.attention || "0");
      return diff !== 0 ? diff : (a.dataset.domain < b.dataset.domain ? -1 : 1);
    });
    all.forEach(function (row) { body.appendChild(row); });
  }

  function finish() {
    sortRows();
    table.dataset.complete = failed ? "" : "1";
    table.dataset.failed = String(failed);
  }

  function load(row) {
    running += 1;
    fetch(row.dataset.pending, { credentials: "same-origin", headers: { "Accept": "text/html" } })
      .then(function (response) {
        if (!response.ok || response.headers.get("X-Fragment") !== "overview-row") {
          throw new Error("status " + response.status);
        }
        return response.text();
      })
      .then(function (html) {
        var holder = document.createElement("tbody");
        holder.innerHTML = html;
        var fresh = holder.querySelector("tr.domain");
        if (fresh) { row.replaceWith(fresh); }
      })
      .catch(function () {
        failed += 1;
        var cell = row.querySelector("td.pending");
        if (cell) { cell.textContent = "not loaded: reload the page"; }
      })
      .then(function () {
        running -= 1;
        pump();
      });
  }

  function pump() {
    while (running < 4 && next < rows.length) { load(rows[next++]); }
    if (running === 0 && next >= rows.length) { finish(); }
  }

  pump();
}());
