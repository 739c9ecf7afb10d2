// The customer's screen: the unit's update stream rendered by Screen. A remote party's page
// (a phone browser) can reuse render.js with another transport of the same shape.

import { Screen } from "./render.js";
import { UnitStream } from "./stream.js";

const LOST_NOTICE_MS = 2000;

let stream = null;
const screen = new Screen((kind, body) => stream.send(kind, body));
const banner = document.getElementById("connection");
let lostTimer = null;

stream = new UnitStream({
  onView: (event, receivedAt) => screen.show(event, receivedAt),
  onSignature: (data) => screen.updateSignature(data),
  onConnection: (up) => {
    clearTimeout(lostTimer);
    document.body.dataset.connected = up ? "yes" : "no";
    if (up) banner.hidden = true;
    else lostTimer = setTimeout(() => { banner.hidden = false; }, LOST_NOTICE_MS);
  },
});
stream.start();
