// The report's overlap explorer: the maths of checkerscope.analysis.overlap_counts for stacks of
// transposed convolutions (padding 0), redone here so the page works offline with no Python.
// The results are also exposed as data attributes on #explorer-summary, so tests can compare
// them with the library.
(function () {
  "use strict";

  // Counts of paths from every input position of a length-n input through L transposed
  // convolutions (kernel k, stride s) to each output: each input paints k outputs, s apart.
  function counts1d(k, s, layers, n) {
    var x = [];
    for (var i = 0; i < n; i++) x.push(1);
    for (var l = 0; l < layers; l++) {
      var y = [];
      for (var t = 0; t < (x.length - 1) * s + k; t++) y.push(0);
      for (var a = 0; a < x.length; a++) {
        for (var j = 0; j < k; j++) y[a * s + j] += x[a];
      }
      x = y;
    }
    return x;
  }

  function mod(a, b) {
    return ((a % b) + b) % b;
  }

  // The interior pattern: an infinite all-ones input has period 1, and one layer turns a
  // period-P input into a period-sP output, read with wrap-around (exact for periodic input).
  function interiorPattern(k, s, layers) {
    var x = [1];
    for (var l = 0; l < layers; l++) {
      var period = x.length;
      var y = [];
      for (var t = 0; t < s * period; t++) {
        var total = 0;
        for (var j = 0; j < k; j++) {
          if (mod(t - j, s) === 0) total += x[mod((t - j) / s, period)];
        }
        y.push(total);
      }
      x = y;
    }
    // The smallest period; the whole of x is one when no shorter one is.
    for (var p = 1; p < x.length; p++) {
      if (x.length % p !== 0) continue;
      var repeats = true;
      for (var q = p; q < x.length && repeats; q++) repeats = x[q] === x[q - p];
      if (repeats) return x.slice(0, p);
    }
    return x;
  }

  function ratio(values) {
    var lo = Math.min.apply(null, values);
    var hi = Math.max.apply(null, values);
    return lo > 0 ? hi / lo : Infinity;
  }

  function outer(a) {
    var grid = [];
    for (var r = 0; r < a.length; r++) {
      var row = [];
      for (var c = 0; c < a.length; c++) row.push(a[r] * a[c]);
      grid.push(row);
    }
    return grid;
  }

  // Control points of matplotlib's magma, the colour map of the report's static 2-D maps.
  var MAGMA = [
    [0, 0, 4], [28, 16, 68], [79, 18, 123], [129, 37, 129], [181, 54, 122],
    [229, 80, 100], [251, 135, 97], [254, 194, 135], [252, 253, 191],
  ];

  function magma(v) {
    var x = Math.max(0, Math.min(1, v)) * (MAGMA.length - 1);
    var i = Math.min(Math.floor(x), MAGMA.length - 2);
    var f = x - i;
    return MAGMA[i].map(function (c, ch) {
      return Math.round(c + f * (MAGMA[i + 1][ch] - c));
    });
  }

  // Bars of the counts; each labelled with its value while the labels still fit.
  function drawBars(canvas, values) {
    var ctx = canvas.getContext("2d");
    var w = canvas.width;
    var h = canvas.height;
    var label = 28;
    var top = Math.max.apply(null, values.concat([1]));
    ctx.clearRect(0, 0, w, h);
    var step = w / values.length;
    var gap = step > 3 ? 0.1 * step : 0;
    ctx.font = "22px system-ui, sans-serif";
    ctx.textAlign = "center";
    for (var i = 0; i < values.length; i++) {
      var bar = (values[i] / top) * (h - label);
      ctx.fillStyle = "#404040";
      ctx.fillRect(i * step + gap / 2, h - bar, step - gap, bar);
      if (step >= 28) ctx.fillText(String(values[i]), (i + 0.5) * step, h - bar - 6);
    }
  }

  function drawMap(canvas, grid) {
    var n = grid.length;
    canvas.width = n;
    canvas.height = n;
    var ctx = canvas.getContext("2d");
    var image = ctx.createImageData(n, n);
    var top = 1;
    for (var r = 0; r < n; r++) top = Math.max(top, Math.max.apply(null, grid[r]));
    for (var y = 0; y < n; y++) {
      for (var x = 0; x < n; x++) {
        var rgb = magma(grid[y][x] / top);
        var o = 4 * (y * n + x);
        image.data[o] = rgb[0];
        image.data[o + 1] = rgb[1];
        image.data[o + 2] = rgb[2];
        image.data[o + 3] = 255;
      }
    }
    ctx.putImageData(image, 0, 0);
  }

  function formatRatio(r) {
    return isFinite(r) ? String(Math.round(r * 1000) / 1000) : "infinite (gaps)";
  }

  var root = document.getElementById("explorer");
  if (!root) return;
  var inputs = {};
  ["kernel", "stride", "layers", "size"].forEach(function (name) {
    inputs[name] = document.getElementById("explorer-" + name);
  });
  var summary = document.getElementById("explorer-summary");
  var state = {};

  function update() {
    var k = Number(inputs.kernel.value);
    var s = Number(inputs.stride.value);
    var layers = Number(inputs.layers.value);
    var n = Number(inputs.size.value);
    Object.keys(inputs).forEach(function (name) {
      document.getElementById("explorer-" + name + "-value").textContent = inputs[name].value;
    });
    var bars = counts1d(k, s, layers, n);
    var pattern = interiorPattern(k, s, layers);
    var r1 = ratio(pattern);
    state = { bars: bars, pattern: pattern, grid: outer(bars) };
    summary.dataset.kernel = k;
    summary.dataset.stride = s;
    summary.dataset.layers = layers;
    summary.dataset.size = n;
    summary.dataset.counts = JSON.stringify(bars);
    summary.dataset.pattern = JSON.stringify(pattern);
    summary.dataset.ratio1d = isFinite(r1) ? r1 : "inf";
    summary.dataset.ratio2d = isFinite(r1) ? r1 * r1 : "inf";
    summary.textContent =
      layers + " \u00d7 (kernel " + k + ", stride " + s + ") on " + n + " inputs: " +
      bars.length + " outputs. Interior pattern (period " + pattern.length + "): " +
      pattern.join(" ") + ". Max/min " + formatRatio(r1) + " in 1-D, " +
      formatRatio(r1 * r1) + " in 2-D" +
      (k % s === 0 ? " (stride divides kernel size: even overlap)." : ".");
    drawBars(document.getElementById("explorer-bars"), bars);
    drawMap(document.getElementById("explorer-map"), state.grid);
  }

  Object.keys(inputs).forEach(function (name) {
    inputs[name].addEventListener("input", update);
  });
  // For tests and the console: the 2-D counts the map shows.
  window.checkerscopeExplorer = {
    counts1d: counts1d,
    interiorPattern: interiorPattern,
    grid: function () {
      return state.grid;
    },
  };
  update();
})();
