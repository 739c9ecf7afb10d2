// The customer's screen on a remote party's phone (docs/remote-media.md, "Reading and signing
// remotely"): what the counter's screen shows (step, captions in step with the voice, what
// the step needs, why NEXT was refused, who takes part), the documents page by page with
// 上一页 / 下一页 / 我已阅读, and at a signature step a box to sign in with a finger, with
// 重写 and 确认签名. Everything travels on the call's "screen" data channel (call.js hands it
// over: window.dualrecCall.screen and the dualrec-screen event); the unit decides what counts.
//
// Page pictures come as a header and binary chunks (request, index: two big-endian uint32,
// then the PNG's bytes), are checked (size, SHA-256 where the page is a secure context) and
// drawn on a canvas through createImageBitmap: the relay's CSP (default-src 'self') allows no
// blob: or data: image. Once a page is drawn the unit is told ("shown"), and counts its time
// from then. Text from the unit is only ever set as textContent. No third-party code.
"use strict";
(function () {
  const SHEET = "/static/party_screen.css";
  const MAX_WIDTH = 1600;           // the widest page picture the unit renders
  const IMAGE_RETRY_MS = 10000;     // a picture that has not come by then is asked again
  const MAX_POINTS = 2000;          // what the unit takes of a signature
  const MAX_STROKES = 50;
  const ELDER_MIN_MS = 1500;
  const SWIPE_PX = 50;
  const MARGIN_MS = 300;            // the unit stamps "shown" on arrival: read a little longer

  let channel = null;
  let last = null;                  // the last view message and when it came
  let receivedAt = 0;
  let requests = 0;
  let wanted = null;                // {key, request, document, page, timer}
  let incoming = null;              // {header, parts, got}
  let drawn = null;                 // {key, document, page, at, baseMs, baseAt}
  let progressTimer = 0;
  let countdownTimer = 0;
  let captionTimer = 0;
  let captionKey = null;

  const el = (tag, attrs = {}, ...children) => {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs)) {
      if (k === "text") node.textContent = v; else node.setAttribute(k, v);
    }
    node.append(...children);
    return node;
  };
  const $ = (id) => document.getElementById(id);

  function build() {
    const sheet = el("link", {rel: "stylesheet", href: SHEET});
    document.head.append(sheet);
    const root = el("section", {id: "party-screen", hidden: "", "data-connected": "no",
                                "aria-label": "双录屏幕"},
      el("header", {class: "ps-bar"},
        el("span", {id: "ps-node-number"}), el("h2", {id: "ps-node-title"}),
        el("span", {id: "ps-countdown", hidden: ""})),
      el("p", {id: "ps-status"}),
      el("div", {id: "ps-refusal", role: "alert", hidden: ""},
        el("strong", {text: "暂不能进入下一步"}), el("span", {id: "ps-refusal-words"}),
        el("span", {id: "ps-refusal-detail"})),
      el("div", {id: "ps-captions", "aria-live": "polite"},
        el("p", {id: "ps-caption-previous"}), el("p", {id: "ps-caption-current"})),
      el("ul", {id: "ps-needs"}),
      el("section", {id: "ps-reading", hidden: ""},
        el("nav", {id: "ps-doc-tabs"}),
        el("div", {id: "ps-page-frame"}, el("canvas", {id: "ps-page", "data-shown": ""})),
        el("div", {class: "ps-row"},
          el("button", {id: "ps-page-prev", type: "button", text: "上一页"}),
          el("span", {id: "ps-page-indicator"}),
          el("button", {id: "ps-page-next", type: "button", text: "下一页"})),
        el("div", {class: "ps-row"},
          el("span", {id: "ps-page-progress", "data-read": "no"}),
          el("button", {id: "ps-read-done", type: "button", disabled: "", text: "我已阅读"}))),
      el("section", {id: "ps-signature", hidden: "", "data-state": ""},
        el("p", {id: "ps-signature-hint", text: "请用手指在下面的框内签名"}),
        el("canvas", {id: "ps-signature-canvas", "data-points": "0"}),
        el("div", {class: "ps-row"},
          el("button", {id: "ps-sign-clear", type: "button", text: "重写"}),
          el("button", {id: "ps-sign-done", type: "button", disabled: "", text: "确认签名"}))),
      el("p", {id: "ps-notice", role: "status", hidden: ""}),
      el("footer", {id: "ps-people"}));
    ($("joined") || document.querySelector("main") || document.body).after(root);
    $("ps-page-prev").addEventListener("click", () => turn(-1));
    $("ps-page-next").addEventListener("click", () => turn(1));
    $("ps-read-done").addEventListener("click", () => {
      const doc = currentDocument();
      if (doc) send({type: "read", document: doc.sha256});
    });
    swipe($("ps-page-frame"));
    signaturePad();
  }

  // -- the channel ---------------------------------------------------------------------------
  function attach(dc) {
    if (!dc || dc === channel) return;
    channel = dc;
    dc.binaryType = "arraybuffer";
    dc.addEventListener("message", (e) => { if (channel === dc) receive(e.data); });
    dc.addEventListener("close", () => { if (channel === dc) connected(false); });
    // a new connection: the unit counts a page again only once it is drawn again
    clearTimeout(wanted && wanted.timer);
    wanted = incoming = drawn = null;
    $("ps-page").dataset.shown = "";
    connected(dc.readyState === "open");
  }

  function connected(up) {
    $("party-screen").dataset.connected = up ? "yes" : "no";
  }

  function send(message) {
    if (!channel || channel.readyState !== "open") return false;
    channel.send(JSON.stringify(message));
    return true;
  }

  function receive(data) {
    if (typeof data !== "string") { chunk(data); return; }
    let message;
    try { message = JSON.parse(data); } catch (err) { return; }
    if (message.type === "view") show(message);
    else if (message.type === "image") begin(message);
    else if (message.type === "refused") refused(message);
  }

  function refused(message) {
    const notice = $("ps-notice");
    notice.hidden = false;
    notice.dataset.of = message.of || "";
    notice.dataset.field = message.field || "";
    notice.textContent = message.of === "signature"
      ? "签名未被接受，请重写后再确认。" : "操作未被接受，请稍后再试。";
    if (message.of === "signature") signature.sent = false;
    signatureButtons();
  }

  // -- the view ------------------------------------------------------------------------------
  function show(message) {
    last = message;
    receivedAt = performance.now();
    const view = message.view;
    const {state, status, elder} = view.state;
    const root = $("party-screen");
    root.hidden = false;
    root.classList.toggle("ps-elder", elder);
    root.dataset.state = state;
    const node = state === "recording" ? view.node : null;
    $("ps-node-number").textContent = node ? `第 ${node.number} / ${node.total} 步` : "";
    $("ps-node-title").textContent = node ? node.title : "";
    $("ps-status").textContent = node ? "" : status;
    captions(node ? view.caption : null, message.now_ns, elder);
    needs(view.needs.needs);
    countdown(node ? view.needs.min_until_ns : null, message.now_ns);
    const refusal = view.refusal;
    $("ps-refusal").hidden = !refusal;
    $("ps-refusal").dataset.code = refusal ? refusal.code : "";
    $("ps-refusal-words").textContent = refusal ? refusal.words : "";
    $("ps-refusal-detail").textContent = refusal ? refusal.detail : "";
    $("ps-people").replaceChildren(...view.people.map((p) => el("span", {class: "ps-person"},
      el("span", {class: "ps-role", text: p.label}),
      el("span", {class: "ps-name", text: p.remote ? `${p.name}（远程）` : p.name}))));
    reading(node ? view.reading : null, view.page);
    signatureState(node ? message.signature : null);
  }

  function needs(list) {
    $("ps-needs").replaceChildren(...list.map(({need, words}) =>
      el("li", {"data-need": need, text: words})));
  }

  function countdown(untilNs, nowNs) {
    clearInterval(countdownTimer);
    const out = $("ps-countdown");
    if (untilNs === null || untilNs === undefined) { out.hidden = true; return; }
    const endsAt = receivedAt + (untilNs - nowNs) / 1e6;
    const tick = () => {
      const left = Math.ceil((endsAt - performance.now()) / 1000);
      out.hidden = left <= 0;
      out.textContent = `还需 ${left} 秒`;
      if (left <= 0) clearInterval(countdownTimer);
    };
    tick();
    countdownTimer = setInterval(tick, 250);
  }

  // captions in step with the voice (as the counter's screen: firmware/unit/display/static)
  function captions(caption, nowNs, elder) {
    const key = caption ? JSON.stringify([caption, elder]) : null;
    if (key === captionKey) return;
    captionKey = key;
    clearTimeout(captionTimer);
    const previous = $("ps-caption-previous"), current = $("ps-caption-current");
    previous.textContent = current.textContent = "";
    $("ps-captions").hidden = !caption;
    if (!caption) return;
    const phrases = caption.phrases || [];
    if (caption.started_ns === null || phrases.length === 0) {
      current.textContent = caption.text;
      return;
    }
    const startedAt = receivedAt - (nowNs - caption.started_ns) / 1e6;
    const step = (shown, shownAt) => {
      const now = performance.now();
      let index = shown;
      while (index + 1 < phrases.length && startedAt + phrases[index + 1].start_ms <= now) {
        index += 1;
        if (elder && shown >= 0) break;
      }
      if (index < 0) index = 0;
      if (index !== shown) {
        previous.textContent = index > 0 ? phrases[index - 1].text : "";
        current.textContent = phrases[index].text;
        shownAt = now;
      }
      if (index + 1 >= phrases.length) return;
      let due = startedAt + phrases[index + 1].start_ms;
      if (elder) due = Math.max(due, shownAt + ELDER_MIN_MS);
      captionTimer = setTimeout(() => step(index, shownAt), Math.max(0, due - now));
    };
    step(-1, 0);
  }

  // -- reading -------------------------------------------------------------------------------
  function currentDocument() {
    const r = last && last.view.reading;
    return r ? r.documents[r.current] : null;
  }

  function reading(r, page) {
    $("ps-reading").hidden = !r;
    if (!r) {                       // no documents at this step: nothing in the works
      clearTimeout(progressTimer);
      clearTimeout(wanted && wanted.timer);
      wanted = incoming = drawn = null;
      $("ps-page").dataset.shown = "";
      return;
    }
    $("ps-doc-tabs").replaceChildren(...r.documents.map((doc, i) => {
      const tab = el("button", {type: "button", class: "ps-doc-tab", "data-sha256": doc.sha256,
                                text: doc.confirmed ? `${doc.title} ✓` : doc.title});
      if (i === r.current) tab.classList.add("current");
      if (doc.confirmed) tab.classList.add("confirmed");
      tab.addEventListener("click", () => {
        if (i !== r.current) send({type: "page", document: doc.sha256, page: 1});
      });
      return tab;
    }));
    $("ps-page-indicator").textContent = `第 ${page.page} / ${page.pages} 页`;
    const key = `${page.sha256}:${page.page}`;
    if (drawn && drawn.key === key && r.page_shown_ms > 0) {
      drawn.baseMs = r.page_shown_ms;           // the unit's count, as of this view
      drawn.baseAt = receivedAt;
    }
    if ((!drawn || drawn.key !== key) && (!wanted || wanted.key !== key)) ask(page);
    progress();
  }

  function ask(page) {
    clearTimeout(wanted && wanted.timer);
    const frame = $("ps-page-frame");
    const width = Math.min(MAX_WIDTH, Math.ceil(Math.max(320, frame.clientWidth) *
                                                (window.devicePixelRatio || 1)));
    requests = (requests + 1) % 2147483647;
    wanted = {key: `${page.sha256}:${page.page}`, request: requests, document: page.sha256,
              page: page.page, timer: 0};
    incoming = null;
    if (send({type: "image", request: wanted.request, document: page.sha256, page: page.page,
              width})) {
      const mine = wanted;
      mine.timer = setTimeout(() => { if (wanted === mine) { wanted = null; ask(page); } },
                              IMAGE_RETRY_MS);
    }
  }

  function begin(header) {
    incoming = wanted && header.request === wanted.request && header.chunks >= 1 &&
      header.chunks <= 1024 ? {header, parts: new Array(header.chunks), got: 0} : null;
  }

  function chunk(buffer) {
    if (!incoming || buffer.byteLength < 8) return;
    const head = new DataView(buffer);
    const request = head.getUint32(0), index = head.getUint32(4);
    if (request !== incoming.header.request || index >= incoming.header.chunks ||
        incoming.parts[index]) return;
    incoming.parts[index] = buffer.slice(8);
    incoming.got += 1;
    if (incoming.got === incoming.header.chunks) {
      const done = incoming;
      incoming = null;
      finish(done).catch((err) => console.warn("a page picture could not be shown:", err));
    }
  }

  async function finish({header, parts}) {
    const blob = new Blob(parts, {type: "image/png"});
    if (blob.size !== header.bytes) return;
    if (window.crypto && crypto.subtle) {
      const digest = new Uint8Array(await crypto.subtle.digest("SHA-256",
                                                                await blob.arrayBuffer()));
      const hex = Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
      if (hex !== header.sha256) return;
    }
    const bitmap = await createImageBitmap(blob);
    if (!wanted || wanted.request !== header.request) { bitmap.close(); return; }
    const canvas = $("ps-page");
    canvas.width = bitmap.width;
    canvas.height = bitmap.height;
    canvas.getContext("2d").drawImage(bitmap, 0, 0);
    bitmap.close();
    clearTimeout(wanted.timer);
    const r = last.view.reading;
    drawn = {key: wanted.key, document: wanted.document, page: wanted.page,
             baseMs: r ? r.page_shown_ms : 0, baseAt: performance.now()};
    wanted = null;
    $("ps-page-frame").scrollTop = 0;
    canvas.dataset.shown = drawn.key;
    send({type: "shown", document: drawn.document, page: drawn.page});
    progress();
  }

  function turn(stepBy) {
    const doc = currentDocument();
    const page = last && last.view.page;
    if (!doc || !page) return;
    const next = page.page + stepBy;
    if (next >= 1 && next <= doc.pages) send({type: "page", document: doc.sha256, page: next});
  }

  function swipe(frame) {
    let start = null;
    frame.addEventListener("pointerdown", (e) => { start = [e.clientX, e.clientY]; });
    frame.addEventListener("pointerup", (e) => {
      if (!start) return;
      const [dx, dy] = [e.clientX - start[0], e.clientY - start[1]];
      start = null;
      if (Math.abs(dx) > SWIPE_PX && Math.abs(dx) > 1.5 * Math.abs(dy)) turn(dx < 0 ? 1 : -1);
    });
    frame.addEventListener("pointercancel", () => { start = null; });
  }

  // whether `page` of the current document is read: the unit says so, or it has been drawn
  // here long enough
  function isRead(doc, page, current) {
    if (doc.read_pages.includes(page)) return true;
    if (page !== current || !drawn || drawn.key !== `${doc.sha256}:${page}`) return false;
    return shownMs() >= doc.min_page_ms + MARGIN_MS;
  }

  function shownMs() { return drawn.baseMs + (performance.now() - drawn.baseAt); }

  function progress() {
    clearTimeout(progressTimer);
    const doc = currentDocument();
    if (!doc) return;
    const current = last.view.page.page;
    let all = true;
    for (let p = 1; p <= doc.pages; p += 1) all = all && isRead(doc, p, current);
    $("ps-read-done").disabled = doc.confirmed || !all;
    $("ps-read-done").textContent = doc.confirmed ? "已确认阅读" : "我已阅读";
    const out = $("ps-page-progress");
    out.dataset.unitRead = doc.read_pages.includes(current) ? "yes" : "no";
    if (isRead(doc, current, current)) {
      out.textContent = "本页已读 ✓";
      out.dataset.read = "yes";
      return;
    }
    out.dataset.read = "no";
    if (!drawn || drawn.key !== `${doc.sha256}:${current}`) { out.textContent = ""; return; }
    const left = doc.min_page_ms + MARGIN_MS - shownMs();
    out.textContent = `请阅读本页 ${Math.ceil(left / 1000)} 秒`;
    progressTimer = setTimeout(progress, Math.max(50, left % 1000 || 1000));
  }

  // -- the finger signature -----------------------------------------------------------------
  const signature = {node: null, state: null, strokes: [], current: null, points: 0,
                     t0: null, lastT: 0, sent: false, width: 0, height: 0};

  function signaturePad() {
    const canvas = $("ps-signature-canvas");
    const add = (e) => {
      if (signature.points >= MAX_POINTS) {
        $("ps-signature-hint").textContent = "签名太长了，请点“重写”后写得简短些。";
        return;
      }
      const box = canvas.getBoundingClientRect();
      const x = Math.min(signature.width, Math.max(0, Math.round(e.clientX - box.left)));
      const y = Math.min(signature.height, Math.max(0, Math.round(e.clientY - box.top)));
      const stamp = Math.round(e.timeStamp);
      if (signature.t0 === null) signature.t0 = stamp;
      const t = Math.max(signature.lastT, stamp - signature.t0);
      signature.lastT = t;
      const stroke = signature.current;
      const ctx = canvas.getContext("2d");
      if (stroke.length) {
        const [, px, py] = stroke[stroke.length - 1];
        ctx.beginPath(); ctx.moveTo(px, py); ctx.lineTo(x, y); ctx.stroke();
      } else {
        ctx.beginPath(); ctx.arc(x, y, 1.5, 0, 2 * Math.PI); ctx.fill();
      }
      stroke.push([t, x, y]);
      signature.points += 1;
      canvas.dataset.points = String(signature.points);
    };
    canvas.addEventListener("pointerdown", (e) => {
      if (signature.state !== "wanted" || signature.sent ||
          signature.strokes.length >= MAX_STROKES) return;
      canvas.setPointerCapture(e.pointerId);
      signature.current = [];
      signature.strokes.push(signature.current);
      add(e);
      e.preventDefault();
    });
    canvas.addEventListener("pointermove", (e) => {
      if (!signature.current) return;
      for (const one of (e.getCoalescedEvents ? e.getCoalescedEvents() : [e])) add(one);
      e.preventDefault();
    });
    const end = () => { signature.current = null; signatureButtons(); };
    canvas.addEventListener("pointerup", end);
    canvas.addEventListener("pointercancel", end);
    $("ps-sign-clear").addEventListener("click", clearSignature);
    $("ps-sign-done").addEventListener("click", () => {
      const strokes = signature.strokes.filter((s) => s.length);
      if (!strokes.length || signature.sent) return;
      signature.sent = send({type: "signature", node: signature.node, width: signature.width,
                             height: signature.height,
                             strokes: strokes.map((s) => ({t: s.map((p) => p[0]),
                                                           x: s.map((p) => p[1]),
                                                           y: s.map((p) => p[2])}))});
      signatureButtons();
    });
  }

  function clearSignature() {
    Object.assign(signature, {strokes: [], current: null, points: 0, t0: null, lastT: 0,
                              sent: false});
    const canvas = $("ps-signature-canvas");
    const box = canvas.getBoundingClientRect();
    const ratio = window.devicePixelRatio || 1;
    signature.width = Math.max(1, Math.round(box.width));
    signature.height = Math.max(1, Math.round(box.height));
    canvas.width = Math.round(signature.width * ratio);
    canvas.height = Math.round(signature.height * ratio);
    const ctx = canvas.getContext("2d");
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    Object.assign(ctx, {lineWidth: 3, lineCap: "round", lineJoin: "round",
                        strokeStyle: "#10243e", fillStyle: "#10243e"});
    canvas.dataset.points = "0";
    $("ps-signature-hint").textContent = "请用手指在下面的框内签名";
    $("ps-notice").hidden = true;
    signatureButtons();
  }

  function signatureState(wantedState) {
    const section = $("ps-signature");
    section.hidden = !wantedState;
    if (!wantedState) { signature.node = signature.state = null; return; }
    const fresh = signature.node !== wantedState.node;
    signature.node = wantedState.node;
    signature.state = wantedState.state;
    section.dataset.state = wantedState.state;
    if (fresh) clearSignature();
    if (wantedState.state === "sealed") {
      $("ps-signature-hint").textContent = "签名已提交 ✓";
      $("ps-notice").hidden = true;
    }
    signatureButtons();
  }

  function signatureButtons() {
    const open = signature.state === "wanted" && !signature.sent;
    $("ps-sign-done").disabled = !open || !signature.strokes.some((s) => s.length);
    $("ps-sign-clear").disabled = !open;
    if (signature.state === "wanted" && signature.sent) {
      $("ps-signature-hint").textContent = "正在提交签名…";
    }
  }

  build();
  document.addEventListener("dualrec-screen", (e) => attach(e.detail));
  const api = window.dualrecCall;
  if (api && api.screen && api.screen.readyState === "open") attach(api.screen);
})();
