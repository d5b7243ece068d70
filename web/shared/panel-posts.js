// The texts behind a zone, a hotspot or a term (DESIGN §10), for operators
// verifying what the crowd says: newest first, personal data masked by the
// server and marked here, never an author (the server sends none). One
// post's original text is revealed only with a reason typed into the form,
// and the page says that the reveal was logged.

import { el, section } from "/shared/dom.js";

/** Posts asked for at once: enough to read a trend, few enough to read. */
const LIMIT = 50;

/** The placeholders the server masks personal data with (DESIGN §6). */
const MASK = /(\[(?:phone|e-mail|plate|address|@handle)\])/;

const time = (iso) => new Date(iso).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit", hourCycle: "h23" });

/**
 * A masked text as nodes: each placeholder the server put in marked as
 * hidden personal data, the rest as plain text (never as HTML).
 */
export function maskedText(text) {
  return text.split(MASK).filter((part) => part !== "").map((part) => (MASK.test(part)
    ? el("mark", { class: "pii", title: "personal data hidden", text: part })
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
    el("div", { class: "actions" }, submit, el("button", { type: "button", text: "Cancel", onclick: onCancel })),
    error);
  form.addEventListener("keydown", (e) => { if (e.key === "Escape") onCancel(); });
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const reason = input.value.trim();
    if (!reason) {
      error.textContent = "Say why: the audit log keeps the reason.";
      input.focus();
      return;
    }
    submit.disabled = true;
    error.textContent = "";
    try {
      await act(reason);
    } catch (err) {
      error.textContent = `Not done: ${err.message}`;
      submit.disabled = false;
    }
  });
  return { form, focus: () => input.focus() };
}

/** The posts view; `open({zone, bbox, place, term})` shows the posts behind a trend. */
export function postsPanel(page) {
  const zone = el("select", { id: "posts-zone" }, el("option", { value: "", text: "All zones" }));
  const words = el("input", { id: "posts-q", type: "search", maxlength: "200", placeholder: "a term or #hashtag" });
  const around = el("p", { id: "posts-around", class: "posts-around", hidden: "" });
  const note = el("p", { id: "posts-note", class: "none", "aria-live": "polite", text: "Select a rising term, or choose a zone and words, to read the posts." });
  const list = el("ol", { id: "posts-list", class: "posts" });
  const form = el("form", { id: "posts-form" },
    el("label", { class: "field" }, el("span", { text: "Zone" }), zone),
    el("label", { class: "field" }, el("span", { text: "Words" }), words),
    around,
    el("button", { type: "submit", text: "Show posts" }));
  const panel = section("Posts", "posts-panel", form, note, list);
  const heading = panel.querySelector("h2");
  heading.setAttribute("tabindex", "-1");
  const names = new Map();
  const revealed = new Map(); // post id → original text, for this page's life only
  let bbox = null;
  let aroundPlace = null;

  function setAround(box, place) {
    bbox = box;
    aroundPlace = place || "an unnamed place";
    around.hidden = !box;
    around.replaceChildren(...(box ? [`Only around the hotspot (${aroundPlace}) · `, el("button", { type: "button", class: "link", text: "Search everywhere", onclick: () => { setAround(null); load(); } })] : []));
  }

  function described() {
    const where = bbox ? `around the hotspot (${aroundPlace})` : zone.value ? `in ${names.get(zone.value) ?? zone.value}` : "anywhere";
    return `${words.value.trim() ? `with “${words.value.trim()}” ` : ""}${where}`;
  }

  function postItem(p) {
    const text = el("p", { class: "post-text" });
    const original = revealed.get(p.id);
    if (original !== undefined) text.append(original);
    else text.append(...maskedText(p.text));
    const item = el("li", { class: p.discounted ? "post discounted" : "post", "data-id": p.id },
      el("p", { class: "post-meta" },
        el("time", { datetime: p.posted, text: time(p.posted) }),
        ` · ${p.source} · ${p.zone ? names.get(p.zone) ?? p.zone : "outside the zones"}${p.lang ? ` · ${p.lang}` : ""}`,
        ...(p.discounted ? [" · ", el("span", { class: "discounted-tag", text: "discounted (coordinated)" })]
          : p.cluster ? [" · ", el("span", { class: "coordinated-tag", text: "coordinated" })] : [])),
      text);
    if (original !== undefined) {
      text.classList.add("revealed");
      item.append(el("p", { class: "revealed-note", text: "Original text revealed to you; the reveal and your reason were logged." }));
      return item;
    }
    if (p.personal_data?.length) item.append(el("p", { class: "pii-note", text: `Personal data hidden: ${p.personal_data.join(", ")}` }));
    const button = el("button", { type: "button", class: "reveal", text: "Reveal", "aria-label": `Reveal the original text of the post at ${time(p.posted)}` });
    const actions = el("div", { class: "actions" }, button);
    item.append(actions);
    const ask = () => {
      const { form: why, focus } = reasonForm({
        id: `reveal-reason-${p.id}`,
        label: "Why do you need the original text? (written to the audit log)",
        action: "Reveal",
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
    const query = new URLSearchParams({ limit: String(LIMIT) });
    if (zone.value && !bbox) query.set("zone", zone.value);
    if (bbox) query.set("bbox", bbox.map((v) => v.toFixed(6)).join(","));
    if (words.value.trim()) query.set("q", words.value.trim());
    note.textContent = `Reading the posts ${described()}…`;
    try {
      const resp = await fetch(`/api/v1/posts?${query}`, { headers: { Authorization: `Bearer ${page.token()}` } });
      const body = await resp.json().catch(() => ({}));
      if (!resp.ok) throw new Error(body?.error?.message || `HTTP ${resp.status}`);
      list.replaceChildren(...body.posts.map(postItem));
      note.textContent = body.posts.length
        ? `${body.posts.length} ${body.posts.length === 1 ? "post" : "posts"} ${described()}, newest first${body.posts.length === LIMIT ? ` (the latest ${LIMIT})` : ""}.${body.complete ? "" : ` The search stopped after ${body.scanned} texts: narrow it to see further back.`}`
        : `No post ${described()} within the texts kept.`;
    } catch (err) {
      note.textContent = `The posts could not be read: ${err.message}`;
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
      words.value = term;
      panel.scrollIntoView({ block: "start" });
      heading.focus({ preventScroll: true });
      return load();
    },
  };
}
