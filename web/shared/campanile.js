// The one client module that owns the WebSocket: authentication, subscriptions,
// reconnection with backoff, and a visible connection state.

/** Reads a token once from the URL fragment (#token=…), keeps it in
 *  sessionStorage and removes it from the address bar (never a query string:
 *  it would end up in server logs). */
export function takeToken(storageKey = "campanile.token") {
  const match = location.hash.match(/token=([^&]+)/);
  if (match) {
    sessionStorage.setItem(storageKey, decodeURIComponent(match[1]));
    history.replaceState(null, "", location.pathname + location.search);
  }
  return sessionStorage.getItem(storageKey);
}

/** A live connection. `subscriptions` (a list, or a function returning one,
 *  so that a broadcasts subscription can carry the last `since_seq`) are
 *  re-sent after every reconnect.
 *  onMessage(msg) gets every server message; onState(state) gets
 *  "connecting" | "live" | "reconnecting" | "engine down". */
export class Live {
  constructor({ token = null, subscriptions = [], onMessage = () => {}, onState = () => {} }) {
    Object.assign(this, { token, subscriptions, onMessage, onState });
    this.backoff = 500;
    this.lastUpdate = null;
    this.closed = false;
    this.open();
  }

  open() {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    this.onState(this.lastUpdate ? "reconnecting" : "connecting");
    const ws = new WebSocket(`${scheme}://${location.host}/ws`);
    this.ws = ws;
    ws.onopen = () => {
      this.backoff = 500;
      if (this.token) ws.send(JSON.stringify({ type: "auth", token: this.token }));
      const subs = typeof this.subscriptions === "function" ? this.subscriptions() : this.subscriptions;
      for (const s of subs) ws.send(JSON.stringify({ type: "subscribe", ...s }));
      this.onState("live");
      // A public heatmap changes only when a level does, so silence is not
      // staleness: a pong, which follows every frame sent before it on this
      // ordered connection, confirms the picture held is still the current one.
      clearInterval(this.heartbeat);
      this.heartbeat = setInterval(() => ws.readyState === WebSocket.OPEN && ws.send('{"type":"ping"}'), 10000);
    };
    ws.onmessage = (event) => {
      let msg;
      try { msg = JSON.parse(event.data); } catch { return; }
      if (["heatmap.snapshot", "heatmap.delta", "pong"].includes(msg.type)) this.lastUpdate = Date.now();
      if (msg.type === "status") this.onState(msg.engine === "up" ? "live" : "engine down");
      this.onMessage(msg);
    };
    ws.onclose = () => {
      clearInterval(this.heartbeat);
      if (this.closed) return;
      this.onState("reconnecting");
      const wait = this.backoff * (0.75 + Math.random() / 2);
      this.backoff = Math.min(this.backoff * 2, 15000);
      setTimeout(() => this.open(), wait);
    };
  }

  /** Replaces the subscriptions (e.g. another window) and reconnects them. */
  resubscribe(subscriptions) {
    this.subscriptions = subscriptions;
    if (this.ws) this.ws.close();
  }

  close() {
    this.closed = true;
    if (this.ws) this.ws.close();
  }
}

const ENGLISH_AGO = { never: "never", seconds: (s) => `${s} s ago`, minutes: (m) => `${m} min ago` };

/** "12 s ago" for the connection bar, in the words `say` gives (the header's, in the page's language). */
export function ago(timestamp, say = ENGLISH_AGO) {
  if (!timestamp) return say.never;
  const s = Math.round((Date.now() - timestamp) / 1000);
  return s < 60 ? say.seconds(s) : say.minutes(Math.round(s / 60));
}

/** Fetches JSON with an optional token; throws the error envelope's message. */
export async function getJson(url, token) {
  const headers = token ? { Authorization: `Bearer ${token}` } : {};
  const resp = await fetch(url, { headers });
  const body = await resp.json().catch(() => ({}));
  if (!resp.ok) throw new Error(body?.error?.message || `HTTP ${resp.status}`);
  return body;
}

/** The active safety messages, kept from the broadcasts channel: an Update
 *  or Cancel removes the message it references; `lastSeq` and `epoch` are
 *  what a reconnect resumes from, so nothing is missed. A new epoch is a
 *  log that numbers again from 1: its numbers replace the old ones. */
export class ActiveMessages {
  constructor() {
    this.byId = new Map();
    /** When each held message arrived (Date.now()), for keepOnly. */
    this.arrived = new Map();
    this.lastSeq = null;
    this.epoch = null;
  }

  apply({ seq, epoch, broadcast }) {
    const sameLog = epoch === undefined || this.epoch === null || epoch === this.epoch;
    this.lastSeq = sameLog ? Math.max(this.lastSeq ?? 0, seq) : seq;
    if (epoch !== undefined) this.epoch = epoch;
    if (broadcast.references) this.forget(broadcast.references);
    if (broadcast.msg_type !== "Cancel") {
      this.byId.set(broadcast.id, broadcast);
      this.arrived.set(broadcast.id, Date.now());
    }
  }

  forget(id) {
    this.byId.delete(id);
    this.arrived.delete(id);
  }

  /** Drops the messages not in `active` (ids the server lists as active)
   *  that arrived before `since` (what arrived later is newer than the
   *  list); true if any was dropped. */
  keepOnly(active, since) {
    let dropped = false;
    for (const id of [...this.byId.keys()]) {
      if (!active.has(id) && (this.arrived.get(id) ?? 0) < since) {
        this.forget(id);
        dropped = true;
      }
    }
    return dropped;
  }

  /** Unexpired messages, most severe first. */
  list() {
    const order = ["Extreme", "Severe", "Moderate", "Minor", "Unknown"];
    const now = Date.now();
    return [...this.byId.values()]
      .filter((b) => Date.parse(b.expires) > now)
      .sort((a, b) => order.indexOf(a.severity) - order.indexOf(b.severity));
  }
}

/** A message's text in the page's language (i18n.js sets `<html lang>`), else the browser's, when a translation exists. */
export function localised(b, languages = [globalThis.document?.documentElement.lang, ...(navigator.languages || [navigator.language])].filter(Boolean)) {
  for (const lang of languages) {
    const base = lang.toLowerCase().split("-")[0];
    if (b.language.toLowerCase().split("-")[0] === base) return b;
    const t = b.translations.find((t) => t.language.toLowerCase().split("-")[0] === base);
    if (t) return { ...b, ...t };
  }
  return b;
}
