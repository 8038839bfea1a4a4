// carecall operator's screen (/dien-thoai-vien): state, softphone, click-to-call,
// the dossier and the questionnaire of the connected call. No build step; the
// page's CSP forbids inline script, so everything is here. Needs softphone.js.
//
// The API: GET /api/v1/operator/me, POST /api/v1/operator/state,
// POST /api/v1/operator/calls, POST /api/v1/responses/{id}/answers; changes
// carry the session's CSRF token in X-CSRF-Token.
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  const desk = $("desk");
  if (!desk) return;
  const csrf = desk.dataset.csrf;
  const STATES = {
    offline: "Ngoại tuyến", available: "Sẵn sàng", on_call: "Đang gọi",
    wrap_up: "Hoàn tất phiếu", paused: "Tạm nghỉ",
  };
  const ENDED = {
    operator_hangup: "điện thoại viên gác máy", citizen_hangup: "người dân gác máy",
    rejected: "đã từ chối", timeout: "không nhấc máy",
  };
  const PHONE = { idle: "sẵn sàng", ringing: "đang đổ chuông", connected: "đang gọi", held: "đang giữ máy" };
  const phone = new CarecallSoftphone({ audio: $("remote") });
  window.phone = phone;
  // What a test can read back: the events seen and the last save.
  const screen = { log: [], pending: null, lastSave: null };
  window.operatorScreen = screen;

  function say(text, kind) {
    const m = $("message");
    m.textContent = text;
    m.className = `flash ${kind || ""}`;
    m.hidden = !text;
  }

  async function api(method, path, body) {
    const headers = { accept: "application/json" };
    if (body !== undefined) headers["content-type"] = "application/json";
    if (method !== "GET") headers["x-csrf-token"] = csrf;
    const r = await fetch(path, {
      method, headers, credentials: "same-origin",
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const data = await r.json().catch(() => ({}));
    if (!r.ok) throw new Error(data.detail || `${r.status}`);
    return data;
  }

  const day = (v) => {
    if (!v) return "";
    const d = new Date(v);
    return Number.isNaN(d.getTime()) ? String(v) : d.toLocaleDateString("vi-VN");
  };

  function showDossier(dl, d) {
    dl.replaceChildren();
    const rows = [
      ["Mã hồ sơ", d.code || d.dossier_code], ["Thủ tục", d.procedure], ["Lĩnh vực", d.field],
      ["Nơi giải quyết", d.place || d.unit_code], ["Ngày tiếp nhận", day(d.received_at)],
      ["Ngày trả kết quả", day(d.returned_at)], ["Người dân", d.citizen],
    ];
    for (const [k, v] of rows) {
      if (!v) continue;
      const dt = document.createElement("dt");
      dt.textContent = k;
      const dd = document.createElement("dd");
      dd.textContent = v;
      dl.append(dt, dd);
    }
  }

  // --- my state ------------------------------------------------------------
  function showState(state) {
    const el = $("op-state");
    el.dataset.state = state;
    el.textContent = STATES[state] || state;
    $("ready").disabled = state === "available" || state === "on_call";
    $("pause").disabled = state === "paused" || state === "on_call";
    $("call").disabled = state !== "available";
  }

  let current = null; // the call of /me: {call_id, response_id, dossier, answers}
  async function refresh() {
    const me = await api("GET", "/api/v1/operator/me");
    showState(me.operator.state);
    if (me.call && me.call.response_id && (!current || current.call_id !== me.call.call_id)) {
      current = me.call;
      openSurvey(me.call);
    }
    return me;
  }

  async function setState(state) {
    try {
      const r = await api("POST", "/api/v1/operator/state", { state });
      showState(r.state);
      say("");
    } catch (e) {
      say(`Không đổi được trạng thái: ${e.message}`, "bad");
    }
  }
  $("ready").onclick = () => setState("available");
  $("pause").onclick = () => setState("paused");

  // --- the softphone -------------------------------------------------------
  $("start").onclick = async () => {
    $("start").disabled = true;
    try {
      await phone.start();
      $("start").textContent = "Điện thoại đã bật";
    } catch (e) {
      say(`Không bật được điện thoại: ${e.message}`, "bad");
      $("start").disabled = false;
    }
  };
  for (const type of ["state", "ring", "connected", "ended", "digit", "error", "closed"]) {
    phone.addEventListener(type, (e) => screen.log.push({ type, detail: e.detail, t: Date.now() }));
  }
  phone.addEventListener("state", (e) => {
    const s = e.detail;
    const el = $("phone");
    el.dataset.phone = s.phone;
    el.dataset.media = String(s.media);
    el.textContent = (PHONE[s.phone] || s.phone) + (s.media ? "" : " (chưa có âm thanh)");
    $("ring").hidden = s.phone !== "ringing";
    $("call-panel").hidden = !(s.phone === "connected" || s.phone === "held");
    $("hold").textContent = s.phone === "held" ? "Tiếp tục" : "Giữ máy";
    $("call-state").textContent = PHONE[s.phone] || s.phone;
    refresh().catch(() => {});
  });
  let ringing = null;
  phone.addEventListener("ring", (e) => {
    const d = e.detail.dossier || {};
    ringing = d;
    const p = screen.pending;
    // A call I placed myself rings me when the citizen answers: take it.
    // (Its id may not be known yet if the ring beats the API's answer.)
    const mine = p && (p.call_id ? d.call_id === p.call_id : d.dossier_code === p.dossier);
    if (mine) {
      screen.pending = null;
      phone.accept();
      return;
    }
    showDossier($("ring-dossier"), d);
  });
  $("accept").onclick = () => phone.accept();
  $("reject").onclick = () => phone.reject();
  phone.addEventListener("connected", () => {
    showDossier($("call-dossier"), ringing || {});
    waitForCall(ringing && ringing.call_id);
  });
  phone.addEventListener("ended", (e) => {
    ringing = null;
    const why = ENDED[e.detail.reason] || e.detail.reason;
    say(`Cuộc gọi đã kết thúc (${why}). Hoàn tất phiếu rồi bấm Lưu.`);
    refresh().catch(() => {});
  });
  phone.addEventListener("error", (e) => say(e.detail.message, "bad"));
  $("hangup").onclick = () => phone.hangup();
  $("hold").onclick = () => phone.hold(phone.state.phone !== "held");
  $("mute").onclick = () => {
    phone.mute(!phone.muted);
    $("mute").textContent = phone.muted ? "Bật mic" : "Tắt mic";
  };
  for (const d of "123456789*0#") {
    const b = document.createElement("button");
    b.type = "button";
    b.textContent = d;
    b.onclick = () => phone.digit(d);
    $("keypad").append(b);
  }
  phone.addEventListener("track", (e) => {
    const ctx = new AudioContext();
    const analyser = ctx.createAnalyser();
    ctx.createMediaStreamSource(e.detail.stream).connect(analyser);
    const buf = new Float32Array(analyser.fftSize);
    setInterval(() => {
      if (ctx.state !== "running") ctx.resume();
      analyser.getFloatTimeDomainData(buf);
      let sum = 0;
      for (const v of buf) sum += v * v;
      $("level").value = Math.sqrt(sum / buf.length);
    }, 200);
  });

  // The call is recorded as mine a moment after it connects: ask until it is.
  async function waitForCall(callId) {
    for (let i = 0; i < 40; i++) {
      try {
        const me = await refresh();
        if (me.call && me.call.response_id && (!callId || me.call.call_id === callId)) return;
      } catch (_) { /* try again */ }
      await new Promise((r) => setTimeout(r, 250));
    }
    say("Không tìm thấy phiếu của cuộc gọi này.", "bad");
  }

  // --- click-to-call -------------------------------------------------------
  $("call-form").onsubmit = async (e) => {
    e.preventDefault();
    const dossier = $("dossier-code").value.trim();
    if (!dossier) return;
    // Without the page's softphone the call rings my SIP phone instead.
    screen.pending = { call_id: null, dossier };
    $("call").disabled = true;
    try {
      const r = await api("POST", "/api/v1/operator/calls", { dossier });
      if (screen.pending) screen.pending.call_id = r.call_id;
      say(`Đang gọi hồ sơ ${r.dossier}…`);
      showState("on_call");
    } catch (err) {
      screen.pending = null;
      $("call").disabled = false;
      say(`Không gọi được: ${err.message}`, "bad");
    }
  };

  // --- the questionnaire ---------------------------------------------------
  const form = $("survey");
  const questions = [...form.querySelectorAll(".question")];

  function valueOf(key) {
    const els = form.elements.namedItem(key);
    if (!els) return "";
    if (els instanceof RadioNodeList) return els.value || "";
    return els.value || "";
  }

  function setValue(key, value) {
    const els = form.elements.namedItem(key);
    if (!els || value == null) return;
    if (els instanceof RadioNodeList) {
      for (const r of els) r.checked = r.value === value;
    } else {
      els.value = value;
    }
  }

  // shown_when: a question appears only when another has the given answer.
  function applyShownWhen() {
    for (const q of questions) {
      const k = q.dataset.whenKey;
      if (k) q.hidden = valueOf(k) !== q.dataset.whenValue;
    }
  }
  form.addEventListener("change", applyShownWhen);

  function openSurvey(call) {
    form.reset();
    $("response-id").value = call.response_id;
    for (const [k, v] of Object.entries(call.answers || {})) setValue(k, v);
    if (call.dossier) showDossier($("call-dossier"), call.dossier);
    applyShownWhen();
    $("saved").hidden = true;
    form.hidden = false;
  }

  form.onsubmit = async (e) => {
    e.preventDefault();
    const id = $("response-id").value;
    if (!id) return;
    const answers = {};
    for (const q of questions) {
      if (q.hidden) continue;
      const v = valueOf(q.dataset.key).trim();
      if (v) answers[q.dataset.key] = v;
    }
    try {
      const r = await api("POST", `/api/v1/responses/${encodeURIComponent(id)}/answers`, { answers });
      screen.lastSave = { ok: true, saved: r.saved };
      $("saved").textContent = "Đã lưu";
      $("saved").hidden = false;
      say("");
    } catch (err) {
      screen.lastSave = { ok: false, error: err.message };
      say(`Chưa lưu được: ${err.message}`, "bad");
    }
  };

  applyShownWhen();
  refresh().catch((e) => say(e.message, "bad"));
  setInterval(() => refresh().catch(() => {}), 5000);
})();
