// The texts behind a zone, a hotspot or a term (DESIGN §10), for operators
// verifying what the crowd says: newest first, personal data masked by the
// server and marked here, never an author (the server sends none). One
// post's original text is revealed only with a reason typed into the form,
// and the page says that the reveal was logged.

import { el, section } from "/shared/dom.js";
import { clock, number, words } from "/shared/i18n.js";

const t = words({
  en: {
    heading: "Posts",
    hidden: "personal data hidden",
    sayWhy: "Say why: the audit log keeps the reason.",
    notDone: (message) => `Not done: ${message}`,
    cancel: "Cancel",
    allZones: "All zones",
    placeholder: "a term or #hashtag",
    intro: "Select a rising term, or choose a zone and words, to read the posts.",
    zone: "Zone",
    words: "Words",
    show: "Show posts",
    unnamed: "an unnamed place",
    onlyAround: (place) => `Only around the hotspot (${place}) · `,
    everywhere: "Search everywhere",
    aroundHotspot: (place) => `around the hotspot (${place})`,
    inZone: (name) => `in ${name}`,
    anywhere: "anywhere",
    withWords: (q) => `with “${q}” `,
    outside: "outside the zones",
    discounted: "discounted (coordinated)",
    coordinated: "coordinated",
    revealedNote: "Original text revealed to you; the reveal and your reason were logged.",
    personalHidden: (kinds) => `Personal data hidden: ${kinds}`,
    reveal: "Reveal",
    revealLabel: (time) => `Reveal the original text of the post at ${time}`,
    whyReveal: "Why do you need the original text? (written to the audit log)",
    reading: (what) => `Reading the posts ${what}…`,
    found: (n, what, latest) => `${number(n)} ${n === 1 ? "post" : "posts"} ${what}, newest first${latest ? ` (the latest ${number(latest)})` : ""}.`,
    stopped: (scanned) => ` The search stopped after ${number(scanned)} texts: narrow it to see further back.`,
    none: (what) => `No post ${what} within the texts kept.`,
    failed: (message) => `The posts could not be read: ${message}`,
  },
  it: {
    heading: "Post",
    hidden: "dati personali nascosti",
    sayWhy: "Scrivi il motivo: il registro di controllo lo conserva.",
    notDone: (message) => `Non fatto: ${message}`,
    cancel: "Annulla",
    allZones: "Tutte le zone",
    placeholder: "un termine o #hashtag",
    intro: "Scegli un termine in crescita, oppure una zona e delle parole, per leggere i post.",
    zone: "Zona",
    words: "Parole",
    show: "Mostra i post",
    unnamed: "un luogo senza nome",
    onlyAround: (place) => `Solo intorno al punto caldo (${place}) · `,
    everywhere: "Cerca ovunque",
    aroundHotspot: (place) => `intorno al punto caldo (${place})`,
    inZone: (name) => `in ${name}`,
    anywhere: "ovunque",
    withWords: (q) => `con «${q}» `,
    outside: "fuori dalle zone",
    discounted: "esclusi (coordinati)",
    coordinated: "coordinato",
    revealedNote: "Testo originale mostrato a te; la visualizzazione e il motivo sono stati registrati.",
    personalHidden: (kinds) => `Dati personali nascosti: ${kinds}`,
    reveal: "Mostra",
    revealLabel: (time) => `Mostra il testo originale del post delle ${time}`,
    whyReveal: "Perché ti serve il testo originale? (scritto nel registro di controllo)",
    reading: (what) => `Lettura dei post ${what}…`,
    found: (n, what, latest) => `${number(n)} post ${what}, prima i più recenti${latest ? ` (gli ultimi ${number(latest)})` : ""}.`,
    stopped: (scanned) => ` La ricerca si è fermata dopo ${number(scanned)} testi: restringila per vedere più indietro.`,
    none: (what) => `Nessun post ${what} tra i testi conservati.`,
    failed: (message) => `Non è stato possibile leggere i post: ${message}`,
  },
});

