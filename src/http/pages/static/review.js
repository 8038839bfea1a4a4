// Review page: jump to an answer's mark, and draw the recording's waveform
// (min/max peaks per channel from the recordings API) with the play head on
// it; a click on the waveform seeks there. No framework, no build step.
"use strict";
(function () {
  // The correction form: offer only the values of the chosen question.
  const key = document.getElementById("revise-key");
  const value = document.getElementById("revise-value");
  if (key && value) {
    const sync = () => {
      let first = null;
      for (const g of value.querySelectorAll("optgroup")) {
        const on = g.dataset.key === key.value;
        g.hidden = !on;
        g.disabled = !on;
        if (on && !first) first = g.querySelector("option");
      }
      if (first) value.value = first.value;
    };
    key.addEventListener("change", sync);
    sync();
  }

  const player = document.getElementById("player");
  if (!player) return;

  for (const b of document.querySelectorAll("button.mark[data-seek]")) {
    b.addEventListener("click", () => {
      player.currentTime = parseFloat(b.dataset.seek) || 0;
      player.play().catch(() => {});
    });
  }

  const canvas = document.getElementById("waveform");
  if (!canvas) return;
  const ctx = canvas.getContext("2d");
  let peaks = null;
  const duration = () => player.duration || parseFloat(canvas.dataset.seconds) || 0;

  // The API's shape (media/waveform.rs, after BBC audiowaveform): {bits, peaks:
  // [{data: [min0, max0, min1, max1, ..]}, ..]}, one entry per channel, values
  // in sample units of `bits` bits.
  function channelsOf(json) {
    const full = Math.pow(2, (json.bits || 16) - 1);
    return (json.peaks || []).map((c) => {
      const data = c.data || [];
      const min = [], max = [];
      for (let i = 0; i + 1 < data.length; i += 2) {
        min.push(data[i] / full);
        max.push(data[i + 1] / full);
      }
      return { min, max };
    });
  }

  function draw() {
    const w = canvas.width, h = canvas.height;
    ctx.fillStyle = "#0f1f30";
    ctx.fillRect(0, 0, w, h);
    if (peaks && peaks.length) {
      const lane = h / peaks.length;
      const colours = ["#7fb3ff", "#9be3a6"];
      peaks.forEach((c, i) => {
        const n = c.max.length;
        const mid = lane * i + lane / 2;
        ctx.fillStyle = colours[i % colours.length];
        for (let x = 0; x < n; x++) {
          const top = mid - c.max[x] * (lane / 2);
          const bottom = mid - c.min[x] * (lane / 2);
          ctx.fillRect((x * w) / n, top, Math.max(1, w / n), Math.max(1, bottom - top));
        }
      });
    }
    const d = duration();
    if (d > 0) {
      const x = (player.currentTime / d) * w;
      ctx.fillStyle = "#ffcc33";
      ctx.fillRect(x - 1, 0, 2, h);
    }
    for (const b of document.querySelectorAll("button.mark[data-seek]")) {
      if (d > 0) {
        ctx.fillStyle = "rgba(255,255,255,.5)";
        ctx.fillRect((parseFloat(b.dataset.seek) / d) * w, 0, 1, h);
      }
    }
  }

  canvas.addEventListener("click", (e) => {
    const r = canvas.getBoundingClientRect();
    const d = duration();
    if (d > 0) player.currentTime = ((e.clientX - r.left) / r.width) * d;
  });
  player.addEventListener("timeupdate", draw);
  player.addEventListener("seeked", draw);
  player.addEventListener("loadedmetadata", draw);

  fetch(canvas.dataset.src, { credentials: "same-origin" })
    .then((r) => (r.ok ? r.json() : null))
    .then((j) => { if (j) peaks = channelsOf(j); draw(); })
    .catch(draw);
  draw();
})();
