/* tipslib site: plays a widget's precomputed frames. No network, no dependencies.
 *
 * window.TIPSLIB_WIDGETS[name] = {width, height, controls, ignore, variants, backgrounds, frames}
 * (written by tipslib/site/frames.py). Each frame names its background image and lists
 * the moving artists in canvas pixels; this file paints them over the background.
 */
(function () {
  "use strict";

  function dash(style, lw) {
    var u = Math.max(lw, 0.5);
    if (style === "--") return [3.7 * u, 1.6 * u];
    if (style === ":") return [1 * u, 1.65 * u];
    if (style === "-.") return [6.4 * u, 1.6 * u, 1 * u, 1.6 * u];
    return [];
  }

  function tracePolyline(ctx, xy) {
    var pen = false;
    for (var i = 0; i < xy.length; i += 2) {
      if (xy[i] === null) { pen = false; continue; }
      if (pen) ctx.lineTo(xy[i], xy[i + 1]); else ctx.moveTo(xy[i], xy[i + 1]);
      pen = true;
    }
  }

  function marker(ctx, m, x, y, size, fill, edge, ew) {
    var r = size / 2;
    ctx.beginPath();
    var filled = true;
    if (m === "o" || m === ".") {
      if (m === ".") r = r / 2;
      ctx.arc(x, y, r, 0, 2 * Math.PI);
    } else if (m === "s") {
      ctx.rect(x - r, y - r, 2 * r, 2 * r);
    } else if (m === "*") {
      for (var k = 0; k < 10; k++) {
        var rr = k % 2 ? r * 0.38 : r, a = -Math.PI / 2 + k * Math.PI / 5;
        if (k) ctx.lineTo(x + rr * Math.cos(a), y + rr * Math.sin(a)); else ctx.moveTo(x + rr * Math.cos(a), y + rr * Math.sin(a));
      }
      ctx.closePath();
    } else if (m === "_") { ctx.moveTo(x - r, y); ctx.lineTo(x + r, y); filled = false; }
    else if (m === "|") { ctx.moveTo(x, y - r); ctx.lineTo(x, y + r); filled = false; }
    else if (m === "+") { ctx.moveTo(x - r, y); ctx.lineTo(x + r, y); ctx.moveTo(x, y - r); ctx.lineTo(x, y + r); filled = false; }
    else if (m === "x") { ctx.moveTo(x - r, y - r); ctx.lineTo(x + r, y + r); ctx.moveTo(x - r, y + r); ctx.lineTo(x + r, y - r); filled = false; }
    else { ctx.arc(x, y, r, 0, 2 * Math.PI); }
    if (filled) { ctx.fillStyle = fill; ctx.fill(); }
    if (ew > 0) { ctx.lineWidth = ew; ctx.strokeStyle = filled ? edge : edge; ctx.setLineDash([]); ctx.stroke(); }
  }

  function paint(ctx, artists) {
    artists.forEach(function (a) {
      ctx.save();
      if (a.clip) { ctx.beginPath(); ctx.rect(a.clip[0], a.clip[1], a.clip[2], a.clip[3]); ctx.clip(); }
      ctx.lineJoin = "round"; ctx.lineCap = "butt";
      if (a.t === "l") {
        if (a.ls) {
          ctx.beginPath(); tracePolyline(ctx, a.xy);
          ctx.strokeStyle = a.c; ctx.lineWidth = a.lw; ctx.setLineDash(dash(a.ls, a.lw)); ctx.stroke();
        }
        if (a.m) {
          for (var i = 0; i < a.xy.length; i += 2) {
            if (a.xy[i] !== null) marker(ctx, a.m, a.xy[i], a.xy[i + 1], a.ms, a.mfc, a.mec, a.mew);
          }
        }
      } else if (a.t === "s") {
        a.segs.forEach(function (s, i) {
          ctx.beginPath(); tracePolyline(ctx, s);
          ctx.strokeStyle = a.c[i % a.c.length]; ctx.lineWidth = a.lw[i % a.lw.length]; ctx.stroke();
        });
      } else if (a.t === "p") {
        for (var j = 0; j < a.xy.length / 2; j++) {
          ctx.beginPath(); ctx.arc(a.xy[2 * j], a.xy[2 * j + 1], a.r[j % a.r.length], 0, 2 * Math.PI);
          if (a.fc.length) { ctx.fillStyle = a.fc[j % a.fc.length]; ctx.fill(); }
          if (a.ec.length && a.lw[j % a.lw.length] > 0) {
            ctx.strokeStyle = a.ec[j % a.ec.length]; ctx.lineWidth = a.lw[j % a.lw.length]; ctx.stroke();
          }
        }
      } else if (a.t === "g") {
        ctx.beginPath(); tracePolyline(ctx, a.xy); ctx.closePath();
        ctx.fillStyle = a.fc; ctx.fill();
        if (a.lw > 0) { ctx.strokeStyle = a.ec; ctx.lineWidth = a.lw; ctx.stroke(); }
      } else if (a.t === "x") {
        ctx.font = a.size + 'px "DejaVu Sans", "Bitstream Vera Sans", Verdana, Arial, sans-serif';
        ctx.fillStyle = a.c; ctx.textAlign = a.ha; ctx.textBaseline = "middle";
        var lines = a.s.split("\n"), h = a.h / lines.length;
        lines.forEach(function (line, i) { ctx.fillText(line, a.x, a.y - a.h / 2 + (i + 0.5) * h); });
      }
      ctx.restore();
    });
  }

  function Player(root, data) {
    this.root = root; this.data = data; this.variant = 0;
    this.inputs = [];
    var self = this, controls = root.querySelector(".tl-controls");
    data.controls.forEach(function (c, k) {
      var wrap = document.createElement("label"); wrap.className = "tl-control";
      var name = document.createElement("span"); name.className = "tl-name"; name.textContent = c.label;
      wrap.appendChild(name);
      var input;
      if (c.kind === "select") {
        input = document.createElement("select");
        c.labels.forEach(function (l, i) { var o = document.createElement("option"); o.value = i; o.textContent = l; input.appendChild(o); });
      } else {
        input = document.createElement("input"); input.type = "range"; input.min = 0; input.max = c.labels.length - 1; input.step = 1;
      }
      input.value = c.initial; input.dataset.control = c.name; input.setAttribute("aria-label", c.label);
      wrap.appendChild(input);
      // A slider shows its value beside it; a dropdown already shows its choice.
      var out = document.createElement("output"); out.className = "tl-readout";
      if (c.kind !== "select") wrap.appendChild(out);
      input.addEventListener("input", function () { self.show(); });
      input.addEventListener("change", function () { self.show(); });
      controls.appendChild(wrap);
      self.inputs.push({input: input, readout: out, spec: c});
    });
    if (data.variants > 1) {
      var b = document.createElement("button"); b.type = "button"; b.className = "tl-variant"; b.textContent = "new mask";
      b.addEventListener("click", function () { self.variant = (self.variant + 1) % data.variants; self.show(); });
      controls.appendChild(b);
    }
    this.img = root.querySelector("img.tl-background");
    this.canvas = root.querySelector("canvas.tl-layer");
    this.canvas.width = data.width; this.canvas.height = data.height;
    // Shown at the widget's own size in CSS pixels (the frames are drawn at a higher density), narrower on a phone.
    root.querySelector(".tl-figure").style.maxWidth = (data.width / (data.density || 1)) + "px";
    this.show();
  }

  Player.prototype.key = function () {
    var idx = this.inputs.map(function (x) { return parseInt(x.input.value, 10); });
    var self = this;
    this.data.ignore.forEach(function (r) {
      var off = idx[r.when] !== r.value;
      self.inputs[r.control].input.disabled = off;
      if (off) idx[r.control] = r.default;
    });
    return idx.join(",") + (this.data.variants > 1 ? "/" + this.variant : "");
  };

  Player.prototype.show = function () {
    var key = this.key(), frame = this.data.frames[key];
    this.inputs.forEach(function (x) { x.readout.textContent = x.spec.labels[parseInt(x.input.value, 10)]; });
    if (!frame) { throw new Error("tipslib site: no precomputed frame " + key); }
    var src = this.data.backgrounds[frame.bg];
    if (this.img.getAttribute("src") !== src) this.img.setAttribute("src", src);
    var ctx = this.canvas.getContext("2d");
    ctx.clearRect(0, 0, this.canvas.width, this.canvas.height);
    paint(ctx, frame.a);
    this.root.dataset.frame = key;
  };

  function start() {
    var all = window.TIPSLIB_WIDGETS || {};
    Array.prototype.forEach.call(document.querySelectorAll(".tl-player"), function (root) {
      var data = all[root.dataset.widget];
      if (!data) { throw new Error("tipslib site: no frames for widget " + root.dataset.widget); }
      root.tipslibPlayer = new Player(root, data);
    });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start); else start();
})();
