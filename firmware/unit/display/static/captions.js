// Captions in step with the voice. A caption comes with its phrases (text, start_ms from the
// prompt's start) and started_ns, when the voice started on the unit's clock; the event's
// now_ns is the unit's clock when it was sent, so the voice started
// (now_ns - started_ns) / 1e6 ms before the event arrived. Without started_ns the voice has
// not started (or its timing is unknown): the whole text is shown.
// The previous phrase stays on screen, smaller, for whoever reads slowly; in elder mode (larger
// type) each phrase also stays at least ELDER_MIN_MS, so the captions never race ahead.

const ELDER_MIN_MS = 1500;

export class Captions {
  constructor(previousEl, currentEl) {
    this.previousEl = previousEl;
    this.currentEl = currentEl;
    this.timer = null;
    this.key = null;
  }

  show(caption, nowNs, receivedAt, elder) {
    const key = caption ? JSON.stringify([caption, elder]) : null;
    if (key === this.key) return;     // the same caption again (another part changed)
    this.key = key;
    clearTimeout(this.timer);
    this.previousEl.textContent = "";
    this.currentEl.textContent = "";
    if (!caption) return;
    const phrases = caption.phrases || [];
    if (caption.started_ns === null || phrases.length === 0) {
      this.currentEl.textContent = caption.text;
      this.currentEl.dataset.phrase = "all";
      return;
    }
    const startedAt = receivedAt - (nowNs - caption.started_ns) / 1e6;
    this._schedule(phrases, startedAt, elder, -1, 0);
  }

  _schedule(phrases, startedAt, elder, shown, shownAt) {
    const now = performance.now();
    let index = shown;
    while (index + 1 < phrases.length && startedAt + phrases[index + 1].start_ms <= now) {
      index += 1;
      // elder mode: one phrase at a time, except on arrival (a reload mid-prompt): there the
      // captions join the voice where it is
      if (elder && shown >= 0) break;
    }
    if (index < 0) index = 0;                     // before the voice: its first phrase
    if (index !== shown) {
      this.previousEl.textContent = index > 0 ? phrases[index - 1].text : "";
      this.currentEl.textContent = phrases[index].text;
      this.currentEl.dataset.phrase = String(index);
      shownAt = now;
    }
    if (index + 1 >= phrases.length) return;
    let due = startedAt + phrases[index + 1].start_ms;
    if (elder) due = Math.max(due, shownAt + ELDER_MIN_MS);
    this.timer = setTimeout(() => this._schedule(phrases, startedAt, elder, index, shownAt),
                            Math.max(0, due - now));
  }
}