/** Posts asked for at once: enough to read a trend, few enough to read. */
const LIMIT = 50;

/** The placeholders the server masks personal data with (DESIGN §6). */
const MASK = /(\[(?:phone|e-mail|plate|address|@handle)\])/;

const time = (iso) => clock(iso, { seconds: true });

/**
 * A masked text as nodes: each placeholder the server put in marked as
 * hidden personal data, the rest as plain text (never as HTML).
 */
export function maskedText(text) {
  return text.split(MASK).filter((part) => part !== "").map((part) => (MASK.test(part)
    ? el("mark", { class: "pii", title: t("hidden"), text: part })
    : document.createTextNode(part)));
}

async function postJson(url, token, body) {
  const resp = await fetch(url, { method: "POST", headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/json" }, body: JSON.stringify(body) });
  const answer = await resp.json().catch(() => ({}));
  if (!resp.ok) throw new Error(answer?.error?.message || `HTTP ${resp.status}`);
  return answer;
}

/**
 * A small form asking why, inside a card: a labelled text field (required,
 * the server's 1–500 characters), the action's button and Cancel. `act(reason)`
 * does the work and throws the server's message, which the form shows.
 */
export function reasonForm({ id, label, action, act, onCancel }) {
  const input = el("input", { id, type: "text", required: "", maxlength: "500", autocomplete: "off" });
  const error = el("p", { class: "form-error", role: "alert" });
  const submit = el("button", { type: "submit", class: "confirm", text: action });
  // Our own message, not the browser's bubble: it is read out (role=alert) and says why a reason is asked.
  const form = el("form", { class: "reason-form", novalidate: "" },
    el("label", { for: id, text: label }), input,
    el("div", { class: "actions" }, submit, el("button", { type: "button", text: t("cancel"), onclick: onCancel })),
    error);
  form.addEventListener("keydown", (e) => { if (e.key === "Escape") onCancel(); });
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const reason = input.value.trim();
    if (!reason) {
      error.textContent = t("sayWhy");
      input.focus();
      return;
    }
    submit.disabled = true;
    error.textContent = "";
    try {
      await act(reason);
    } catch (err) {
      error.textContent = t("notDone", err.message);
      submit.disabled = false;
    }
  });
  return { form, focus: () => input.focus() };
}

