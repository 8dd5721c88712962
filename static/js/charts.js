/* Charts, the cell heatmap and the live refresh of the site and case pages. Plain JS over ECharts. */
(function () {
  "use strict";

  var LIVE_INTERVAL_MS = 10000;
  var charts = {};

  // The pages' one date-time format, "2026-11-25 14:05", in the site's zone (pms_site/timefmt.py).
  function timeFormatter(timeZone) {
    var format = new Intl.DateTimeFormat("en-GB", {
      timeZone: timeZone, year: "numeric", month: "2-digit", day: "2-digit",
      hour: "2-digit", minute: "2-digit", hourCycle: "h23"
    });
    return function (value) {
      var parts = {};
      format.formatToParts(new Date(value)).forEach(function (part) { parts[part.type] = part.value; });
      return parts.year + "-" + parts.month + "-" + parts.day + " " + parts.hour + ":" + parts.minute;
    };
  }

  // The pages' one duration format, "6 h 21 min": the two largest units (pms_site/timefmt.py).
  function formatDuration(seconds) {
    seconds = Math.max(Math.floor(seconds), 0);
    var days = Math.floor(seconds / 86400), hours = Math.floor(seconds % 86400 / 3600);
    var minutes = Math.floor(seconds % 3600 / 60);
    if (days) { return days + " d" + (hours ? " " + hours + " h" : ""); }
    if (hours) { return hours + " h" + (minutes ? " " + minutes + " min" : ""); }
    if (minutes) { return minutes + " min"; }
    return seconds + " s";
  }

  function chartAt(id) {
    var element = document.getElementById(id);
    if (!element) { return null; }
    if (!charts[id]) { charts[id] = echarts.init(element, null, { renderer: "canvas" }); }
    return charts[id];
  }

  // The part of the range before the first reading: null, or [range start, data start].
  function missingStart(range) {
    return range.data_start !== null && range.data_start > range.start ? [range.start, range.data_start] : null;
  }

  // The axis spans the whole range asked for; where data begins later, the gap is shaded and labelled.
  function lineChart(id, range, times, series, unit) {
    var chart = chartAt(id);
    if (!chart) { return; }
    var format = timeFormatter(range.timeZone);
    var empty = !times.length || !series.length;
    var gap = missingStart(range);
    chart.setOption({
      title: { show: empty, text: "No data in this range", left: "center", top: "middle", textStyle: { fontSize: 14, color: "#57606a" } },
      animation: false,
      grid: { left: 56, right: 16, top: 36, bottom: 48 },
      legend: { type: "scroll", top: 0 },
      tooltip: {
        trigger: "axis",
        axisPointer: { label: { formatter: function (p) { return format(p.value); } } },
        valueFormatter: function (v) { return v === null || v === undefined ? "—" : v + " " + unit; }
      },
      xAxis: { type: "time", min: range.start, max: range.end, axisLabel: { formatter: format, hideOverlap: true } },
      yAxis: { type: "value", scale: true, name: unit },
      dataZoom: [{ type: "inside" }],
      series: series.map(function (s, index) {
        return {
          name: s.name, type: "line", showSymbol: false, connectNulls: false, sampling: "lttb",
          lineStyle: { width: s.width || 1.5, type: s.dashed ? "dashed" : "solid" },
          data: times.map(function (t, i) { return [t, s.values[i]]; }),
          markArea: index === 0 && gap ? {
            silent: true, itemStyle: { color: "rgba(87, 96, 106, 0.1)" },
            label: { position: "insideTop", color: "#57606a", formatter: "no data before " + format(gap[1]) },
            data: [[{ xAxis: gap[0] }, { xAxis: gap[1] }]]
          } : undefined
        };
      })
    }, true);
  }

  function minAvgMax(data, name) {
    return [
      { name: "max", values: data[name + "_max"], dashed: true },
      { name: "average", values: data[name + "_avg"], width: 2 },
      { name: "min", values: data[name + "_min"], dashed: true }
    ];
  }

  function drawPacks(packs, range) {
    lineChart("chart-volts", range, packs.t, minAvgMax(packs, "volts"), "V");
    lineChart("chart-amps", range, packs.t, minAvgMax(packs, "amps"), "A");
    lineChart("chart-temps", range, packs.t, [{ name: "max temperature", values: packs.temp_max, width: 2 }], "°C");
    lineChart("chart-cell-range", range, packs.t, [
      { name: "max cell", values: packs.cell_max },
      { name: "min cell", values: packs.cell_min }
    ], "V");
  }

  function drawDevices(devices, range, kind, chartId) {
    var chosen = devices.filter(function (d) { return d.kind === kind; });
    var times = chosen.length ? chosen[0].t : [];
    var series = [];
    chosen.forEach(function (d) {
      // Devices can miss buckets: align each on the first device's times by timestamp.
      var index = {};
      d.t.forEach(function (t, i) { index[t] = i; });
      function aligned(values) { return times.map(function (t) { return t in index ? values[index[t]] : null; }); }
      series.push({ name: d.id + " PV 1 W", values: aligned(d.pv1_power) });
      series.push({ name: d.id + " PV 2 W", values: aligned(d.pv2_power) });
      series.push({ name: d.id + " load W", values: aligned(d.load_power), dashed: true });
      series.push({ name: d.id + " battery W", values: aligned(d.batt_volts.map(function (v, i) {
        var a = d.batt_amps[i];
        return v === null || a === null ? null : +(v * a).toFixed(1);
      })), width: 2 });
    });
    lineChart(chartId, range, times, series, "W");
  }

  function drawCells(cells, range) {
    var series = [];
    Object.keys(cells).forEach(function (key) {
      if (key !== "t") { series.push({ name: key.replace("_", " "), values: cells[key], width: 1 }); }
    });
    lineChart("chart-cells", range, cells.t, series, "V");
  }

  function describeSource(data, timeZone) {
    var source = { raw: "raw readings", "1m": "1-minute rollups", "1h": "1-hour rollups" }[data.source];
    var gap = missingStart(data);
    var begins = gap ? " No data before " + timeFormatter(timeZone)(gap[1]) + "." : "";
    return "From " + source + ", one point per " + formatDuration(data.bucket_seconds) + "." + begins;
  }

  function rangeQuery(form) {
    var params = new URLSearchParams(new FormData(form));
    if (params.get("range") !== "custom") { params.delete("start"); params.delete("end"); }
    return params.toString();
  }

  function loadCharts(section) {
    var form = document.getElementById("range-form");
    var error = document.getElementById("range-error");
    var timeZone = section.dataset.timeZone;
    section.setAttribute("aria-busy", "true");
    fetch(section.dataset.seriesUrl + "?" + rangeQuery(form), { headers: { Accept: "application/json" } })
      .then(function (response) {
        return response.json().then(function (body) { return { ok: response.ok, body: body }; });
      })
      .then(function (result) {
        section.removeAttribute("aria-busy");
        if (!result.ok) {
          error.hidden = false;
          error.textContent = Object.keys(result.body.errors).map(function (field) {
            return (field === "__all__" ? "" : field + ": ") + result.body.errors[field].join(" ");
          }).join(" ");
          return;
        }
        error.hidden = true;
        var data = result.body;
        var range = { start: data.start, end: data.end, data_start: data.data_start, timeZone: timeZone };
        document.getElementById("chart-source").textContent = describeSource(data, timeZone);
        drawPacks(data.packs, range);
        if (data.devices) {
          drawDevices(data.devices, range, "mppt", "chart-mppt");
          drawDevices(data.devices, range, "inverter", "chart-inverter");
        }
        if (data.cells) { drawCells(data.cells, range); }
      })
      .catch(function () {
        section.removeAttribute("aria-busy");
        error.hidden = false;
        error.textContent = "The chart data could not be loaded. Check the connection and try again.";
      });
  }

  function drawHeatmap() {
    var source = document.getElementById("heatmap-data");
    var element = document.getElementById("cell-heatmap");
    if (!source || !element) { return; }
    var heatmap = JSON.parse(source.textContent);
    element.style.height = Math.max(180, 110 + heatmap.packs.length * 22) + "px";
    if (charts["cell-heatmap"] && charts["cell-heatmap"].getDom() !== element) {
      charts["cell-heatmap"].dispose();
      delete charts["cell-heatmap"];
    }
    var chart = chartAt("cell-heatmap");
    chart.resize();
    var labels = heatmap.packs.map(function (label, row) {
      var open = heatmap.fet_open[row];
      return open.length ? label + " ⚠ FET " + open.join(",") + " open" : label;
    });
    var spread = 1;
    heatmap.cells.forEach(function (c) { if (c[2] !== null) { spread = Math.max(spread, Math.abs(c[2])); } });
    var labelWidth = Math.min(180, Math.round(element.clientWidth * 0.4));
    chart.setOption({
      animation: false,
      grid: { left: labelWidth + 10, right: 16, top: 8, bottom: 96 },
      tooltip: {
        formatter: function (p) {
          var c = p.data;
          return labels[c[1]] + ", cell " + (c[0] + 1) + ": " + c[3] + " V" +
            (c[4] ? " (open)" : ", " + (c[2] > 0 ? "+" : "") + c[2] + " mV from median");
        }
      },
      xAxis: { type: "category", data: Array.from({ length: heatmap.cells_per_pack }, function (_, i) { return String(i + 1); }), name: "cell" },
      yAxis: { type: "category", data: labels, inverse: true, axisLabel: { width: labelWidth, overflow: "truncate" } },
      visualMap: {
        seriesIndex: 0, min: -spread, max: spread, calculable: true, orient: "horizontal", left: "center", bottom: 0,
        dimension: 2, text: ["+mV", "−mV"], inRange: { color: ["#2166ac", "#eef1f4", "#b2182b"] }
      },
      series: [
        {
          name: "closed cells", type: "heatmap",
          data: heatmap.cells.filter(function (c) { return !c[4]; }),
          itemStyle: { borderColor: "#fff", borderWidth: 1 }
        },
        {
          name: "open cells", type: "heatmap",
          // A heatmap skips cells without a value; an open cell has no deviation, so give it 0.
          data: heatmap.cells.filter(function (c) { return c[4]; }).map(function (c) { return [c[0], c[1], 0, c[3], true]; }),
          itemStyle: { color: "#424a53", borderColor: "#fff", borderWidth: 1 },
          label: { show: true, formatter: "✕", color: "#fff", fontWeight: "bold" }
        }
      ]
    }, true);
  }

  function startLiveRefresh(container) {
    function refresh() {
      // Skip while hidden, or while the keyboard focus is inside (replacing it would lose the focus).
      if (document.hidden || container.contains(document.activeElement)) { return; }
      fetch(container.dataset.liveUrl, { headers: { Accept: "text/html" } })
        .then(function (response) { if (!response.ok) { throw new Error(response.status); } return response.text(); })
        .then(function (html) { container.innerHTML = html; drawHeatmap(); })
        .catch(function () {
          var stamp = document.getElementById("live-stamp");
          if (stamp) { stamp.textContent = "Live refresh failed; retrying. " + stamp.textContent; }
        });
    }
    window.setInterval(refresh, LIVE_INTERVAL_MS);
  }

  function startClock(element) {
    var format = timeFormatter(element.dataset.timeZone);
    function tick() { element.textContent = format(new Date()); }
    tick();
    window.setInterval(tick, 30000);
  }

  document.addEventListener("DOMContentLoaded", function () {
    drawHeatmap();
    var section = document.getElementById("charts");
    if (section) {
      document.getElementById("range-apply").addEventListener("click", function () { loadCharts(section); });
      document.querySelectorAll("#range-form input[name=range]").forEach(function (input) {
        input.addEventListener("change", function () { if (input.value !== "custom") { loadCharts(section); } });
      });
      loadCharts(section);
    }
    var live = document.getElementById("site-live");
    if (live) { startLiveRefresh(live); }
    var clock = document.getElementById("site-clock");
    if (clock) { startClock(clock); }
    window.addEventListener("resize", function () {
      Object.keys(charts).forEach(function (id) { charts[id].resize(); });
    });
  });

  window.pmsCharts = charts;
}());
