// The rumour register on /ops/ (DESIGN §10): every entry, published or not;
// record and edit one (claim, status, fact, Italian text, zones, published);
// publish or unpublish in one click; "Broadcast this" turns a published
// entry into a public message after a confirmation; and the triage's
// "Rumour…" form, which picks the existing or new entry a report is linked to.

import { getJson } from "/shared/campanile.js";
import { el, section, select } from "/shared/dom.js";
import { stamp } from "/shared/rumours.js";

const STATUSES = ["false", "misleading", "true", "unverified"];
const REFRESH_TICKS = 30;

/** Sends JSON with the operator's token; resolves to [ok, body]. */
async function send(page, method, url, body) {
  try {
    const resp = await fetch(url, {
      method,
      headers: { Authorization: `Bearer ${page.token()}`, "Content-Type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const answer = await resp.json().catch(() => ({}));
    return [resp.ok, answer];
  } catch {
    return [false, { error: { message: "the server cannot be reached" } }];
  }
}

const field = (label, input) => el("label", { class: "field" }, el("span", { text: label }), input);

export function rumourPanel(page) {
  let entries = [];
  let editing = null;
  let ticks = 0;
  const zoneNames = new Map();
  const list = el("div", { id: "rumour-list" }, el("p", { class: "none", text: "No entries yet." }));
  const status = el("p", { class: "rumour-status", role: "status", id: "rumour-status" });
  const claim = el("textarea", { id: "rf-claim", rows: "2", maxlength: "500", required: "" });
  const state = select({ id: "rf-status" }, STATUSES, "false");
  const fact = el("textarea", { id: "rf-fact", rows: "3", maxlength: "2000" });
  const claimIt = el("textarea", { id: "rf-claim-it", rows: "2", maxlength: "500" });
  const factIt = el("textarea", { id: "rf-fact-it", rows: "2", maxlength: "2000" });
  const zones = el("fieldset", { id: "rf-zones" }, el("legend", { text: "Zones concerned" }));
  const published = el("input", { id: "rf-published", type: "checkbox" });
  const save = el("button", { type: "submit", class: "primary", id: "rf-save", text: "Record" });
  const cancel = el("button", { type: "button", id: "rf-cancel", text: "New entry instead", hidden: "" });
  const form = el("form", { id: "rumour-form" },
    field("Rumour (the claim going round, en)", claim),
    field("Status", state),
    field("Fact (required unless unverified, en)", fact),
    field("Rumour (it)", claimIt),
    field("Fact (it)", factIt),
    zones,
    el("label", { class: "check" }, published, " Published on /rumours"),
    el("div", { class: "actions" }, save, cancel));

  function body() {
    const ticked = [...zones.querySelectorAll("input:checked")].map((i) => i.value);
    const b = { claim: claim.value, status: state.value, fact: fact.value, language: "en", zones: ticked, published: published.checked };
    b.translations = claimIt.value.trim() ? [{ language: "it", claim: claimIt.value, fact: factIt.value }] : [];
    return b;
  }

  function edit(entry) {
    editing = entry?.id ?? null;
    const it = entry?.translations?.find((t) => t.language.startsWith("it"));
    claim.value = entry?.claim ?? "";
    state.value = entry?.status ?? "false";
    fact.value = entry?.fact ?? "";
    claimIt.value = it?.claim ?? "";
    factIt.value = it?.fact ?? "";
    published.checked = entry?.published ?? false;
    for (const box of zones.querySelectorAll("input")) box.checked = entry?.zones?.includes(box.value) ?? false;
    save.textContent = editing ? "Save changes" : "Record";
    cancel.hidden = !editing;
    if (editing) claim.focus();
  }

  async function load() {
    try {
      entries = (await getJson("/api/v1/rumours", page.token())).rumours;
      render();
    } catch { /* the connection state says why */ }
  }

  async function act(method, url, payload, done) {
    const [ok, answer] = await send(page, method, url, payload);
    status.textContent = ok ? done(answer) : `Not done: ${answer?.error?.message ?? "unknown error"}`;
    await load();
    return ok;
  }

  function card(entry) {
    const where = entry.zones.map((z) => zoneNames.get(z) ?? z).join(", ");
    return el("article", { class: "rumour-entry", "data-status": entry.status, "data-id": entry.id },
      el("div", { class: "entry-head" }, stamp(entry.status),
        el("span", { class: entry.published ? "published-badge" : "published-badge draft", text: entry.published ? "Published" : "Draft" }),
        el("span", { class: "where", text: `v${entry.version} · ${new Date(entry.updated).toLocaleString()}` })),
      el("p", { class: "claim" }, el("span", { class: "label", text: "Rumour:" }), el("span", { class: "text", text: entry.claim })),
      el("p", { class: "fact" }, el("span", { class: "label", text: "Fact:" }), el("span", { class: "text", text: entry.fact || "(being checked)" })),
      ...(where ? [el("p", { class: "where", text: `Where: ${where}` })] : []),
      ...(entry.reports.length || entry.broadcasts.length ? [el("p", { class: "where", text: `${entry.reports.length} report(s) · ${entry.broadcasts.length} broadcast(s)` })] : []),
      el("div", { class: "actions" },
        el("button", { type: "button", text: "Edit", onclick: () => edit(entry) }),
        el("button", { type: "button", text: entry.published ? "Unpublish" : "Publish", onclick: () =>
          act("PATCH", `/api/v1/rumours/${encodeURIComponent(entry.id)}`, { published: !entry.published }, () => (entry.published ? "Unpublished." : "Published on /rumours.")) }),
        broadcastButton(entry)));
  }

  function broadcastButton(entry) {
    const attrs = { type: "button", class: "broadcast", text: "Broadcast this", onclick: () => broadcast(entry) };
    Object.assign(attrs, entry.published ? { title: "Send it as a public safety message" } : { title: "Publish it first", disabled: "" });
    return el("button", attrs);
  }

  async function broadcast(entry) {
    const where = entry.zones.map((z) => zoneNames.get(z) ?? z).join(", ") || "no zone (it will be refused)";
    if (!window.confirm(`Send a public safety message to ${where}?\n\n${entry.status.toUpperCase()}: ${entry.claim}`)) return;
    await act("POST", `/api/v1/rumours/${encodeURIComponent(entry.id)}/broadcast`, undefined, (a) => `Broadcast sent as #${a.broadcast.seq}.`);
  }

  function render() {
    list.replaceChildren(...(entries.length ? entries.map(card) : [el("p", { class: "none", text: "No entries yet." })]));
  }

  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const ok = editing
      ? await act("PATCH", `/api/v1/rumours/${encodeURIComponent(editing)}`, body(), (a) => `Saved as version ${a.version}.`)
      : await act("POST", "/api/v1/rumours", body(), () => "Recorded.");
    if (ok) edit(null);
  });
  cancel.addEventListener("click", () => edit(null));

  return {
    elements: [section("Rumour register", "rumour-panel", status, list, form)],
    entries: () => entries,
    reload: load,
    started: load,
    tick() {
      ticks += 1;
      if (ticks % REFRESH_TICKS === 0) load();
    },
    zones(features) {
      for (const f of features) {
        zoneNames.set(f.properties.id, f.properties.name);
        if (f.properties.kind !== "first_aid") zones.append(el("label", { class: "check" }, el("input", { type: "checkbox", value: f.properties.id }), ` ${f.properties.name}`));
      }
      render();
    },
  };
}

/**
 * The triage's "Rumour…" form for one report: the entry of `register` it is
 * (an existing one, or a new one made from its text). Nothing is sent from
 * here: "Answer it publicly…" calls `answer(rumour)` (the composer prepares
 * the answer; the report is linked once it is sent), "Mark false and link,
 * no answer" calls `link(rumour)`; triage links it (linkReport) once the few
 * seconds to undo it have passed. `rumour` is the entry's id or a new entry.
 */
export function rumourLinker(register, report, { answer, link }) {
  const options = [["new", "New entry from this report"], ...register.entries().map((e) => [e.id, `${e.status.toUpperCase()}: ${e.claim.slice(0, 60)}`])];
  const which = el("select", { class: "rl-entry" }, ...options.map(([value, text]) => el("option", { value, text })));
  const claim = el("textarea", { class: "rl-claim", rows: "2", maxlength: "500" });
  claim.value = report.text ?? "";
  const state = select({ class: "rl-status" }, STATUSES, "false");
  const fact = el("textarea", { class: "rl-fact", rows: "2", maxlength: "2000" });
  const fresh = el("div", { class: "rumour-linker" }, field("Claim", claim), field("Status", state), field("Fact", fact));
  const note = el("p", { class: "form-error", role: "alert" });
  which.addEventListener("change", () => { fresh.hidden = which.value !== "new"; });

  /** The entry chosen, or null with the reason shown (a new one needs a claim, and a fact unless unverified). */
  function chosen() {
    note.textContent = "";
    if (which.value !== "new") return which.value;
    if (!claim.value.trim()) note.textContent = "Write the claim going round.";
    else if (state.value !== "unverified" && !fact.value.trim()) note.textContent = "Write the fact, or choose the status unverified.";
    else return { claim: claim.value, status: state.value, fact: fact.value };
    return null;
  }

  const act = (then) => () => {
    const rumour = chosen();
    if (rumour !== null) then(rumour);
  };
  const form = el("form", { class: "rumour-linker" },
    field("Register entry", which), fresh,
    el("div", { class: "actions" },
      el("button", { type: "button", class: "primary rl-answer", text: "Answer it publicly…", onclick: act(answer) }),
      el("button", { type: "button", class: "rl-link", text: "Mark false and link, no answer", onclick: act(link) })),
    note);
  form.addEventListener("submit", (e) => e.preventDefault());
  return form;
}

/** Moderates report `id` false and links it to `rumour` (an entry's id or a new entry); resolves to [ok, body]. */
export async function linkReport(page, register, id, rumour) {
  const [ok, answer] = await send(page, "PATCH", `/api/v1/reports/${encodeURIComponent(id)}`, { status: "false", rumour });
  if (ok) await register.reload();
  return [ok, answer];
}
