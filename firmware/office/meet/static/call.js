// The remote party's call (docs/meet.md §2, "The call in the browser"): once join.js says the
// party is admitted, this script asks for the camera and microphone, offers a WebRTC
// connection to the unit through the relay (the unit answers; candidates are trickled), shows
// the counter's picture and sound and the party's own preview, and says how the call is doing.
// A failed connection is replaced by a new RTCPeerConnection; a reload or a dropped WebSocket
// comes back through join.js's resume token, and every admission makes a new call.
//
// For the customer's screen (another script): window.dualrecCall.screen is the current
// connection's negotiated data channel "screen" (id 0), and a dualrec-screen DOM event on
// document carries it (detail) when it opens. No third-party code; nothing inline (the relay's
// CSP is default-src 'self').
"use strict";
(function () {
  const $ = (id) => document.getElementById(id);
  const WORDS = {
    camera: "正在打开摄像头和麦克风…",
    connecting: "正在连接…",
    connected: "通话中",
    reconnecting: "连接中断，正在重连…",
    ended: "通话已结束",
  };
  const PROBLEMS = {
    denied: ["无法通话：本页面没有获得使用摄像头和麦克风的权限。",
             "请点击地址栏旁的锁形或摄像头图标（或在浏览器设置的“网站设置”中），" +
             "允许本网站使用摄像头和麦克风，然后点击“重新尝试”。"],
    missing: ["无法通话：没有找到可用的摄像头或麦克风。",
              "请确认手机的摄像头和麦克风可以使用，然后点击“重新尝试”。"],
    busy: ["无法通话：摄像头或麦克风无法打开。",
           "请关闭正在使用摄像头或麦克风的其他应用（通话、录像），然后点击“重新尝试”。"],
    unsupported: ["无法通话：这个浏览器不支持视频通话。",
                  "请用手机自带的浏览器、最新版 Chrome 或 Safari 打开短信中的链接。"],
  };
  const VIDEO = {width: 640, height: 480, facingMode: "user"};
  const STALL_MS = 8000;          // "disconnected" this long: a new connection
  const CONNECT_MS = 30000;       // not connected this long after the offer: a new connection
  const SPACING_MS = 3000;        // at least this long between two new connections

  let admitted = null;            // the relay's admitted frame of the current admission
  let local = null;               // the camera and microphone (MediaStream)
  let call = null;                // the current attempt: {pc, timer}
  let over = false;               // the meeting ended for this page
  let lastStart = 0;

  const api = {screen: null, get state() { return $("call").dataset.state; }};
  window.dualrecCall = api;

  function state(name, problem) {
    $("call").dataset.state = name;
    $("call-state").textContent = problem ? PROBLEMS[problem][0] : WORDS[name];
    $("call-help").textContent = problem ? PROBLEMS[problem][1] : "";
    $("call-help").hidden = !problem;
    $("call-retry").hidden = !problem;
  }

  function problemOf(err) {
    switch (err && err.name) {
      case "NotAllowedError": case "SecurityError": return "denied";
      case "NotFoundError": case "OverconstrainedError": return "missing";
      case "NotSupportedError": case "TypeError": return "unsupported";
      default: return "busy";
    }
  }

  async function camera() {
    if (local && local.getTracks().every((t) => t.readyState === "live")) return local;
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia ||
        !window.RTCPeerConnection) {
      throw new DOMException("no getUserMedia or RTCPeerConnection", "NotSupportedError");
    }
    const stream = await navigator.mediaDevices.getUserMedia({audio: true, video: VIDEO});
    for (const track of stream.getTracks()) {
      track.addEventListener("ended", () => {       // taken by another app, or revoked
        if (local !== stream || over) return;
        hangup(); local = null; state("problem", "busy");
      });
    }
    local = stream;
    const self = $("self-view");
    self.muted = true;
    self.srcObject = stream;
    play(self);
    return stream;
  }

  function play(video) {
    video.play().catch((err) => {
      // AbortError: a newer source replaced this one, nothing to do; NotAllowedError: the
      // browser wants a tap before it plays sound, so play muted and offer the button
      if (err.name !== "NotAllowedError" || video.muted) return;
      video.muted = true;
      $("call-sound").hidden = false;
      video.play().catch((again) => console.warn("the counter's picture does not play:", again));
    });
  }

  function hangup() {
    const old = call;
    call = null;
    if (old) {
      clearTimeout(old.timer);
      if (old.pc) old.pc.close();
    }
    api.screen = null;
    $("counter-view").srcObject = null;
  }

  function stopCamera() {
    if (local) local.getTracks().forEach((t) => t.stop());
    local = null;
    $("self-view").srcObject = null;
  }

  function signal(message) {
    return window.dualrecMeet.send(message);
  }

  async function start() {
    hangup();
    if (over || !admitted) return;
    const mine = {pc: null, timer: 0};
    call = mine;
    lastStart = Date.now();
    state("camera");
    let stream;
    try {
      stream = await camera();
    } catch (err) {
      if (call === mine) { call = null; state("problem", problemOf(err)); }
      return;
    }
    if (call !== mine) return;
    state("connecting");
    const pc = new RTCPeerConnection({iceServers: admitted.ice_servers || []});
    mine.pc = pc;
    for (const track of stream.getTracks()) pc.addTrack(track, stream);
    const screen = pc.createDataChannel("screen", {negotiated: true, id: 0});
    api.screen = screen;
    screen.addEventListener("open", () => {
      if (call === mine) document.dispatchEvent(new CustomEvent("dualrec-screen", {detail: screen}));
    });
    const counter = new MediaStream();
    pc.addEventListener("track", (e) => {
      if (call !== mine) return;
      counter.addTrack(e.track);
      const view = $("counter-view");
      if (view.srcObject !== counter) { view.srcObject = counter; play(view); }
    });
    const early = [];             // candidates found before the offer left
    let offered = false;
    pc.addEventListener("icecandidate", (e) => {
      if (call !== mine) return;
      const c = e.candidate;
      if (c && !c.candidate) return;        // an m-line's end: the null event ends them all
      const message = {kind: "candidate", candidate: c ? c.candidate : ""};
      if (c && c.sdpMid !== null) message.sdpMid = c.sdpMid;
      if (c && c.sdpMLineIndex !== null) message.sdpMLineIndex = c.sdpMLineIndex;
      if (offered) signal(message); else early.push(message);
    });
    pc.addEventListener("connectionstatechange", () => watch(mine));
    try {
      await pc.setLocalDescription(await pc.createOffer());
    } catch (err) {
      console.error("the call could not be offered:", err);
      if (call === mine) { hangup(); state("problem", "unsupported"); }
      return;
    }
    if (call !== mine) return;
    if (!signal({kind: "offer", sdp: pc.localDescription.sdp})) {
      state("reconnecting");      // the WebSocket is down: join.js resumes, then a new call
      return;
    }
    offered = true;
    early.splice(0).forEach(signal);
    arm(mine, CONNECT_MS);
  }

  function watch(mine) {
    if (call !== mine) return;
    switch (mine.pc.connectionState) {
      case "connected":
        clearTimeout(mine.timer);
        state("connected");
        break;
      case "disconnected":
        state("reconnecting");
        arm(mine, STALL_MS);
        break;
      case "failed":
        state("reconnecting");
        retry();
        break;
    }
  }

  function arm(mine, ms) {
    clearTimeout(mine.timer);
    mine.timer = setTimeout(() => {
      if (call === mine && mine.pc.connectionState !== "connected") retry();
    }, ms);
  }

  function credentialsExpired() {
    return (admitted.ice_servers || []).some((server) => {
      const expiry = /^([0-9]+):/.exec(server.username || "");
      return expiry !== null && Number(expiry[1]) * 1000 <= Date.now();
    });
  }

  // a new connection: on this WebSocket, or through a resume when the relay's TURN
  // credentials have expired (the re-admission brings new ones and starts the call)
  function retry() {
    if (over) return;
    hangup();
    state("reconnecting");
    if (!window.dualrecMeet.online) return;          // join.js is reconnecting
    if (credentialsExpired()) { window.dualrecMeet.rejoin(); return; }
    const wait = Math.max(0, SPACING_MS - (Date.now() - lastStart));
    const pending = {pc: null, timer: setTimeout(() => { if (call === pending) start(); }, wait)};
    call = pending;
  }

  document.addEventListener("dualrec-admitted", (e) => {
    admitted = e.detail;
    over = false;
    start();
  });

  document.addEventListener("dualrec-signal", (e) => {
    const message = e.detail;
    const mine = call;
    if (!mine || !mine.pc) return;
    if (message.kind === "answer") {
      if (mine.pc.signalingState !== "have-local-offer") return;   // not this connection's
      mine.pc.setRemoteDescription({type: "answer", sdp: message.sdp}).catch((err) => {
        console.error("the unit's answer could not be used:", err);
        if (call === mine) retry();
      });
    } else if (message.kind === "candidate") {
      const c = message.candidate ? {candidate: message.candidate, sdpMid: message.sdpMid,
                                     sdpMLineIndex: message.sdpMLineIndex} : null;
      mine.pc.addIceCandidate(c).catch((err) => console.warn("a candidate was not used:", err));
    }
  });

  document.addEventListener("dualrec-offline", () => {
    if (!over && admitted) state("reconnecting");
  });

  document.addEventListener("dualrec-ended", () => {
    over = true;
    hangup();
    stopCamera();
    $("call-sound").hidden = true;
    state("ended");
  });

  $("call-retry").addEventListener("click", () => { stopCamera(); start(); });
  $("call-sound").addEventListener("click", () => {
    const view = $("counter-view");
    view.muted = false;
    $("call-sound").hidden = true;
    play(view);
  });
  window.addEventListener("pagehide", () => hangup());
})();
