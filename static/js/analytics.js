/* The analytics charts: a site's energy per day and a case's health over its life. Plain JS over ECharts;
   the figures come in JSON blocks written by the page (json_script). */
(function () {
  "use strict";

  function data(id) {
    var element = document.getElementById(id);
    return element ? JSON.parse(element.textContent) : null;
  }

  function chart(id) {
    var element = document.getElementById(id);
    return element ? echarts.init(element, null, { renderer: "canvas" }) : null;
  }

  function round(v) { return v === null || v === undefined ? null : Math.round(v * 100) / 100; }

  function draw(id, days, series, unit, type, extraTooltip) {
    var target = chart(id);
    if (!target) { return; }
    target.setOption({
      title: { show: !days.length, text: "No data yet", left: "center", top: "middle", textStyle: { fontSize: 14, color: "#57606a" } },
      animation: false,
      grid: { left: 56, right: 16, top: 36, bottom: 48 },
      legend: { type: "scroll", top: 0 },
      tooltip: {
        trigger: "axis",
        valueFormatter: function (v) { return v === null || v === undefined ? "no data" : v + " " + unit; },
        formatter: extraTooltip
      },
      xAxis: { type: "category", data: days },
      yAxis: { type: "value", name: unit },
      series: series.map(function (s) {
        return { name: s.name, type: type, data: s.values.map(round), connectNulls: false, showSymbol: days.length < 60 };
      })
    });
  }

  var energy = data("energy-data");
  if (energy) {
    draw("chart-energy", energy.days, [
      { name: "MPPT PV", values: energy.mppt_pv_kwh },
      { name: "Inverter PV", values: energy.inverter_pv_kwh },
      { name: "Charged", values: energy.charged_kwh },
      { name: "Discharged", values: energy.discharged_kwh },
      { name: "Load", values: energy.load_kwh }
    ], "kWh", "bar", function (points) {
      var index = points[0].dataIndex;
      var lines = points.map(function (p) {
        return p.marker + p.seriesName + ": " + (p.value === null ? "no data" : p.value + " kWh");
      });
      return [energy.days[index] + " (" + energy.coverage[index] + ")"].concat(lines).join("<br>");
    });
  }

  var health = data("health-data");
  if (health) {
    draw("chart-health-imbalance", health.days, [{ name: "imbalance at rest", values: health.imbalance_mv }], "mV", "line");
    draw("chart-health-deviation", health.days, health.deviations.map(function (d) {
      return { name: "cell " + d.cell, values: d.mv };
    }), "mV", "line");
    draw("chart-health-resistance", health.days, [{ name: "daily median", values: health.resistance_mohm }], "mOhm", "line");
    draw("chart-health-use", health.days, [
      { name: "Ah through", values: health.throughput_ah },
      { name: "hours > 45 °C (pack)", values: health.hot_hours },
      { name: "hours > 45 °C (FETs)", values: health.fet_hot_hours }
    ], "", "bar");
  }
}());