/** The posts view; `open({zone, bbox, place, term})` shows the posts behind a trend. */
export function postsPanel(page) {
  const zone = el("select", { id: "posts-zone" }, el("option", { value: "", text: t("allZones") }));
  const query = el("input", { id: "posts-q", type: "search", maxlength: "200", placeholder: t("placeholder") });
  const around = el("p", { id: "posts-around", class: "posts-around", hidden: "" });
  const note = el("p", { id: "posts-note", class: "none", "aria-live": "polite", text: t("intro") });
  const list = el("ol", { id: "posts-list", class: "posts" });
  const form = el("form", { id: "posts-form" },
    el("label", { class: "field" }, el("span", { text: t("zone") }), zone),
    el("label", { class: "field" }, el("span", { text: t("words") }), query),
    around,
    el("button", { type: "submit", text: t("show") }));
  const panel = section(t("heading"), "posts-panel", form, note, list);
  const heading = panel.querySelector("h2");
  heading.setAttribute("tabindex", "-1");
  const names = new Map();
  const revealed = new Map(); // post id → original text, for this page's life only
  let bbox = null;
  let aroundPlace = null;

  function setAround(box, place) {
    bbox = box;
    aroundPlace = place || t("unnamed");
    around.hidden = !box;
    around.replaceChildren(...(box ? [t("onlyAround", aroundPlace), el("button", { type: "button", class: "link", text: t("everywhere"), onclick: () => { setAround(null); load(); } })] : []));
  }

  function described() {
    const where = bbox ? t("aroundHotspot", aroundPlace) : zone.value ? t("inZone", names.get(zone.value) ?? zone.value) : t("anywhere");
    return `${query.value.trim() ? t("withWords", query.value.trim()) : ""}${where}`;
  }

  function postItem(p) {
    // The post's own words, in the language the server detected, whatever the page's.
    const text = el("p", { class: "post-text", ...(p.lang ? { lang: p.lang } : {}) });
    const original = revealed.get(p.id);
    if (original !== undefined) text.append(original);
    else text.append(...maskedText(p.text));
    const item = el("li", { class: p.discounted ? "post discounted" : "post", "data-id": p.id },
      el("p", { class: "post-meta" },
        el("time", { datetime: p.posted, text: time(p.posted) }),
        ` · ${p.source} · ${p.zone ? names.get(p.zone) ?? p.zone : t("outside")}${p.lang ? ` · ${p.lang}` : ""}`,
        ...(p.discounted ? [" · ", el("span", { class: "discounted-tag", text: t("discounted") })]
          : p.cluster ? [" · ", el("span", { class: "coordinated-tag", text: t("coordinated") })] : [])),
      text);
    if (original !== undefined) {
      text.classList.add("revealed");
      item.append(el("p", { class: "revealed-note", text: t("revealedNote") }));
      return item;
    }
    if (p.personal_data?.length) item.append(el("p", { class: "pii-note", text: t("personalHidden", p.personal_data.join(", ")) }));
    const button = el("button", { type: "button", class: "reveal", text: t("reveal"), "aria-label": t("revealLabel", time(p.posted)) });
    const actions = el("div", { class: "actions" }, button);
    item.append(actions);
    const ask = () => {
      const { form: why, focus } = reasonForm({
        id: `reveal-reason-${p.id}`,
        label: t("whyReveal"),
        action: t("reveal"),
        act: async (reason) => {
          const answer = await postJson(`/api/v1/posts/${encodeURIComponent(p.id)}/reveal`, page.token(), { reason });
          revealed.set(p.id, answer.text);
          const shown = postItem(p);
          item.replaceWith(shown);
          shown.setAttribute("tabindex", "-1");
          shown.focus();
        },
        onCancel: () => {
          why.remove();
          actions.hidden = false;
          button.focus();
        },
      });
      actions.hidden = true;
      item.append(why);
      focus();
    };
    button.addEventListener("click", ask);
    return item;
  }

  async function load() {
    const params = new URLSearchParams({ limit: String(LIMIT) });
    if (zone.value && !bbox) params.set("zone", zone.value);
    if (bbox) params.set("bbox", bbox.map((v) => v.toFixed(6)).join(","));
    if (query.value.trim()) params.set("q", query.value.trim());
    note.textContent = t("reading", described());
    try {
      const resp = await fetch(`/api/v1/posts?${params}`, { headers: { Authorization: `Bearer ${page.token()}` } });
      const body = await resp.json().catch(() => ({}));
      if (!resp.ok) throw new Error(body?.error?.message || `HTTP ${resp.status}`);
      list.replaceChildren(...body.posts.map(postItem));
      note.textContent = body.posts.length
        ? `${t("found", body.posts.length, described(), body.posts.length === LIMIT ? LIMIT : 0)}${body.complete ? "" : t("stopped", body.scanned)}`
        : t("none", described());
    } catch (err) {
      note.textContent = t("failed", err.message);
    }
  }

  form.addEventListener("submit", (e) => {
    e.preventDefault();
    load();
  });
  zone.addEventListener("change", () => setAround(null));

  return {
    elements: [panel],
    zones(features) {
      for (const f of features.filter((f) => ["Polygon", "MultiPolygon"].includes(f.geometry?.type))) {
        names.set(f.properties.id, f.properties.name);
        zone.append(el("option", { value: f.properties.id, text: f.properties.name }));
      }
    },
    /** Shows the posts behind a term in a zone or around a hotspot, and takes the keyboard there. */
    open({ zone: id = null, bbox: box = null, place = null, term = "" }) {
      zone.value = id && names.has(id) ? id : "";
      setAround(box, place);
      query.value = term;
      panel.scrollIntoView({ block: "start" });
      heading.focus({ preventScroll: true });
      return load();
    },
  };
}
