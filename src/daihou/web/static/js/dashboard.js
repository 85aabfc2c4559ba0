// Draws the dashboard's charts from the JSON the page embeds (no request of its own).
(function () {
  const data = JSON.parse(document.getElementById("chart-data").textContent);
  const L = JSON.parse(document.getElementById("chart-labels").textContent);
  if (!data || typeof echarts === "undefined") return;
  const charts = [];
  function draw(id, option) {
    const el = document.getElementById(id);
    if (!el) return;
    const chart = echarts.init(el, null, { renderer: "canvas" });
    chart.setOption(Object.assign({ animation: false, tooltip: { trigger: "axis" } }, option));
    charts.push(chart);
  }
  const b = data.buckets;
  draw("chart-buckets", {
    legend: { data: [L.balance, L.share] },
    xAxis: { type: "category", data: b.names },
    yAxis: [{ type: "value", name: L.balance }, { type: "value", name: L.share, axisLabel: { formatter: "{value}%" } }],
    series: [
      { name: L.balance, type: "bar", data: b.balance },
      { name: L.share, type: "line", yAxisIndex: 1, data: b.share },
    ],
  });
  draw("chart-classes", {
    tooltip: { trigger: "item" },
    series: [{ type: "pie", radius: ["35%", "70%"],
      data: data.classes.map((c) => ({ name: L.classes[c.code] || c.code, value: c.value })) }],
  });
  if (data.roll) {
    const names = Object.keys(data.roll.flow);
    draw("chart-roll", {
      xAxis: { type: "category", data: names },
      yAxis: { type: "value", axisLabel: { formatter: "{value}%" } },
      series: [{ name: L.flow, type: "bar", data: names.map((n) => +(data.roll.flow[n] * 100).toFixed(2)) }],
    });
  }
  if (data.vintage) {
    const v = data.vintage;
    draw("chart-vintage", {
      legend: { type: "scroll", bottom: 0 },
      xAxis: { type: "category", name: L.mob, data: v.mob },
      yAxis: { type: "value", name: L.ever_bad, axisLabel: { formatter: (x) => (x * 100).toFixed(1) + "%" } },
      series: Object.entries(v.series).map(([name, ys]) => ({ name, type: "line", connectNulls: true, data: ys })),
    });
  }
  window.addEventListener("resize", () => charts.forEach((c) => c.resize()));
  window.daihouCharts = charts;
})();
