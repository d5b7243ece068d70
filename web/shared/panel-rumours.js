// The rumour register on /ops/ (DESIGN §10): every entry, published or not;
// record and edit one (claim, status, fact, Italian text, zones, published);
// publish or unpublish in one click; "Broadcast this" turns a published
// entry into a public message after a confirmation; and the triage's
// "Rumour…" form, which picks the existing or new entry a report is linked to.

import { getJson } from "/shared/campanile.js";
import { el, section } from "/shared/dom.js";
import { dateTime, language, number, words } from "/shared/i18n.js";
import { stamp } from "/shared/rumours.js";

const STATUSES = ["false", "misleading", "true", "unverified"];
const REFRESH_TICKS = 30;

// Every word the register and the triage's "Rumour…" form show, in one place for translation.
export const WORDS = {
  en: {
    title: "Rumour register",
    noEntries: "No entries yet.",
    unreachable: "the server cannot be reached",
    zonesConcerned: "Zones concerned",
    record: "Record",
    saveChanges: "Save changes",
    newInstead: "New entry instead",
    claimEn: "Rumour (the claim going round, en)",
    status: "Status",
    factEn: "Fact (required unless unverified, en)",
    claimIt: "Rumour (it)",
    factIt: "Fact (it)",
    publishedOn: " Published on /rumours",
    notDone: (why) => `Not done: ${why}`,
    unknownError: "unknown error",
    published: "Published",
    draft: "Draft",
    version: (v, at) => `v${v} · ${at}`,
    rumourLabel: "Rumour:",
    factLabel: "Fact:",
    beingChecked: "(being checked)",
    where: (places) => `Where: ${places}`,
    links: (reports, broadcasts) => `${reports} report(s) · ${broadcasts} broadcast(s)`,
    edit: "Edit",
    publish: "Publish",
    unpublish: "Unpublish",
    unpublished: "Unpublished.",
    publishedDone: "Published on /rumours.",
    broadcast: "Broadcast this",
    broadcastTitle: "Send it as a public safety message",
    publishFirst: "Publish it first",
    noZone: "no zone (it will be refused)",
    confirmBroadcast: (where, status, claim) => `Send a public safety message to ${where}?\n\n${status}: ${claim}`,
    broadcastSent: (seq) => `Broadcast sent as #${seq}.`,
    savedVersion: (v) => `Saved as version ${v}.`,
    recorded: "Recorded.",
    false: "false", misleading: "misleading", true: "true", unverified: "unverified",
    newFromReport: "New entry from this report",
    claim: "Claim",
    fact: "Fact",
    registerEntry: "Register entry",
    writeClaim: "Write the claim going round.",
    writeFact: "Write the fact, or choose the status unverified.",
    answerPublicly: "Answer it publicly…",
    markAndLink: "Mark false and link, no answer",
  },
  it: {
    title: "Registro delle voci",
    noEntries: "Ancora nessuna voce registrata.",
    unreachable: "il server non è raggiungibile",
    zonesConcerned: "Zone interessate",
    record: "Registra",
    saveChanges: "Salva le modifiche",
    newInstead: "Nuova voce, invece",
    claimEn: "Voce (ciò che si dice in giro, en)",
    status: "Stato",
    factEn: "Fatti (obbligatori se non è da verificare, en)",
    claimIt: "Voce (it)",
    factIt: "Fatti (it)",
    publishedOn: " Pubblicata su /rumours",
    notDone: (why) => `Non fatto: ${why}`,
    unknownError: "errore sconosciuto",
    published: "Pubblicata",
    draft: "Bozza",
    version: (v, at) => `v${v} · ${at}`,
    rumourLabel: "Voce:",
    factLabel: "Fatti:",
    beingChecked: "(in verifica)",
    where: (places) => `Dove: ${places}`,
    links: (reports, broadcasts) => `${reports} segnalazioni · ${broadcasts} messaggi`,
    edit: "Modifica",
    publish: "Pubblica",
    unpublish: "Ritira",
    unpublished: "Ritirata.",
    publishedDone: "Pubblicata su /rumours.",
    broadcast: "Diffondi come messaggio",
    broadcastTitle: "Inviala come messaggio di sicurezza al pubblico",
    publishFirst: "Prima pubblicala",
    noZone: "nessuna zona (sarà rifiutato)",
    confirmBroadcast: (where, status, claim) => `Inviare un messaggio di sicurezza al pubblico in ${where}?\n\n${status}: ${claim}`,
    broadcastSent: (seq) => `Messaggio inviato come n. ${seq}.`,
    savedVersion: (v) => `Salvata come versione ${v}.`,
    recorded: "Registrata.",
    false: "falsa", misleading: "fuorviante", true: "vera", unverified: "da verificare",
    newFromReport: "Nuova voce da questa segnalazione",
    claim: "Voce",
    fact: "Fatti",
    registerEntry: "Voce del registro",
    writeClaim: "Scrivi ciò che si dice in giro.",
    writeFact: "Scrivi i fatti, o scegli lo stato «da verificare».",
    answerPublicly: "Rispondi pubblicamente…",
    markAndLink: "Segna falsa e collega, senza risposta",
  },
};
const t = words(WORDS);

