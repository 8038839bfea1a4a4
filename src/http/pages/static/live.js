// Live view: fills the table from the server-sent event stream and ticks
// the durations every second. EventSource reconnects by itself.
"use strict";
(function () {
  const table = document.getElementById("live");
  const state = document.getElementById("live-state");
  if (!table) return;
  const body = table.querySelector("tbody");
  const ops = document.getElementById("operators");
  let calls = [];

  const pad = (n) => String(n).padStart(2, "0");
  // Vietnam time whatever the browser's own zone (the brief's only calendar).
  const hhmm = (ms) => new Date(ms).toLocaleTimeString("vi-VN", { timeZone: "Asia/Ho_Chi_Minh", hour12: false });
  const dur = (ms) => { const s = Math.max(0, Math.floor((Date.now() - ms) / 1000)); return Math.floor(s / 60) + ":" + pad(s % 60); };
  function cell(tr, text) { const td = document.createElement("td"); td.textContent = text; tr.appendChild(td); return td; }

  function render() {
    body.replaceChildren();
    if (!calls.length) {
      const tr = document.createElement("tr");
      cell(tr, "Không có cuộc gọi nào đang diễn ra.").colSpan = 5;
      body.appendChild(tr);
      return;
    }
    for (const c of calls) {
      const tr = document.createElement("tr");
      tr.dataset.id = c.id;
      const a = document.createElement("a");
      a.href = "/cuoc-goi/" + encodeURIComponent(c.id);
      a.textContent = hhmm(c.started);
      cell(tr, "").appendChild(a);
      cell(tr, dur(c.started)).className = "n dur";
      cell(tr, c.destination);
      cell(tr, c.unit_name || c.unit_code || "");
      cell(tr, c.answered_at ? "Đang khảo sát" : "Đang đổ chuông");
      body.appendChild(tr);
    }
  }

  const STATES = { offline: "Ngoại tuyến", available: "Sẵn sàng", on_call: "Đang gọi",
    wrap_up: "Hoàn tất cuộc gọi", paused: "Tạm nghỉ" };
  function renderOperators(list) {
    if (!ops) return;
    const tb = ops.querySelector("tbody");
    tb.replaceChildren();
    for (const o of list) {
      const tr = document.createElement("tr");
      cell(tr, o.display_name || o.username);
      cell(tr, STATES[o.state] || o.state).className = "status " + o.state;
      cell(tr, dur(Date.parse(o.since)) );
      tb.appendChild(tr);
    }
    if (!list.length) { const tr = document.createElement("tr"); cell(tr, "Chưa có điện thoại viên.").colSpan = 3; tb.appendChild(tr); }
  }

  const es = new EventSource(table.dataset.src);
  es.addEventListener("snapshot", (e) => {
    const snap = JSON.parse(e.data);
    calls = (snap.calls || []).map((c) => Object.assign(c, { started: Date.parse(c.started_at) }));
    render();
    renderOperators(snap.operators || []);
  });
  es.onopen = () => { state.textContent = "đã kết nối"; state.className = "status running"; };
  es.onerror = () => { state.textContent = "mất kết nối, đang thử lại…"; state.className = "status stopped"; };
  setInterval(() => {
    for (const tr of body.querySelectorAll("tr[data-id]")) {
      const c = calls.find((x) => x.id === tr.dataset.id);
      if (c) tr.querySelector(".dur").textContent = dur(c.started);
    }
  }, 1000);
})();
