// The active safety messages, from the broadcasts channel, most severe
// first, in the reader's language. What each card carries besides the
// message depends on who reads it: the public a link to its CAP document,
// a commander a button to acknowledge it, the operators who acknowledged it.

import { ActiveMessages, getJson, localised } from "/shared/campanile.js";
import { el, section } from "/shared/dom.js";

const EVERYWHERE = "Showing all messages. Tap the map to see only those for a place.";

/**
 * `cardFooter(raw)` adds a node to each card (or nothing); `afterBroadcast(render)`
 * runs after each broadcast; `byPlace` shows only the messages for where the
 * reader is: their position when they allow it, else a point they tap on the
 * map, else all messages.
 */
export function messagesPanel(page, { cardFooter = () => null, afterBroadcast = () => {}, connected = () => {}, byPlace = false } = {}) {
  const messages = new ActiveMessages();
  const panel = section("Safety messages", "messages", el("p", { class: "none", text: "No active safety messages." }));
  const list = panel.querySelector("#messages");
  let near = null;

  // The ids drawn last: the tick redraws only when one has expired, so a
  // card's button keeps its focus and a tap in progress lands.
  let drawn = "";
  function render() {
    const active = messages.list();
    drawn = active.map((b) => b.id).join(" ");
    if (!active.length) {
      list.replaceChildren(el("p", { class: "none", text: "No active safety messages." }));
      return;
    }
    list.replaceChildren(...active.map((raw) => {
      const b = localised(raw);
      const card = el("article", { class: `message severity-${b.severity.toLowerCase()}`, lang: b.language },
        el("h3", { text: `${b.severity}: ${b.headline}` }),
        el("p", { text: [b.instruction, b.area.description].filter(Boolean).join(" · ") }));
      if (b.audience === "responders") card.prepend(el("span", { class: "badge", text: "responders" }));
      const footer = cardFooter(raw);
      if (footer) card.append(footer);
      return card;
    }));
  }

  if (byPlace) {
    const note = el("p", { id: "near-note", class: "none", text: EVERYWHERE });
    list.before(note);
    const setNear = (point, how) => {
      near = point;
      note.textContent = point ? `Showing messages for ${how}.` : EVERYWHERE;
      // The messages held were for another place: start again from the first.
      messages.byId.clear();
      messages.arrived.clear();
      messages.lastSeq = null;
      render();
      page.resubscribe();
    };
    page.map.on("click", (e) => setNear({ lat: e.lngLat.lat, lon: e.lngLat.lng }, "the point you chose"));
    if ("geolocation" in navigator) {
      navigator.geolocation.getCurrentPosition((p) => setNear({ lat: p.coords.latitude, lon: p.coords.longitude }, "where you are"),
        () => {}, { maximumAge: 60000, timeout: 10000 });
    }
  }

  return {
    elements: [panel],
    /** The place the reader chose or is at, if any. */
    near: () => near,
    subscriptions() {
      const broadcasts = { channel: "broadcasts" };
      if (messages.lastSeq !== null) {
        broadcasts.since_seq = messages.lastSeq;
        if (messages.epoch !== null) broadcasts.epoch = messages.epoch;
      }
      if (near) broadcasts.near = near;
      return [broadcasts];
    },
    on: {
      broadcast(msg) {
        messages.apply(msg);
        render();
        afterBroadcast(render);
      },
    },
    // At every (re)connection the server's own list of active messages
    // settles what the page holds: a server started again without its data
    // (--ephemeral) numbers a new log, and its channel has nothing to say
    // about the old messages the page still shows.
    async connected() {
      const since = Date.now();
      try {
        const { broadcasts } = await getJson("/api/v1/broadcasts?active=true", page.token());
        if (messages.keepOnly(new Set(broadcasts.map((b) => b.id)), since)) render();
      } catch { /* the connection state says why */ }
      connected(render, messages);
    },
    tick() { // drops messages as they expire
      if (messages.list().map((b) => b.id).join(" ") !== drawn) render();
    },
  };
}