/** A `<select>` of the statuses, shown in the reader's words, sending the server's value. */
const statusSelect = (attrs, chosen) =>
  el("select", attrs, ...STATUSES.map((v) => el("option", { value: v, text: t(v), ...(v === chosen ? { selected: "" } : {}) })));

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
    return [false, { error: { message: t("unreachable") } }];
  }
}

const field = (label, input) => el("label", { class: "field" }, el("span", { text: label }), input);

export function rumourPanel(page) {
  let entries = [];
  let editing = null;
  let ticks = 0;
  const zoneNames = new Map();
  const list = el("div", { id: "rumour-list" }, el("p", { class: "none", text: t("noEntries") }));
  const status = el("p", { class: "rumour-status", role: "status", id: "rumour-status" });
  const claim = el("textarea", { id: "rf-claim", rows: "2", maxlength: "500", required: "" });
  const state = statusSelect({ id: "rf-status" }, "false");
  const fact = el("textarea", { id: "rf-fact", rows: "3", maxlength: "2000" });
  const claimIt = el("textarea", { id: "rf-claim-it", rows: "2", maxlength: "500" });
  const factIt = el("textarea", { id: "rf-fact-it", rows: "2", maxlength: "2000" });
  const zones = el("fieldset", { id: "rf-zones" }, el("legend", { text: t("zonesConcerned") }));
  const published = el("input", { id: "rf-published", type: "checkbox" });
  const save = el("button", { type: "submit", class: "primary", id: "rf-save", text: t("record") });
  const cancel = el("button", { type: "button", id: "rf-cancel", text: t("newInstead"), hidden: "" });
  const form = el("form", { id: "rumour-form" },
    field(t("claimEn"), claim),
    field(t("status"), state),
    field(t("factEn"), fact),
    field(t("claimIt"), claimIt),
    field(t("factIt"), factIt),
    zones,
    el("label", { class: "check" }, published, t("publishedOn")),
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
    save.textContent = editing ? t("saveChanges") : t("record");
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
    status.textContent = ok ? done(answer) : t("notDone", answer?.error?.message ?? t("unknownError"));
    await load();
    return ok;
  }

  function card(entry) {
    const where = entry.zones.map((z) => zoneNames.get(z) ?? z).join(", ");
    return el("article", { class: "rumour-entry", "data-status": entry.status, "data-id": entry.id },
      el("div", { class: "entry-head" }, stamp(entry.status, language()),
        el("span", { class: entry.published ? "published-badge" : "published-badge draft", text: entry.published ? t("published") : t("draft") }),
        el("span", { class: "where", text: t("version", entry.version, dateTime(entry.updated)) })),
      el("p", { class: "claim" }, el("span", { class: "label", text: t("rumourLabel") }), el("span", { class: "text", lang: entry.language ?? "en", text: entry.claim })),
      el("p", { class: "fact" }, el("span", { class: "label", text: t("factLabel") }), el("span", { class: "text", ...(entry.fact ? { lang: entry.language ?? "en" } : {}), text: entry.fact || t("beingChecked") })),
      ...(where ? [el("p", { class: "where", text: t("where", where) })] : []),
      ...(entry.reports.length || entry.broadcasts.length ? [el("p", { class: "where", text: t("links", number(entry.reports.length), number(entry.broadcasts.length)) })] : []),
      el("div", { class: "actions" },
        el("button", { type: "button", text: t("edit"), onclick: () => edit(entry) }),
        el("button", { type: "button", text: entry.published ? t("unpublish") : t("publish"), onclick: () =>
          act("PATCH", `/api/v1/rumours/${encodeURIComponent(entry.id)}`, { published: !entry.published }, () => (entry.published ? t("unpublished") : t("publishedDone"))) }),
        broadcastButton(entry)));
  }

  function broadcastButton(entry) {
    const attrs = { type: "button", class: "broadcast", text: t("broadcast"), onclick: () => broadcast(entry) };
    Object.assign(attrs, entry.published ? { title: t("broadcastTitle") } : { title: t("publishFirst"), disabled: "" });
    return el("button", attrs);
  }

  async function broadcast(entry) {
    const where = entry.zones.map((z) => zoneNames.get(z) ?? z).join(", ") || t("noZone");
    if (!window.confirm(t("confirmBroadcast", where, t(entry.status).toUpperCase(), entry.claim))) return;
    await act("POST", `/api/v1/rumours/${encodeURIComponent(entry.id)}/broadcast`, undefined, (a) => t("broadcastSent", a.broadcast.seq));
  }

  function render() {
    // The register is read again every 30 s: a button focused in an entry still there keeps the focus.
    const focused = list.contains(document.activeElement) ? document.activeElement : null;
    const entry = focused?.closest("[data-id]");
    const at = entry ? [...entry.querySelectorAll("button")].indexOf(focused) : -1;
    list.replaceChildren(...(entries.length ? entries.map(card) : [el("p", { class: "none", text: t("noEntries") })]));
    if (at < 0) return;
    const again = list.querySelector(`[data-id="${CSS.escape(entry.dataset.id)}"]`);
    again?.querySelectorAll("button")[at]?.focus({ preventScroll: true });
  }

  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const ok = editing
      ? await act("PATCH", `/api/v1/rumours/${encodeURIComponent(editing)}`, body(), (a) => t("savedVersion", a.version))
      : await act("POST", "/api/v1/rumours", body(), () => t("recorded"));
    if (ok) edit(null);
  });
  cancel.addEventListener("click", () => edit(null));

  return {
    elements: [section(t("title"), "rumour-panel", status, list, form)],
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
  const options = [["new", t("newFromReport")], ...register.entries().map((e) => [e.id, `${t(e.status).toUpperCase()}: ${e.claim.slice(0, 60)}`])];
  const which = el("select", { class: "rl-entry" }, ...options.map(([value, text]) => el("option", { value, text })));
  const claim = el("textarea", { class: "rl-claim", rows: "2", maxlength: "500" });
  claim.value = report.text ?? "";
  const state = statusSelect({ class: "rl-status" }, "false");
  const fact = el("textarea", { class: "rl-fact", rows: "2", maxlength: "2000" });
  const fresh = el("div", { class: "rumour-linker" }, field(t("claim"), claim), field(t("status"), state), field(t("fact"), fact));
  const note = el("p", { class: "form-error", role: "alert" });
  which.addEventListener("change", () => { fresh.hidden = which.value !== "new"; });

  /** The entry chosen, or null with the reason shown (a new one needs a claim, and a fact unless unverified). */
  function chosen() {
    note.textContent = "";
    if (which.value !== "new") return which.value;
    if (!claim.value.trim()) note.textContent = t("writeClaim");
    else if (state.value !== "unverified" && !fact.value.trim()) note.textContent = t("writeFact");
    else return { claim: claim.value, status: state.value, fact: fact.value };
    return null;
  }

  const act = (then) => () => {
    const rumour = chosen();
    if (rumour !== null) then(rumour);
  };
  const form = el("form", { class: "rumour-linker" },
    field(t("registerEntry"), which), fresh,
    el("div", { class: "actions" },
      el("button", { type: "button", class: "primary rl-answer", text: t("answerPublicly"), onclick: act(answer) }),
      el("button", { type: "button", class: "rl-link", text: t("markAndLink"), onclick: act(link) })),
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
