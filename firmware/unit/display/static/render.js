// What the screen shows, from a view (the parts of firmware.display.view.DisplayView):
// state, node, captions, needs and countdown, refusal, people, reading, signature. Pure DOM
// work with textContent only (nothing from the unit is parsed as HTML).

import { Captions } from "./captions.js";
import { ReadingView } from "./reading.js";
import { SignatureView } from "./signature.js";

const STATE_WORDS = { idle: "待机", recording: "● 录制中", fault: "设备故障", refused: "无法开始" };

const $ = (id) => document.getElementById(id);

export class Screen {
  constructor(send) {
    this.captions = new Captions($("caption-previous"), $("caption-current"));
    this.reading = new ReadingView($("reading"), send);
    this.signature = new SignatureView($("signature"), $("signature-canvas"));
    this.countdownTimer = null;
    this.view = null;
  }

  show(event, receivedAt) {
    const view = event.view;
    this.view = view;
    const { state, status, hint, elder } = view.state;
    document.body.className = `state-${state}${elder ? " elder" : ""}`;
    document.documentElement.classList.toggle("elder", elder);   // rem sizes follow the root
    document.body.dataset.state = state;
    $("state-badge").textContent = STATE_WORDS[state] || state;
    $("idle-hint").textContent = state === "idle" ? hint : "";
    $("idle-status").textContent = status;

    const node = view.node;
    const inNode = state === "recording" && node !== null;
    $("idle").hidden = inNode;
    $("node").hidden = !inNode;
    $("node-number").hidden = !node;
    $("node-number").textContent = node ? `第 ${node.number} / ${node.total} 步` : "";
    $("node-title").textContent = node ? node.title : "";

    this.captions.show(inNode ? view.caption : null, event.now_ns, receivedAt, elder);
    $("captions").hidden = !(inNode && view.caption);
    this._needs(view.needs.needs);
    this._countdown(view.needs.min_until_ns, event.now_ns, receivedAt);
    this._refusal(view.refusal);
    this._people(view.people);
    this.reading.update(inNode ? view.reading : null, view.page, receivedAt);
    this._signatureShown();
    document.body.dataset.ready = "yes";
  }

  updateSignature(data) {
    this.signature.update(data);
    this._signatureShown();
  }

  _signatureShown() {
    const needs = this.view ? this.view.needs.needs.map((n) => n.need) : [];
    const show = this.signature.active
      && (needs.includes("signature") || this.signature.points > 0);
    const wasHidden = $("signature").hidden;
    $("signature").hidden = !show || $("node").hidden;
    if (wasHidden && !$("signature").hidden) this.signature.redraw();
  }

  _needs(needs) {
    $("needs").replaceChildren(...needs.map(({ need, words }) => {
      const item = document.createElement("li");
      item.dataset.need = need;
      item.textContent = words;
      return item;
    }));
  }

  _countdown(untilNs, nowNs, receivedAt) {
    clearInterval(this.countdownTimer);
    const el = $("countdown");
    if (untilNs === null) {
      el.hidden = true;
      return;
    }
    const endsAt = receivedAt + (untilNs - nowNs) / 1e6;
    const tick = () => {
      const left = Math.ceil((endsAt - performance.now()) / 1000);
      el.hidden = left <= 0;
      el.textContent = `还需 ${left} 秒`;
      if (left <= 0) clearInterval(this.countdownTimer);
    };
    tick();
    this.countdownTimer = setInterval(tick, 250);
  }

  _refusal(refusal) {
    $("refusal").hidden = !refusal;
    $("refusal").dataset.code = refusal ? refusal.code : "";
    $("refusal-words").textContent = refusal ? refusal.words : "";
    $("refusal-detail").textContent = refusal ? refusal.detail : "";
  }

  _people(people) {
    $("people").replaceChildren(...people.map((person) => {
      const item = document.createElement("span");
      item.className = "person";
      item.dataset.role = person.role;
      const label = document.createElement("span");
      label.className = "role";
      label.textContent = person.label;
      const name = document.createElement("span");
      name.className = "name";
      name.textContent = person.remote ? `${person.name}（远程）` : person.name;
      item.append(label, name);
      return item;
    }));
  }
}
