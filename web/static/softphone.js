// carecall softphone: the operator's browser phone (no build step, no framework).
//
// Signalling is a WebSocket to /api/v1/softphone/ws (the session cookie
// authenticates it); audio is one RTCPeerConnection that the page offers once,
// when it starts, so that a ringing call connects at once when accepted.
//
//   const phone = new CarecallSoftphone({ audio: document.querySelector("audio") });
//   phone.addEventListener("ring", (e) => ...e.detail.dossier...);
//   await phone.start();
//   phone.accept(); phone.hold(true); phone.digit("5"); phone.mute(true); phone.hangup();
//
// Events (CustomEvent, data in `detail`): state {phone, media}, ring {call,
// dossier}, connected {call}, ended {call, reason}, digit {digit}, error
// {message}, closed {}.
"use strict";

class CarecallSoftphone extends EventTarget {
  /**
   * @param {{audio?: HTMLAudioElement, wsUrl?: string}} opts
   */
  constructor(opts = {}) {
    super();
    this.audio = opts.audio || null;
    const proto = location.protocol === "https:" ? "wss:" : "ws:";
    this.wsUrl = opts.wsUrl || `${proto}//${location.host}/api/v1/softphone/ws`;
    this.state = { phone: "idle", media: false };
    this.call = null;
    this.muted = false;
    this.remoteStream = null;
    this.pc = null;
    this.ws = null;
    this.mic = null;
  }

  /** Opens the microphone, the WebSocket and the peer connection. */
  async start() {
    this.mic = await navigator.mediaDevices.getUserMedia({
      audio: { echoCancellation: true, noiseSuppression: true, autoGainControl: true },
      video: false,
    });
    const pc = new RTCPeerConnection({ iceServers: [], bundlePolicy: "max-bundle" });
    this.pc = pc;
    for (const track of this.mic.getAudioTracks()) pc.addTrack(track, this.mic);
    pc.ontrack = (e) => {
      this.remoteStream = e.streams[0] || new MediaStream([e.track]);
      if (this.audio) {
        this.audio.srcObject = this.remoteStream;
        this.audio.play().catch(() => {});
      }
      this._emit("track", { stream: this.remoteStream });
    };
    pc.onconnectionstatechange = () => this._emit("connection", { state: pc.connectionState });
    await this._openSocket();
    const offer = await pc.createOffer();
    await pc.setLocalDescription(offer);
    // The server is ICE-lite (RFC 8445 §2.5): it needs none of our candidates,
    // the browser's connectivity checks find it.
    this._send({ type: "offer", sdp: pc.localDescription.sdp });
  }

  _openSocket() {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(this.wsUrl);
      this.ws = ws;
      ws.onopen = () => resolve();
      ws.onerror = () => reject(new Error("softphone WebSocket failed"));
      ws.onclose = () => this._emit("closed", {});
      ws.onmessage = (e) => this._onMessage(JSON.parse(e.data));
    });
  }

  async _onMessage(m) {
    switch (m.type) {
      case "answer":
        await this.pc.setRemoteDescription({ type: "answer", sdp: m.sdp });
        break;
      case "state":
        this.state = { phone: m.phone, media: m.media };
        this._emit("state", this.state);
        break;
      case "ring":
        this.call = m.call;
        this._emit("ring", { call: m.call, dossier: m.dossier });
        break;
      case "connected":
        this._emit("connected", { call: m.call });
        break;
      case "ended":
        this.call = null;
        this._emit("ended", { call: m.call, reason: m.reason });
        break;
      case "digit":
        this._emit("digit", { digit: m.digit });
        break;
      case "error":
        this._emit("error", { message: m.message });
        break;
    }
  }

  _send(obj) {
    if (this.ws && this.ws.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(obj));
  }

  _emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }

  /** Picks up the ringing call. */
  accept() { this._send({ type: "accept" }); }
  /** Declines the ringing call. */
  reject() { this._send({ type: "reject" }); }
  /** Hangs up (or declines). */
  hangup() { this._send({ type: "hangup" }); }
  /** Puts the citizen on hold (true) or resumes (false). */
  hold(on) { this._send({ type: "hold", on: !!on }); }
  /** Sends a keypad digit (0-9 * # A-D) to the citizen's side. */
  digit(d) { this._send({ type: "digit", digit: String(d) }); }

  /** Mutes the microphone here, in the page (nothing is sent while muted). */
  mute(on) {
    this.muted = !!on;
    if (this.mic) for (const t of this.mic.getAudioTracks()) t.enabled = !this.muted;
  }

  /** Received audio statistics (RTCInboundRtpStreamStats), or null. */
  async inboundAudio() {
    if (!this.pc) return null;
    const stats = await this.pc.getStats();
    let found = null;
    stats.forEach((s) => {
      if (s.type === "inbound-rtp" && s.kind === "audio") found = s;
    });
    return found && {
      packetsReceived: found.packetsReceived,
      totalSamplesReceived: found.totalSamplesReceived,
      totalAudioEnergy: found.totalAudioEnergy,
      audioLevel: found.audioLevel,
    };
  }

  /** Closes everything (the server marks the operator offline). */
  stop() {
    if (this.ws) this.ws.close();
    if (this.pc) this.pc.close();
    if (this.mic) for (const t of this.mic.getTracks()) t.stop();
  }
}

window.CarecallSoftphone = CarecallSoftphone;
