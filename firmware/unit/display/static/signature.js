// The signature drawn live as the pad delivers it. Points are [x, y, pressure] with x and y in
// 0..10000 of the pad's area and pressure in 0..1000; "full" events replace the whole
// signature (a new signature, or a reconnect), the others append points to strokes.
// canvas.dataset.points counts the points drawn (tests read it).

const SCALE = 10000;

export class SignatureView {
  constructor(section, canvas) {
    this.section = section;
    this.canvas = canvas;
    this.aspect = null;
    this.strokes = [];
    new ResizeObserver(() => this.redraw()).observe(section);
  }

  get points() {
    return this.strokes.reduce((n, stroke) => n + stroke.length, 0);
  }

  update(data) {
    if (data.full) {
      this.aspect = data.aspect;
      this.strokes = data.strokes.map((stroke) => stroke.slice());
      this.redraw();
      return;
    }
    for (const [index, x, y, p] of data.points) {
      while (this.strokes.length <= index) this.strokes.push([]);
      const stroke = this.strokes[index];
      stroke.push([x, y, p]);
      if (stroke.length > 1) this._segment(stroke[stroke.length - 2], stroke[stroke.length - 1]);
      else this._dot(stroke[0]);
    }
    this.canvas.dataset.points = String(this.points);
  }

  get active() {
    return this.aspect !== null;
  }

  _fit() {
    const box = this.section.getBoundingClientRect();
    const hint = this.section.querySelector("p");
    const availH = Math.max(60, box.height - (hint ? hint.offsetHeight : 0) - 8);
    const [aw, ah] = this.aspect || [3, 1];
    let width = box.width;
    let height = (width * ah) / aw;
    if (height > availH) {
      height = availH;
      width = (height * aw) / ah;
    }
    const ratio = window.devicePixelRatio || 1;
    this.canvas.style.width = `${Math.floor(width)}px`;
    this.canvas.style.height = `${Math.floor(height)}px`;
    this.canvas.width = Math.max(1, Math.floor(width * ratio));
    this.canvas.height = Math.max(1, Math.floor(height * ratio));
  }

  redraw() {
    if (!this.active) return;
    this._fit();
    const ctx = this.canvas.getContext("2d");
    ctx.fillStyle = "#ffffff";
    ctx.fillRect(0, 0, this.canvas.width, this.canvas.height);
    for (const stroke of this.strokes) {
      if (stroke.length === 1) this._dot(stroke[0]);
      for (let i = 1; i < stroke.length; i += 1) this._segment(stroke[i - 1], stroke[i]);
    }
    this.canvas.dataset.points = String(this.points);
  }

  _xy([x, y]) {
    return [(x / SCALE) * this.canvas.width, (y / SCALE) * this.canvas.height];
  }

  _width(p) {
    return Math.max(1.5, (this.canvas.width / 220) * (0.4 + p / 1000));
  }

  _segment(a, b) {
    const ctx = this.canvas.getContext("2d");
    ctx.strokeStyle = "#10243e";
    ctx.lineCap = "round";
    ctx.lineWidth = this._width(b[2]);
    ctx.beginPath();
    ctx.moveTo(...this._xy(a));
    ctx.lineTo(...this._xy(b));
    ctx.stroke();
  }

  _dot(a) {
    const ctx = this.canvas.getContext("2d");
    ctx.fillStyle = "#10243e";
    ctx.beginPath();
    ctx.arc(...this._xy(a), this._width(a[2]) / 2, 0, 2 * Math.PI);
    ctx.fill();
  }
}