/** The public's link to a message's CAP document. */
export function capDocumentLink(raw) {
  return el("a", { href: `/api/v1/broadcasts/${encodeURIComponent(raw.id)}/cap.xml`, text: "CAP document" });
}

/** How often the acknowledgements are read again while messages are active:
 *  an acknowledgement made on a tablet shows on the wall within this. */
const ACKS_EVERY_MS = 1000;

/**
 * Who acknowledged the active messages, as the server knows it: read after
 * every broadcast, at every (re)connection and every ACKS_EVERY_MS while
 * `followWhile(messages)` holds. The server lists every acknowledgement to
 * operators and a commander's own to that commander, so the same reader
 * serves both. `hooks` are the messages panel's; `redraw()` draws its cards.
 */
function acknowledgementsReader(page, followWhile) {
  let acks = new Map();
  let reading = null;
  let render = () => {};
  let timer = null;
  async function read() {
    const token = page.token();
    if (!token || reading) return;
    reading = (async () => {
      try {
        const list = await getJson("/api/v1/broadcasts?active=true", token);
        const next = new Map(list.broadcasts.map((b) => [b.id, b.acks || []]));
        const changed = JSON.stringify([...next]) !== JSON.stringify([...acks]);
        acks = next;
        if (changed) render();
      } catch { /* shown by the connection state */ } finally { reading = null; }
    })();
    await reading;
  }
  return {
    of: (id) => acks.get(id) || [],
    read,
    redraw: () => render(),
    hooks: {
      afterBroadcast(redraw) {
        render = redraw;
        read();
      },
      connected(redraw, messages) {
        render = redraw;
        read();
        clearInterval(timer);
        timer = setInterval(() => { if (followWhile(messages)) read(); }, ACKS_EVERY_MS);
      },
    },
  };
}

/**
 * A commander's button that acknowledges a message addressed to responders
 * (public messages are the public's, not acknowledged). What was
 * acknowledged comes from the server, so a tablet opened again, or a second
 * tablet of the same commander, shows it; the panel redraws its cards every
 * tick, so the state lives here, not in the button.
 */
export function acknowledgeButton(page) {
  const pending = new Set();
  const failed = new Map();
  const reader = acknowledgementsReader(page, (messages) => messages.list().some((m) => m.audience === "responders"));
  const render = reader.redraw;
  const mine = (id) => reader.of(id).length > 0;
  async function acknowledge(id) {
    pending.add(id);
    failed.delete(id);
    render();
    try {
      const resp = await fetch(`/api/v1/broadcasts/${encodeURIComponent(id)}/ack`, { method: "POST", headers: { Authorization: `Bearer ${page.token()}` } });
      if (!resp.ok) failed.set(id, `Not acknowledged (${resp.status}): try again`);
      await reader.read();
    } catch {
      failed.set(id, "Offline: not acknowledged, try again");
    }
    pending.delete(id);
    render();
  }
  function cardFooter(raw) {
    if (raw.audience !== "responders") return null;
    if (mine(raw.id)) return el("p", { class: "ack done", role: "status", text: "Acknowledged ✓" });
    if (pending.has(raw.id)) return el("button", { class: "ack", text: "Acknowledging…", disabled: true });
    return el("div", { class: "ack-row" },
      el("button", { class: "ack", text: "Acknowledge", onclick: () => acknowledge(raw.id) }),
      ...(failed.has(raw.id) ? [el("p", { class: "ack-failed", role: "alert", text: failed.get(raw.id) })] : []));
  }
  return { cardFooter, ...reader.hooks };
}

/** The operators' line of who acknowledged each message, kept live from the server. */
export function acknowledgements(page) {
  const reader = acknowledgementsReader(page, (messages) => messages.list().length > 0);
  return {
    cardFooter(raw) {
      const who = reader.of(raw.id);
      return el("p", { class: "acks", text: who.length ? `Acknowledged by ${who.map((a) => a.sub).join(", ")}` : "Not yet acknowledged" });
    },
    ...reader.hooks,
  };
}
