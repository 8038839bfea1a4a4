// Drives headless Chromium as an operator on the operator's screen
// (/dien-thoai-vien), run by tests/operator_screen.rs. Env: BASE, OP_USER,
// OP_PASS, DOSSIER (the code to call), MIC_WAV (the fake microphone),
// USER_DATA (a fresh profile directory), SHOTS (where screenshots go);
// ADMIN_TOKEN (optional) rings the page with a test call first.
// Prints one JSON line: {call_id, response_id, save, states, log, stats, error?}.
import { mkdirSync } from "node:fs";
import { chromium } from "playwright-core";

const env = (k) => {
  const v = process.env[k];
  if (!v) throw new Error(`${k} is not set`);
  return v;
};
const BASE = env("BASE");
const SHOTS = env("SHOTS");
mkdirSync(SHOTS, { recursive: true });

const browser = await chromium.launchPersistentContext(env("USER_DATA"), {
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  headless: true,
  viewport: { width: 1280, height: 1000 },
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
let page;
const shot = async (name) => {
  if (page) await page.screenshot({ path: `${SHOTS}/operator-${name}.png`, fullPage: true }).catch(() => {});
};
const myState = async () => {
  const r = await page.request.get(`${BASE}/api/v1/operator/me`);
  return (await r.json()).operator.state;
};
try {
  page = browser.pages()[0] || (await browser.newPage());
  page.on("console", (m) => console.error(`[page] ${m.text()}`));
  page.on("pageerror", (e) => console.error(`[page error] ${e}`));
  const login = await page.request.post(`${BASE}/api/v1/session`, {
    data: { username: env("OP_USER"), password: env("OP_PASS") },
  });
  if (!login.ok()) throw new Error(`login: ${login.status()} ${await login.text()}`);
  await page.goto(`${BASE}/dien-thoai-vien`);
  await shot("1-opened");
  await page.click("#start");
  await page.waitForSelector('#phone[data-media="true"]', { timeout: 20000 });
  await page.waitForSelector('#op-state[data-state="available"]', { timeout: 10000 });
  out.states.ready = await myState();
  await shot("2-ready");

  // An incoming call (the admin's test call): the ring shows its dossier,
  // "Nhận" takes it, the keypad sends a digit, the caller hangs up.
  if (process.env.ADMIN_TOKEN) {
    const test = fetch(`${BASE}/api/v1/softphone/test-call`, {
      method: "POST",
      headers: { authorization: `Bearer ${process.env.ADMIN_TOKEN}`, "content-type": "application/json" },
      body: JSON.stringify({ operator: env("OP_USER"), secs: 3 }),
    }).then((r) => r.json());
    await page.waitForSelector("#ring:not([hidden])", { timeout: 15000 });
    out.incoming = { ring: await page.textContent("#ring-dossier") };
    await shot("2b-ringing");
    await page.click("#accept");
    await page.waitForSelector("#call-panel:not([hidden])", { timeout: 5000 });
    await page.waitForTimeout(500);
    await page.click("#keypad button:nth-child(5)"); // "5"
    out.incoming.report = await test;
    await page.waitForSelector("#call-panel[hidden]", { state: "attached", timeout: 10000 });
    out.incoming.state_after = await myState();
  }

  // Click-to-call: the ring that follows is taken automatically.
  await page.fill("#dossier-code", env("DOSSIER"));
  await page.click("#call");
  await page.waitForSelector("#call-panel:not([hidden])", { timeout: 30000 });
  out.states.connected = await myState();
  await page.waitForSelector("#survey:not([hidden])", { timeout: 15000 });
  out.response_id = await page.inputValue("#response-id");
  out.call_id = await page.evaluate(() => {
    const ring = window.operatorScreen.log.filter((e) => e.type === "ring").pop();
    return ring && ring.detail.dossier.call_id;
  });
  out.dossier_shown = await page.textContent("#call-dossier");
  await shot("3-connected");

  // The form: part I, then part II (gender appears once for_whom = 1).
  await page.check('input[name="q1"][value="1"]');
  await page.fill('input[name="q4"]', "9");
  await page.fill('textarea[name="q3"]', "Phải chờ lâu ở bộ phận một cửa");
  out.gender_hidden_before = await page.isHidden('.question[data-key="gender"]');
  await page.check('input[name="for_whom"][value="1"]');
  await page.waitForSelector('.question[data-key="gender"]:not([hidden])', { timeout: 2000 });
  await page.check('input[name="gender"][value="f"]');
  await page.click("#save");
  await page.waitForSelector("#saved:not([hidden])", { timeout: 5000 });
  out.save = await page.evaluate(() => window.operatorScreen.lastSave);
  await shot("4-saved");

  // Talk a little more (the microphone reaches the citizen), then hang up.
  await page.waitForTimeout(6000);
  out.stats = await page.evaluate(() => window.phone.inboundAudio());
  await page.click("#hangup");
  await page.waitForSelector('#phone[data-phone="idle"]', { timeout: 10000 });
  for (let i = 0; i < 50; i++) {
    out.states.after = await myState();
    if (out.states.after === "wrap_up") break;
    await page.waitForTimeout(200);
  }
  await page.waitForTimeout(500);
  await shot("5-ended");
  out.log = await page.evaluate(() =>
    window.operatorScreen.log.map((e) => e.type + (e.detail && e.detail.reason ? `:${e.detail.reason}` : "")));
} catch (e) {
  out.error = String((e && e.stack) || e);
  await shot("error");
} finally {
  await browser.close();
}
console.log(JSON.stringify(out));
