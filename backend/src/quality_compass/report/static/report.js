/* Quality Compass report: charts (Apache ECharts), table sorting and filtering, facility view.
 * Reads the data from the JSON block #report-data. Text from the data is only ever written
 * with textContent (never innerHTML), so names like "<script>" stay text. */
(function () {
  "use strict";

  var data = JSON.parse(document.getElementById("report-data").textContent);
  var columns = data.signals.columns;
  var SEVERITIES = ["Critical", "High", "Moderate", "Watch", "none"];
  var SEVERITY_COLORS = {
    Critical: "#b42318",
    High: "#e4572e",
    Moderate: "#f0a202",
    Watch: "#8fb8de",
    none: "#c3cad3"
  };
  var charts = [];

  function signal(index) {
    var row = data.signals.rows[index];
    var result = {};
    for (var i = 0; i < columns.length; i++) {
      result[columns[i]] = row[i];
    }
    return result;
  }

  function label(text) {
    return text === null || text === undefined || text === "" ? "–" : String(text).replace(/_/g, " ");
  }

  function number(value, decimals) {
    if (value === null || value === undefined) {
      return "–";
    }
    return Number(value).toLocaleString("en-US", {
      minimumFractionDigits: decimals,
      maximumFractionDigits: decimals
    });
  }

  // Tooltips are HTML: every text from the data goes through escape().
  function escape(text) {
    return echarts.format.encodeHTML(String(text === null || text === undefined ? "" : text));
  }

  function element(tag, className, text) {
    var node = document.createElement(tag);
    if (className) {
      node.className = className;
    }
    if (text !== undefined && text !== null) {
      node.textContent = String(text);
    }
    return node;
  }

  // -- charts ---------------------------------------------------------------------------

  function draw(el, option) {
    var chart = echarts.init(el, null, { renderer: "canvas" });
    chart.setOption(option);
    el.setAttribute("data-rendered", "true");
    charts.push(chart);
    return chart;
  }

  // Charts are drawn when they scroll into view: a report holds hundreds of sparklines.
  var pending = new Map();
  var observer = null;
  if ("IntersectionObserver" in window) {
    observer = new IntersectionObserver(
      function (entries) {
        entries.forEach(function (entry) {
          if (entry.isIntersecting && pending.has(entry.target)) {
            var render = pending.get(entry.target);
            pending.delete(entry.target);
            observer.unobserve(entry.target);
            render();
          }
        });
      },
      { rootMargin: "300px 0px" }
    );
  }

  function lazy(el, render) {
    if (observer) {
      pending.set(el, render);
      observer.observe(el);
    } else {
      render();
    }
  }

  var baseText = { fontFamily: "system-ui, -apple-system, Segoe UI, Roboto, Arial, sans-serif" };

  function heatmapOption(matrix) {
    var cells = [];
    var max = 0;
    for (var r = 0; r < matrix.rows.length; r++) {
      for (var c = 0; c < matrix.columns.length; c++) {
        var value = matrix.values[r][c];
        cells.push([c, r, value === 0 ? "-" : value]);
        if (value > max) {
          max = value;
        }
      }
    }
    return {
      textStyle: baseText,
      animation: false,
      tooltip: {
        formatter: function (params) {
          var row = escape(label(matrix.rows[params.value[1]]));
          var column = escape(matrix.columns[params.value[0]]);
          return row + " · " + column + ": " + (params.value[2] === "-" ? 0 : params.value[2]);
        }
      },
      grid: { left: 150, right: 16, top: 8, bottom: 56 },
      xAxis: { type: "category", data: matrix.columns, splitArea: { show: true }, axisLabel: { interval: 0, fontSize: 11 } },
      yAxis: { type: "category", data: matrix.rows.map(label), inverse: true, splitArea: { show: true } },
      visualMap: {
        min: 0,
        max: Math.max(max, 1),
        calculable: false,
        orient: "horizontal",
        left: "center",
        bottom: 0,
        itemHeight: 120,
        inRange: { color: ["#f0f4f8", "#9fb3c8", "#486581", "#102a43"] }
      },
      series: [
        {
          type: "heatmap",
          data: cells,
          label: { show: true, fontSize: 11 },
          emphasis: { itemStyle: { borderColor: "#102a43", borderWidth: 1 } }
        }
      ]
    };
  }

  function stackedSeverityOption(matrix, horizontal) {
    var categories = matrix.rows.map(label);
    var series = matrix.columns.map(function (severity, c) {
      return {
        name: severity,
        type: "bar",
        stack: "severity",
        itemStyle: { color: SEVERITY_COLORS[severity] || "#7b8794" },
        emphasis: { focus: "series" },
        data: matrix.rows.map(function (_, r) {
          return matrix.values[r][c];
        })
      };
    });
    var categoryAxis = { type: "category", data: categories, inverse: horizontal };
    var valueAxis = { type: "value", name: "signals" };
    return {
      textStyle: baseText,
      animation: false,
      tooltip: { trigger: "axis", axisPointer: { type: "shadow" } },
      legend: { top: 0 },
      grid: { left: horizontal ? 130 : 48, right: 24, top: 32, bottom: 28 },
      xAxis: horizontal ? valueAxis : categoryAxis,
      yAxis: horizontal ? categoryAxis : valueAxis,
      series: series
    };
  }

  function sparklineOption(values) {
    var last = null;
    for (var i = values.length - 1; i >= 0; i--) {
      if (values[i] !== null) {
        last = values[i];
        break;
      }
    }
    var color = last !== null && Math.abs(last) >= 2 ? "#b42318" : "#1f5f99";
    return {
      animation: false,
      grid: { left: 1, right: 1, top: 2, bottom: 2 },
      xAxis: { type: "category", show: false, data: values.map(function (_, i) { return i; }) },
      yAxis: { type: "value", show: false, scale: true },
      tooltip: {
        trigger: "axis",
        confine: true,
        formatter: function (params) {
          return "month " + (params[0].dataIndex + 1) + ": z " + number(params[0].value, 2);
        }
      },
      series: [
        {
          type: "line",
          data: values,
          symbol: "none",
          connectNulls: false,
          lineStyle: { width: 1.4, color: color },
          markLine: {
            silent: true,
            symbol: "none",
            label: { show: false },
            lineStyle: { color: "#9aa5b1", type: "dotted", width: 1 },
            data: [{ yAxis: 0 }]
          }
        }
      ]
    };
  }

  function timelineOption(detail, title) {
    var timeline = detail.metric_trend_timeline || [];
    var bands = detail.peer_percentile_trends || {};
    var periods = (bands.periods && bands.periods.length ? bands.periods : timeline.map(function (p) { return p.period; })).slice();
    timeline.forEach(function (point) {
      if (periods.indexOf(point.period) < 0) {
        periods.push(point.period);
      }
    });
    periods.sort();
    var byPeriod = {};
    timeline.forEach(function (point) {
      byPeriod[point.period] = point.value;
    });
    function band(key) {
      var values = bands[key] || [];
      var bandPeriods = bands.periods || [];
      return periods.map(function (period) {
        var index = bandPeriods.indexOf(period);
        return index >= 0 && values[index] !== undefined ? values[index] : null;
      });
    }
    function difference(upper, lower) {
      return upper.map(function (value, i) {
        return value === null || lower[i] === null ? null : value - lower[i];
      });
    }
    var p10 = band("p10");
    var p25 = band("p25");
    var p50 = band("p50");
    var p75 = band("p75");
    var p90 = band("p90");
    var metric = periods.map(function (period) {
      return byPeriod[period] === undefined ? null : byPeriod[period];
    });
    var labels = periods.map(function (period) {
      return /^\d{6}$/.test(period) ? period.slice(0, 4) + "-" + period.slice(4) : period;
    });
    var hasBands = p50.some(function (v) { return v !== null; });
    var series = [];
    if (hasBands) {
      series.push(
        { name: "p10", type: "line", data: p10, stack: "outer", symbol: "none", lineStyle: { opacity: 0 }, tooltip: { show: false } },
        { name: "p10–p90", type: "line", data: difference(p90, p10), stack: "outer", symbol: "none", lineStyle: { opacity: 0 }, itemStyle: { color: "#dceefb" }, areaStyle: { color: "#dceefb", opacity: 1 } },
        { name: "p25", type: "line", data: p25, stack: "inner", symbol: "none", lineStyle: { opacity: 0 }, tooltip: { show: false } },
        { name: "p25–p75", type: "line", data: difference(p75, p25), stack: "inner", symbol: "none", lineStyle: { opacity: 0 }, itemStyle: { color: "#9fc6ea" }, areaStyle: { color: "#9fc6ea", opacity: 1 } },
        { name: "peer median", type: "line", data: p50, symbol: "none", itemStyle: { color: "#486581" }, lineStyle: { color: "#486581", type: "dashed", width: 1.5 } }
      );
    }
    series.push({
      name: title,
      type: "line",
      data: metric,
      symbolSize: 6,
      lineStyle: { color: "#b42318", width: 2.2 },
      itemStyle: { color: "#b42318" }
    });
    var bandValues = { p10: p10, p25: p25, p50: p50, p75: p75, p90: p90 };
    return {
      textStyle: baseText,
      animation: false,
      legend: { top: 0, data: hasBands ? [title, "peer median", "p25–p75", "p10–p90"] : [title] },
      tooltip: {
        trigger: "axis",
        formatter: function (params) {
          var i = params[0].dataIndex;
          var lines = [escape(labels[i]), escape(title) + ": " + number(metric[i], 3)];
          if (hasBands) {
            lines.push("peer p10 / p25 / p50 / p75 / p90: " + ["p10", "p25", "p50", "p75", "p90"].map(function (key) {
              return number(bandValues[key][i], 3);
            }).join(" / "));
          }
          return lines.join("<br>");
        }
      },
      grid: { left: 56, right: 20, top: 34, bottom: 30 },
      xAxis: { type: "category", data: labels, boundaryGap: false },
      yAxis: { type: "value", scale: true },
      series: series
    };
  }

  function contributionsOption(segments) {
    var childNodes = {};
    segments.forEach(function (segment) {
      childNodes[segment.child_node_id] = true;
    });
    var severalNodes = Object.keys(childNodes).length > 1;
    var categories = segments.map(function (segment) {
      var name = segment.child_group_value || segment.child_groupby_label || "(segment)";
      if (segment.is_self) {
        name = "▶ " + name + " (this signal)";
      }
      return severalNodes && segment.child_groupby_label ? segment.child_groupby_label + ": " + name : name;
    });
    function percent(values, factor) {
      return values.map(function (value) {
        return value === null || value === undefined ? null : Math.round(value * factor * 10) / 10;
      });
    }
    var shares = percent(segments.map(function (s) { return s.weight_share; }), 100);
    var deviation = percent(segments.map(function (s) { return s.contribution_pct; }), 1);
    return {
      textStyle: baseText,
      animation: false,
      legend: { top: 0 },
      tooltip: {
        trigger: "axis",
        axisPointer: { type: "shadow" },
        formatter: function (params) {
          var index = params[0].dataIndex;
          var segment = segments[index];
          var lines = [escape(categories[index])];
          lines.push("weight share: " + number(shares[index], 1) + " %");
          if (deviation[index] !== null) {
            lines.push("share of the deviation: " + number(deviation[index], 1) + " %");
          }
          if (segment.contribution_direction) {
            lines.push("pulls the parent " + (segment.contribution_direction === "positive" ? "up" : segment.contribution_direction === "negative" ? "down" : "nowhere"));
          }
          if (segment.child_value !== null && segment.child_value !== undefined) {
            lines.push("child value: " + number(segment.child_value, 3) + " (parent " + number(segment.parent_value, 3) + ")");
          }
          return lines.join("<br>");
        }
      },
      grid: { left: 250, right: 56, top: 28, bottom: 24 },
      xAxis: { type: "value", name: "%" },
      yAxis: { type: "category", data: categories, inverse: true, axisLabel: { width: 236, overflow: "truncate" } },
      series: [
        {
          name: "weight share (encounters)",
          type: "bar",
          data: shares.map(function (value, i) {
            return segments[i].is_self ? { value: value, itemStyle: { color: "#102a43" } } : value;
          }),
          itemStyle: { color: "#829ab1" },
          label: { show: true, position: "right", formatter: "{c} %", fontSize: 10 }
        },
        { name: "share of the deviation", type: "bar", data: deviation, itemStyle: { color: "#e4572e" } }
      ]
    };
  }

  function drawOverview() {
    document.querySelectorAll('[data-chart="heatmap"]').forEach(function (el) {
      var matrix = data.overview[el.getAttribute("data-matrix")];
      el.style.height = Math.max(200, 90 + 30 * matrix.rows.length) + "px";
      draw(el, heatmapOption(matrix));
    });
    var domain = document.getElementById("chart-domain-severity");
    if (domain) {
      var matrix = data.overview.domain_by_severity;
      domain.style.height = Math.max(160, 80 + 34 * matrix.rows.length) + "px";
      draw(domain, stackedSeverityOption(matrix, true));
    }
  }

  function drawLazyCharts() {
    document.querySelectorAll('[data-chart="sparkline"]').forEach(function (el) {
      lazy(el, function () {
        var values = signal(Number(el.getAttribute("data-index"))).monthly_z_scores || [];
        draw(el, sparklineOption(values));
      });
    });
    document.querySelectorAll('[data-chart="timeline"]').forEach(function (el) {
      lazy(el, function () {
        var detail = data.details[Number(el.getAttribute("data-detail"))];
        var row = signal(detail.signal);
        draw(el, timelineOption(detail, row.metric_name || row.metric_id));
      });
    });
    document.querySelectorAll('[data-chart="contributions"]').forEach(function (el) {
      var segments = data.details[Number(el.getAttribute("data-detail"))].contributions;
      el.style.height = Math.max(140, 50 + 24 * segments.length) + "px";
      lazy(el, function () {
        draw(el, contributionsOption(segments));
      });
    });
  }

  // -- sorting and filtering ------------------------------------------------------------

  function sortValue(cell, type) {
    var raw = cell.hasAttribute("data-sort") ? cell.getAttribute("data-sort") : cell.textContent.trim();
    if (type === "num") {
      var value = raw === "" || raw === "–" ? NaN : Number(raw);
      return isNaN(value) ? null : value;
    }
    return raw.toLowerCase();
  }

  function sortTable(table, columnIndex, type, descending) {
    var body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      var left = sortValue(a.cells[columnIndex], type);
      var right = sortValue(b.cells[columnIndex], type);
      if (left === right) {
        return 0;
      }
      if (left === null) {
        return 1; // empty values last, whatever the direction
      }
      if (right === null) {
        return -1;
      }
      var order = left < right ? -1 : 1;
      return descending ? -order : order;
    });
    rows.forEach(function (row) {
      body.appendChild(row);
    });
  }

  function makeSortable(table) {
    var headers = table.tHead ? table.tHead.rows[0].cells : [];
    Array.prototype.forEach.call(headers, function (th, index) {
      var type = th.getAttribute("data-type");
      if (!type) {
        return;
      }
      th.setAttribute("tabindex", "0");
      function activate() {
        var descending = th.getAttribute("aria-sort") !== "descending";
        if (th.getAttribute("aria-sort") === null) {
          descending = type === "num"; // numbers start with the largest
        }
        Array.prototype.forEach.call(headers, function (other) {
          other.removeAttribute("aria-sort");
        });
        th.setAttribute("aria-sort", descending ? "descending" : "ascending");
        sortTable(table, index, type, descending);
      }
      th.addEventListener("click", activate);
      th.addEventListener("keydown", function (event) {
        if (event.key === "Enter" || event.key === " ") {
          event.preventDefault();
          activate();
        }
      });
    });
  }

  function setUpFilter() {
    var input = document.getElementById("signal-filter");
    var table = document.getElementById("signals-table");
    var count = document.getElementById("filter-count");
    if (!input || !table) {
      return;
    }
    var rows = Array.prototype.slice.call(table.tBodies[0].rows);
    function apply() {
      var terms = input.value.toLowerCase().trim().split(/\s+/).filter(Boolean);
      var shown = 0;
      rows.forEach(function (row) {
        var text = row.getAttribute("data-search") || "";
        var match = terms.every(function (term) {
          return text.indexOf(term) >= 0;
        });
        row.hidden = !match;
        if (match) {
          shown += 1;
        }
      });
      count.textContent = shown + " of " + rows.length + " rows";
    }
    input.addEventListener("input", apply);
    apply();
  }

  // -- facility view --------------------------------------------------------------------

  var facilityChart = null;

  function facilityFromHash() {
    var hash = window.location.hash;
    if (hash.indexOf("#facility=") !== 0) {
      return null;
    }
    try {
      return decodeURIComponent(hash.slice("#facility=".length));
    } catch (error) {
      return null;
    }
  }

  function showFacility(facilityId) {
    var overlay = document.getElementById("facility-view");
    var facility = data.facilities[facilityId];
    if (!facility) {
      overlay.hidden = true;
      return;
    }
    document.getElementById("facility-title").textContent =
      (facility.facility_name || facilityId) + " (" + facilityId + ")";
    var meta = [
      facility.system_name || facility.health_system,
      facility.facility_type,
      [facility.region, facility.state].filter(Boolean).join(", "),
      facility.bed_count ? facility.bed_count + " beds" : null,
      number(facility.signal_count, 0) + " signals in this run"
    ].filter(Boolean);
    document.getElementById("facility-meta").textContent = meta.join(" · ");
    var listed = facility.signals || [];
    document.getElementById("facility-note").textContent =
      listed.length < facility.signal_count
        ? "The " + listed.length + " most severe of its signals:"
        : "All its signals:";

    var types = [];
    var cells = {};
    (facility.counts || []).forEach(function (entry) {
      if (types.indexOf(entry[0]) < 0) {
        types.push(entry[0]);
      }
      cells[entry[0] + "\u0000" + entry[1]] = entry[2];
    });
    var matrix = {
      rows: types,
      columns: SEVERITIES,
      values: types.map(function (type) {
        return SEVERITIES.map(function (severity) {
          return cells[type + "\u0000" + severity] || 0;
        });
      })
    };

    var body = document.querySelector("#facility-signals tbody");
    body.textContent = "";
    listed.forEach(function (index) {
      var row = signal(index);
      var tr = document.createElement("tr");
      var metricCell = element("td", "metric-cell");
      var detail = document.getElementById("signal-" + row.signal_id);
      if (detail) {
        var link = element("a", null, row.metric_name || row.metric_id);
        link.href = "#signal-" + row.signal_id;
        link.addEventListener("click", function () {
          overlay.hidden = true;
        });
        metricCell.appendChild(link);
      } else {
        metricCell.textContent = row.metric_name || row.metric_id;
      }
      tr.appendChild(metricCell);
      var group = row.group_value && row.group_value !== row.groupby_label
        ? row.groupby_label + ": " + row.group_value
        : row.groupby_label;
      tr.appendChild(element("td", null, group));
      tr.appendChild(element("td", null, label(row.signal_type)));
      var severity = element("td", "num", number(row.signal_severity, 0));
      severity.setAttribute("data-sort", row.signal_severity === null ? "" : row.signal_severity);
      tr.appendChild(severity);
      var badgeCell = element("td");
      badgeCell.appendChild(element("span", "badge sev-" + String(row.severity || "none").toLowerCase(), row.severity || "none"));
      tr.appendChild(badgeCell);
      var z = element("td", "num", number(row.simple_zscore, 2));
      z.setAttribute("data-sort", row.simple_zscore === null ? "" : row.simple_zscore);
      tr.appendChild(z);
      tr.appendChild(element("td", null, label(row.anomaly_classification)));
      body.appendChild(tr);
    });
    overlay.hidden = false;
    var chartElement = document.getElementById("chart-facility");
    chartElement.style.height = Math.max(140, 70 + 30 * types.length) + "px";
    if (facilityChart) {
      facilityChart.dispose();
      charts = charts.filter(function (chart) { return chart !== facilityChart; });
    }
    facilityChart = draw(chartElement, stackedSeverityOption(matrix, true));
    document.getElementById("facility-close").focus();
  }

  function closeFacility() {
    document.getElementById("facility-view").hidden = true;
    if (facilityFromHash() !== null) {
      history.replaceState(null, "", window.location.pathname + window.location.search);
    }
  }

  function route() {
    var facilityId = facilityFromHash();
    if (facilityId !== null) {
      showFacility(facilityId);
    } else {
      document.getElementById("facility-view").hidden = true;
    }
  }

  // -- start ----------------------------------------------------------------------------

  drawOverview();
  drawLazyCharts();
  document.querySelectorAll("table.sortable").forEach(makeSortable);
  setUpFilter();
  document.getElementById("facility-close").addEventListener("click", closeFacility);
  document.getElementById("facility-view").addEventListener("click", function (event) {
    if (event.target === event.currentTarget) {
      closeFacility();
    }
  });
  document.addEventListener("keydown", function (event) {
    if (event.key === "Escape") {
      closeFacility();
    }
  });
  window.addEventListener("hashchange", route);
  route();
  var resizeTimer = null;
  window.addEventListener("resize", function () {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(function () {
      charts.forEach(function (chart) {
        chart.resize();
      });
    }, 150);
  });
  document.body.setAttribute("data-report-ready", "true");
})();
