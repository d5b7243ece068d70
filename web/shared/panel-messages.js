// The active safety messages, from the broadcasts channel, most severe
// first, in the reader's language. What each card carries besides the
// message depends on who reads it: a commander a button to acknowledge it,
// the operators who acknowledged it and a link to its CAP document.
// The card's own text is the message's (localised()); the words around it
// (severity, audience, times, buttons) are the page's language.

import { ActiveMessages, getJson, localised } from "/shared/campanile.js";
import { el, section } from "/shared/dom.js";
import { severityWord } from "/shared/cap.js";
import { contains } from "/shared/map.js";
import { words, language, clock } from "/shared/i18n.js";

const t = words({
  en: {
    title: "Safety messages", none: "No active safety messages.",
    everywhere: "Showing all messages. Tap the map to see only those for a place.",
    showing: (how) => `Showing messages for ${how}.`, chosen: "the point you chose", here: "where you are",
    inPlace: (place, how) => `${place} (${how})`,
    responders: "responders", until: (time) => `Until ${time}`, sentAt: (time) => `Sent ${time}`,
    capDocument: "CAP document",
    acknowledge: "Acknowledge", acknowledging: "Acknowledging…", acknowledged: "Acknowledged ✓",
    notAcknowledged: "Not yet acknowledged", acknowledgedBy: (who) => `Acknowledged by ${who}`,
    refused: (status) => `Not acknowledged (${status}): try again`, offline: "Offline: not acknowledged, try again",
  },
  it: {
    title: "Messaggi di sicurezza", none: "Nessun messaggio di sicurezza attivo.",
    everywhere: "Tutti i messaggi. Tocca la mappa per vedere solo quelli di un luogo.",
    showing: (how) => `Messaggi per ${how}.`, chosen: "il punto scelto", here: "dove ti trovi",
    inPlace: (place, how) => `${place} (${how})`,
    responders: "soccorritori", until: (time) => `Fino alle ${time}`, sentAt: (time) => `Inviato alle ${time}`,
    capDocument: "Documento CAP",
    acknowledge: "Conferma ricezione", acknowledging: "Conferma in corso…", acknowledged: "Ricevuto ✓",
    notAcknowledged: "Ricezione non ancora confermata", acknowledgedBy: (who) => `Ricevuto da ${who}`,
    refused: (status) => `Ricezione non confermata (${status}): riprova`, offline: "Non in linea: ricezione non confermata, riprova",
  },
});


/** The smallest zone polygon (not the perimeter) around `point` ({lat, lon}), by name, or null. */
function placeOf(zones, point) {
  let best = null;
  for (const f of zones) {
    const g = f.geometry;
    if (!g || !["Polygon", "MultiPolygon"].includes(g.type) || f.properties?.kind === "perimeter") continue;
    if (!contains(g, [point.lon, point.lat])) continue;
    const xs = g.coordinates.flat(3).filter((_, i) => i % 2 === 0), ys = g.coordinates.flat(3).filter((_, i) => i % 2 === 1);
    const size = (Math.max(...xs) - Math.min(...xs)) * (Math.max(...ys) - Math.min(...ys));
    if (!best || size < best.size) best = { size, name: f.properties?.name };
  }
  return best?.name ?? null;
}

/**
 * `cardFooter(raw)` adds a node to each card (or nothing); `afterBroadcast(render)`
 * runs after each broadcast; `byPlace` shows only the messages for where the
 * reader is: their position when they allow it, else a point they tap on the
 * map, else all messages.
 */
export function messagesPanel(page, { cardFooter = () => null, afterBroadcast = () => {}, connected = () => {}, byPlace = false } = {}) {
  const messages = new ActiveMessages();
  const panel = section(t("title"), "messages", el("p", { class: "none", text: t("none") }));
  const list = panel.querySelector("#messages");
  let near = null;
  let zones = [];

  // The ids drawn last: the tick redraws only when one has expired, so a
  // card's button keeps its focus and a tap in progress lands.
  let drawn = "";
  function render() {
    const active = messages.list();
    drawn = active.map((b) => b.id).join(" ");
    if (!active.length) {
      list.replaceChildren(el("p", { class: "none", text: t("none") }));
      return;
    }
    list.replaceChildren(...active.map((raw) => {
      const b = localised(raw);
      // The message's words in its language; the page's words around them in the page's.
      const ours = { lang: language() };
      const card = el("article", { class: `message severity-${b.severity.toLowerCase()}`, lang: b.language },
        el("h3", {}, el("span", { ...ours, class: "severity-word", text: severityWord(b.severity) }), `: ${b.headline}`),
        el("p", { text: [b.instruction, b.area.description].filter(Boolean).join(" · ") }));
      const times = [b.sent && t("sentAt", clock(b.sent)), b.expires && t("until", clock(b.expires))].filter(Boolean).join(" · ");
      if (times) card.append(el("div", { ...ours, class: "when" }, el("time", { datetime: b.sent ?? b.expires, text: times })));
      if (b.audience === "responders") card.prepend(el("span", { ...ours, class: "badge", text: t("responders") }));
      const footer = cardFooter(raw);
      if (footer) card.append(footer);
      return card;
    }));
  }

  let showNear = () => {};
  if (byPlace) {
    const note = el("p", { id: "near-note", class: "none", text: t("everywhere") });
    list.before(note);
    const setNear = (point, how) => {
      near = point;
      const words = how === "located" ? t("here") : t("chosen");
      const place = point ? placeOf(zones, point) : null;
      note.textContent = point ? t("showing", place ? t("inPlace", place, words) : words) : t("everywhere");
      // The messages held were for another place: start again from the first.
      messages.byId.clear();
      messages.arrived.clear();
      messages.lastSeq = null;
      render();
      page.resubscribe();
    };
    showNear = setNear;
    page.map.on("click", (e) => setNear({ lat: e.lngLat.lat, lon: e.lngLat.lng }, "chosen"));
    if ("geolocation" in navigator) {
      navigator.geolocation.getCurrentPosition((p) => setNear({ lat: p.coords.latitude, lon: p.coords.longitude }, "located"),
        () => {}, { maximumAge: 60000, timeout: 10000 });
    }
  }

  return {
    elements: [panel],
    /** The place the reader chose or is at, if any. */
    near: () => near,
    /** Shows only the messages for `point` ({lat, lon}): "located" where the reader is, "chosen" a point they picked. */
    showNear: (point, how = "chosen") => showNear(point, how),
    zones(features) {
      zones = features;
    },
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

/** A link to a message's CAP document (for operators: the public gets the one Atom feed). */
export function capDocumentLink(raw) {
  return el("a", { href: `/api/v1/broadcasts/${encodeURIComponent(raw.id)}/cap.xml`, lang: language(), text: t("capDocument") });
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
      if (!resp.ok) failed.set(id, t("refused", resp.status));
      await reader.read();
    } catch {
      failed.set(id, t("offline"));
    }
    pending.delete(id);
    render();
  }
  function cardFooter(raw) {
    if (raw.audience !== "responders") return null;
    if (mine(raw.id)) return el("p", { class: "ack done", role: "status", lang: language(), text: t("acknowledged") });
    if (pending.has(raw.id)) return el("button", { class: "ack", lang: language(), text: t("acknowledging"), disabled: true });
    return el("div", { class: "ack-row", lang: language() },
      el("button", { class: "ack", text: t("acknowledge"), onclick: () => acknowledge(raw.id) }),
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
      return el("p", { class: "acks", lang: language(), text: who.length ? t("acknowledgedBy", who.map((a) => a.sub).join(", ")) : t("notAcknowledged") });
    },
    ...reader.hooks,
  };
}
