// The documents of a reading node, page by page: tabs for the documents, the page's image,
// previous / next by button, swipe, or arrow key. A turn is asked of the unit ("page"); the
// unit answers with a view showing the new page; when its image is on screen the page tells
// the unit ("shown"), which counts the page's time from then. The page's own countdown (how
// long it must stay) and the "我已阅读" button follow the read marks of the view plus the
// time this page has been on screen here.

const SWIPE_PX = 50;

export class ReadingView {
  constructor(root, send) {
    this.root = root;
    this.send = send;
    this.tabs = root.querySelector("#doc-tabs");
    this.frame = root.querySelector("#page-frame");
    this.image = root.querySelector("#page-image");
    this.indicator = root.querySelector("#page-indicator");
    this.progress = root.querySelector("#page-progress");
    this.readDone = root.querySelector("#read-done");
    this.reading = null;
    this.src = null;
    this.timer = null;
    this.shownAt = null;     // when this page's image loaded here (null: not yet)
    this.baseMs = 0;         // the page's time on screen as of baseAt
    this.baseAt = 0;
    root.querySelector("#page-prev").addEventListener("click", () => this.turn(-1));
    root.querySelector("#page-next").addEventListener("click", () => this.turn(1));
    this.readDone.addEventListener("click", () => this._confirm());
    this.image.addEventListener("load", () => this._loaded());
    this._swipe();
    this.frame.addEventListener("keydown", (e) => {
      if (e.key === "ArrowRight" || e.key === "PageDown") this.turn(1);
      if (e.key === "ArrowLeft" || e.key === "PageUp") this.turn(-1);
    });
  }

  get document() {
    return this.reading ? this.reading.documents[this.reading.current] : null;
  }

  update(reading, page, receivedAt) {
    this.reading = reading;
    this.root.hidden = !reading;
    if (!reading) {
      this.src = null;
      this.image.removeAttribute("src");
      return;
    }
    this.page = page.page;
    this._tabs();
    this.indicator.textContent = `第 ${page.page} / ${page.pages} 页`;
    const width = Math.ceil(Math.max(320, this.frame.clientWidth) * (window.devicePixelRatio || 1));
    const src = `api/documents/${page.sha256}/${page.page}.png?w=${width}`;
    if (src !== this.src) {
      this.src = src;
      this.shownAt = null;
      this.image.dataset.shown = "";
      this.image.alt = `${page.title} 第 ${page.page} 页`;
      this.image.src = src;
      this.frame.scrollTop = 0;
    } else if (this.shownAt !== null && reading.page_shown_ms > 0) {
      this.baseMs = reading.page_shown_ms;   // the unit's count, as of this view
      this.baseAt = receivedAt;
    }
    this._progress();
  }

  _tabs() {
    this.tabs.replaceChildren(...this.reading.documents.map((doc, i) => {
      const tab = document.createElement("button");
      tab.type = "button";
      tab.className = "doc-tab";
      tab.dataset.sha256 = doc.sha256;
      if (i === this.reading.current) tab.classList.add("current");
      if (doc.confirmed) tab.classList.add("confirmed");
      tab.textContent = doc.confirmed ? `${doc.title} ✓` : doc.title;
      tab.addEventListener("click", () => {
        if (i !== this.reading.current) this.send("page", { document: doc.sha256, page: 1 });
      });
      return tab;
    }));
  }

  turn(step) {
    const doc = this.document;
    if (!doc) return;
    const page = this.page + step;
    if (page >= 1 && page <= doc.pages) this.send("page", { document: doc.sha256, page });
  }

  _swipe() {
    let start = null;
    this.frame.addEventListener("pointerdown", (e) => { start = [e.clientX, e.clientY]; });
    this.frame.addEventListener("pointerup", (e) => {
      if (!start) return;
      const [dx, dy] = [e.clientX - start[0], e.clientY - start[1]];
      start = null;
      if (Math.abs(dx) > SWIPE_PX && Math.abs(dx) > 1.5 * Math.abs(dy)) this.turn(dx < 0 ? 1 : -1);
    });
    this.frame.addEventListener("pointercancel", () => { start = null; });
  }

  _loaded() {
    const doc = this.document;
    if (!doc || this.shownAt !== null) return;
    this.shownAt = performance.now();
    this.baseMs = this.reading.page_shown_ms;
    this.baseAt = this.shownAt;
    this.image.dataset.shown = `${doc.sha256}:${this.page}`;
    this.send("shown", { document: doc.sha256, page: this.page });
    this._progress();
  }

  // Whether `page` of the current document is read: the view says so, or this page has been on
  // screen here long enough.
  _read(page) {
    const doc = this.document;
    if (doc.read_pages.includes(page)) return true;
    if (page !== this.page || this.shownAt === null) return false;
    return this._shownMs() >= doc.min_page_ms;
  }

  _shownMs() {
    return this.baseMs + (performance.now() - this.baseAt);
  }

  _progress() {
    clearTimeout(this.timer);
    const doc = this.document;
    if (!doc) return;
    const pageRead = this._read(this.page);     // once: the time moves on while we look
    let allRead = pageRead;
    for (let p = 1; p <= doc.pages; p += 1) allRead = allRead && (p === this.page || this._read(p));
    this.readDone.disabled = doc.confirmed || !allRead;
    this.readDone.textContent = doc.confirmed ? "已确认阅读" : "我已阅读";
    if (pageRead) {
      this.progress.textContent = "本页已读 ✓";
      this.progress.dataset.read = "yes";
      return;
    }
    this.progress.dataset.read = "no";
    if (this.shownAt === null) {
      this.progress.textContent = "";
      return;
    }
    const left = doc.min_page_ms - this._shownMs();
    this.progress.textContent = `请阅读本页 ${Math.ceil(left / 1000)} 秒`;
    this.timer = setTimeout(() => this._progress(), Math.max(50, left % 1000 || 1000));
  }

  _confirm() {
    const doc = this.document;
    if (doc) this.send("read", { document: doc.sha256 });
  }
}
