// The transport between the page and the unit: the update stream (Server-Sent Events) in,
// input posts out. All URLs are relative to the page, so the same page works mounted under a
// prefix (remote parties). A page for another transport implements the same three members.

export class UnitStream {
  constructor({ onView, onSignature, onConnection }) {
    this.onView = onView;
    this.onSignature = onSignature;
    this.onConnection = onConnection;
    this.source = null;
    this.lastId = null;
  }

  start() {
    // EventSource reconnects by itself (the server says "retry: 1000") and sends
    // Last-Event-ID; the server answers every connection with the current view at once.
    this.source = new EventSource(new URL("api/events", document.baseURI));
    this.source.addEventListener("open", () => this.onConnection(true));
    this.source.addEventListener("error", () => this.onConnection(false));
    this.source.addEventListener("view", (e) => this._deliver(e, this.onView));
    this.source.addEventListener("signature", (e) => this._deliver(e, this.onSignature));
  }

  _deliver(event, handler) {
    this.lastId = event.lastEventId;
    document.body.dataset.eventId = event.lastEventId;
    handler(JSON.parse(event.data), performance.now());
  }

  // kind: "page", "shown" or "read"; body: {document, page?}. Resolves to true if accepted.
  async send(kind, body) {
    try {
      const response = await fetch(new URL(`api/${kind}`, document.baseURI), {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify(body),
        cache: "no-store",
        credentials: "same-origin",
      });
      return response.ok;
    } catch (err) {
      return false;
    }
  }
}
