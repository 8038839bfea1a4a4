// Drives headless Chromium as an operator on the softphone test page (run by
// tests/webrtc.rs). Env: BASE (http://127.0.0.1:port), OP_USER, OP_PASS,
// ADMIN_TOKEN, MIC_WAV (the fake microphone), USER_DATA (a fresh directory).
// Prints one JSON line: {server: <test-call report>, page: {...}, states: {...}}.
import { chromium } from "playwright-core";

const env = (k) => {
  const v = process.env[k];
  if (!v) throw new Error(`${k} is not set`);
  return v;
};
const BASE = env("BASE");
const admin = { authorization: `Bearer ${env("ADMIN_TOKEN")}`, "content-type": "application/json" };

async function operatorState() {
  const r = await fetch(`${BASE}/api/v1/operators`, { headers: admin });
  const body = await r.json();
  const list = Array.isArray(body) ? body : body.operators || body.items || [];
  const me = list.find((o) => o.username === process.env.OP_USER || (o.operator && o.operator.username === process.env.OP_USER));
  return me ? me.state || (me.operator && me.operator.state) : `not listed: ${JSON.stringify(body).slice(0, 200)}`;
}

const browser = await chromium.launchPersistentContext(env("USER_DATA"), {
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  headless: true,
  args: [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
    `--use-file-for-fake-audio-capture=${env("MIC_WAV")}`,
    "--autoplay-policy=no-user-gesture-required",
    "--allow-loopback-in-peer-connection",
  ],
});
const out = { states: {} };
try {
  const page = browser.pages()[0] || (await browser.newPage());
  page.on("console", (m) => console.error(`[page] ${m.text()}`));
  const login = await page.request.post(`${BASE}/api/v1/session`, {
    data: { username: env("OP_USER"), password: env("OP_PASS") },
  });
  if (!login.ok()) throw new Error(`login: ${login.status()} ${await login.text()}`);
  await page.goto(`${BASE}/dien-thoai-vien/softphone-test`);
  await page.click("#start");
  await page.waitForSelector('#state[data-media="true"]', { timeout: 20000 });
  out.states.ready = await operatorState();

  const call = fetch(`${BASE}/api/v1/softphone/test-call`, {
    method: "POST",
    headers: admin,
    body: JSON.stringify({ operator: env("OP_USER"), secs: 6, tone_hz: 440 }),
  }).then(async (r) => ({ status: r.status, body: await r.json() }));
  await page.waitForSelector("#accept:not([disabled])", { timeout: 15000 });
  out.ring = await page.textContent("#dossier");
  await page.click("#accept");
  await page.waitForSelector('#state[data-phone="connected"]', { timeout: 5000 });
  await page.waitForTimeout(1000);
  await page.click("#keypad button:nth-child(5)"); // "5"
  const result = await call;
  out.server = result.body;
  out.server_status = result.status;
  await page.waitForSelector('#state[data-phone="idle"]', { timeout: 5000 });
  out.page = await page.evaluate(async () => ({
    meter: window.softphoneTest.meter,
    stats: await window.phone.inboundAudio(),
    log: window.softphoneTest.log.map((e) => e.type + (e.detail && e.detail.reason ? `:${e.detail.reason}` : "")),
  }));
  await page.close();
} catch (e) {
  out.error = String(e && e.stack || e);
} finally {
  await browser.close();
}
// The page is gone: the operator goes offline.
for (let i = 0; i < 30; i++) {
  out.states.after = await operatorState();
  if (out.states.after === "offline") break;
  await new Promise((r) => setTimeout(r, 100));
}
console.log(JSON.stringify(out));
