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
export function messagesPanel(page, { cardFooter = () => null, afterBroadcast = () => {}, byPlace = false } = {}) {
  const messages = new ActiveMessages();
  const panel = section("Safety messages", "messages", el("p", { class: "none", text: "No active safety messages." }));
  const list = panel.querySelector("#messages");
  let near = null;

  function render() {
    const active = messages.list();
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
    tick: render, // drops messages as they expire
  };
}

/** The public's link to a message's CAP document. */
export function capDocumentLink(raw) {
  return el("a", { href: `/api/v1/broadcasts/${encodeURIComponent(raw.id)}/cap.xml`, text: "CAP document" });
}

/**
 * A commander's button that acknowledges a message. The panel redraws its
 * cards every tick, so what was acknowledged is remembered here, not in the
 * button: a redraw must not offer to acknowledge the message again.
 */
export function acknowledgeButton(page) {
  const acknowledged = new Set();
  async function acknowledge(id, button) {
    button.disabled = true;
    try {
      const resp = await fetch(`/api/v1/broadcasts/${encodeURIComponent(id)}/ack`, { method: "POST", headers: { Authorization: `Bearer ${page.token()}` } });
      if (resp.ok) acknowledged.add(id);
      button.textContent = resp.ok ? "Acknowledged ✓" : `Failed (${resp.status})`;
    } catch {
      button.textContent = "Offline: retry";
      button.disabled = false;
    }
  }
  return (raw) => acknowledged.has(raw.id)
    ? el("button", { class: "ack", text: "Acknowledged ✓", disabled: true })
    : el("button", { class: "ack", text: "Acknowledge", onclick: (e) => acknowledge(raw.id, e.target) });
}

/** The operators' line of who acknowledged each message, read again after every broadcast. */
export function acknowledgements(page) {
  let acks = new Map();
  return {
    cardFooter(raw) {
      const who = acks.get(raw.id) || [];
      return el("p", { class: "acks", text: who.length ? `Acknowledged by ${who.map((a) => a.sub).join(", ")}` : "Not yet acknowledged" });
    },
    async afterBroadcast(render) {
      const token = page.token();
      if (!token) return;
      try {
        const list = await getJson("/api/v1/broadcasts?active=true", token);
        acks = new Map(list.broadcasts.map((b) => [b.id, b.acks || []]));
        render();
      } catch { /* shown by the connection state */ }
    },
  };
}
