// Sightline web UI: hover details on charts, auto-refresh, and the custom time range.
// Plain script, no dependencies; every page works without it.
"use strict";

// Hover: each chart figure carries its plotting box (SVG pixels) and one entry per
// column of data; the entry under the pointer is written below the chart.
function hoverCharts() {
  document.querySelectorAll("figure.chart[data-hover]").forEach(function (fig) {
    var svg = fig.querySelector("svg");
    var out = fig.querySelector(".readout");
    var box = (fig.dataset.plot || "").split(",").map(Number);
    var hover;
    try { hover = JSON.parse(fig.dataset.hover); } catch (e) { return; }
    if (!svg || !out || box.length !== 4 || !Array.isArray(hover) || hover.length === 0) return;
    svg.addEventListener("mousemove", function (ev) {
      var rect = svg.getBoundingClientRect();
      var viewWidth = svg.viewBox && svg.viewBox.baseVal && svg.viewBox.baseVal.width ? svg.viewBox.baseVal.width : svg.width.baseVal.value;
      var x = (ev.clientX - rect.left) * (viewWidth / rect.width);
      if (x < box[0] || x > box[2]) { out.textContent = ""; return; }
      var i = Math.min(hover.length - 1, Math.floor((x - box[0]) / (box[2] - box[0]) * hover.length));
      var h = hover[i];
      out.textContent = typeof h === "string" ? h : h.label + "\n" + h.rows.join(" · ");
    });
    svg.addEventListener("mouseleave", function () { out.textContent = ""; });
  });
}

// Auto-refresh: pages that show live data say how often in data-refresh (seconds);
// the checkbox turns it off, remembered for the session.
function autoRefresh() {
  var holder = document.querySelector("[data-refresh]");
  if (!holder) return;
  var seconds = Number(holder.dataset.refresh);
  var box = document.getElementById("auto-refresh");
  if (!box || !(seconds > 0)) return;
  box.checked = sessionStorage.getItem("sightline-refresh") !== "off";
  box.addEventListener("change", function () {
    sessionStorage.setItem("sightline-refresh", box.checked ? "on" : "off");
  });
  setInterval(function () {
    if (box.checked && document.visibilityState === "visible") window.location.reload();
  }, seconds * 1000);
}

// Time range: a select of ranges navigates at once.
function rangePicker() {
  document.querySelectorAll("select[data-navigate]").forEach(function (select) {
    select.addEventListener("change", function () {
      var url = new URL(window.location.href);
      url.searchParams.set(select.name, select.value);
      window.location.assign(url.toString());
    });
  });
}

document.addEventListener("DOMContentLoaded", function () {
  hoverCharts();
  autoRefresh();
  rangePicker();
});
